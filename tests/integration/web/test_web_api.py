"""The console's HTTP API against a running daemon: overview, SSE, auth, CSRF, ack, trend, surveys."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from radsurvey.daemon.survey.store import SurveyStore

from .support import PASSWORD, client, login, running, wait_for, web_config

pytestmark = pytest.mark.integration


async def _overview(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(url + "/api/overview") as r:
        assert r.status == 200
        return await r.json()


async def _alarm_on(run, http) -> dict:  # type: ignore[no-untyped-def]
    async def tripped():  # type: ignore[no-untyped-def]
        o = await _overview(http, run.base)
        door = o["channels"][0]
        return door if door["alarm"]["state"] == "alarm" else None

    return await wait_for(tripped)


async def test_overview_lists_every_channel_with_its_value_limit_alarm_and_meter(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:

        async def live():  # type: ignore[no-untyped-def]
            o = await _overview(http, run.base)
            return o if o["channels"][0]["status"] == "live" else None

        o = await wait_for(live)
        door, spare = o["channels"]
        assert door["id"] == "door" and door["limit_uSv_h"] == 1.3  # category 5 of kz-2008-303
        assert door["effective_uSv_h"] == door["last_effective_uSv_h"]
        assert door["ratio"] == pytest.approx(door["effective_uSv_h"] / 1.3)
        assert door["meter_state"] == "connected" and door["alarm"]["configured"]
        # A channel whose meter never gave a sample shows no number at all.
        assert spare["status"] == "no_data" and spare["effective_uSv_h"] is None and spare["ratio"] is None


async def test_the_overview_shows_the_backlog_of_a_sink_whose_broker_is_down(tmp_path: Path) -> None:
    from tests.servers import free_port

    cfg = web_config(tmp_path, mqtt={"host": "127.0.0.1", "port": free_port(), "reconnect_initial_s": 0.2})
    async with running(cfg) as run, client() as http:

        async def backlog():  # type: ignore[no-untyped-def]
            sinks = (await _overview(http, run.base))["sinks"]
            return sinks if sinks.get("mqtt", {}).get("backlog_rows", 0) > 10 else None

        sinks = await wait_for(backlog, timeout_s=20)
        # Issue 21: the error text names servers and URLs: a visitor without a login does not see it.
        assert sinks["mqtt"]["errors"] >= 1 and sinks["mqtt"]["last_error"] is None
        async with http.get(run.url("/")) as r:  # sink health is for the people who run the monitor (issue 22)
            page = await r.text()
            assert "mqtt: backlog" not in page and 'id="sinks"' not in page
        await login(http, run)
        sinks = (await _overview(http, run.base))["sinks"]
        assert "Connection refused" in sinks["mqtt"]["last_error"]
        async with http.get(run.url("/")) as r:
            assert "mqtt: backlog" in await r.text()


async def test_samples_reach_an_sse_subscriber_as_they_are_taken_in_order(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        async with http.get(run.url("/api/events"), timeout=aiohttp.ClientTimeout(sock_read=20)) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            event, stamps, seen = None, [], set()
            while len(stamps) < 10:
                line = (await r.content.readline()).decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "channel":
                    row = json.loads(line[6:])
                    if row["id"] == "door" and row["status"] == "live" and row["last_ts"] not in seen:
                        seen.add(row["last_ts"])
                        stamps.append(datetime.fromisoformat(row["last_ts"].replace("Z", "+00:00")))
            assert event is not None
        # Each push carries a newer sample than the one before; how fast is benchmarks/sse_latency.py's question.
        assert stamps == sorted(stamps) and len(set(stamps)) == 10, stamps


async def test_ack_without_a_session_is_refused_with_401(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        await _alarm_on(run, http)
        async with http.post(run.url("/api/channels/door/ack"), json={"comment": "x"}) as r:
            assert r.status == 401
        async with http.post(run.url("/api/channels/door/ack"), data={"comment": "x", "csrf": "guess"}) as r:
            assert r.status == 401
        assert (await _overview(http, run.base))["channels"][0]["alarm"]["unacknowledged"] == ["instant"]


def _wrong(token: str) -> str:
    """The token with its last character changed (never equal to it, whatever that character was)."""
    return token[:-1] + ("B" if token.endswith("A") else "A")


async def test_ack_with_a_session_but_without_the_csrf_token_is_refused_with_403(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        await _alarm_on(run, http)
        csrf = await login(http, run)
        async with http.post(run.url("/api/channels/door/ack"), json={"comment": "x"}) as r:
            assert r.status == 403
        async with http.post(
            run.url("/api/channels/door/ack"), json={"comment": "x"}, headers={"X-CSRF-Token": _wrong(csrf)}
        ) as r:
            assert r.status == 403
        assert (await _overview(http, run.base))["channels"][0]["alarm"]["unacknowledged"] == ["instant"]


async def test_ack_after_login_is_applied_and_journaled_with_the_users_name_and_comment(tmp_path: Path) -> None:
    cfg = web_config(tmp_path)
    async with running(cfg) as run, client() as http:
        await _alarm_on(run, http)
        csrf = await login(http, run)
        async with http.post(
            run.url("/api/channels/door/ack"),
            json={"comment": "door closed, beam off"},
            headers={"X-CSRF-Token": csrf},
        ) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        assert body["accepted"] and body["by"] == "alice"
        o = await _overview(http, run.base)
        assert o["channels"][0]["alarm"]["unacknowledged"] == []
        # A channel without rules has nothing to acknowledge: 409 with the alarm service's reason.
        async with http.post(
            run.url("/api/channels/spare/ack"), json={"comment": "again"}, headers={"X-CSRF-Token": csrf}
        ) as r:
            assert r.status == 409 and "no alarm rules" in (await r.json())["error"]
        await run.daemon.journal.aflush()
    with sqlite3.connect(cfg.journal.path) as conn:
        rows = conn.execute(
            "SELECT acknowledged_by, comment FROM alarm_events WHERE event = 'ack' AND channel = 'door'"
        ).fetchall()
    assert rows == [("alice", "door closed, beam off")]


async def test_the_ack_form_posts_with_its_csrf_field_and_returns_to_the_alarms_page(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        await _alarm_on(run, http)
        csrf = await login(http, run)
        async with http.post(
            run.url("/api/channels/door/ack"), data={"comment": "seen", "csrf": csrf}, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/alarms"
        async with http.get(run.url("/alarms")) as r:  # the result, once, for this session only
            assert 'class="message" role="status">acknowledged instant on door by alice<' in await r.text()
        async with http.get(run.url("/alarms?message=Evacuate+now")) as r:  # never text a link carries
            page = await r.text()
            assert "Evacuate" not in page and 'class="message"' not in page


async def test_session_cookie_is_httponly_and_samesite_strict(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        async with http.post(run.url("/login"), json={"name": "alice", "password": PASSWORD}) as r:
            cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_under_tls_the_session_cookie_is_secure(tmp_path: Path, self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    cfg = web_config(tmp_path, web={"tls_cert_file": str(cert), "tls_key_file": str(key)})
    async with running(cfg, ssl=True) as run, client(connector=aiohttp.TCPConnector(ssl=False)) as http:
        async with http.post(run.url("/login"), json={"name": "alice", "password": PASSWORD}) as r:
            assert r.status == 200
            assert "Secure" in r.headers["Set-Cookie"]


async def test_failed_logins_are_rate_limited_even_for_the_right_password_after(tmp_path: Path) -> None:
    async with running(web_config(tmp_path, web={"login_attempts": 3})) as run, client() as http:
        for _ in range(3):
            async with http.post(run.url("/login"), json={"name": "alice", "password": "wrong-password"}) as r:
                assert r.status == 401
        async with http.post(run.url("/login"), json={"name": "alice", "password": PASSWORD}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 0


async def test_the_login_form_needs_its_csrf_cookie(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        async with http.post(
            run.url("/login"), data={"name": "alice", "password": PASSWORD, "csrf": "x"}, allow_redirects=False
        ) as r:
            assert r.status == 403
        async with http.get(run.url("/login")) as r:
            page = await r.text()
        token = page.split('name="csrf" value="')[1].split('"')[0]
        async with http.post(
            run.url("/login"),
            data={"name": "alice", "password": PASSWORD, "csrf": token, "next": "//evil.example/"},
            allow_redirects=False,
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/"  # never an outside redirect


async def test_view_login_requires_a_session_for_every_page_and_api(tmp_path: Path) -> None:
    async with running(web_config(tmp_path, web={"view": "login"})) as run, client() as http:
        async with http.get(run.url("/api/overview")) as r:
            assert r.status == 401
        async with http.get(run.url("/kiosk"), allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login")
        async with http.get(run.url("/api/events")) as r:
            assert r.status == 401
        await login(http, run)
        async with http.get(run.url("/api/overview")) as r:
            assert r.status == 200


async def test_trend_gives_buckets_limit_levels_and_events_and_csv_gives_every_sample(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        await _alarm_on(run, http)
        await run.daemon.journal.aflush()
        async with http.get(run.url("/api/channels/door/trend?range=1h")) as r:
            assert r.status == 200
            tr = await r.json()
        assert tr["bucket_s"] == 10 and tr["limit_uSv_h"] == 1.3
        assert {(lv["state"], lv["level_uSv_h"]) for lv in tr["levels"]} == {("alarm", 5.0), ("warning", 4.0)}
        assert any(e["state"] == "alarm" for e in tr["events"])
        async with http.get(run.url("/api/channels/door/trend.csv?range=1h")) as r:
            assert r.headers["Content-Disposition"].startswith('attachment; filename="door-')
            lines = (await r.text()).splitlines()
        assert lines[0].startswith("seq,ts,channel,meter")
        assert sum(b[1] for b in tr["buckets"]) <= len(lines) - 1  # the CSV was read later: as many or more
        for bad in ("range=2y", "from=yesterday", "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"):
            async with http.get(run.url(f"/api/channels/door/trend?{bad}")) as r:
                assert r.status == 400 and "error" in await r.json()
        async with http.get(run.url("/api/channels/nope/trend")) as r:
            assert r.status == 404


async def test_a_stale_channel_shows_no_value_only_its_last_one_as_history(tmp_path: Path) -> None:
    cfg = web_config(tmp_path, web={"stale_after_s": 0.5})
    async with running(cfg) as run, client() as http:

        async def live():  # type: ignore[no-untyped-def]
            return (await _overview(http, run.base))["channels"][0]["status"] == "live"

        await wait_for(live)
        # Stop the meter's task: no more samples, as when firmware hangs.
        for task in asyncio.all_tasks():
            if task.get_name() == "meter:m1":
                task.cancel()

        async def stale():  # type: ignore[no-untyped-def]
            door = (await _overview(http, run.base))["channels"][0]
            return door if door["status"] == "stale" else None

        door = await wait_for(stale)
        assert door["effective_uSv_h"] is None and door["ratio"] is None
        assert door["last_effective_uSv_h"] is not None and door["last_ts"]
        async with http.get(run.url("/")) as r:
            assert "stale: no fresh value" in await r.text()


async def test_surveys_are_listed_with_verdicts_and_reports_download_in_every_format(tmp_path: Path) -> None:
    cfg = web_config(tmp_path, beam=False)
    doc = json.loads((Path(__file__).parents[3] / "protocols/examples/worked-example.json").read_text())
    with SurveyStore(cfg.journal.path) as store:
        sid = store.import_document(doc)
    async with running(cfg) as run, client() as http:
        async with http.get(run.url("/api/surveys")) as r:
            surveys = (await r.json())["surveys"]
        assert [(s["id"], s["verdict"], s["evaluated_points"]) for s in surveys] == [(sid, "fail", 3)]
        async with http.get(run.url("/surveys?lang=ru")) as r:
            page = await r.text()
        assert sid in page and f'action="/surveys/{sid}/report"' in page and "verdict-fail" in page
        # Issue 21: reports need a login by default ([web] reports = "login"), even on an open console.
        async with http.get(run.url(f"/surveys/{sid}/report?format=pdf&lang=en")) as r:
            assert r.status == 401
        async with http.get(
            run.url(f"/surveys/{sid}/report?format=pdf"), headers={"Accept": "text/html"}, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"] == f"/login?next=/surveys/{sid}/report?format=pdf"
        await login(http, run)
        async with http.get(run.url(f"/surveys/{sid}/report?format=json&lang=ru")) as r:
            report = await r.json(content_type=None)
        assert report["survey_id"] == sid
        async with http.get(run.url(f"/surveys/{sid}/report?format=csv&lang=en")) as r:
            assert r.status == 200 and "A1" in await r.text()
        async with http.get(run.url(f"/surveys/{sid}/report?format=html&lang=ru")) as r:
            assert r.status == 200 and 'lang="ru"' in await r.text()
        async with http.get(run.url(f"/surveys/{sid}/report?format=pdf&lang=en")) as r:
            assert r.status == 200 and (await r.read()).startswith(b"%PDF-")
        async with http.get(run.url(f"/surveys/{sid}/report?format=docx")) as r:
            assert r.status == 400
        async with http.get(run.url("/surveys/none-such/report")) as r:
            assert r.status == 404
            error = (await r.json())["error"]
            assert "none-such" in error and str(tmp_path) not in error and "sqlite" not in error


async def test_pages_alternating_languages_keep_their_own_words_and_number_formats(tmp_path: Path) -> None:
    # One Jinja environment serves every language: a page never takes the words or decimal mark of the last one.
    import re

    cfg = web_config(tmp_path, beam=False)
    async with running(cfg) as run, client() as http:

        async def live() -> bool:
            return (await _overview(http, run.base))["channels"][0]["status"] == "live"

        await wait_for(live)
        for lang in ("ru", "en", "ru", "en"):
            async with http.get(run.url(f"/?lang={lang}")) as r:
                page = await r.text()
            values = re.findall(r'class="value">([^<]+)<', page)
            assert values, page
            if lang == "ru":
                assert "Мощность дозы сейчас" in page and all("." not in v for v in values), values
                assert any("," in v for v in values), values
            else:
                assert "Dose rate now" in page and all("," not in v for v in values), values
                assert any("." in v for v in values), values
