"""The facility record in the console, in a real headless Chromium (issue 19).

A technician's laptop pushes surveys to ``/api/facility/surveys`` with an account that has the
``surveyor`` role; they appear on the Surveys page, a non-complying one puts the room on hold at the
top of every page, a later complying one lifts it; an HPO opens an incident from a latched alarm.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.facility_support import FACILITY_TOML, survey
from tests.servers import free_port

from .support import PASSWORD
from .test_web_browser import _page, browser  # noqa: F401 - the shared Chromium fixture

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
ROOM = "X-ray room 204"

CONFIG = """
[site]
id = "clinic-7"
name = "City Polyclinic No. 7"
[journal]
path = "j.sqlite"
commit_interval_s = 0.1
[facility]
poll_interval_s = 0.2
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.2
background_uGy_h = 50.0
counts_per_uGy = 1e8
[[channels]]
id = "desk"
meter = "sim"
room_category = 1
averaging_window_s = 0.2
[[channels.alarms]]
kind = "instant"
level_uSv_h = 1
window_s = 0.4
latching = true
[alarms]
tick_interval_s = 0.2
[web]
listen = "127.0.0.1:{port}"
users_file = "users"
"""


def cli(tmp: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("radsurvey"))
    out = subprocess.run([exe, *args], cwd=tmp, input=stdin, text=True, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("web-facility")
    port = free_port()
    (tmp / "cfg.toml").write_text(CONFIG.format(port=port), encoding="utf-8")
    (tmp / "facility.toml").write_text(FACILITY_TOML, encoding="utf-8")
    cli(tmp, "facility", "import", "facility.toml", "--config", "cfg.toml", "--by", "anna")
    for name in ("anna", "timur", "bob"):
        cli(tmp, "web", "user", "add", name, "--config", "cfg.toml", "--password-stdin", stdin=PASSWORD + "\n")
    cli(tmp, "facility", "role", "grant", "anna", "hpo", "--by", "anna", "--config", "cfg.toml")
    cli(tmp, "facility", "role", "grant", "timur", "surveyor", "--by", "anna", "--config", "cfg.toml")
    cli(tmp, "facility", "hold", "lift", ROOM, "--reason", "accepted", "--by", "anna", "--config", "cfg.toml")
    cli(
        tmp,
        "facility",
        "equipment",
        "inspect",
        "apron-1",
        "--date",
        TODAY.isoformat(),
        "--result",
        "pass",
        "--config",
        "cfg.toml",
    )
    exe = str(Path(sys.executable).with_name("radsurvey"))
    log = (tmp / "daemon.log").open("w")
    proc = subprocess.Popen(
        [exe, "run", "--config", "cfg.toml", "--json"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/api/overview", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((tmp / "daemon.log").read_text()) from None
                time.sleep(0.2)
        yield base, tmp
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


class Laptop:
    """Another machine: an HTTP client with its own cookies that logs in with JSON and pushes surveys."""

    def __init__(self, base: str, name: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.csrf = str(self.call("POST", "/login", {"name": name, "password": PASSWORD})[1]["csrf"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if getattr(self, "csrf", None):
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def push(self, doc: dict[str, Any], room: str = ROOM) -> tuple[int, Any]:
        return self.call("POST", "/api/facility/surveys", {"room": room, "apparatus": "R-500", "survey": doc})


def log_in(page, url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def due(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/api/facility", timeout=10) as r:
        return {d["room"]: d for d in json.loads(r.read())["due"]}


def test_a_survey_pushed_from_a_laptop_is_filed_shown_on_the_surveys_page_and_holds_the_room(
    console: tuple[str, Path],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    base, _tmp = console
    bad = survey(TODAY - timedelta(days=2), complies=False, survey_id="LAPTOP-1")

    # An account without a role in the record may not file; a wrong room is named; nothing is stored.
    status, body = Laptop(base, "bob").push(bad)
    assert status == 403 and body == {"error": "account 'bob' may not do this (needs role surveyor or hpo)"}
    laptop = Laptop(base, "timur")
    status, body = laptop.push(bad, room="Room 9")
    assert status == 400 and "unknown room 'Room 9'" in body["error"]
    assert due(base)[ROOM]["last_survey"] is None

    status, body = laptop.push(bad)
    assert status == 201, body
    assert body["conclusion"] == "does_not_comply" and body["hold"] is True

    page = _page(browser)
    page.goto(base + "/surveys")
    row = page.locator('tr[data-survey="LAPTOP-1"]')
    row.wait_for(timeout=10_000)
    assert ROOM in row.inner_text() and "does not comply" in row.inner_text() and "timur" in row.inner_text()

    page.goto(base + "/")
    banner = page.locator(".facility-alerts")
    banner.wait_for(timeout=10_000)  # the alarm service reads the record every 0.2 s; a reload shows it
    assert ROOM in banner.inner_text() and "survey LAPTOP-1 does not comply" in banner.inner_text()
    page.screenshot(path=str(Path(__file__).resolve().parents[2] / "artifacts" / "web" / "facility-hold.png"))
    assert page.errors == []

    # The protocol report of the filed survey is one click away.
    page.goto(base + "/surveys")
    with page.expect_navigation():
        page.locator('tr[data-survey="LAPTOP-1"] a').click()
    if "/login" in page.url:  # reports need a login by default
        log_in(page, page.url, "timur")
    assert "LAPTOP-1" in page.content() or "WE-2008-014" in page.content()

    good = survey(TODAY, complies=True, survey_id="LAPTOP-2")
    status, body = laptop.push(good)
    assert status == 201 and body["conclusion"] == "complies" and body["holds_lifted"] == 1
    room = due(base)[ROOM]
    assert room["hold"] is None and room["last_survey"] == "LAPTOP-2"
    month = TODAY.month + 2
    assert room["next_due"] == TODAY.replace(year=TODAY.year + month // 12, month=month % 12 + 1).isoformat()

    deadline = time.monotonic() + 10
    while True:
        page.goto(base + "/")
        if page.locator(".facility-alerts").count() == 0:
            break
        assert time.monotonic() < deadline, page.locator(".facility-alerts").inner_text()
        time.sleep(0.3)


def test_an_hpo_opens_an_incident_from_the_latched_alarm_in_the_console(
    console: tuple[str, Path],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    base, _tmp = console
    page = _page(browser)
    log_in(page, base + "/login?next=/facility", "anna")
    # wait for the instant alarm to latch on desk (E = 25 uSv/h against 1)
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(base + "/api/alarms", timeout=10) as r:
            alarms = json.loads(r.read())
        if "latched" in json.dumps(alarms) and '"latched": true' in json.dumps(alarms):
            break
        assert time.monotonic() < deadline, alarms
        time.sleep(0.2)
    page.goto(base + "/facility")
    page.select_option("#inc-channel", "desk")
    with page.expect_navigation():
        page.click("#open-incident button")
    assert page.url.endswith("/facility")
    text = page.inner_text("main")
    assert "instant desk" in text
    assert "incident 1 (alarm instant on desk)" in page.locator('tr[data-room="X-ray room 204"]').inner_text()
    assert page.errors == []


def test_an_hpo_registers_an_instrument_in_the_console_and_sees_what_its_driver_knows(
    console: tuple[str, Path],
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    base, tmp = console
    status, body = Laptop(base, "timur").call("POST", "/api/facility/register/room", {"name": "Room 9"})
    assert status == 403 and "needs role hpo" in body["error"]
    page = _page(browser)
    log_in(page, base + "/login?next=/facility", "anna")
    page.fill("#inst-id", "gmc-7")
    page.fill("#inst-model", "GMC-800")
    page.fill("#inst-driver", "gmc")
    page.fill("#inst-expires", "2030-01-01")
    with page.expect_navigation():
        page.click("#add-instrument button")
    row = page.locator("#instruments tr", has_text="gmc-7")
    assert "under-reads in pulsed X-ray fields" in row.inner_text()
    history = cli(
        tmp,
        "facility",
        "history",
        "--entity",
        "instrument",
        "--key",
        "gmc-7",
        "--format",
        "json",
        "--config",
        "cfg.toml",
    )
    assert [(h["by"], h["action"]) for h in json.loads(history.stdout)] == [("anna", "added")]
    assert page.errors == []


def test_radsurvey_facility_push_files_a_laptops_survey_on_the_daemon(
    console: tuple[str, Path], tmp_path: Path
) -> None:
    base, _tmp = console
    doc = survey(TODAY, complies=True, survey_id="PUSHED-1", room="Dental room 3")
    (tmp_path / "s.json").write_text(json.dumps(doc), encoding="utf-8")
    exe = str(Path(sys.executable).with_name("radsurvey"))
    args = [exe, "facility", "push", "s.json", "--url", base, "--user", "timur", "--room", "Dental room 3"]
    wrong = subprocess.run(args, cwd=tmp_path, input="not the password\n", text=True, capture_output=True, timeout=60)
    assert wrong.returncode == 2 and "not the password" not in wrong.stderr
    assert wrong.stderr.strip().splitlines() == [f"radsurvey: error: {base}/login: 401 wrong name or password"]
    out = subprocess.run(args, cwd=tmp_path, input=PASSWORD + "\n", text=True, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"filed PUSHED-1 under Dental room 3 on {base}: complies"
    assert due(base)["Dental room 3"]["last_survey"] == "PUSHED-1"
