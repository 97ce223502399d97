"""The InfluxDB sink: docs/architecture.md#influxdb line protocol, through the v2 or the v1 write API.

Both write APIs go through one small writer (:class:`LineWriter`): a
kept-alive ``http.client`` connection in a worker thread, one POST of gzipped
line protocol per batch; two batches are written at once, each on its own
connection (``POSTS_IN_FLIGHT``), and the cursor moves past a batch only when
it and every batch before it were accepted. ``api = "v2"`` (default) posts to ``/api/v2/write``
(``org``, ``bucket``, ``Authorization: Token``); ``api = "v1"`` to InfluxDB
1.x's ``/write`` (``db``, ``rp``, HTTP basic auth); both with ``precision=ns``.
influxdb-client is not used: the sink builds, batches and retries the line
protocol itself (the cursor must move only after the server answered for
exactly the rows sent), so the client would be one POST behind 17 MB of
generated models (docs/sinks.md, "One HTTP path").
Points are idempotent by construction:
a replayed row has the same series and timestamp, so the TSDB overwrites it.
Works against InfluxDB 2.x/3.x, 1.8 (compat: bucket "db/rp", token "user:password"),
VictoriaMetrics (``/api/v2/write``) and InfluxDB 1.x (``/write``).

What the server answers decides what happens to a batch:

* 2xx: delivered, the cursor moves.
* 400/422: the server refused points for good (beyond the bucket's retention
  after a long outage, a field type conflict); InfluxDB has written the rest
  of a partial write. Sending them again would fail forever and stop the
  cursor, so the refusal is recorded (counted, in the status, logged once per
  episode) and the cursor moves on. The rows stay in the journal.
* 413: the body is too large for the server; the batch is split in halves,
  each sent on its own (a single point still too large counts as refused).
* 404 from ``/api/v2/write`` of a server whose ``/ping`` names InfluxDB 1.0-1.7
  (or names no InfluxDB at all): that server has no v2 write API, and retrying
  cannot help. One error names the version and the setting to use
  (``api = "v1"``), the sink stops writing (its cursor stays, so nothing is
  lost and retention keeps the rows) and the ``sink_failing`` equipment alarm
  is raised on every channel until the daemon is restarted with a config that works.
* anything else (5xx, 401/403, other 404s such as a missing database or bucket,
  429, timeouts, connection errors): the batch is retried from the cursor with
  backoff, the error says what the server answered.

Line protocol is built in the thread that reads the page, while the previous
pages are being written (``prepare``): for a batch of thousands of rows it takes
a noticeable time that must neither block the loop nor wait for the server.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import json
import re
import ssl
import urllib.error
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.schema import DaemonConfig
from radsurvey.config.sinks import InfluxConfig
from radsurvey.protocols.backoff import Backoff
from radsurvey.protocols.errors import ConfigError, SinkError

from ..journal import connect, points
from ..journal.feed import JournalRow, PageRows, Reader
from ..journal.times import ms_to_text
from .base import CursorSink, DeliveryError, checkpoint
from .payloads import INFLUX_ROUTES, CompactLines, InfluxContext

if TYPE_CHECKING:
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks.influxdb")

PERMANENT_STATUSES = frozenset({400, 422})
TOO_LARGE = 413
# Pages written at once, each on its own kept-alive connection: while the server takes one page
# it can take the next, and the next is read and built meanwhile (the cursor still moves in order).
POSTS_IN_FLIGHT = 2


class Refused(SinkError):
    """The server will never accept these lines (400/422, or 413 for a single point). Safe to log."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class TooLarge(SinkError):
    """413: the request body is larger than the server takes."""


class WrongApi(SinkError):
    """The server has no write API of the configured kind: a config fault, not a transient one. Safe to log."""


@dataclass
class WriteOutcome:
    """What the server made of one batch: points it accepted, requests it refused for good."""

    accepted: int = 0
    refused: list[Refused] = field(default_factory=list)
    requests: int = 0


