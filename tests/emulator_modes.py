"""Every quirk mode of every emulator, and what a driver must read from it with no extra option.

One table, used twice: in process against the drivers (tests/integration/test_emulator_modes.py)
and through the installed command (tests/e2e/test_meters_modes_cli.py, ``radsurvey meters
emulate <flags>`` then ``radsurvey meters read``). Each mode reproduces a real meter or
situation from the sources named in its comment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Mode:
    id: str
    driver: str
    flags: tuple[str, ...]  # arguments of `radsurvey meters emulate DRIVER`
    settings: dict[str, Any]  # the same as emulator keyword arguments
    # check(rows, identity): rows as `meters read --json` prints them, identity as a dict
    check: Callable[[Rows, dict[str, Any]], None]
    count: int = 3
    read_timeout_s: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)


def _consecutive_cpm(start: int) -> Callable[[Rows, dict[str, Any]], None]:
    def check(rows: Rows, identity: dict[str, Any]) -> None:
        cpms = [r["meter_value"] for r in rows]
        assert cpms == list(range(int(cpms[0]), int(cpms[0]) + len(cpms))), cpms
        assert cpms[0] >= start, cpms
        assert all(r["unit"] == "cpm" for r in rows)

    return check


def _gmc(cpm_bytes: int, **expect: str) -> Callable[[Rows, dict[str, Any]], None]:
    base = _consecutive_cpm(120)

    def check(rows: Rows, identity: dict[str, Any]) -> None:
        base(rows, identity)
        assert identity["cpm_bytes"] == str(cpm_bytes), identity
        assert all(len(bytes.fromhex(r["raw"])) == cpm_bytes for r in rows)
        for key, value in expect.items():
            assert identity[key] == value, (key, identity)

    return check


def _stale(rows: Rows, identity: dict[str, Any]) -> None:
    _gmc(4)(rows, identity)
    assert int(identity["stale_bytes_drained"]) > 0, identity


def _auto_baud(baud: int) -> Callable[[Rows, dict[str, Any]], None]:
    def check(rows: Rows, identity: dict[str, Any]) -> None:
        _gmc(2)(rows, identity)
        assert identity["baudrate"] == str(baud), identity
        assert identity["baudrate_source"].startswith("auto-baud"), identity

    return check


def _detected(rows: Rows, identity: dict[str, Any]) -> None:
    _consecutive_cpm(121)(rows, identity)  # the detection query took the first value
    assert identity["cpm_bytes"] == "2" and identity["cpm_bytes_source"].startswith("detected"), identity


def _counter_reset(rows: Rows, identity: dict[str, Any]) -> None:
    # 50 pulses/s = 3000 cpm; the set-back counter gives one tubeRate reading, never 2^32 pulses
    names = [[c["name"] for c in r["conversions"]] for r in rows]
    assert any("counter_restart" in n for n in names), names
    for r in rows:
        assert 0 <= r["meter_value"] <= 6000, r


def _compensated(rows: Rows, identity: dict[str, Any]) -> None:
    # 500 pulses/s counted, tau 1e-4 s: raw 30000 cpm, compensated 31579 cpm. With no
    # dead-time option every reading is on the raw basis, the first (tubeRate) one too.
    assert identity["dead_time_basis"] == "uncorrected counts", identity
    assert identity["tubeDeadTimeCompensation"] == "0.0001000"
    for r in rows:
        assert 28_500 <= r["meter_value"] <= 31_000, r
    assert "dead_time_undone" in [c["name"] for c in rows[0]["conversions"]]


def _radpro_on_gmc800(rows: Rows, identity: dict[str, Any]) -> None:
    assert identity["model"].startswith("GQ GMC-800"), identity
    assert all(r["unit"] == "uSv/h" for r in rows)


def _ascii_lines(rows: Rows, identity: dict[str, Any]) -> None:
    cpms = [r["meter_value"] for r in rows]
    assert cpms == sorted(set(cpms)) and all(c >= 60 for c in cpms), cpms


def _keithley(rows: Rows, identity: dict[str, Any]) -> None:
    currents = [r["meter_value"] for r in rows]
    assert currents == sorted(set(currents)) and all(abs(c - 2.5e-12) < 1e-13 for c in currents), currents
    assert all(r["unit"] == "A" and r["quantity"] == "current" and not r["status"] for r in rows)


def _radiacode(rows: Rows, identity: dict[str, Any]) -> None:
    # the emulator serves (168 + n) / 2**24 device units; x 10000 is uSv/h, exactly
    counts = [r["meter_value"] * 2**24 for r in rows]
    assert counts == list(range(int(counts[0]), int(counts[0]) + len(counts))) and counts[0] >= 168, counts
    assert all(r["unit"] == "uSv/h" and r["value"] == r["meter_value"] * 10_000 for r in rows), rows
    assert identity["model"] == "RadiaCode-102" and identity["serial"] == "RC-102-004711", identity


def _radeye(first_counts: int, unit: str = "uSv/h") -> Callable[[Rows, dict[str, Any]], None]:
    def check(rows: Rows, identity: dict[str, Any]) -> None:
        # the emulator serves counts + n in hundredths of a uSv/h
        counts = [r["meter_value"] for r in rows]
        assert counts == list(range(first_counts, first_counts + len(rows))), counts
        assert all(r["unit"] == unit and r["value"] == r["meter_value"] / 100 for r in rows), rows
        assert identity["model"].startswith("RadEye") and identity["serial"] == "123456", identity

    return check


def _exact(modes: list[Mode]) -> list[Mode]:
    """GMC and ascii modes serve an exact CPM sequence (120, 121, ...) so that tests spot a lost or invented reading."""
    return [
        Mode(m.id, m.driver, (*m.flags, "-o", "step=1"), {**m.settings, "step": 1}, m.check, m.count)
        if m.driver in ("gmc", "ascii")
        else m
        for m in modes
    ]


MODES: list[Mode] = [
    # GeigerLog's model table: GMC-500 firmware 1.x and GMC-600+ before 2.4 answer CPM in 2 bytes
    Mode("gmc-500-1.08", "gmc", ("--model", "gmc-500-1.08"), {"model": "gmc-500-1.08"}, _gmc(2)),
    Mode("gmc-600+-2.26", "gmc", ("--model", "gmc-600+-2.26"), {"model": "gmc-600+-2.26"}, _gmc(2)),
    Mode("gmc-600+-2.52", "gmc", ("--model", "gmc-600+-2.52"), {"model": "gmc-600+-2.52"}, _gmc(4)),
    Mode("gmc-510+-1.04", "gmc", ("--model", "gmc-510+-1.04"), {"model": "gmc-510+-1.04"}, _gmc(4)),
    Mode("gmc-se-1.05", "gmc", ("--model", "gmc-se-1.05"), {"model": "gmc-se-1.05"}, _gmc(2)),
    # pygmc's and GeigerLog's GMC-300E+ at 57600; 28800 is one of the rates a GMC can be set to
    Mode("gmc-300e+-57600", "gmc", ("--model", "gmc-300e+-4.54"), {"model": "gmc-300e+-4.54"}, _auto_baud(57600)),
    Mode(
        "gmc-320-28800",
        "gmc",
        ("--model", "gmc-320-4.19", "--baud", "28800"),
        {"model": "gmc-320-4.19", "baudrate": 28800},
        _auto_baud(28800),
    ),
    # GeigerLog and pygmc drain after open: leftovers arrive for about a second
    Mode(
        "gmc-stale-bytes",
        "gmc",
        ("--model", "gmc-500+-2.28", "--stale-bytes"),
        {"model": "gmc-500+-2.28", "stale_bytes": True},
        _stale,
    ),
    # pygmc's recorded GMC-500+ data: GETVOLT is "4.0v\x00"
    Mode(
        "gmc-nul-volt",
        "gmc",
        ("--model", "gmc-500+-2.28", "--nul-volt"),
        {"model": "gmc-500+-2.28", "nul_volt": True},
        _gmc(4, battery_V="4.0"),
    ),
    # a model outside every table: CPM size from the reply
    Mode(
        "gmc-unknown-model",
        "gmc",
        ("-o", "version=GMC-700Re 1.00", "-o", "cpm_bytes=2"),
        {"version": "GMC-700Re 1.00", "cpm_bytes": 2},
        _detected,
    ),
    # Rad Pro docs/comm.md: tubePulseCount can be set; a reset is not 2^32 pulses
    Mode(
        "radpro-counter-reset",
        "radpro",
        ("--counter-reset", "-o", "cps=50"),
        {"counter_reset": True, "cps": 50},
        _counter_reset,
        count=5,
    ),
    Mode(
        "radpro-compensation",
        "radpro",
        ("--compensation", "0.0001", "-o", "cps=500"),
        {"dead_time_compensation_s": 0.0001, "cps": 500},
        _compensated,
    ),
    Mode("radpro-gmc800", "radpro", ("--gmc800",), {"gmc800": True}, _radpro_on_gmc800),
    # MightyOhm stock firmware 1.00: banner without '#', again after every reset
    Mode(
        "mightyohm-stock-banner",
        "ascii",
        ("--stock-banner", "-o", "period_s=0.3"),
        {"stock_banner": True, "period_s": 0.3},
        _ascii_lines,
    ),
    Mode(
        "mightyohm-brown-out",
        "ascii",
        ("--stock-banner", "--brown-out", "2", "-o", "period_s=0.3"),
        {"stock_banner": True, "brown_out_every": 2, "period_s": 0.3},
        _ascii_lines,
        count=4,
    ),
    Mode(
        "mightyohm-power-on-late",
        "ascii",
        ("--stock-banner", "--power-on-after", "2", "-o", "period_s=0.5"),
        {"stock_banner": True, "power_on_after_s": 2.0, "period_s": 0.5},
        _ascii_lines,
    ),
    # Keithley 6514/6517B with the UNITs element on
    Mode("scpi-keithley", "scpi", ("--keithley", "-o", "step_A=1e-15"), {"keithley": True, "step_A": 1e-15}, _keithley),
    # RadiaCode (the radiacode library's protocol facts): frames cut by USB packets / BLE
    # notifications, records lost, a record kind of newer firmware
    Mode("radiacode", "radiacode", (), {}, _radiacode),
    Mode("radiacode-split-frames", "radiacode", ("--split-frames",), {"split_frames": True}, _radiacode),
    Mode("radiacode-seq-jump", "radiacode", ("--seq-jump",), {"seq_jump": True}, _radiacode),
    Mode("radiacode-unknown-record", "radiacode", ("--unknown-record",), {"unknown_record": True}, _radiacode),
    # Thermo RadEye (RadEye protocol 2.0 as community implementations cite it), on a pty at 9600 7E2
    Mode("radeye-prd", "radeye", ("-o", "period_s=0.2"), {"period_s": 0.2}, _radeye(12)),
    Mode(
        "radeye-prd-er",
        "radeye",
        ("--prd-er", "-o", "period_s=0.2"),
        {"prd_er": True, "period_s": 0.2},
        _radeye(12),
    ),
]
MODES = _exact(MODES)
