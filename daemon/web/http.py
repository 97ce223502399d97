"""The console's HTTP/1.1 server: asyncio streams, with h11 doing all of the protocol's parsing.

Small on purpose (issue 24 §5: aiohttp alone cost 9.4 MB of a Raspberry Pi's RSS): requests, answers, a
router with ``{name}`` path parameters, a middleware and a server with limits. What a client gets:

* a request head over ``MAX_HEAD_BYTES`` -> 431, a body over ``MAX_BODY_BYTES`` -> 413, a request line or
  header h11 cannot parse -> 400, a transfer coding other than chunked -> 501; then the connection closes;
* a request with both ``Transfer-Encoding`` and ``Content-Length`` -> 400 and close (RFC 9112 §6.1 allows
  refusing it; a proxy in front could frame it the other way: request smuggling); a chunked body alone is
  read like any other, within the same size limit;
* a request must arrive whole (head and body) within ``REQUEST_TIMEOUT_S`` of its first byte, and an idle
  keep-alive connection is closed after ``IDLE_TIMEOUT_S`` (a slowloris client holds one slot, briefly);
* at most ``MAX_CONNECTIONS`` open connections: one more is answered 503 and closed;
* keep-alive and pipelined requests follow h11's state machine (answers in order); ``HEAD`` is ``GET``
  without the body; a streamed answer (:class:`StreamResponse`, the console's Server-Sent Events) ends
  when the client goes away, whatever the stream was waiting for.
"""

from __future__ import annotations

import asyncio
import json as _json
import re
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from typing import Any, NoReturn, overload
from urllib.parse import parse_qsl, unquote, urlsplit

import h11
import structlog

log = structlog.get_logger("radsurvey.web")

MAX_HEAD_BYTES = 16 * 1024  # request line and headers
MAX_BODY_BYTES = 64 * 1024  # the largest body the console reads (a survey pushed over the API)
REQUEST_TIMEOUT_S = 15.0  # a whole request, from its first byte
IDLE_TIMEOUT_S = 30.0  # a keep-alive connection with no request
MAX_CONNECTIONS = 100
WRITE_TIMEOUT_S = 30.0  # a client that does not read its answer

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class Headers:
    """Header fields in order, names compared without case; a name may repeat (``Set-Cookie``)."""

    def __init__(self, items: Iterable[tuple[str, str]] | dict[str, str] = ()):
        pairs = items.items() if isinstance(items, dict) else items
        self._items: list[tuple[str, str]] = [(k, v) for k, v in pairs]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __setitem__(self, name: str, value: str) -> None:
        low = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != low]
        self._items.append((name, value))

    def setdefault(self, name: str, value: str) -> str:
        got = self.get(name)
        if got is None:
            self._items.append((name, value))
            return value
        return got

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))


