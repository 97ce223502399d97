"""RadiaCode over USB and Bluetooth LE: the driver's links against the emulator behind pyusb and bleak stand-ins.

No RadiaCode is plugged into CI, and pyusb and bleak need one. So ``usb.core``
and ``bleak.BleakClient`` are replaced by stand-ins with the calls as
``UsbBulkLink`` and ``BleLink`` (drivers/transport.py) use them, each device
answering through the same ``RadiaCodeDevice`` model the TCP and pty tests use:
pyusb's ``find(find_all=True, idVendor=, idProduct=)``, a device's
``serial_number``, ``write``/``read`` with timeouts, ``USBTimeoutError`` and
``USBError`` for a device that went away (bulk IN reads of at most 512 bytes);
bleak's ``connect``, ``start_notify``, ``write_gatt_char`` without response and
notifications of at most 20 bytes. What runs for real: the links' search by id
and serial, the USB reader thread, the BLE chunking and timeouts, and the
driver's protocol over them.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import ClassVar

import pytest

from radsurvey.drivers import registry
from radsurvey.drivers.errors import MeterGone
from radsurvey.drivers.radiacode import codec
from radsurvey.drivers.radiacode.emulator import RadiaCodeDevice
from radsurvey.protocols.errors import MeterError

VID, PID = 0x0483, 0xF123


class USBError(OSError):
    pass


class USBTimeoutError(USBError):
    pass


class StandInDevice:
    """One plugged RadiaCode: bulk OUT into the emulator, bulk IN from what it answered."""

    def __init__(self, model: RadiaCodeDevice, serial: str, address: int):
        self.model = model
        self.serial_number = serial
        self.idVendor, self.idProduct = VID, PID
        self.address = address  # the bus address: changes when re-plugged; the link must not care
        self.plugged = True
        self.writes: list[tuple[int, bytes]] = []
        self._inbox = bytearray()
        self._lock = threading.Lock()

    def write(self, endpoint: int, data: bytes, timeout: int) -> int:
        if not self.plugged:
            raise USBError("No such device (it may have been disconnected)")
        self.writes.append((endpoint, bytes(data)))
        assert endpoint == codec.USB_OUT_ENDPOINT
        answer = self.model.receive(bytes(data), time.monotonic())
        with self._lock:
            self._inbox += answer
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int) -> bytes:
        assert endpoint == codec.USB_IN_ENDPOINT
        deadline = time.monotonic() + timeout / 1000
        while True:
            if not self.plugged:
                raise USBError("No such device (it may have been disconnected)")
            with self._lock:
                if self._inbox:
                    out = bytes(self._inbox[: min(size, 512)])
                    del self._inbox[: len(out)]
                    return out
            if time.monotonic() >= deadline:
                raise USBTimeoutError("Operation timed out")
            time.sleep(0.002)


class Bus:
    """What ``usb.core.find`` sees."""

    def __init__(self) -> None:
        self.devices: list[StandInDevice] = []

    def find(self, *, find_all: bool, idVendor: int, idProduct: int) -> Iterator[StandInDevice]:
        assert find_all
        return iter([d for d in self.devices if d.plugged and (d.idVendor, d.idProduct) == (idVendor, idProduct)])


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Bus:
    plugged = Bus()
    core = types.ModuleType("usb.core")
    core.find = plugged.find  # type: ignore[attr-defined]
    core.USBError = USBError  # type: ignore[attr-defined]
    core.USBTimeoutError = USBTimeoutError  # type: ignore[attr-defined]
    package = types.ModuleType("usb")
    package.core = core  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "usb", package)
    monkeypatch.setitem(sys.modules, "usb.core", core)
    return plugged


def driver_for(usb: str):  # type: ignore[no-untyped-def]
    return registry.create("radiacode", meter_id="rc", poll_interval_s=0.1, options={"usb": usb, "timeout_s": 2})


async def test_it_reads_exactly_the_dose_rates_of_the_meter_with_that_serial_among_two(bus: Bus) -> None:
    other = StandInDevice(RadiaCodeDevice(serial="RC-103-000001", dose_counts=500), "RC-103-000001", address=3)
    mine = StandInDevice(RadiaCodeDevice(), "RC-102-004711", address=7)
    bus.devices += [other, mine]
    driver = driver_for("0483:f123:RC-102-004711")
    async with asyncio.timeout(30), driver:
        readings = [await driver.read() for _ in range(3)]
    assert [r.meter_value for r in readings] == mine.model.served[:3]
    assert [r.value for r in readings] == [d * 10_000 for d in mine.model.served[:3]]
    assert driver.identity.serial == "RC-102-004711" and other.writes == []
    assert {c for c, _ in mine.model.requests} <= codec.READ_ONLY_COMMANDS


async def test_two_meters_and_no_serial_is_one_line_asking_for_it(bus: Bus) -> None:
    bus.devices += [
        StandInDevice(RadiaCodeDevice(serial="A"), "A", address=3),
        StandInDevice(RadiaCodeDevice(serial="B"), "B", address=4),
    ]
    with pytest.raises(MeterError, match=r"2 USB devices match 0483:f123; add ':serial' to choose one"):
        async with asyncio.timeout(30), driver_for("0483:f123"):
            pass


async def test_unplugged_it_says_so_and_replugged_elsewhere_it_is_found_by_its_serial(bus: Bus) -> None:
    first = StandInDevice(RadiaCodeDevice(), "RC-102-004711", address=7)
    bus.devices.append(first)
    driver = driver_for("0483:f123:RC-102-004711")
    async with asyncio.timeout(30), driver:
        await driver.read()
        first.plugged = False
        with pytest.raises(MeterError):
            for _ in range(5):
                await driver.read()
    with pytest.raises(MeterGone, match="no USB device 0483:f123:RC-102-004711 is plugged in"):
        async with asyncio.timeout(30), driver_for("0483:f123:RC-102-004711"):
            pass
    again = StandInDevice(RadiaCodeDevice(dose_counts=300), "RC-102-004711", address=12)  # another port
    bus.devices.append(again)
    driver = driver_for("0483:f123:RC-102-004711")
    async with asyncio.timeout(30), driver:
        reading = await driver.read()
    assert reading.meter_value == again.model.served[0]


# -- Bluetooth LE: bleak's client as BleLink uses it ---------------------------------------------


class StandInBleakClient:
    """bleak's ``BleakClient`` as ``BleLink`` uses it, answering through the emulator of the meter at its address.

    Writes arrive in the link's chunks (without response, as the RadiaCode's write characteristic
    takes them); the meter's answer comes back as notifications of at most 20 bytes.
    """

    meters: ClassVar[dict[str, RadiaCodeDevice]] = {}  # the stand-in's class is bleak's module state
    chunks: ClassVar[list[bytes]] = []
    hang_writes = False

    def __init__(self, address: str, *, timeout: float, disconnected_callback) -> None:  # type: ignore[no-untyped-def]
        self.address = address
        self.timeout = timeout
        self.on_disconnect = disconnected_callback
        self.notify = None

    async def connect(self) -> None:
        if self.address not in self.meters:
            raise OSError(f"Device with address {self.address} was not found")

    async def start_notify(self, uuid: str, callback) -> None:  # type: ignore[no-untyped-def]
        assert uuid == codec.BLE_NOTIFY_UUID
        self.notify = callback

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool) -> None:
        assert uuid == codec.BLE_WRITE_UUID and not response and len(data) <= 18
        if self.hang_writes:
            await asyncio.sleep(3600)
        self.chunks.append(bytes(data))
        answer = self.meters[self.address].receive(bytes(data), time.monotonic())
        for pos in range(0, len(answer), 20):
            assert self.notify is not None
            self.notify(None, bytearray(answer[pos : pos + 20]))

    async def disconnect(self) -> None:
        self.on_disconnect(self)


@pytest.fixture
def ble(monkeypatch: pytest.MonkeyPatch) -> type[StandInBleakClient]:
    bleak = types.ModuleType("bleak")
    bleak.BleakClient = StandInBleakClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bleak", bleak)
    monkeypatch.setattr(StandInBleakClient, "meters", {})
    monkeypatch.setattr(StandInBleakClient, "chunks", [])
    monkeypatch.setattr(StandInBleakClient, "hang_writes", False)
    return StandInBleakClient


async def test_over_bluetooth_it_reads_exactly_through_20_byte_notifications(ble) -> None:  # type: ignore[no-untyped-def]
    meter = RadiaCodeDevice()
    ble.meters["52:43:01:02:03:04"] = meter
    driver = registry.create(
        "radiacode", meter_id="rc", poll_interval_s=0.1, options={"bluetooth": "52:43:01:02:03:04", "timeout_s": 2}
    )
    async with asyncio.timeout(30), driver:
        readings = [await driver.read() for _ in range(3)]
    assert [r.meter_value for r in readings] == meter.served[:3]
    assert all(len(c) <= 18 for c in ble.chunks) and {c for c, _ in meter.requests} <= codec.READ_ONLY_COMMANDS


async def test_a_bluetooth_write_that_hangs_ends_the_link_within_its_timeout(ble) -> None:  # type: ignore[no-untyped-def]
    ble.meters["52:43:01:02:03:04"] = RadiaCodeDevice()
    ble.hang_writes = True
    driver = registry.create(
        "radiacode", meter_id="rc", poll_interval_s=0.1, options={"bluetooth": "52:43:01:02:03:04", "timeout_s": 0.5}
    )
    started = time.monotonic()
    with pytest.raises(MeterError):
        async with asyncio.timeout(30), driver:
            await driver.read()
    assert time.monotonic() - started < 10