class InfluxSink(CursorSink):
    # Readings and samples as compact tuples with the time in ns; lines from a template per series.
    readers = {  # noqa: RUF012
        "readings": Reader(points.READINGS_SQL, points.R_SEQ),
        "samples": Reader(points.SAMPLES_SQL, points.S_SEQ, points.SAMPLES_PLAIN_SQL, "sample_extra"),
    }
    read_ahead = True  # the next page is read while the server takes this one

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
        self._token = influx.token() if influx.api == "v2" else None
        self._password = influx.password() if influx.api == "v1" else None
        if influx.username is not None and self._password is None:
            raise ConfigError(
                f"InfluxDB user {influx.username!r} has no password: set ${influx.password_env}"
                " or [influxdb] password_file",
                field="influxdb.username",
            )
        self._writers: list[LineWriter] = []  # every connection opened (at most POSTS_IN_FLIGHT)
        self._idle: list[LineWriter] = []  # those no request is using
        self._posting: set[asyncio.Task[None]] = set()  # pages being written or noted
        self._slots = asyncio.Semaphore(POSTS_IN_FLIGHT)  # requests in flight
        self._last_post: asyncio.Task[None] | None = None  # the page written last (the next one's answer waits for it)
        self._compact = CompactLines(self.ctx)
        self._reading_ctx: dict[int, tuple[str, str]] = {}
        self._sample_ctx: dict[int, tuple[str, str, int, float, float]] = {}
        self.failing: str | None = None  # a fault retrying cannot mend (WrongApi): the sink_failing alarm
        self.refused_writes = 0
        self._refusing = False  # inside an episode of refused batches (logged once)

    def lines(self, rows: Sequence[JournalRow]) -> list[str]:
        """Each row's line, one by one (rows that cannot be written are logged and left out)."""
        out = []
        compact = self._compact
        readings, samples = self._reading_ctx, self._sample_ctx
        for row in rows:
            data = row.data
            try:
                if type(data) is tuple:  # readings and samples, read past the views (journal/points.py)
                    if row.table == "samples":
                        k = data[points.S_KEY] // 2
                        out.append(compact.sample(data, samples.get(k) or self._context("samples", k)))
                    else:
                        k = data[points.R_KEY]
                        out.append(compact.reading(data, readings.get(k) or self._context("readings", k)))
                else:
                    out.append(INFLUX_ROUTES[row.table](data, self.ctx))
            except (KeyError, ValueError, TypeError) as err:
                log.error(
                    "row cannot be written; skipped", sink=self.name, table=row.table, seq=row.seq, error=str(err)
                )
        return out

    def _load_contexts(self) -> None:
        """Read what the compact rows' context ids stand for (again when a new one appears; reader's thread)."""
        assert self.journal is not None
        conn = connect(self.journal.path, readonly=True)
        try:
            self._reading_ctx.update(points.reading_contexts(conn))  # in place: lines() holds these dicts
            self._sample_ctx.update(points.sample_contexts(conn))
        finally:
            conn.close()

    def _context(self, table: str, k: int) -> tuple[Any, ...]:
        """What a compact row's context id stands for."""
        self._load_contexts()
        found = (self._sample_ctx if table == "samples" else self._reading_ctx).get(k)
        if found is None:
            raise KeyError(f"{table} context {k} is not in the journal")
        return found

    def row_time(self, row: JournalRow) -> str | None:
        if type(row.data) is tuple:  # the timestamp in ns is last (points.py)
            return ms_to_text(row.data[-1] // 1_000_000)
        return super().row_time(row)

    def _safe(self, text: str) -> str:
        """``text`` without the token or password (a proxy or server may echo what it was sent)."""
        for secret in (self._token, self._password):
            value = secret.get_secret_value() if secret is not None else ""
            if value:
                text = text.replace(value, "***")
        return text

    def _post(self, body: bytes) -> None:
        """One write request (worker thread); raises Refused, TooLarge, WrongApi or DeliveryError."""
        try:
            writer = self._idle.pop()  # (list.pop and append are atomic: requests run in worker threads)
        except IndexError:
            secret = self._token if self.influx.api == "v2" else self._password
            writer = LineWriter(self.influx, secret, self._safe)
            self._writers.append(writer)
        try:
            writer.write(body)
        finally:
            self._idle.append(writer)

    def _send(self, body: bytes, count: int, outcome: WriteOutcome) -> None:
        """Write ``body`` (``count`` lines), halving on 413; refusals go into ``outcome``."""
        outcome.requests += 1
        try:
            self._post(body)
        except TooLarge as err:
            if count == 1:
                outcome.refused.append(Refused(TOO_LARGE, str(err)))
                return
            lines = body.split(b"\n")
            half = len(lines) // 2
            self._send(b"\n".join(lines[:half]), half, outcome)
            self._send(b"\n".join(lines[half:]), len(lines) - half, outcome)
        except Refused as err:
            outcome.refused.append(err)
        else:
            outcome.accepted += count

    def prepare(self, rows: Sequence[JournalRow]) -> tuple[int, bytes]:
        """The page's line protocol and its number of lines, built in the reader's thread while the previous
        page is written: readings and samples one format per table (``CompactLines.page``), others line by line."""
        blocks: list[str] = []
        count = 0
        if not isinstance(rows, PageRows):  # no table read through our readers (a journal older than them)
            rows = PageRows({}, list(rows))
        rest = list(rows.others)
        for table, (data, _) in rows.tuples.items():
            contexts = self._sample_ctx if table == "samples" else self._reading_ctx
            try:
                text = self._compact.page(table, data, contexts)
            except KeyError:  # a context id met for the first time: read the contexts again, then try once more
                self._load_contexts()
                try:
                    text = self._compact.page(table, data, contexts)
                except KeyError:
                    text = None
            if text is None:  # a value line protocol cannot carry, or an unknown context: one by one
                rest.extend(rows.table_rows(table))
                continue
            blocks.append(text)
            count += len(data)
        if rest:
            lines = self.lines(rest)  # (in any order: a page's points are one write)
            blocks.extend(lines)
            count += len(lines)
        return count, "\n".join(blocks).encode()

    def write_rows(self, rows: Sequence[JournalRow], prepared: tuple[int, bytes] | None = None) -> WriteOutcome:
        """Write the batch's line protocol, built here unless ``prepared`` (runs in a worker thread)."""
        outcome = WriteOutcome()
        count, body = prepared if prepared is not None else self.prepare(rows)
        if count:
            self._send(body, count, outcome)
        return outcome

    async def _deliver(
        self,
        rows: Sequence[JournalRow],
        prepared: tuple[int, bytes] | None = None,
        after: asyncio.Task[None] | None = None,
    ) -> None:
        """Write the page; what the server answered is noted once the page before it (``after``) was noted."""
        try:
            outcome = await asyncio.to_thread(self.write_rows, rows, prepared)
        finally:
            self._slots.release()  # answered: the next page may be sent while this one waits to be noted
        if after is not None:  # pages in flight together: their answers count in page order (episodes, logs)
            await asyncio.wait([after])
        self.connected = True
        if outcome.refused:
            self._note_refused(rows, outcome)
        elif self._refusing and outcome.accepted:
            self._refusing = False
            log.info("influxdb accepts points again", sink=self.name, refused_writes=self.refused_writes)

    def _note_refused(self, rows: Sequence[JournalRow], outcome: WriteOutcome) -> None:
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
        out["api"] = self.influx.api
        out["failing"] = self.failing
        return out

    async def run(self, daemon: Daemon) -> None:
        await self.attach(daemon)
        backoff = Backoff(self.influx.retry_initial_s, self.influx.retry_max_s)

        async def write(rows: Sequence[JournalRow], prepared: Any, after: asyncio.Task[None] | None) -> None:
            await self._deliver(rows, prepared, after)
            backoff.reset()

        async def deliver(rows: Sequence[JournalRow], prepared: Any) -> asyncio.Task[None]:
            """Start writing the page once fewer than POSTS_IN_FLIGHT requests are out; the pump awaits it."""
            await self._slots.acquire()
            before = self._last_post if self._last_post is not None and not self._last_post.done() else None
            task = self._last_post = asyncio.create_task(write(rows, prepared, before))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
            return task

        try:
            while True:  # the retry loop: a failed batch is read again from the cursor
                checkpoint()
                try:
                    await self.pump(deliver)
                except WrongApi as err:
                    await self._settle()
                    await self._stop_failing(str(err))
                except Exception as err:
                    await self._settle()  # no request in flight when the retry writes again
                    message = str(err) or type(err).__name__
                    if not isinstance(err, DeliveryError):
                        log.error("influxdb sink failed", sink=self.name, error=message, exc_info=True)
                    self.connected = False
                    self.record_error(message)
                    delay = backoff.take()
                    log.warning("influxdb write failed; retrying", sink=self.name, error=message, retry_in_s=delay)
                    await asyncio.sleep(delay)
        finally:
            for task in self._posting:
                task.cancel()
            await asyncio.gather(*self._posting, return_exceptions=True)
            self.detach()
            for writer in self._writers:
                writer.close()

    async def _settle(self) -> None:
        """Wait for the writes still in flight after a failure (what they failed with is the retry's matter)."""
        while self._posting:
            await asyncio.gather(*self._posting, return_exceptions=True)
        self._slots = asyncio.Semaphore(POSTS_IN_FLIGHT)  # (a page cancelled before it started kept its slot)

    async def _stop_failing(self, message: str) -> None:
        """Stop writing for good (until a restart): a wrong API is not mended by retrying."""
        self.failing = message
        self.connected = False
        self.record_error(message)
        log.error("influxdb sink stopped; the journal keeps every row for it", sink=self.name, error=message)
        checkpoint()  # a stop requested during the failed write is not waited out below
        await asyncio.Event().wait()  # keep the service (and its status) until the daemon stops


def _first_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return text[:300]


# -- the v1 write API and the server's version ----------------------------------------------------


class LineWriter:
    """POSTs line protocol over one kept-alive ``http.client`` connection (one thread at a time).

    The one HTTP path for both write APIs: ``api = "v1"`` posts to ``/write``
    (``db``, ``rp``, basic auth), ``api = "v2"`` to ``/api/v2/write`` (``org``,
    ``bucket``, ``Authorization: Token``); both with ``precision=ns`` and gzip.
    """

    def __init__(self, influx: InfluxConfig, secret: Any, safe: Callable[[str], str]):
        self.influx = influx
        self.safe = safe
        self.v2 = influx.api == "v2"
        parts = urllib.parse.urlsplit(influx.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        value = secret.get_secret_value() if secret is not None else ""
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if influx.gzip:
            self.headers["Content-Encoding"] = "gzip"
        query: dict[str, str]
        if self.v2:
            query = {"org": influx.org, "bucket": influx.bucket, "precision": "ns"}
            endpoint = "/api/v2/write"
            if value:
                self.headers["Authorization"] = f"Token {value}"
        else:
            query = {"db": influx.database or "", "precision": "ns"}
            if influx.retention_policy:
                query["rp"] = influx.retention_policy
            endpoint = "/write"
            if influx.username is not None:
                # Basic auth, not the u/p query parameters, which servers and proxies write to their access logs.
                token = base64.b64encode(f"{influx.username}:{value}".encode()).decode()
                self.headers["Authorization"] = f"Basic {token}"
        self.path = f"{parts.path.rstrip('/')}{endpoint}?{urllib.parse.urlencode(query)}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                context = ssl.create_default_context()
                if not self.influx.verify_ssl:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.influx.timeout_s, context=context
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.influx.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def write(self, body: bytes) -> None:
        """One request; raises Refused (400/422), TooLarge (413), WrongApi or DeliveryError (anything else)."""
        data = gzip.compress(body, compresslevel=1) if self.influx.gzip else body
        url = self.influx.url
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=data, headers=self.headers)
            response = conn.getresponse()
            status = response.status
            text = response.read().decode("utf-8", "replace")
            version = response.getheader("X-Influxdb-Version")
        except (OSError, http.client.HTTPException) as err:
            self.close()  # a half-read response must not be read as the next one's
            raise DeliveryError(self.safe(f"cannot write to {url}: {type(err).__name__}: {_first_line(err)}")) from None
        if 200 <= status < 300:
            return
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        reason = self.safe(_server_error(text))
        # The messages read as before the two APIs shared this writer (the status and logs show them).
        message = f"HTTP {status} from {url}: {reason}" if self.v2 else f"HTTP {status} from {url}/write: {reason}"
        if status in PERMANENT_STATUSES:
            raise Refused(status, message)
        if status == TOO_LARGE:
            raise TooLarge(message)
        if self.v2:
            if status == 404:
                found = server_version(self.influx, self.safe)
                if lacks_v2_api(found):
                    raise WrongApi(wrong_api_message(self.influx, found))
            raise DeliveryError(message)
        if status == 404 and "database not found" in reason:
            raise DeliveryError(
                f"{message}; create it on the server (influx -execute 'CREATE DATABASE \"{self.influx.database}\"')"
                " or set [influxdb] database"
            )
        if status == 404 and version is None:
            raise WrongApi(
                f"{url} has no InfluxDB 1.x /write endpoint (HTTP 404, no X-Influxdb-Version header);"
                ' check [influxdb] url, or use api = "v2" for InfluxDB 2.x/3.x or VictoriaMetrics'
            )
        if status == 401:
            raise DeliveryError(f"{message}; check [influxdb] username and its password (password_env/password_file)")
        raise DeliveryError(message)


def _server_error(text: str) -> str:
    """The server's reason: InfluxDB 1.x answers ``{"error": ...}``, 2.x ``{"message": ...}``, others plain text."""
    try:
        answer = json.loads(text)
        detail = answer.get("error") or answer.get("message") or text
    except (ValueError, AttributeError):
        detail = text
    return str(detail).strip().replace("\n", " ")[:300]


def server_version(influx: InfluxConfig, safe: Callable[[str], str]) -> str | None:
    """The ``X-Influxdb-Version`` header of ``/ping`` (None when there is none or no answer)."""
    import urllib.request

    context = None
    if influx.url.startswith("https://") and not influx.verify_ssl:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"{influx.url}/ping", timeout=influx.timeout_s, context=context) as response:
            version = response.headers.get("X-Influxdb-Version")
    except urllib.error.HTTPError as err:
        version = err.headers.get("X-Influxdb-Version") if err.headers else None
    except (OSError, ValueError) as err:
        log.debug("cannot read the server version from /ping", error=safe(str(err)))
        return None
    return str(version) if version else None


_VERSION = re.compile(r"v?(\d+)\.(\d+)")


def lacks_v2_api(version: str | None) -> bool:
    """True for InfluxDB 1.0-1.7 (no ``/api/v2/write``; 1.8 has it) and for a server that names no version."""
    if version is None:
        return True
    m = _VERSION.match(version.strip())
    if m is None:
        return False  # a version we cannot read: the 404 is probably the bucket's
    return int(m.group(1)) == 1 and int(m.group(2)) < 8


def wrong_api_message(influx: InfluxConfig, version: str | None) -> str:
    if version is None:
        return (
            f"{influx.url} has no InfluxDB v2 write API (HTTP 404 from /api/v2/write) and its /ping names no"
            " InfluxDB version: check [influxdb] url"
        )
    return (
        f"{influx.url} is InfluxDB {version}, which has no v2 write API (HTTP 404 from /api/v2/write):"
        ' set [influxdb] api = "v1" with database = "<its database>" (and username/password_env if it'
        " uses authentication)"
    )