class Response:
    """A whole answer: status, headers and body."""

    def __init__(
        self,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str | None = None,
        charset: str | None = "utf-8",
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.headers = Headers(headers or {})
        self.body = body.encode(charset or "utf-8") if isinstance(body, str) else body
        if content_type is not None:
            self.headers["Content-Type"] = f"{content_type}; charset={charset}" if charset else content_type

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        path: str = "/",
        max_age: int | None = None,
        httponly: bool = False,
        samesite: str | None = None,
        secure: bool = False,
    ) -> None:
        if not _COOKIE_TOKEN.match(name) or not _COOKIE_VALUE.match(value):
            raise ValueError(f"cookie {name!r}: name or value has characters a cookie cannot carry")
        parts = [f"{name}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        parts.append(f"Path={path}")
        if samesite:
            parts.append(f"SameSite={samesite}")
        if httponly:
            parts.append("HttpOnly")
        if secure:
            parts.append("Secure")
        self.headers.add("Set-Cookie", "; ".join(parts))

    def del_cookie(self, name: str, *, path: str = "/") -> None:
        self.headers.add("Set-Cookie", f'{name}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path={path}')


class StreamResponse(Response):
    """An answer whose body is written as ``chunks`` yields it (Server-Sent Events), until the client leaves."""

    def __init__(
        self, chunks: AsyncGenerator[bytes, None], *, status: int = 200, headers: dict[str, str] | None = None
    ):
        super().__init__(status=status, headers=headers)
        self.chunks = chunks
        # The stream ends only when the client leaves (what it sends meanwhile is dropped): no request follows.
        self.headers["Connection"] = "close"


class HTTPError(Exception):
    """Raised by a handler to answer at once with ``response`` (an error or a redirect)."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def text_error(status: int, text: str | None = None, *, headers: dict[str, str] | None = None) -> HTTPError:
    """``status`` with a one-line plain-text body (``404: Not Found`` unless ``text`` says more)."""
    body = text if text is not None else f"{status}: {REASONS.get(status, 'Error')}"
    return HTTPError(Response(body, status=status, content_type="text/plain", headers=headers))


def see_other(location: str) -> Response:
    """303 to ``location`` (a path of this site: callers never pass a target a visitor chose unchecked)."""
    return Response("303: See Other", status=303, content_type="text/plain", headers={"Location": location})


_COOKIE_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_COOKIE_VALUE = re.compile(r"^[!#$%&'()*+\-./0-9:<=>?@A-Z\[\]^_`a-z{|}~]*$")


def parse_cookies(header: str | None) -> dict[str, str]:
    """``a=1; b=2`` -> {"a": "1", "b": "2"}; a malformed pair is skipped, the first of a repeated name wins."""
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and _COOKIE_TOKEN.match(name) and name not in out:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[name] = value
    return out


@dataclass
class Request:
    """One request, its body already read (at most ``MAX_BODY_BYTES``)."""

    method: str
    path_qs: str  # the target as sent: "/login?next=%2F"
    headers: Headers
    body: bytes = b""
    remote: str | None = None
    app: Any = None  # what the handlers share (the console)
    match_info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.path_qs)
        self.path_qs = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")  # never a scheme or host
        self.path = unquote(parts.path, errors="replace") or "/"
        self.query: dict[str, str] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True, errors="replace"):
            self.query.setdefault(k, v)  # the first of a repeated name, as aiohttp's query.get gave
        self.cookies = parse_cookies(self.headers.get("Cookie"))

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` body's fields (the console's forms are all of this kind)."""
        if self.content_type != "application/x-www-form-urlencoded":
            return {}
        out: dict[str, str] = {}
        for k, v in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(k, v)
        return out

    def json(self) -> Any:
        """The body as JSON (``json.JSONDecodeError`` or ``UnicodeDecodeError`` when it is not)."""
        return _json.loads(self.body.decode("utf-8"))


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Routes by method and path; ``{name}`` matches one path segment into ``request.match_info``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def get(self, pattern: str, handler: Handler) -> None:
        self.add("GET", pattern, handler)

    def post(self, pattern: str, handler: Handler) -> None:
        self.add("POST", pattern, handler)

    def resolve(self, request: Request) -> Handler:
        """The handler for ``request`` (``match_info`` filled in); 404, or 405 when only the method is wrong."""
        method = "GET" if request.method == "HEAD" else request.method
        allowed: list[str] = []
        for route_method, regex, handler in self._routes:
            m = regex.match(request.path)
            if m is None:
                continue
            if route_method == method:
                request.match_info = m.groupdict()
                return handler
            allowed.append(route_method)
        if allowed:
            raise text_error(
                405, headers={"Allow": ", ".join(sorted({*allowed, "HEAD"} if "GET" in allowed else allowed))}
            )
        raise text_error(404)


class _Closed(Exception):
    """The connection is over (client gone, timed out, or a protocol error already answered)."""


class Server:
    """Serves ``handler`` (the routed, middleware-wrapped application) on asyncio streams."""

    def __init__(self, handler: Handler, *, app: Any = None, max_connections: int = MAX_CONNECTIONS):
        self.handler = handler
        self.app = app
        self.max_connections = max_connections
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen; the bound port (``port`` 0 picks a free one)."""
        tls: dict[str, Any] = {"ssl": ssl_context, "ssl_handshake_timeout": REQUEST_TIMEOUT_S} if ssl_context else {}
        self._server = await asyncio.start_server(self._connection, host, port, limit=MAX_HEAD_BYTES, **tls)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._server is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                with suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.drain(), 1.0)
                return
            peer = writer.get_extra_info("peername")
            remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
            await _Connection(self, reader, writer, remote).serve()
        except (_Closed, OSError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # close() ended it: asyncio's stream callback must not see a cancelled task
            pass
        except Exception as err:  # a bug of ours: one line, and the server goes on serving the others
            log.error("web console connection failed", error=f"{type(err).__name__}: {err}")
        finally:
            self.connections -= 1
            self._tasks.discard(task)
            writer.close()
            with suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class _Connection:
    """One client's connection: h11's state machine between the socket and the handler."""

    def __init__(self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remote: str | None):
        self.server, self.reader, self.writer, self.remote = server, reader, writer, remote
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.received = 0  # bytes given to h11 in this request/response cycle (some may be the next request's)

    async def serve(self) -> None:
        while True:
            request = await self._read_request()
            if request is None:
                return
            response = await self._answer(request)
            await self._send(response, head_only=request.method == "HEAD")
            if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is not h11.DONE:
                return
            self.h11.start_next_cycle()
            self.received = len(self.h11.trailing_data[0])  # a pipelined request already read

    async def _next_event(self) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as err:
                status = err.error_status_hint if err.error_status_hint in (400, 413, 431, 501) else 400
                await self._refuse(status, str(err))
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(8192)
            self.received += len(data)
            self.h11.receive_data(data)  # b"" tells h11 the client closed its side

    async def _read_request(self) -> Request | None:
        # Waiting for the first byte of a request: the idle timeout; then the whole request within its own.
        try:
            async with asyncio.timeout(IDLE_TIMEOUT_S) as idle:
                if not self.h11.trailing_data[0] and self.h11.their_state is h11.IDLE:
                    data = await self.reader.read(8192)
                    self.received += len(data)
                    self.h11.receive_data(data)
                idle.reschedule(asyncio.get_running_loop().time() + REQUEST_TIMEOUT_S)
                event = await self._next_event()
                if isinstance(event, h11.ConnectionClosed):
                    return None
                assert isinstance(event, h11.Request)
                # h11 bounds a head still arriving; one that arrived whole in a single read is measured here.
                if self.received - len(self.h11.trailing_data[0]) > MAX_HEAD_BYTES:
                    await self._refuse(431, f"a request head is at most {MAX_HEAD_BYTES} bytes")
                return await self._read_body(event)
        except TimeoutError:
            if self.h11.their_state is h11.IDLE and not self.h11.trailing_data[0]:
                return None  # an idle keep-alive connection: closed without a word
            await self._refuse(408, "the request did not arrive in time")
        return None

    async def _read_body(self, event: h11.Request) -> Request:
        headers = Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers)
        if "Transfer-Encoding" in headers and "Content-Length" in headers:
            await self._refuse(400, "both Transfer-Encoding and Content-Length")
        length = headers.get("Content-Length")
        if length is not None and int(length) > MAX_BODY_BYTES:
            await self._refuse(413, f"a body is at most {MAX_BODY_BYTES} bytes")
        if self.h11.they_are_waiting_for_100_continue:
            await self._write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        while True:
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > MAX_BODY_BYTES:
                    await self._refuse(413, f"a body is at most {MAX_BODY_BYTES} bytes")
            elif isinstance(part, h11.EndOfMessage):
                break
            else:  # the client closed mid-body
                raise _Closed
        try:
            return Request(
                method=event.method.decode("ascii", "replace"),
                path_qs=event.target.decode("ascii", "replace"),
                headers=headers,
                body=bytes(body),
                remote=self.remote,
                app=self.server.app,
            )
        except ValueError as err:  # a target urlsplit refuses ("http://[::1", say)
            await self._refuse(400, str(err))

    async def _answer(self, request: Request) -> Response:
        try:
            return await self.server.handler(request)
        except HTTPError as err:
            return err.response
        except Exception:
            log.exception("web console handler failed", method=request.method, path=request.path)
            return text_error(500).response

    async def _refuse(self, status: int, why: str) -> NoReturn:
        """Answer ``status`` (when an answer can still start) and end the connection."""
        log.info("web request refused", status=status, reason=why[:200], address=self.remote)
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = f"{status}: {REASONS.get(status, 'Error')}".encode()
            with suppress(h11.LocalProtocolError, OSError, TimeoutError):
                await self._write(
                    self.h11.send(
                        h11.Response(
                            status_code=status,
                            headers=[
                                ("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Connection", "close"),
                            ],
                        )
                    )
                )
                await self._write(self.h11.send(h11.Data(data=body)))
                await self._write(self.h11.send(h11.EndOfMessage()))
        raise _Closed(why)

    async def _write(self, data: bytes | None) -> None:
        if data:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), WRITE_TIMEOUT_S)

    async def _send(self, response: Response, *, head_only: bool) -> None:
        streaming = isinstance(response, StreamResponse)
        if not streaming and response.status not in (204, 304) and "Content-Length" not in response.headers:
            response.headers["Content-Length"] = str(len(response.body))
        headers = [(k.encode("ascii"), v.encode("utf-8")) for k, v in response.headers.items()]
        try:
            head = self.h11.send(h11.Response(status_code=response.status, headers=headers))
        except h11.LocalProtocolError:  # a header value h11 refuses (a CR/LF from somewhere): never sent
            log.error("web console answer refused by the HTTP layer", status=response.status)
            head = self.h11.send(
                h11.Response(status_code=500, headers=[("Content-Length", "0"), ("Connection", "close")])
            )
            await self._write(head)
            await self._write(self.h11.send(h11.EndOfMessage()))
            return
        await self._write(head)
        if head_only:
            if isinstance(response, StreamResponse):
                await response.chunks.aclose()
        elif isinstance(response, StreamResponse):
            await self._stream(response.chunks)
        elif response.body:
            await self._write(self.h11.send(h11.Data(data=response.body)))
        await self._write(self.h11.send(h11.EndOfMessage()))

    async def _stream(self, chunks: AsyncGenerator[bytes, None]) -> None:
        """Write ``chunks`` until they end or the client closes (noticed at once: its side is read meanwhile)."""

        async def write_all() -> None:
            async with aclosing(chunks):
                async for chunk in chunks:
                    await self._write(self.h11.send(h11.Data(data=chunk)))

        async def client_gone() -> None:
            while await self.reader.read(4096):  # anything a client sends on a stream's connection is dropped
                pass

        writing = asyncio.ensure_future(write_all())
        watching = asyncio.ensure_future(client_gone())
        try:
            done, _ = await asyncio.wait((writing, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writing, watching):
                task.cancel()
            await asyncio.gather(writing, watching, return_exceptions=True)
        if watching in done or writing.exception() is not None:
            raise _Closed("the client left the stream")


def chain(handler: Handler, middlewares: Iterable[Callable[[Request, Handler], Awaitable[Response]]]) -> Handler:
    """``handler`` wrapped by each middleware, the first given outermost."""
    for middleware in reversed(list(middlewares)):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Callable[[Request, Handler], Awaitable[Response]], inner: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        return await middleware(request, inner)

    return wrapped
