"""The Thermo RadEye serial protocol (PRD, PRD-ER, GN+, G-series), sans I/O.

Facts from community implementations that cite Thermo's "RadEye protocol 2.0"
(ori-systems/lyra-radeye ``RadEyeCom.h`` and ``radeye.h``; westpoint-robotics/radeye_detector
``radeye_node.py``; itsmevjnk/radeye_ros), read for facts, no code taken:

* 9600 baud, 7 data bits, even parity, 2 stop bits, through the IR-USB adapter.
* The unit sleeps: a first byte wakes it and it answers ``>``; ``@`` always wakes it.
  A command is ``>`` + text + CR LF; replies are text lines (``#R`` serial number,
  ``Vx`` version and type). ``X1`` starts a record every second, ``X0`` stops it.
* A record is STX (0x02) ... ETX (0x03) CR LF; its whitespace-separated tokens are
  value1 unit1 value2 unit2 flags(hex) model total-dose; one character before ETX is
  padding. No checksum is documented.
* Unit codes: 0 Sv/h, 1 Gy/h, 2 R/h, 3 cpm, 5 cps, 6 Bq, 7 dpm, 8 Bq/cm2, 9 dps,
  10 rem/h. R/h and rem/h values are integers in uR/h (urem/h); every other value is
  hundredths (Sv/h: 0.01 uSv/h). The display's own switch from uSv/h to mSv/h does not
  change this: a record's value is always in its unit code's fixed resolution.
* Flags: bit 1 overload, bit 2 alarm, bit 5 low battery. ``@CIAO`` CR when switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from radsurvey.protocols.errors import FrameError

BAUDRATE = 9600
STX, ETX = 0x02, 0x03
WAKE = b"@"
READY = b">"
SWITCHED_OFF = b"@CIAO"
MAX_RECORD_BYTES = 160

# unit code -> (unit radsurvey reads it in, value per count of the record, the code's name)
UNITS: dict[int, tuple[str, Fraction, str]] = {
    0: ("uSv/h", Fraction(1, 100), "Sv/h"),
    1: ("uGy/h", Fraction(1, 100), "Gy/h"),
    2: ("uR/h", Fraction(1), "R/h"),
    3: ("cpm", Fraction(1, 100), "cpm"),
    5: ("cps", Fraction(1, 100), "cps"),
    6: ("Bq", Fraction(1, 100), "Bq"),
    7: ("dpm", Fraction(1, 100), "dpm"),
    8: ("Bq/cm2", Fraction(1, 100), "Bq/cm2"),
    9: ("dps", Fraction(1, 100), "dps"),
    10: ("urem/h", Fraction(1), "rem/h"),
}
DOSE_RATE_CODES = frozenset({0, 1, 2, 10})
RATE_CODES = DOSE_RATE_CODES | {3, 5}  # what radsurvey reads (activities are not rates of dose or counts)
FLAG_OVERLOAD = 1 << 1
FLAG_ALARM = 1 << 2
FLAG_LOW_BATTERY = 1 << 5


def command(text: str) -> bytes:
    """A command frame: ``>`` + text + CR LF."""
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{text!r} is not a printable ASCII command")
    return b">" + text.encode("ascii") + b"\r\n"


def reply_text(line: bytes) -> str:
    """A reply line without its prompt and line end (``>``, ``#``, CR, LF)."""
    if any(b >= 0x80 for b in line):
        raise FrameError("reply has bytes above 7 bits", raw=line)
    text = line.decode("ascii").strip("\r\n >#")
    if not text.isprintable():
        raise FrameError(f"reply {line!r} is not printable", raw=line)
    return text


@dataclass(frozen=True)
class Field:
    count: int  # the integer on the wire
    code: int  # unit code

    @property
    def unit(self) -> str:
        return UNITS[self.code][0]

    @property
    def value(self) -> Fraction:
        return self.count * UNITS[self.code][1]


@dataclass(frozen=True)
class Record:
    first: Field
    second: Field
    flags: int
    model: str
    total_dose: int
    raw: bytes

    def field(self) -> Field:
        """The field radsurvey reads: the first dose rate, else the first count rate (PRD-ER: value2)."""
        for f in (self.first, self.second):
            if f.code in DOSE_RATE_CODES:
                return f
        for f in (self.first, self.second):
            if f.code in RATE_CODES:
                return f
        names = "/".join(UNITS[f.code][2] for f in (self.first, self.second))
        raise FrameError(f"record reports {names}: not a dose or count rate", raw=self.raw)


def _int(token: str, what: str, raw: bytes, base: int = 10) -> int:
    try:
        if not token or token.startswith(("+", "_")) or "_" in token:
            raise ValueError
        return int(token, base)
    except ValueError:
        raise FrameError(f"record {what} {token!r} is not a number", raw=raw) from None


def parse_record(frame: bytes) -> Record:
    """One record ``STX ... pad ETX [CR LF]`` -> its fields; FrameError for anything else."""
    raw = frame
    body = frame.rstrip(b"\r\n")
    if len(body) > MAX_RECORD_BYTES:
        raise FrameError(f"record of {len(body)} bytes is too long", raw=raw[:64])
    if any(b >= 0x80 for b in body):
        raise FrameError("record has bytes above 7 bits (wrong line settings? 9600 7E2)", raw=raw[:64])
    if not body or body[0] != STX or body[-1] != ETX or len(body) < 3:
        raise FrameError("record is not framed by STX ... ETX", raw=raw[:64])
    inner = body[1:-2]  # one padding character before ETX
    if STX in inner or ETX in inner:
        raise FrameError("record holds a second STX/ETX", raw=raw[:64])
    text = inner.decode("ascii")
    tokens = text.split()
    if len(tokens) != 7:
        raise FrameError(f"record has {len(tokens)} fields, not 7", raw=raw[:64])
    v1, u1, v2, u2 = (_int(t, n, raw) for t, n in zip(tokens[:4], ("value1", "unit1", "value2", "unit2"), strict=True))
    for code in (u1, u2):
        if code not in UNITS:
            raise FrameError(f"record unit code {code} is not a RadEye unit", raw=raw[:64])
    flags = _int(tokens[4], "flags", raw, 16)
    if not 0 <= flags <= 0xFF:
        raise FrameError(f"record flags {tokens[4]!r} are not one byte", raw=raw[:64])
    if v1 < 0 or v2 < 0:
        raise FrameError("record value is negative", raw=raw[:64])
    total = _int(tokens[6], "total dose", raw)
    return Record(Field(v1, u1), Field(v2, u2), flags, tokens[5], total, raw)


def build_record(
    count1: int, code1: int, count2: int, code2: int, flags: int = 0, model: str = "PRD", total: int = 0
) -> bytes:
    """The device side of :func:`parse_record`."""
    text = f" {count1} {code1} {count2} {code2} {flags:02X} {model} {total}"
    return bytes([STX]) + text.encode("ascii") + b" " + bytes([ETX]) + b"\r\n"
