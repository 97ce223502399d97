"""The MQTT sink's publisher: a batch completes with its last PUBACK, and a PUBACK that does not come ends the session.

Real mosquitto; a missing PUBACK is made by pausing it (SIGSTOP) or by a
loopback relay that drops one PUBACK on its way back to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiomqtt
import pytest

from radsurvey.daemon.sinks.mqtt import InflightPublisher
from tests.servers import Mosquitto

from .helpers import MqttRecorder

pytestmark = pytest.mark.integration

PUBACK = 0x40


def messages(first: int, count: int) -> list[tuple[str, bytes, int, bool]]:
    return [("radsurvey/t/meters/m/reading", b'{"seq":%d}' % seq, 1, False) for seq in range(first, first + count)]


async def test_a_batch_completes_when_the_broker_has_every_message(mosquitto: Mosquitto) -> None:
    async with (
        MqttRecorder(mosquitto.port) as live,
        aiomqtt.Client("127.0.0.1", mosquitto.port, max_inflight_messages=0) as client,
    ):
        publisher = InflightPublisher(client, limit=7, timeout_s=5.0)
        watch = asyncio.ensure_future(publisher.watch())
        batches = [await publisher.submit(messages(1 + 40 * i, 40)) for i in range(3)]
        await asyncio.wait_for(asyncio.gather(*batches), 10)
        assert not watch.done()
        watch.cancel()
        await publisher.close()
        await asyncio.sleep(0.3)
    assert len(live.on("meters/m/reading")) == 120


async def test_a_broker_that_stops_acknowledging_ends_the_session_after_timeout_s(mosquitto: Mosquitto) -> None:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, max_inflight_messages=0) as client:
        publisher = InflightPublisher(client, limit=10, timeout_s=0.8)
        mosquitto.pause()
        try:
            t0 = time.monotonic()
            batch = await publisher.submit(messages(1, 5))
            with pytest.raises(aiomqtt.MqttError, match=r"no PUBACK for 0\.8 s"):
                await asyncio.wait_for(publisher.watch(), 10)
            assert time.monotonic() - t0 >= 0.8
            assert not batch.done()  # its cursor never moved: the session's replay sends it again
            await publisher.close()
            assert batch.cancelled()
        finally:
            mosquitto.resume()


class PubackDropper:
    """A loopback relay to the broker that drops the ``drop``-th PUBACK the broker sends back (MQTT 3.1.1)."""

    def __init__(self, broker_port: int, drop: int):
        self.broker_port = broker_port
        self.drop = drop
        self.pubacks = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self._relays: set[asyncio.Task[None]] = set()  # one per client connection

    async def __aenter__(self) -> PubackDropper:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        assert this is not None
        self._relays.add(this)
        writers = [writer]
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker_port)
            writers.append(up_writer)
            pumps = [
                asyncio.ensure_future(self._up(reader, up_writer)),
                asyncio.ensure_future(self._down(up_reader, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)  # one side closed: end both
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for w in writers:
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            self._relays.discard(this)

    async def _up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            header = await reader.readexactly(1)
            length, shift, raw = 0, 0, b""
            while True:
                byte = await reader.readexactly(1)
                raw += byte
                length |= (byte[0] & 0x7F) << shift
                shift += 7
                if not byte[0] & 0x80:
                    break
            body = await reader.readexactly(length)
            if header[0] & 0xF0 == PUBACK:
                self.pubacks += 1
                if self.pubacks == self.drop:
                    continue
            writer.write(header + raw + body)
            await writer.drain()


async def test_one_puback_missing_while_others_come_ends_the_session(mosquitto: Mosquitto) -> None:
    async with (
        PubackDropper(mosquitto.port, drop=3) as relay,
        aiomqtt.Client("127.0.0.1", relay.port, max_inflight_messages=0) as client,
    ):
        publisher = InflightPublisher(client, limit=10, timeout_s=0.8)
        watch = asyncio.ensure_future(publisher.watch())
        first = await publisher.submit(messages(1, 5))
        later = []
        deadline = time.monotonic() + 10
        while not watch.done() and time.monotonic() < deadline:  # PUBACKs keep coming for the later batches
            later.append(await publisher.submit(messages(100 + len(later), 1)))
            await asyncio.sleep(0.05)
        with pytest.raises(aiomqtt.MqttError, match=r"a batch sent 0\.8 s ago is not acknowledged"):
            await asyncio.wait_for(watch, 5)
        assert relay.pubacks > 5 and not first.done()
        assert all(b.done() for b in later[:-2])
        await publisher.close()
