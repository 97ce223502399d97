"""Issue 21 §1 against the running console: login limits under concurrency and from other hosts, the open
redirect, sessions after a password change, and report rendering bounded while acquisition goes on."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from radsurvey.daemon.survey.store import SurveyStore
from radsurvey.daemon.web.auth import UsersFile
from radsurvey.daemon.web.base import REPORT_QUEUE

from .support import PASSWORD, client, login, running, wait_for, web_config

pytestmark = pytest.mark.integration


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8 reaches 127.0.0.1)."""
    return client(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_parallel_wrong_guesses_are_checked_exactly_up_to_the_limit(tmp_path: Path) -> None:
    async with running(web_config(tmp_path, web={"login_attempts": 5})) as run, client() as http:

        async def guess(i: int) -> int:
            async with http.post(run.url("/login"), json={"name": "alice", "password": f"wrong-{i}"}) as r:
                return r.status

        with capture_logs() as logs:
            statuses = await asyncio.gather(*(guess(i) for i in range(120)))
        checked = [e for e in logs if e["event"] == "web login failed"]
        assert len(checked) == 5, "exactly the limit is hashed and checked"
        assert sorted(statuses) == [401] * 5 + [429] * 115
        # Hashing has an executor of its own, not the default one the sinks use.
        assert run.web.console is not None and run.web.console.hasher._max_workers == 1


async def test_failures_from_another_host_never_lock_the_real_user_out(tmp_path: Path) -> None:
    async with running(web_config(tmp_path, web={"login_attempts": 3})) as run:
        async with from_address("127.0.0.2") as attacker:
            for _ in range(3):
                async with attacker.post(run.url("/login"), json={"name": "alice", "password": "guess"}) as r:
                    assert r.status == 401
            async with attacker.post(run.url("/login"), json={"name": "alice", "password": PASSWORD}) as r:
                assert r.status == 429 and int(r.headers["Retry-After"]) > 0
                assert await r.json() == {"error": "too many failed logins; try again later"}
        async with from_address("127.0.0.3") as nurse:
            await login(nurse, run)  # an address with no failures logs in at once


async def test_the_lockout_is_a_page_in_the_users_language(tmp_path: Path) -> None:
    async with running(web_config(tmp_path, web={"login_attempts": 1, "language": "ru"})) as run, client() as http:
        async with http.get(run.url("/login")) as r:
            token = (await r.text()).split('name="csrf" value="')[1].split('"')[0]
        form = {"name": "alice", "password": "wrong-password", "csrf": token, "next": "/alarms"}
        async with http.post(run.url("/login"), data=form) as r:
            assert r.status == 401 and "Неверное имя или пароль." in await r.text()
        async with http.post(run.url("/login"), data=form) as r:
            page = await r.text()
            assert r.status == 429 and r.headers["Content-Type"].startswith("text/html")
            assert int(r.headers["Retry-After"]) > 0
            assert "Слишком много неудачных входов с этого компьютера. Повторите через 5 мин." in page
            assert '<html lang="ru"' in page and '{"error"' not in page and "Retry-After" not in page


@pytest.mark.parametrize(
    "target",
    ["/%09/evil.example/", "/%0d/evil.example/", "/%0a/evil.example/", "//evil.example/", "/\\evil.example",
     "https://evil.example/", "/%20/evil.example/", "/%e2%80%8b/evil.example"],
)  # fmt: skip
async def test_after_login_the_redirect_stays_on_this_site(tmp_path: Path, target: str) -> None:
    async with running(web_config(tmp_path)) as run, client() as http:
        async with http.get(run.url(f"/login?next={target}")) as r:
            page = await r.text()
        token = page.split('name="csrf" value="')[1].split('"')[0]
        next_field = page.split('name="next" value="')[1].split('"')[0]
        form = {"name": "alice", "password": PASSWORD, "csrf": token, "next": next_field}
        async with http.post(run.url("/login"), data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"
        # The form posted directly, with the raw characters, is refused the same way.
        from urllib.parse import unquote

        form["next"] = unquote(target)
        async with http.post(run.url("/login"), data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"
        form["next"] = "/channels/door?range=24h"
        async with http.post(run.url("/login"), data=form, allow_redirects=False) as r:
            assert r.headers["Location"] == "/channels/door?range=24h"  # a path of this site is kept


async def test_a_password_change_ends_the_accounts_sessions(tmp_path: Path) -> None:
    cfg = web_config(tmp_path)
    async with running(cfg) as run, client() as alice, client() as bob:
        UsersFile(cfg.web.users_file).set_password("bob", "bobs password")  # type: ignore[union-attr]
        await login(alice, run)
        await login(bob, run, "bob", "bobs password")
        UsersFile(cfg.web.users_file).set_password("alice", "a new password, changed")  # type: ignore[union-attr]
        async with alice.get(run.url("/api/session")) as r:
            assert (await r.json())["user"] is None
        async with bob.get(run.url("/api/session")) as r:
            assert (await r.json())["user"] == "bob"  # another account's session goes on


def counting_chromium(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A chromium wrapper that logs each start and end and waits for ``go`` before printing."""
    real = shutil.which("chromium") or shutil.which("chromium-browser")
    if real is None:
        pytest.skip("chromium is not installed")
    log, go = tmp_path / "chromium.log", tmp_path / "go"
    wrapper = tmp_path / "chromium-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo start >> "{log}"\n'
        f'while [ ! -e "{go}" ]; do sleep 0.05; done\n'
        f'"{real}" "$@"\nrc=$?\n'
        f'echo end >> "{log}"\n'
        "exit $rc\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log, go


async def test_parallel_pdf_requests_render_one_at_a_time_queue_bounded_cached_and_acquisition_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper, log, go = counting_chromium(tmp_path)
    monkeypatch.setenv("RADSURVEY_CHROMIUM", str(wrapper))
    cfg = web_config(tmp_path, beam=False)
    doc = json.loads((Path(__file__).parents[3] / "protocols/examples/worked-example.json").read_text())
    with SurveyStore(cfg.journal.path) as store:
        sid = store.import_document(doc)
    async with running(cfg) as run, client() as http:
        await login(http, run)

        async def report() -> int:
            async with http.get(run.url(f"/surveys/{sid}/report?format=pdf&lang=ru")) as r:
                body = await r.read()
                assert r.status != 200 or body.startswith(b"%PDF-")
                assert r.status != 503 or int(r.headers["Retry-After"]) > 0
                return r.status

        tasks = [asyncio.create_task(report()) for _ in range(12)]
        busy = 12 - 1 - REPORT_QUEUE  # one rendering, REPORT_QUEUE waiting: the rest are told to come back

        async def refused() -> bool:
            return sum(t.done() for t in tasks) == busy and log.exists()

        await wait_for(refused, timeout_s=30)
        readings = run.daemon.readings_seen
        await wait_for(lambda: _true(run.daemon.readings_seen > readings + 3), timeout_s=10)  # acquisition goes on
        go.touch()
        statuses = await asyncio.gather(*tasks)
    assert sorted(statuses) == [200] * (1 + REPORT_QUEUE) + [503] * busy
    # One Chromium, once: the waiting requests got the cached report of the unchanged survey.
    assert log.read_text().split() == ["start", "end"]
    assert not any(p for p in os.listdir("/proc") if p.isdigit() and _is_wrapper(p, wrapper))


async def _true(value: bool) -> bool:
    return value


def _is_wrapper(pid: str, wrapper: Path) -> bool:
    try:
        return str(wrapper) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


async def test_an_oversized_header_is_answered_431_in_one_log_line(tmp_path: Path) -> None:
    async with running(web_config(tmp_path)) as run:
        with capture_logs() as logs:
            reader, writer = await asyncio.open_connection("127.0.0.1", run.web.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)  # read to the end: the server closes after it
            assert answer.startswith(b"HTTP/1.1 431 ") and b"connection: close" in answer.lower()
            writer.close()
    refused = [e for e in logs if e["event"] == "web request refused"]
    assert len(refused) == 1 and refused[0]["status"] == 431 and refused[0]["address"] == "127.0.0.1"
    assert all(e["log_level"] != "error" for e in logs)
