"""The InfluxDB sink: DESIGN.md §4.4 line protocol, written through influxdb-client's v2 write API.

We use the client's *synchronous* write API in a worker thread, one request per
batch, rather than its batching mode: the batching mode acknowledges writes
from its own background threads through callbacks, while the journal cursor
must move only after the server answered for exactly the rows we sent.
Batching (``batch_size`` points, ``flush_interval_s``), gzip and the retry
loop with capped backoff are ours. Points are idempotent by construction:
a replayed row has the same series and timestamp, so the TSDB overwrites it.
Works against InfluxDB 2.x/3.x, 1.8 (compat: bucket "db/rp", token "user:password")
and VictoriaMetrics (``/api/v2/write``).

What the server answers decides what happens to a batch:

* 2xx: delivered, the cursor moves.
* 400/422: the server refused points for good (beyond the bucket's retention
  after a long outage, a field type conflict); InfluxDB has written the rest
  of a partial write. Sending them again would fail forever and stop the
  cursor, so the refusal is recorded (counted, in the status, logged once per
  episode) and the cursor moves on. The rows stay in the journal.
* 413: the body is too large for the server; the batch is split in halves,
  each sent on its own (a single point still too large counts as refused).
* anything else (5xx, 401/403/404, 429, timeouts, connection errors): the
  batch is retried from the cursor with backoff.

Line protocol is built in the worker thread with the write: for a batch of
thousands of rows it takes a noticeable time that must not block the loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.schema import DaemonConfig
from radsurvey.config.sinks import InfluxConfig

from .base import Backoff, CursorSink, DeliveryError, JournalRow, checkpoint
from .payloads import INFLUX_ROUTES, InfluxContext

if TYPE_CHECKING:
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks.influxdb")

PERMANENT_STATUSES = frozenset({400, 422})
TOO_LARGE = 413


class Refused(Exception):
    """The server will never accept these lines (400/422, or 413 for a single point). Safe to log."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TooLarge(Exception):
    """413: the request body is larger than the server takes."""


@dataclass
class WriteOutcome:
    """What the server made of one batch: points it accepted, requests it refused for good."""

    accepted: int = 0
    refused: list[Refused] = field(default_factory=list)
    requests: int = 0


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
        self.refused_writes = 0
        self._refusing = False  # inside an episode of refused batches (logged once)

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
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        i = self.influx
        self._client = InfluxDBClient(
            url=i.url,
            token=self._token.get_secret_value() if self._token else "",
            timeout=int(i.timeout_s * 1000),
            enable_gzip=i.gzip,
            verify_ssl=i.verify_ssl,
            retries=False,  # our loop retries, with the cursor in mind
            **({"org": i.org} if i.org else {}),
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def _safe(self, text: str) -> str:
        """``text`` without the token (a proxy or server may echo what it was sent)."""
        if self._token is not None:
            secret = self._token.get_secret_value()
            if secret:
                text = text.replace(secret, "***")
        return text

    def _post(self, body: str) -> None:
        """One write request (worker thread); raises Refused, TooLarge or DeliveryError."""
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        if self._write_api is None:
            self._open()
        try:
            self._write_api.write(
                bucket=self.influx.bucket, org=self.influx.org or "", record=body, write_precision=WritePrecision.NS
            )
        except ApiException as err:
            status = int(err.status or 0)
            detail = err.message if isinstance(err.message, str) else (err.body or err.reason or "")
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            reason = self._safe(str(detail).strip().replace("\n", " ")[:300])
            message = f"HTTP {status} from {self.influx.url}: {reason}"
            if status in PERMANENT_STATUSES:
                raise Refused(status, message) from None
            if status == TOO_LARGE:
                raise TooLarge(message) from None
            raise DeliveryError(message) from None
        except Exception as err:  # urllib3 connection errors, timeouts
            raise DeliveryError(
                self._safe(f"cannot write to {self.influx.url}: {type(err).__name__}: {_first_line(err)}")
            ) from None

    def _send(self, lines: list[str], outcome: WriteOutcome) -> None:
        """Write ``lines``, halving on 413; refusals go into ``outcome``, other failures raise."""
        outcome.requests += 1
        try:
            self._post("\n".join(lines))
        except TooLarge as err:
            if len(lines) == 1:
                outcome.refused.append(Refused(TOO_LARGE, str(err)))
                return
            half = len(lines) // 2
            self._send(lines[:half], outcome)
            self._send(lines[half:], outcome)
        except Refused as err:
            outcome.refused.append(err)
        else:
            outcome.accepted += len(lines)

    def write_rows(self, rows: list[JournalRow]) -> WriteOutcome:
        """Build the batch's line protocol and write it (runs in a worker thread)."""
        outcome = WriteOutcome()
        lines = self.lines(rows)
        if lines:
            self._send(lines, outcome)
        return outcome

    async def _deliver(self, rows: list[JournalRow]) -> None:
        outcome = await asyncio.to_thread(self.write_rows, rows)
        self.connected = True
        if outcome.refused:
            self._note_refused(rows, outcome)
        elif self._refusing and outcome.accepted:
            self._refusing = False
            log.info("influxdb accepts points again", sink=self.name, refused_writes=self.refused_writes)

    def _note_refused(self, rows: list[JournalRow], outcome: WriteOutcome) -> None:
        self.refused_writes += len(outcome.refused)
        first = outcome.refused[0]
        message = f"{first} (refused for good; seq {rows[0].seq}-{rows[-1].seq} skipped, kept in the journal)"
        self.record_error(message)
        if not self._refusing:
            self._refusing = True
            log.warning(
                "influxdb refused points; moving on (they stay in the journal)",
                sink=self.name,
                status=first.status,
                error=str(first),
                first_seq=rows[0].seq,
                last_seq=rows[-1].seq,
                refused_writes=len(outcome.refused),
            )
        else:
            log.debug("influxdb refused points again", sink=self.name, status=first.status)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["refused_writes"] = self.refused_writes
        return out

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
