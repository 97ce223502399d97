"""Transports are given to drivers: serial, tcp://HOST:PORT, and the connector that outlives a connection."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from radsurvey.drivers import registry
from radsurvey.drivers.emulator import PtyEmulator, TcpEmulator
from radsurvey.drivers.errors import MeterGone
from radsurvey.drivers.transport import SerialConnector, TcpConnector, TcpLink, parse_tcp


async def test_the_gmc_driver_reads_a_meter_through_a_tcp_byte_stream() -> None:
    device = registry.emulator_factory("gmc")(model="gmc-500+-2.28", step=1)
    with TcpEmulator(device) as emu:
        assert emu.where.startswith("tcp://127.0.0.1:")
        driver = registry.create("gmc", meter_id="g", poll_interval_s=1.0, options={"port": emu.where})
        async with asyncio.timeout(20), driver:
            values = [(await driver.read()).meter_value for _ in range(3)]
    assert driver.identity.model == "GMC-500+"
    assert values == [values[0], values[0] + 1, values[0] + 2]


def test_a_serial_drivers_port_may_be_a_tcp_address_and_nothing_else_like_it() -> None:
    connector = registry.connector("radpro", {"port": "tcp://127.0.0.1:5555"})
    assert connector == TcpConnector("127.0.0.1", 5555)
    assert isinstance(registry.connector("radpro", {"port": "/dev/ttyACM0"}), SerialConnector)
    with pytest.raises(ValidationError, match="tcp://HOST:PORT"):
        registry.connector("gmc", {"port": "tcp://127.0.0.1"})
    assert parse_tcp("tcp://[::1]:80") == ("::1", 80)


def test_the_ascii_connector_takes_the_profiles_line_speed() -> None:
    connector = registry.connector("ascii", {"port": "/dev/ttyUSB0", "profile": "mightyohm"})
    assert isinstance(connector, SerialConnector) and connector.baudrate == 9600


async def test_a_tcp_link_to_a_closed_port_is_a_meter_gone() -> None:
    with TcpEmulator(registry.emulator_factory("gmc")()) as emu:
        where = emu.where
    host, port = parse_tcp(where)
    with pytest.raises(MeterGone, match="cannot open tcp://"):
        await TcpLink(host=host, port=port, meter="m").open(2.0)


async def test_a_meter_found_by_auto_baud_is_reopened_at_that_speed_through_its_connector() -> None:
    """What the GMC driver learnt lives in the meter's connector, not in a process-wide table."""
    device = registry.emulator_factory("gmc")(model="gmc-300e+-4.54")  # answers at 57600 only
    with PtyEmulator(device) as emu:
        connector = registry.connector("gmc", {"port": emu.port})
        first = registry.create(
            "gmc", meter_id="g", poll_interval_s=1.0, options={"port": emu.port}, connector=connector
        )
        async with asyncio.timeout(30), first:
            pass
        assert first.identity.extra["baudrate_source"].startswith("auto-baud")
        assert connector.answered_at == 57600
        again = registry.create(
            "gmc", meter_id="g", poll_interval_s=1.0, options={"port": emu.port}, connector=connector
        )
        async with asyncio.timeout(10), again:
            pass
        assert again.identity.extra["baudrate_source"] == "auto-baud (found at an earlier connect)"
        fresh = registry.create("gmc", meter_id="g", poll_interval_s=1.0, options={"port": emu.port})
        async with asyncio.timeout(30), fresh:
            pass
        assert fresh.identity.extra["baudrate_source"].startswith("auto-baud (115200 did not answer")
