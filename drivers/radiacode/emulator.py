"""A RadiaCode, device side: the USB bulk byte stream (length-prefixed frames), over TCP or a pty.

Written from the protocol facts in ``codec.py`` (the MIT ``radiacode`` library's, read
for facts). Each DATA_BUF read returns one new real-time record whose dose rate is
``(dose_counts + n) / 2**24`` device units (exact in float32, so a test can compare to
the bit), i.e. about 0.1 uSv/h rising by 0.0006 uSv/h a read, and whose count rate is
``cps + n/4``; every third buffer also holds a rare-data record and a sample block
(kinds the driver skips). Every request is logged in :attr:`requests`, so tests can
prove what the driver sent.

Quirks (``radsurvey meters emulate radiacode --split-frames ...``):

* ``split_frames``: each reply leaves in two pieces, the second 30 ms later (USB
  packets, BLE notifications and TCP segments all cut frames);
* ``seq_jump``: the record sequence skips 5 numbers at the second buffer (lost records);
* ``unknown_record``: the second buffer ends with a record kind the driver does not know;
* ``old_firmware``: target firmware 4.7, which the driver refuses with one line.
"""

from __future__ import annotations

import struct
from typing import Any

from ..emulator import DeviceModel
from . import codec

SET_TIME = 0x0A04  # answered (and logged) so that a test can see whether it was ever sent
WR_VIRT_SFR = 0x0825
WR_VIRT_STRING = 0x0827
_SPLIT_DELAY_S = 0.03


class RadiaCodeDevice(DeviceModel):
    """Args:
    serial: the serial number (its prefix names the model).
    dose_counts: the first dose rate in units of 2**-24 device units.
    cps: the first count rate.
    """

    default_transport = "tcp"  # `meters emulate radiacode` serves tcp://; --pty for a pty

    def __init__(
        self,
        *,
        serial: str = "RC-102-004711",
        firmware: str = "4.12",
        dose_counts: int = 168,
        cps: float = 5.0,
        split_frames: bool = False,
        seq_jump: bool = False,
        unknown_record: bool = False,
        old_firmware: bool = False,
        trailing_nul: bool = True,
    ):
        major, _, minor = ("4.7" if old_firmware else firmware).partition(".")
        self.version = codec.Version((4, 0), "Jan 10 2023", (int(major), int(minor)), "Mar 21 2024 12:00:00")
        self.serial = serial
        self.dose_counts = dose_counts
        self.cps = float(cps)
        self.split_frames = split_frames
        self.seq_jump = seq_jump
        self.unknown_record = unknown_record
        self.trailing_nul = trailing_nul
        self.requests: list[tuple[int, bytes]] = []  # (command, args) in the order received
        self.served: list[float] = []  # device dose rates served, as float32 values
        self._inbuf = bytearray()
        self._later: list[tuple[float, bytes]] = []
        self._buffers = 0
        self._record_seq = 17
        self._offset = 0

    def reset_link(self) -> None:
        self._inbuf.clear()
        self._later.clear()

    def driver_options(self) -> dict[str, Any]:
        return {}

    def garble(self, reply: bytes) -> bytes:
        # A frame whose length prefix promises more than ever comes, then junk.
        return b"\xff\xff\xff\x7f" + bytes(b ^ 0x5A for b in reply[4:])

    def receive(self, data: bytes, now: float) -> bytes:
        self._inbuf += data
        out = b""
        while len(self._inbuf) >= 4:
            n = int.from_bytes(self._inbuf[:4], "little")
            if n < 4 or n > 4096:
                self._inbuf.clear()  # garbage: a real device would ignore it
                break
            if len(self._inbuf) < 4 + n:
                break
            body = bytes(self._inbuf[4 : 4 + n])
            del self._inbuf[: 4 + n]
            out += self._answer(body)
        if out and self.split_frames:
            cut = max(1, len(out) // 2)
            self._later.append((now + _SPLIT_DELAY_S, out[cut:]))
            out = out[:cut]
        return out

    def tick(self, now: float) -> bytes:
        due = [chunk for at, chunk in self._later if at <= now]
        self._later = [(at, chunk) for at, chunk in self._later if at > now]
        return b"".join(due)

    def _answer(self, body: bytes) -> bytes:
        try:
            command, seq, args = codec.split_request(body)
        except Exception:
            return b""
        self.requests.append((command, args))
        header = codec.HEADER.pack(command, 0, 0x80 + seq)
        if command == codec.SET_EXCHANGE:
            payload = b"\x01\x00\x00\x00"
        elif command == codec.GET_VERSION:
            payload = codec.build_version(self.version)
        elif command == codec.RD_VIRT_STRING and len(args) == 4:
            payload = self._string(int.from_bytes(args, "little"))
        elif command in (SET_TIME, WR_VIRT_SFR, WR_VIRT_STRING):
            payload = struct.pack("<I", 1)  # accepted: the device would change
        else:
            payload = struct.pack("<I", 0)
        frame = header + payload
        return struct.pack("<I", len(frame)) + frame

    def _string(self, string_id: int) -> bytes:
        if string_id == codec.VS_SERIAL_NUMBER:
            return codec.virt_string_reply(self.serial.encode("ascii"), trailing_nul=self.trailing_nul)
        if string_id == codec.VS_DATA_BUF:
            return codec.virt_string_reply(self._data_buf(), trailing_nul=self.trailing_nul)
        return struct.pack("<II", 0, 0)

    def _next_seq(self) -> int:
        seq = self._record_seq
        self._record_seq = (self._record_seq + 1) % 256
        return seq

    def _data_buf(self) -> bytes:
        n = self._buffers
        self._buffers += 1
        self._offset += 100
        if self.seq_jump and n == 1:
            self._record_seq = (self._record_seq + 5) % 256
        dose = struct.unpack("<f", struct.pack("<f", (self.dose_counts + n) / 2**24))[0]
        self.served.append(dose)
        out = codec.real_time_record(self._next_seq(), self._offset, self.cps + n / 4, dose)
        if n % 3 == 2:
            out += codec.record(self._next_seq(), 0, 3, struct.pack("<IfHHH", 3600, 1e-6, 2250, 8700, 0))
            out += codec.record(self._next_seq(), 1, 1, struct.pack("<HI", 2, 1000) + bytes(16))
        if self.unknown_record and n == 1:
            out += codec.record(self._next_seq(), 0, 0x55, b"\x01\x02\x03")
        return out
