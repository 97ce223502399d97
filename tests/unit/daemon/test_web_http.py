"""The console's HTTP server (daemon/web/http.py) over a real loopback socket: limits, framing, streams, fuzz.

The server runs on an event loop in a thread of its own; the client is a plain blocking socket, so that
hypothesis can drive it (random bytes, mutated valid requests). Every answer must be a well-formed
HTTP/1.1 response (checked with h11 as a client) or a close, and the server must go on serving.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from radsurvey.daemon.web import http
from radsurvey.daemon.web.http import Request, Response, Router, Server, StreamResponse


class Served:
    """A :class:`Server` with a few test routes, on a loop in a thread."""

    def __init__(self, max_connections: int = http.MAX_CONNECTIONS):
        self.streams_open = 0
        self.loop = asyncio.new_event_loop()
        router = Router()
        router.get("/echo", self.echo)
        router.post("/echo", self.echo)
        router.get("/items/{item}", self.item)
        router.get("/stream", self.stream)
        router.get("/boom", self.boom)

        async def app(request: Request) -> Response:
            return await router.resolve(request)(request)

        self.server = Server(app, max_connections=max_connections)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = self.call(self.server.start("127.0.0.1", 0))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def echo(self, request: Request) -> Response:
        data = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "body": request.body.decode("utf-8", "replace"),
        }
        return Response(json.dumps(data), content_type="application/json")

    async def item(self, request: Request) -> Response:
        return Response(request.match_info["item"], content_type="text/plain")

    async def boom(self, request: Request) -> Response:
        raise RuntimeError("a bug")

    async def stream(self, request: Request) -> Response:
        async def chunks() -> AsyncGenerator[bytes, None]:
            self.streams_open += 1
            try:
                n = 0
                while True:
                    yield f"data: {n}\n\n".encode()
                    n += 1
                    await asyncio.sleep(3600 if n > 1 else 0)  # two events, then silence: the client's leaving ends it
            finally:
                self.streams_open -= 1

        return StreamResponse(chunks(), headers={"Content-Type": "text/event-stream"})


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    yield s
    s.stop()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, close our sending side, read everything the server says until it closes."""
    with connect(port) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server already answered and closed (a refused head)
            pass
        return read_to_close(sock)


def read_to_close(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not part:
            return out
        out += part


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse the server's bytes as HTTP/1.1 answers to GET requests (h11 as the client); fails if malformed."""
    client = h11.Connection(h11.CLIENT)
    out: list[tuple[int, dict[str, str], bytes]] = []
    client.receive_data(data)
    client.receive_data(b"")
    while True:
        if not client.trailing_data[0]:  # everything the server said is parsed; it closed after it
            return out
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        event = client.next_event()
        while isinstance(event, h11.InformationalResponse):
            event = client.next_event()
        assert isinstance(event, h11.Response), event
        body = b""
        while True:
            part = client.next_event()
            if isinstance(part, h11.Data):
                body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"answer ended early: {part}")
        headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        out.append((event.status_code, headers, body))
        if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
            assert isinstance(client.next_event(), h11.ConnectionClosed), "bytes after an answer that closes"
            return out
        client.start_next_cycle()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def post(body: bytes, extra: str = "") -> bytes:
    return f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served: Served) -> None:
    got = responses(exchange(served.port, get("/echo?a=1") + post(b"hello") + get("/items/b%20c")))
    assert [s for s, _, _ in got] == [200, 200, 200]
    assert json.loads(got[0][2])["query"] == {"a": "1"}
    assert json.loads(got[1][2])["body"] == "hello"
    assert got[2][2] == b"b c"


