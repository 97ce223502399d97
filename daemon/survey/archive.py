"""The central survey archive on the MQTT broker: each survey's protocol document, retained under its survey id.

A regulator or a QA company collects protocols from many technicians on the
broker they already run. ``radsurvey survey archive`` publishes, per survey,
one retained QoS 1 message on ``{root}/surveys/{survey}/protocol`` (the JSON
document: the survey as measured, its evaluated report, their hashes) and, with
``--pdf``, the PDF report on ``{root}/surveys/{survey}/protocol/pdf``. The topic
is the survey id, so sending a survey again replaces its document instead of
adding one (idempotent by survey id), and ``document_sha256`` (a hash of the
survey document alone, independent of when the report was rendered) tells a
collector whether anything changed. docs/mqtt.md describes the payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import ConfigError, RadsurveyError

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

ARCHIVE_SCHEMA = "radsurvey.archive/1"


class ArchiveError(RadsurveyError):
    """The broker could not be reached or did not acknowledge: nothing is lost, send again."""


@dataclass(frozen=True)
class ArchiveMessage:
    topic: str
    payload: bytes


def canonical_sha256(doc: dict[str, Any]) -> str:
    """SHA-256 of the document as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # a lone surrogate (a "\ud800" escape in a JSON survey file) has no UTF-8: keep its code unit
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def archive_messages(
    root: str, site: str, survey_id: str, doc: dict[str, Any], report: dict[str, Any], pdf: bytes | None = None
) -> list[ArchiveMessage]:
    """What goes to the broker for one survey, the PDF (if any) before the document that announces it."""
    for bad in ("/", "+", "#"):
        if bad in survey_id:
            raise ConfigError(f"survey id {survey_id!r} cannot be an MQTT topic level (it contains {bad!r})")
    topic = f"{root}/surveys/{survey_id}/protocol"
    envelope: dict[str, Any] = {
        "schema": ARCHIVE_SCHEMA,
        "site": site,
        "survey": survey_id,
        "document_sha256": canonical_sha256(doc),
        "survey_document": doc,
        "report": report,
        "pdf": None,
    }
    messages = []
    if pdf is not None:
        envelope["pdf"] = {"topic": f"{topic}/pdf", "bytes": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}
        messages.append(ArchiveMessage(f"{topic}/pdf", pdf))
    try:
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON's \u escapes carry them
        body = json.dumps(envelope, separators=(",", ":")).encode("ascii")
    messages.append(ArchiveMessage(topic, body))
    return messages


async def publish(cfg: DaemonConfig, messages: list[ArchiveMessage], *, timeout_s: float) -> None:
    """Publish retained at QoS 1 and wait for every PUBACK; raise ConfigError with one line if that fails."""
    import aiomqtt

    from ..sinks.mqtt import describe_error, tls_context_for

    m = cfg.mqtt
    if m is None or not m.enabled:
        raise ConfigError("the config has no enabled [mqtt] section to archive the survey to")
    password = m.password()
    client = aiomqtt.Client(
        m.host,
        m.port,
        username=m.username,
        password=password.get_secret_value() if password else None,
        # not the daemon's client id: the daemon of this site may be connected at the same time
        identifier=f"{m.client_id or f'radsurvey-{cfg.site.id}'}-archive",
        keepalive=m.keepalive_s,
        timeout=m.connect_timeout_s,
        tls_context=tls_context_for(m),
        clean_session=True,
    )

    async def send() -> None:
        async with client:
            for message in messages:
                await client.publish(message.topic, message.payload, qos=1, retain=True)

    try:
        await asyncio.wait_for(send(), timeout_s)
    except TimeoutError:
        raise ArchiveError(f"the broker {m.host}:{m.port} did not acknowledge within {timeout_s:g} s") from None
    except aiomqtt.MqttError as err:
        raise ArchiveError(f"cannot archive to {m.host}:{m.port}: {describe_error(err, m.ca_file)}") from None
