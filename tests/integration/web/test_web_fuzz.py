"""The running console under hypothesis: mutated requests of every kind it serves, with a real session.

Each answer is a well-formed HTTP/1.1 response (h11 as the client) or a close, never a 500, nothing is
logged as an error, and the console goes on answering: the request glue (targets, queries, cookies, forms,
JSON bodies, path parameters) meets the handlers behind the security middleware, as an attacker's would.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tests.unit.daemon.test_web_http import exchange, mutated, responses

from .support import PASSWORD, running, web_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[bytes], str, str]]:
    """A running daemon with the console (on a loop in a thread); yields the valid requests to mutate."""
    tmp = tmp_path_factory.mktemp("fuzz")
    ports: queue.Queue[int] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        async with running(web_config(tmp, web={"login_attempts": 100})) as run:
            assert run.web.port is not None
            ports.put(run.web.port)
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    port = ports.get(timeout=60)
    body = json.dumps({"name": "alice", "password": PASSWORD}).encode()
    login = f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    status, headers, answer = responses(exchange(port, login.encode() + body))[0]
    assert status == 200, answer
    cookie = headers["set-cookie"].split(";")[0]
    csrf = json.loads(answer)["csrf"]
    ack_json = json.dumps({"comment": "seen", "rule": "instant"}).encode()
    ack_form = f"comment=seen&csrf={csrf}".encode()
    valid = [
        f"GET /api/overview HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode(),
        b"GET /channels/door?range=1h&lang=ru HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/channels/door/trend?from=2026-12-07T10:00:00Z&to=2026-12-07T11:00:00Z HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/alarms?limit=5&channel=door HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /login?next=/alarms HTTP/1.1\r\nHost: x\r\n\r\n",
        (
            f"POST /api/channels/door/ack HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(ack_json)}\r\n\r\n"
        ).encode()
        + ack_json,
        (
            f"POST /api/channels/door/ack HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(ack_form)}\r\n\r\n"
        ).encode()
        + ack_form,
        b"GET /static/console.css HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    valid.append(b"".join(valid[:3]))  # pipelined
    yield port, valid, cookie, csrf
    stop.set()
    thread.join(30)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=st.data())
def test_the_consoles_answers_to_mutated_requests_are_http_or_a_close(
    console: tuple[int, list[bytes], str, str], draw: st.DataObject
) -> None:
    port, valid, _, _ = console
    data = draw.draw(mutated(valid))
    with capture_logs() as logs:
        for status, _, _ in responses(exchange(port, data)):
            assert 100 <= status < 600 and status != 500
        alive = responses(exchange(port, b"GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert [status for status, _, _ in alive] == [200]
    assert not [e for e in logs if e["log_level"] == "error"], logs


GETS = ("/", "/kiosk", "/alarms", "/surveys", "/facility", "/login", "/api/overview", "/api/alarms", "/api/surveys")
GETS_WITH = ("/channels/{}", "/api/channels/{}/trend", "/api/channels/{}/trend.csv", "/surveys/{}/report", "/static/{}")
POSTS = ("/api/facility/surveys", "/api/facility/incidents", "/logout", "/login")
POSTS_WITH = ("/api/channels/{}/ack", "/api/facility/register/{}")
KEYS = ("range", "from", "to", "limit", "channel", "lang", "next", "format", "comment", "rule", "csrf", "name")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from((*KEYS, "survey", "room")), inner),
    max_leaves=10,
)


@st.composite
def console_request(draw: st.DrawFn, cookie: str, csrf: str) -> bytes:
    """A request the console routes, with any text in its path parameter, query, cookies and body."""
    param = quote(draw(st.sampled_from(["door", "spare", "", ".."]) | st.text(max_size=30)), safe="")
    post = draw(st.booleans())
    path = draw(st.sampled_from(POSTS + POSTS_WITH if post else GETS + GETS_WITH)).format(param)
    query = urlencode(draw(st.dictionaries(st.sampled_from(KEYS), st.text(max_size=40), max_size=4)))
    headers = ["Host: x"]
    if draw(st.booleans()):
        headers.append(f"Cookie: {cookie}; radsurvey_lang={quote(draw(st.text(max_size=8)), safe='')}")
    if draw(st.booleans()):
        headers.append(f"X-CSRF-Token: {csrf if draw(st.booleans()) else quote(draw(st.text(max_size=20)))}")
    body = b""
    if post:
        kind = draw(st.sampled_from(["json", "form", "bytes"]))
        if kind == "json":
            body = json.dumps(draw(JSON)).encode()
            headers.append("Content-Type: application/json")
        elif kind == "form":
            fields = draw(st.dictionaries(st.sampled_from(KEYS), st.text(max_size=40), max_size=4))
            body = urlencode({**fields, "csrf": csrf} if draw(st.booleans()) else fields).encode()
            headers.append("Content-Type: application/x-www-form-urlencoded")
        else:
            body = draw(st.binary(max_size=200))
            headers.append(f"Content-Type: {draw(st.sampled_from(['text/plain', 'multipart/form-data', '']))}")
        headers.append(f"Content-Length: {len(body)}")
    target = path + (f"?{query}" if query else "")
    head = f"{'POST' if post else 'GET'} {target} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    return head.encode() + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=st.data())
def test_every_route_answers_any_text_in_its_parameters_without_failing(
    console: tuple[int, list[bytes], str, str], draw: st.DataObject
) -> None:
    port, _, cookie, csrf = console
    data = draw.draw(console_request(cookie, csrf))
    with capture_logs() as logs:
        answers = responses(exchange(port, data))
    assert len(answers) == 1 and answers[0][0] < 500, (data, answers[:1])
    assert not [e for e in logs if e["log_level"] == "error"], logs
