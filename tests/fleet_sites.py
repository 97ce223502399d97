"""Test helpers for the fleet: a site whose alarm rises and clears on a schedule, and docs/fleet.md's bridge.

Never imported by radsurvey itself.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def beam_site(site: str, seed: int, journal: Path, *, poll_interval_s: float, window_s: float) -> str:
    """TOML of a site with one simulated meter: a 20 µGy/h beam 1.5 s in every 4 s raises an ``instant`` alarm.

    The sinks get 20 s to drain at stop, so a test that stops the daemon on a
    loaded machine still finds every journaled row delivered. More sections
    (meters, channels, sinks) can follow the returned text.
    """
    return f"""
[site]
id = "{site}"

[journal]
path = "{journal}"
commit_interval_s = 0.1

[shutdown]
drain_s = 20.0

[[meters]]
id = "door"
driver = "simulated"
poll_interval_s = {poll_interval_s}
seed = {seed}
background_uGy_h = 0.1
beam_uGy_h = 20.0
beam_period_s = 4
beam_on_s = 1.5
counts_per_uGy = 100000

[[channels]]
id = "corridor-door"
meter = "door"
room_category = 2
height_cm = 100
background_uGy_h = 0.1
averaging_window_s = {window_s}

[[channels.alarms]]
kind = "instant"
level_uSv_h = 5.0
window_s = {window_s}
"""


def bridge_config(central_port: int) -> str:
    """The bridge block of docs/fleet.md, pointed at a central broker on this machine."""
    text = (REPO / "docs" / "fleet.md").read_text(encoding="utf-8")
    block = text.split("<!-- fleet-bridge-config", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    assert "address central.example.org:1883" in block
    return block.replace("central.example.org:1883", f"127.0.0.1:{central_port}")
