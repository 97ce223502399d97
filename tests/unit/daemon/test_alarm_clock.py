"""The clock check: the kernel's NTP status, else systemd-timesyncd's flag file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from radsurvey.daemon.alarms import clock


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="adjtimex(2) is Linux-only")
def test_adjtimex_answers_on_linux() -> None:
    assert clock.adjtimex_synchronised() in (True, False)


def test_without_adjtimex_the_timesyncd_flag_file_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "adjtimex_synchronised", lambda: None)
    flag = tmp_path / "timesync" / "synchronized"
    monkeypatch.setattr(clock, "TIMESYNCD_FLAG", flag)
    monkeypatch.setattr(clock.os.path, "isdir", lambda p: p == "/run/systemd/timesync")
    assert clock.synchronised() is False  # timesyncd runs but has not synchronised
    flag.parent.mkdir()
    flag.touch()
    assert clock.synchronised() is True


def test_with_neither_it_cannot_tell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "adjtimex_synchronised", lambda: None)
    monkeypatch.setattr(clock, "TIMESYNCD_FLAG", tmp_path / "absent")
    monkeypatch.setattr(clock.os.path, "isdir", lambda p: False)
    assert clock.synchronised() is None
