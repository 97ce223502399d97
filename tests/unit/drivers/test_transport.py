"""Stable identity: usb = 'VID:PID[:serial]' resolved against the port list at each (re)connect."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from radsurvey.drivers.errors import MeterGone
from radsurvey.drivers.transport import UsbId, resolve_port
from radsurvey.protocols.errors import MeterError


def port(device: str, vid: int | None, pid: int | None, serial: str | None) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial)


PORTS = [
    port("/dev/ttyUSB0", 0x1A86, 0x7523, None),
    port("/dev/ttyACM0", 0x0483, 0x5740, "B5706D93"),
    port("/dev/ttyACM1", 0x0483, 0x5740, "00AA11BB"),
    port("/dev/ttyS0", None, None, None),
]


def test_vid_pid_finds_the_one_matching_port() -> None:
    assert resolve_port(port=None, usb="1a86:7523", ports=PORTS) == "/dev/ttyUSB0"


def test_serial_picks_one_of_identical_devices() -> None:
    assert resolve_port(port=None, usb="0483:5740:00AA11BB", ports=PORTS) == "/dev/ttyACM1"


def test_the_same_identity_follows_the_device_to_its_new_name() -> None:
    moved = [port("/dev/ttyACM3", 0x0483, 0x5740, "00AA11BB")]
    assert resolve_port(port=None, usb="0483:5740:00AA11BB", ports=moved) == "/dev/ttyACM3"


def test_ambiguous_vid_pid_asks_for_the_serial() -> None:
    with pytest.raises(MeterError, match="add ':serial'"):
        resolve_port(port=None, usb="0483:5740", ports=PORTS)


def test_absent_device_is_gone() -> None:
    with pytest.raises(MeterGone, match="no USB serial device 0403:6001"):
        resolve_port(port=None, usb="0403:6001", ports=PORTS)


def test_missing_path_is_gone(tmp_path) -> None:
    with pytest.raises(MeterGone, match="does not exist"):
        resolve_port(port=str(tmp_path / "usb-x"), usb=None)


@pytest.mark.parametrize("bad", ["CH340", "1a86-7523", "1a86:75", ""])
def test_usb_id_syntax(bad: str) -> None:
    with pytest.raises(ValueError):
        UsbId.parse(bad)


def test_usb_id_round_trip() -> None:
    assert str(UsbId.parse("1A86:7523:abc")) == "1a86:7523:abc"
