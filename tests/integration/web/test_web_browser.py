"""The console in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The daemon is the real command, ``radsurvey run``, on simulated meters. Screenshots
of every view go to tests/artifacts/web/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

from .support import PASSWORD

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"

CONFIG = """
[site]
id = "clinic-1"
name = "Clinic 1, X-ray room 2"
timezone = "Asia/Almaty"

[journal]
path = "{journal}"
commit_interval_s = 0.1

[[meters]]
id = "door-meter"
driver = "simulated"
poll_interval_s = 0.5
seed = 7
background_uGy_h = 0.12
beam_uGy_h = 40.0
beam_period_s = 8
beam_on_s = 2
beam_start_s = 3

[[meters]]
id = "desk-meter"
driver = "simulated"
poll_interval_s = 0.5
seed = 8
background_uGy_h = 0.1
beam_uGy_h = 1.5
beam_period_s = 8
beam_on_s = 3

[[meters]]
id = "store-meter"
driver = "simulated"
enabled = false

[[channels]]
id = "corridor-door"
meter = "door-meter"
location = "corridor, outside the door"
room_category = 5
averaging_window_s = 1.0
[[channels.alarms]]
kind = "instant"
level_uSv_h = 5.0
window_s = 1.0
latching = true

[[channels]]
id = "control-desk"
meter = "desk-meter"
location = "control room, operator's desk"
room_category = 1
averaging_window_s = 2.0
[[channels.alarms]]
kind = "twa"
window_s = 60
min_coverage = 0.1

[[channels]]
id = "store-room"
meter = "store-meter"
location = "film store (meter off)"
room_category = 4

[alarms]
tick_interval_s = 0.5