def test_head_is_get_without_the_body_and_the_connection_goes_on(served: Served) -> None:
    raw = exchange(served.port, b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n" + get("/items/z"))
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(b"\r\n\r\nz")


def test_unknown_path_is_404_and_a_wrong_method_405_with_allow(served: Served) -> None:
    got = responses(exchange(served.port, get("/nowhere") + b"DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert got[0][0] == 404 and got[1][0] == 405 and got[1][1]["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
    ],
)
def test_a_malformed_request_is_400_and_closed(served: Served, request_bytes: bytes) -> None:
    got = responses(exchange(served.port, request_bytes + get("/echo")))
    assert [s for s, _, _ in got] == [400] and got[0][1]["connection"] == "close"


def test_a_head_over_the_limit_is_431_whether_it_arrives_whole_or_slowly(served: Served) -> None:
    big = get("/echo", "X-Big: " + "a" * http.MAX_HEAD_BYTES + "\r\n")
    assert [s for s, _, _ in responses(exchange(served.port, big))] == [431]
    with connect(served.port) as sock:
        sock.sendall(big[:100])
        for i in range(100, len(big), 4096):
            try:
                sock.sendall(big[i : i + 4096])
            except OSError:
                break
        assert [s for s, _, _ in responses(read_to_close(sock))] == [431]


def test_a_body_over_the_limit_is_413_by_length_or_chunked(served: Served) -> None:
    by_length = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {http.MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    assert [s for s, _, _ in responses(exchange(served.port, by_length))] == [413]
    chunk = b"a" * 8192
    chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += (b"2000\r\n" + chunk + b"\r\n") * (http.MAX_BODY_BYTES // 8192 + 1) + b"0\r\n\r\n"
    assert [s for s, _, _ in responses(exchange(served.port, chunked))] == [413]


def test_a_chunked_body_within_the_limit_is_read(served: Served) -> None:
    chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
    got = responses(exchange(served.port, chunked))
    assert got[0][0] == 200 and json.loads(got[0][2])["body"] == "hello!"


def test_transfer_encoding_with_content_length_is_refused_and_other_codings_are_501(served: Served) -> None:
    both = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
    assert [s for s, _, _ in responses(exchange(served.port, both))] == [400]
    gzip = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"
    assert [s for s, _, _ in responses(exchange(served.port, gzip))] == [501]


def test_expect_100_continue_gets_its_interim_answer(served: Served) -> None:
    got = exchange(served.port, post(b"abc", "Expect: 100-continue\r\n"))
    assert got.startswith(b"HTTP/1.1 100 ")
    assert json.loads(responses(got)[0][2])["body"] == "abc"


def test_a_slow_request_is_408_and_an_idle_connection_closes(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "REQUEST_TIMEOUT_S", 0.3)
    monkeypatch.setattr(http, "IDLE_TIMEOUT_S", 0.3)
    with connect(served.port) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert [s for s, _, _ in responses(read_to_close(sock))] == [408]
    with connect(served.port) as sock:
        sock.sendall(get("/echo"))
        assert [s for s, _, _ in responses(read_to_close(sock))] == [200]  # then closed without a word


def test_connections_are_bounded_and_a_freed_slot_serves_again() -> None:
    served = Served(max_connections=2)
    try:
        first, second = connect(served.port), connect(served.port)
        for sock in (first, second):  # both accepted and counted: each answers a request
            sock.sendall(get("/echo"))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        third = exchange(served.port, get("/echo"))
        assert [s for s, _, _ in responses(third)] == [503]
        first.close()
        deadline = time.monotonic() + 10
        while served.server.connections > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [s for s, _, _ in responses(exchange(served.port, get("/echo")))] == [200]
        second.close()
    finally:
        served.stop()


def test_a_client_leaving_a_stream_ends_it_at_once(served: Served) -> None:
    with connect(served.port) as sock:
        sock.sendall(get("/stream"))
        seen = b""
        while b"data: 1" not in seen:
            seen += sock.recv(65536)
        assert seen.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in seen.lower()
        assert served.streams_open == 1
    deadline = time.monotonic() + 10
    while (served.streams_open or served.server.connections) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert served.streams_open == 0 and served.server.connections == 0


def test_a_handler_that_fails_is_500_and_the_server_goes_on(served: Served) -> None:
    with capture_logs() as logs:
        got = responses(exchange(served.port, get("/boom") + get("/echo")))
    assert [s for s, _, _ in got] == [500, 200]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["web console handler failed"]


def test_cookies_carry_their_attributes_and_refuse_what_a_cookie_cannot_hold() -> None:
    resp = Response()
    resp.set_cookie("s", "abc-_1", httponly=True, samesite="Strict", secure=True, max_age=60)
    assert resp.headers.get("Set-Cookie") == "s=abc-_1; Max-Age=60; Path=/; SameSite=Strict; HttpOnly; Secure"
    with pytest.raises(ValueError):
        resp.set_cookie("s", "a;b")
    assert http.parse_cookies('a=1; b="2"; bad; a=3; =x') == {"a": "1", "b": "2"}


def test_a_target_with_a_host_keeps_only_its_path() -> None:
    request = Request(method="GET", path_qs="http://evil.example/login?next=/x", headers=http.Headers())
    assert request.path == "/login" and request.path_qs == "/login?next=/x"


VALID = [
    get("/echo?x=1&y=%20"),
    post(b'{"a": 1}', "Content-Type: application/json\r\n"),
    get("/items/abc", "Cookie: a=1; b=2\r\nConnection: keep-alive\r\n"),
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /echo HTTP/1.0\r\n\r\n",
]


@st.composite
def mutated(draw: st.DrawFn, valid: list[bytes]) -> bytes:
    """One to three of ``valid`` in a row, then bytes flipped, inserted, deleted, or the rest cut off."""
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(valid), min_size=1, max_size=3))))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.sampled_from([b"\r\n", b":", b" ", b"\x00", b"9" * 20, b"\r\n\r\n", b"\xff"]))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif how == "cut":
            del data[at:]
    return bytes(data)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Served]:
    s = Served()
    yield s
    s.stop()


def _check_fuzz_answer(served: Served, data: bytes) -> None:
    answer = exchange(served.port, data)
    for status, _, _ in responses(answer):  # well-formed HTTP/1.1 answers, or nothing and a close
        assert 100 <= status < 600 and status != 500
    alive = responses(exchange(served.port, get("/items/alive")))
    assert [(status, body) for status, _, body in alive] == [(200, b"alive")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000))
def test_random_bytes_get_an_http_answer_or_a_close_and_the_server_goes_on(fuzzed: Served, data: bytes) -> None:
    with capture_logs() as logs:
        _check_fuzz_answer(fuzzed, data)
    assert not [e for e in logs if e["log_level"] == "error"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(VALID))
def test_mutated_requests_get_an_http_answer_or_a_close_and_the_server_goes_on(fuzzed: Served, data: bytes) -> None:
    with capture_logs() as logs:
        _check_fuzz_answer(fuzzed, data)
    assert not [e for e in logs if e["log_level"] == "error"]
    assert fuzzed.streams_open == 0
