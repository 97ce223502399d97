"""ASCII line meters: profiles, polled conversations as (sent, reply) pairs, fuzzed line parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from radsurvey.drivers import registry
from radsurvey.drivers.ascii import codec
from radsurvey.drivers.ascii.emulator import AsciiDevice
from radsurvey.drivers.base import Quantity, Status
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice

MIGHTYOHM_LINE = b"CPS, 1, CPM, 57, uSv/hr, 0.32, SLOW\r\n"


def ascii_driver(port: str, **options):
    return registry.create("ascii", meter_id="a", poll_interval_s=1.0, options={"port": port, **options})


def fmt(name: str) -> codec.LineFormat:
    p = codec.load_profile(name)
    return codec.LineFormat.build(
        p["pattern"],
        unit=p.get("unit"),
        unit_map=p.get("unit_map"),
        ignore_prefix=p.get("ignore_prefix"),
        ignore_pattern=p.get("ignore_pattern"),
    )


def test_every_shipped_profile_is_valid_and_emulatable() -> None:
    names = codec.profile_names()
    assert {"mightyohm", "mightyohm-usv", "netio-gc10"} <= set(names)
    for name in names:
        registry.get("ascii").options_model.model_validate({"port": "/dev/null", "profile": name})
        AsciiDevice(profile=name)


def test_mightyohm_line_gives_the_cpm_field() -> None:
    parsed = codec.parse_line(MIGHTYOHM_LINE, fmt("mightyohm"))
    assert parsed is not None and (parsed.value, parsed.unit) == (57.0, "cpm")
    assert parsed.fields["mode"] == "SLOW"


def test_mightyohm_banner_lines_are_not_data() -> None:
    assert codec.parse_line(b"# mightyohm.com Geiger Counter 1.00\r\n", fmt("mightyohm")) is None


@pytest.mark.parametrize("profile", ["mightyohm", "mightyohm-usv"])
@pytest.mark.parametrize(
    "line",
    [
        b"mightyohm.com Geiger Counter 1.00\r\n",  # stock firmware 1.00: no '#'
        b"http://mightyohm.com/geiger\r\n",
        b"# mightyohm.com Geiger Counter 2.00-DEV\r\n",  # the fork
        b"CPS, 1, CPM, 5mightyohm.com Geiger Counter 1.00\r\n",  # a brown-out cut the report short
        b"\x00mightyohm.com Geiger Counter 1.00\r\n",  # a stray byte at power-on
    ],
)
def test_stock_and_fork_banners_are_not_data_also_after_a_reset(line: bytes, profile: str) -> None:
    assert codec.parse_line(line, fmt(profile)) is None


def test_a_bad_ignore_pattern_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="ignore_pattern does not compile"):
        registry.get("ascii").options_model.model_validate(
            {"port": "/dev/null", "profile": "mightyohm", "ignore_pattern": "("}
        )


def test_a_line_that_does_not_match_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="does not match"):
        codec.parse_line(b"CPS, 1, CPM, x\r\n", fmt("mightyohm"))


def test_pattern_without_value_group_is_rejected_at_config_time() -> None:
    with pytest.raises(ValidationError, match="value"):
        registry.get("ascii").options_model.model_validate({"port": "/x", "pattern": r"(\d+)", "unit": "cpm"})


def test_unknown_profile_names_the_shipped_ones() -> None:
    with pytest.raises(ValidationError, match="mightyohm"):
        registry.get("ascii").options_model.model_validate({"port": "/x", "profile": "nope"})


async def test_polled_meter_with_unit_and_status_groups() -> None:
    device = ScriptedDevice(
        [
            (b"R\r", b"+1.250E+00 mR/h OK\r\n"),
            (b"R\r", b"+9.990E+02 mR/h OVR\r\n"),
        ]
    )
    with PtyEmulator(device) as emu:
        driver = ascii_driver(
            emu.port,
            poll_command="R\r",
            terminator="\n",
            pattern=r"^(?P<value>[-+0-9.E]+) (?P<unit>\S+) (?P<status>\w+)$",
            status_map={"OVR": "over_range"},
        )
        async with driver:
            first = await driver.read()
            second = await driver.read()
    device.assert_done()
    assert first.value == pytest.approx(1.25 * 8.76)
    assert second.unit == "uGy/h" and second.quantity == Quantity.AIR_KERMA_RATE
    assert second.value == pytest.approx(999 * 8.76) and second.meter_value == 999
    assert second.status == {Status.OVER_RANGE}
    assert second.conversions[0].name == "unit" and "8.76" in second.conversions[0].detail


async def test_calibration_scale_is_applied_and_recorded() -> None:
    device = ScriptedDevice([(b"?\n", b"2.0 uSv/h\n")])
    with PtyEmulator(device) as emu:
        async with ascii_driver(
            emu.port, poll_command="?\n", pattern=r"(?P<value>[0-9.]+) (?P<unit>\S+)", scale=1.1
        ) as driver:
            pass
    device.assert_done()
    reading = driver._first
    assert reading.value == pytest.approx(2.2)
    assert reading.conversions[-1].name == "calibration"


async def test_streaming_meter_is_read_without_sending_anything() -> None:
    device = AsciiDevice(profile="netio-gc10", step=1, period_s=0.1)
    with PtyEmulator(device) as emu:
        async with ascii_driver(emu.port, profile="netio-gc10") as driver:
            values = [(await driver.read()).value for _ in range(3)]
    assert values == sorted(values) and set(values) <= set(device.cpm_sent)
    assert emu.requests == 0


LINES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([MIGHTYOHM_LINE, b"60\n", b"# x\r\n", b"mightyohm.com Geiger Counter 1.00\r\n"]).flatmap(
        lambda good: st.tuples(st.integers(0, len(good)), st.binary(max_size=6)).map(
            lambda cut: good[: cut[0]] + cut[1] + good[cut[0] :]
        )
    ),
)


@settings(max_examples=400, deadline=200)
@given(LINES, st.sampled_from(["mightyohm", "mightyohm-usv", "netio-gc10"]))
def test_line_parser_raises_only_frame_errors(line: bytes, profile: str) -> None:
    try:
        codec.parse_line(line, fmt(profile))
    except FrameError:
        pass


def test_a_unit_in_the_line_that_radsurvey_does_not_know_says_to_use_unit_map() -> None:
    line_format = codec.LineFormat.build(r"^(?P<value>[0-9.]+) (?P<unit>\S+)$")
    with pytest.raises(FrameError, match=r"unit 'uR/hour' in the line .* unit_map = \{ \"uR/hour\" = \"uSv/h\" \}"):
        codec.parse_line(b"12.5 uR/hour\r\n", line_format)
    mapped = codec.LineFormat.build(r"^(?P<value>[0-9.]+) (?P<unit>\S+)$", unit_map={"uR/hour": "uR/h"})
    parsed = codec.parse_line(b"12.5 uR/hour\r\n", mapped)
    assert parsed is not None and parsed.unit == "uR/h"


async def test_mightyohm_readings_just_after_a_reset_are_flagged_warming_up() -> None:
    """The firmware's CPM is a 60 s sliding sum that starts empty at a reset (its banner)."""
    import asyncio

    assert (
        registry.get("ascii")
        .options_model.model_validate({"port": "/x", "profile": "mightyohm"})
        .settings()["warm_up_s"]
        == 60
    )
    # switched on after the host connects (a banner at power-on), later a brown-out (its banner again)
    device = AsciiDevice(
        profile="mightyohm", stock_banner=True, brown_out_every=6, step=1, period_s=0.15, power_on_after_s=0.5
    )
    with PtyEmulator(device) as emu:
        options = {"port": emu.port, "profile": "mightyohm", "warm_up_s": 0.5}
        async with (
            asyncio.timeout(30),
            registry.create("ascii", meter_id="k", poll_interval_s=0.1, options=options) as d,
        ):
            readings = [await d.read() for _ in range(9)]
    flagged = [Status.WARMING_UP in r.status for r in readings]
    # the power-on banner: the first ~0.5 s are warming up, then valid, then the brown-out's banner again
    assert flagged[0] and not all(flagged) and flagged.index(False) <= 5, flagged
    assert any(flagged[i] and not flagged[i - 1] for i in range(1, len(flagged))), flagged
    assert "warm_up" in [c.name for c in readings[0].conversions]


def test_a_warming_up_reading_makes_no_sample() -> None:
    from radsurvey.daemon.pipeline import _UNUSABLE

    assert Status.WARMING_UP in _UNUSABLE