[web]
listen = "127.0.0.1:{port}"
users_file = "{users}"
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("web-browser")
    port = free_port()
    cfg = tmp / "console.toml"
    cfg.write_text(CONFIG.format(journal=tmp / "j.sqlite", port=port, users=tmp / "users"))
    exe = str(Path(sys.executable).with_name("radsurvey"))
    subprocess.run(
        [exe, "web", "user", "add", "alice", "--config", str(cfg), "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    log = (tmp / "daemon.log").open("w")
    proc = subprocess.Popen([exe, "run", "--config", str(cfg), "--json"], stdout=subprocess.DEVNULL, stderr=log)
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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed (scripts/bootstrap.sh --test installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _page(browser, width: int = 1280, height: int = 800):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
    page = context.new_page()
    # A script error or a Content-Security-Policy violation would show here.
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    return page


def _fits(page, width: int, height: int | None = None) -> None:  # type: ignore[no-untyped-def]
    clipped = page.evaluate(
        "[...document.querySelectorAll('.tile .big')].filter(e => e.scrollWidth > e.clientWidth).length"
    )
    assert clipped == 0, f"{clipped} kiosk numbers wider than their tile"
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= width, f"page is {size[0]} px wide in a {width} px viewport"
    if height is not None:
        assert size[1] <= height, f"page is {size[1]} px high in a {height} px viewport"


def test_overview_shows_live_values_that_change(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/")
    cell = page.locator('tr[data-channel="control-desk"] .c-e .value')
    seen: set[str] = set()
    # Beyond 0 and the beam's level, a third value lives for about one sample per 8 s beam cycle (the
    # averaging window's edge): on a loaded CI machine 20 s (2.5 cycles) once showed only two values.
    deadline = time.monotonic() + 45
    while len(seen) < 3 and time.monotonic() < deadline:
        if cell.count():
            seen.add(cell.inner_text())
        page.wait_for_timeout(200)
    assert len(seen) >= 3, f"values seen: {seen}"
    store = page.locator('tr[data-channel="store-room"]')
    assert "no data yet" in store.inner_text() and store.locator(".value").count() == 0
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_an_alarm_appears_and_is_acknowledged_after_login_with_the_keyboard(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/")
    page.wait_for_selector('tr[data-channel="corridor-door"][data-alarm="alarm"]', timeout=30_000)
    assert "not acknowledged" in page.locator('tr[data-channel="corridor-door"] .c-alarm').inner_text()
    page.screenshot(path=str(ARTIFACTS / "overview-alarm.png"), full_page=True)
    # The README's picture (docs/img/console.png is a copy of this file).
    page.screenshot(path=str(ARTIFACTS / "console.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 500})
    page.goto(console + "/alarms")
    assert page.locator("text=Log in to acknowledge").count() >= 1
    page.goto(console + "/login?next=/alarms")
    page.wait_for_selector("#name:focus")  # autofocus; typing before it lands would lose keys on a loaded machine
    page.keyboard.type("alice")  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(console + "/alarms")
    page.fill("#comment-corridor-door", "door closed, exposure stopped")
    with page.expect_navigation():  # back to /alarms (the result travels in the session, not the URL)
        page.press("#comment-corridor-door", "Enter")
    assert page.url == console + "/alarms"
    assert "acknowledged instant on corridor-door by alice" in page.locator(".message").inner_text()
    # The beam comes back every 8 s, so newer transitions may already sit above the acknowledgement.
    acks = page.locator("table.history tbody tr", has_text="door closed, exposure stopped")
    assert acks.count() == 1 and "alice" in acks.inner_text() and "ack" in acks.inner_text()
    page.screenshot(path=str(ARTIFACTS / "alarms-acknowledged.png"), full_page=True)
    page.context.close()


def test_the_trend_renders_with_limit_and_alarm_levels(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while not json.loads(urllib.request.urlopen(console + "/api/alarms").read())["history"]:
        assert time.monotonic() < deadline, "no alarm event within 30 s"
        time.sleep(0.3)
    page = _page(browser)
    page.goto(console + "/channels/corridor-door?range=1h")
    page.wait_for_selector("#trend[data-rendered]:not([data-rendered='0'])", timeout=20_000)
    assert page.locator("#trend polyline.mean").count() >= 1
    assert page.locator("#trend line.limit").count() == 1
    assert page.locator("#trend line.level-alarm").count() == 1
    assert page.locator("#trend line.event").count() >= 1
    assert "DMD_E 1.3" in (page.locator("#trend").text_content() or "")
    assert "trend.csv?range=1h" in (page.get_attribute("#csv", "href") or "")
    page.screenshot(path=str(ARTIFACTS / "trend.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_the_kiosk_fits_1920x1080_with_numbers_readable_from_3_m(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, 1920, 1080)
    page.goto(console + "/kiosk")
    page.wait_for_selector('.tile[data-channel="control-desk"] .value', timeout=20_000)
    _fits(page, 1920, 1080)
    # 1 inch of letter height per 10 ft of distance is the usual signage rule: 2.5 cm at 3 m. A
    # 1080p 40" panel is 50 cm high, so 2.5 cm is 54 px of cap height, about 75 px of font size.
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.tile .value')).fontSize)")
    assert size >= 75, size
    page.screenshot(path=str(ARTIFACTS / "kiosk-1920x1080.png"))
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("path", ["/", "/kiosk", "/alarms", "/channels/control-desk"])
def test_every_view_fits_a_phone_without_sideways_scrolling(console: str, browser, path: str) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, 390, 844)
    page.goto(console + path)
    page.wait_for_timeout(1500)
    _fits(page, 390)
    name = path.strip("/").replace("/", "-") or "overview"
    page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
    page.context.close()


def test_the_overview_speaks_russian(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/?lang=ru")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Мощность дозы сейчас" in page.locator("h1").inner_text()
    page.screenshot(path=str(ARTIFACTS / "overview-ru.png"), full_page=True)
    page.context.close()


# -- what people see (issue 22): the site's clock, the limit on the bar, every word translated ----------------

OFFSET = "UTC+05:00"  # Asia/Almaty


def _visible(page) -> str:  # type: ignore[no-untyped-def]
    return page.evaluate("document.body.innerText")


def test_every_time_the_console_prints_is_the_sites_with_its_offset(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    import re
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    deadline = time.monotonic() + 30
    while not json.loads(urllib.request.urlopen(console + "/api/alarms").read())["history"]:
        assert time.monotonic() < deadline, "no alarm event within 30 s"
        time.sleep(0.3)
    page = _page(browser, 1920, 1080)
    page.goto(console + "/kiosk")
    page.wait_for_timeout(1500)  # the clock ticks in the script
    clock = page.locator("#clock").inner_text()
    match = re.fullmatch(r"(\d\d):(\d\d):(\d\d) UTC\+05:00", clock)
    assert match, clock
    now = datetime.now(UTC).astimezone(ZoneInfo("Asia/Almaty"))
    shown = now.replace(hour=int(match[1]), minute=int(match[2]), second=int(match[3]))
    assert abs((now - shown).total_seconds()) < 10, (clock, now)  # Almaty's time, not UTC's
    page.goto(console + "/alarms")
    stamps = re.findall(r"\d\d:\d\d:\d\d(?: UTC[+-]\d\d:\d\d)?", _visible(page))
    assert stamps and all(s.endswith(OFFSET) for s in stamps), stamps
    page.goto(console + "/channels/corridor-door?range=1h")
    page.wait_for_selector("#trend[data-rendered]:not([data-rendered='0'])", timeout=20_000)
    page.wait_for_selector("#events tbody tr")
    events = page.locator("#events tbody").inner_text()
    caption = page.locator("#trend-caption").inner_text()
    assert OFFSET in events and OFFSET in caption, (events, caption)
    assert "UTC" not in re.sub(r"UTC[+-]\d\d:\d\d", "", events + caption)
    # The downloads keep UTC, and say so.
    assert "times in UTC" in page.locator("#csv").inner_text()
    assert page.locator("#zone").inner_text() == "Asia/Almaty"
    # A range typed in the site's time asks the API for that instant (10:00 in Almaty is 05:00 UTC).
    page.goto(console + "/channels/corridor-door?from=2026-12-07T10:00:00&to=2026-12-07T11:00:00")
    href = page.get_attribute("#json", "href") or ""
    assert "from=2026-12-07T10%3A00%3A00%2B05%3A00" in href, href
    trend = json.loads(urllib.request.urlopen(console + href).read())
    assert trend["start"].startswith("2026-12-07T05:00:00")
    assert page.errors == []
    page.context.close()


def test_the_ratio_bar_marks_the_limit_and_colours_by_state(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/")
    page.wait_for_selector('tr[data-channel="corridor-door"][data-alarm="alarm"]', timeout=30_000)
    for channel in ("corridor-door", "control-desk"):
        row = page.locator(f'tr[data-channel="{channel}"]')
        bar, mark = row.locator("svg.bar").bounding_box(), row.locator("svg.bar line.mark").bounding_box()
        # The bar spans 0-150 %; the mark sits at 100 %, two thirds of the way.
        assert abs((mark["x"] + mark["width"] / 2 - bar["x"]) / bar["width"] - 2 / 3) < 0.02, (bar, mark)
        state = row.get_attribute("data-alarm")
        assert f"bar-{state}" in (row.locator("svg.bar").get_attribute("class") or "")
        assert row.locator(".pct").inner_text().endswith(" %")  # the number beside the bar
    colours = {
        c: page.evaluate(
            "c => getComputedStyle(document.querySelector(`tr[data-channel='${c}'] svg.bar .fill`)).fill", c
        )
        for c in ("corridor-door", "control-desk")
    }
    assert colours["corridor-door"] != colours["control-desk"]  # alarm red, normal green
    page.screenshot(path=str(ARTIFACTS / "ratio-bar.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 400})
    assert page.errors == []
    page.context.close()


# Latin words a Russian page may show: names from the config and the account, the JSON links, language codes,
# and the symbol E.
ALLOWED_LATIN = {
    "corridor", "door", "control", "desk", "store", "room", "meter", "Clinic", "X", "ray", "outside", "the",
    "operator's", "operator", "s", "film", "off", "clinic", "JSON", "en", "ru", "kk", "fa", "ro", "E", "alice",
    "closed", "exposure", "stopped",  # alice's acknowledgement comment
    "Asia", "Almaty", "CSV", "UTC",  # the site's zone id; the download's format and time scale ("times in UTC")
}  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/alarms", "/kiosk", "/channels/corridor-door?range=1h"])
def test_the_russian_console_has_no_latin_unit_or_rule_name_left(console: str, browser, path: str) -> None:  # type: ignore[no-untyped-def]
    import re

    page = _page(browser)
    page.goto(console + "/login?lang=ru")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")
    page.goto(console + path)
    page.wait_for_timeout(2000)  # live values and the trend arrive
    text = _visible(page) + " " + " ".join(page.locator("svg text").all_text_contents())
    for bad in ("uSv", "µSv", "uGy", "µGy", "DMD", "instant", "twa", "transition", "ack", "UTC "):
        assert bad not in text, f"{path}: {bad!r} in the Russian page"
    latin = set(re.findall(r"[A-Za-z][A-Za-z']*", re.sub(r"UTC[+-]\d\d:\d\d", "", text))) - ALLOWED_LATIN
    assert latin == set(), f"{path}: {sorted(latin)}"
    assert "мкЗв/ч" in text and ("ДМД Е" in text or path == "/alarms")
    page.screenshot(path=str(ARTIFACTS / f"ru-{path.strip('/').split('?')[0].replace('/', '-') or 'overview'}.png"))
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize(("lang", "direction"), [("kk", "ltr"), ("fa", "rtl"), ("ro", "ltr")])
def test_kazakh_persian_and_romanian_pages_are_offered(console: str, browser, lang: str, direction: str) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/")
    page.click(f'header a[lang="{lang}"]')
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("html").get_attribute("dir") == direction
    page.goto(console + "/alarms")  # remembered
    assert page.locator("html").get_attribute("lang") == lang
    _fits(page, 1280)
    page.screenshot(path=str(ARTIFACTS / f"overview-{lang}.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_on_a_phone_every_value_keeps_its_label(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser, 390, 844)
    page.goto(console + "/")
    page.wait_for_selector('tr[data-channel="control-desk"] .c-e .value', timeout=20_000)
    assert not page.locator(".overview thead").is_visible()  # the header row is hidden at this width
    labels = page.evaluate(
        "[...document.querySelectorAll(\"tr[data-channel='control-desk'] td[data-label]\")]"
        ".map(td => [td.className, getComputedStyle(td, '::before').content, getComputedStyle(td, '::before').display])"
    )
    shown = {cls: content.strip('"') for cls, content, display in labels if display != "none"}
    assert shown == {"c-e": "E, µSv/h", "c-limit": "DMD_E, µSv/h", "c-ratio": "E / DMD_E"}, labels
    page.screenshot(path=str(ARTIFACTS / "phone-labels.png"), full_page=True)
    page.context.close()


def test_a_wrong_password_keeps_the_name(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/login")
    page.fill("#name", "alice")
    page.fill("#password", "not the password")
    with page.expect_navigation():
        page.press("#password", "Enter")
    assert "Wrong name or password" in page.locator(".error").inner_text()
    assert page.input_value("#name") == "alice" and page.input_value("#password") == ""
    assert page.evaluate("document.activeElement.id") == "password"  # only the password is typed again
    page.context.close()


def test_acknowledge_forms_only_where_there_is_something_to_acknowledge(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/login?next=/alarms")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")
    sections = page.locator("section.alarm-channel")
    normal = 0
    for i in range(sections.count()):
        section = sections.nth(i)
        if "state-normal" in (section.locator(".c-alarm .state").get_attribute("class") or ""):
            normal += 1
            assert section.locator("form.ack").count() == 0, section.get_attribute("data-channel")
    assert normal >= 1  # control-desk (twa, far below its limit) and store-room (no rules)
    page.context.close()


def test_no_sink_health_without_sinks_and_the_surveys_page_says_where_surveys_come_from(console: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = _page(browser)
    page.goto(console + "/")
    assert page.locator("#sinks").count() == 0 and "Publishing" not in _visible(page)
    page.goto(console + "/surveys")
    assert "made with radsurvey survey on this machine" in _visible(page)
    page.context.close()
