"""Sinks: MQTT and InfluxDB publishing fed from the journal by durable cursors (see base.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

    from ..supervisor import Service


def build_services(cfg: DaemonConfig) -> list[Service]:
    """The sink services (and retention) a config asks for; empty when it has no [mqtt]/[influxdb]."""
    from .hub import RetentionService, SinkHub

    hub = SinkHub(cfg)
    services: list[Service] = []
    if cfg.influxdb is not None and cfg.influxdb.enabled:
        from .influx import InfluxSink

        services.append(hub.add(InfluxSink(cfg, cfg.influxdb)))
    if cfg.mqtt is not None and cfg.mqtt.enabled:
        from .mqtt import MqttSink

        services.append(hub.add(MqttSink(cfg, cfg.mqtt, hub=hub)))
    services.append(RetentionService(hub))
    return services
