"""The InfluxDB sink: DESIGN.md §4.4 line protocol, written through influxdb-client's v2 write API.

We use the client's *synchronous* write API in a worker thread, one request per
batch, rather than its batching mode: the batching mode acknowledges writes
from its own background threads through callbacks, while the journal cursor
must move only after the server answered 2xx for exactly the rows we sent.
Batching (``batch_size`` points, ``flush_interval_s``), gzip and the retry
loop with capped backoff are ours. Points are idempotent by construction:
a replayed row has the same series and timestamp, so the TSDB overwrites it.
Works against InfluxDB 2.x/3.x, 1.8 (compat: bucket "db/rp", token "user:password")
and VictoriaMetrics (``/api/v2/write``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.schema import DaemonConfig
from radsurvey.config.sinks import InfluxConfig

from .base import Backoff, CursorSink, DeliveryError, JournalRow, checkpoint
from .payloads import INFLUX_ROUTES, InfluxContext

if TYPE_CHECKING:
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks.influxdb")


class InfluxSink(CursorSink):
    def __init__(self, cfg: DaemonConfig, influx: InfluxConfig, *, name: str = "influxdb"):
        super().__init__(
            name=name,
            tables=tuple(INFLUX_ROUTES),
            batch_size=influx.batch_size,
            flush_interval_s=influx.flush_interval_s,
        )
        self.influx = influx
        self.ctx = InfluxContext(
            site=cfg.site.id, channel_heights_cm={c.id: c.height_cm for c in cfg.channels if c.height_cm is not None}
        )
        self._token = influx.token()
        self._client: Any = None
        self._write_api: Any = None

    def lines(self, rows: list[JournalRow]) -> list[str]:
        out = []
        for row in rows:
            try:
                out.append(INFLUX_ROUTES[row.table](row.data, self.ctx))
            except (KeyError, ValueError) as err:
                log.error(
                    "row cannot be written; skipped", sink=self.name, table=row.table, seq=row.seq, error=str(err)
                )
        return out

    def _open(self) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        i = self.influx
        self._client = InfluxDBClient(
            url=i.url,
            token=self._token.get_secret_value() if self._token else "",
            org=i.org or None,
            timeout=int(i.timeout_s * 1000),
            enable_gzip=i.gzip,
            verify_ssl=i.verify_ssl,
            retries=False,  # our loop retries, with the cursor in mind
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _write(self, body: str) -> None:
        from influxdb_client import WritePrecision
        from influxdb_client.rest import ApiException

        if self._write_api is None:
            self._open()
        try:
            self._write_api.write(
                bucket=self.influx.bucket, org=self.influx.org or "", record=body, write_precision=WritePrecision.NS
            )
        except ApiException as err:
            reason = (err.body or err.reason or "").strip().replace("\n", " ")[:300]
            raise DeliveryError(f"HTTP {err.status} from {self.influx.url}: {reason}") from None
        except Exception as err:  # urllib3 connection errors, timeouts
            raise DeliveryError(
                f"cannot write to {self.influx.url}: {type(err).__name__}: {_first_line(err)}"
            ) from None

    async def _deliver(self, rows: list[JournalRow]) -> None:
        lines = self.lines(rows)
        if lines:
            await asyncio.to_thread(self._write, "\n".join(lines))
        self.connected = True

    async def run(self, daemon: Daemon) -> None:
        await self.attach(daemon)
        backoff = Backoff(self.influx.retry_initial_s, self.influx.retry_max_s)

        async def deliver(rows: list[JournalRow]) -> None:
            await self._deliver(rows)
            backoff.reset()

        try:
            while True:  # the retry loop: a failed batch is read again from the cursor
                checkpoint()
                try:
                    await self.pump(deliver)
                except Exception as err:
                    message = str(err) or type(err).__name__
                    if not isinstance(err, DeliveryError):
                        log.error("influxdb sink failed", sink=self.name, error=message, exc_info=True)
                    self.connected = False
                    self.record_error(message)
                    delay = backoff.take()
                    log.warning("influxdb write failed; retrying", sink=self.name, error=message, retry_in_s=delay)
                    await asyncio.sleep(delay)
        finally:
            self.detach()
            if self._client is not None:
                self._client.close()


def _first_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return text[:300]
