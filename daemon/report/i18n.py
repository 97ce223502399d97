"""Report languages: gettext catalogues, number and date formats, the Solar Hijri calendar.

The ``.po`` catalogues ship as package data and are compiled in memory with
Babel the first time a language is used, so the same code works from a wheel,
an sdist or an editable install without a build step.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

LANGUAGES = ("en", "ru", "kk", "fa", "ro")
DOMAIN = "radsurvey"

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
PERSIAN_DECIMAL = "٫"  # U+066B ARABIC DECIMAL SEPARATOR, as Persian typesetting uses


@functools.cache
def translations(lang: str) -> Any:
    """gettext translations for ``lang`` (English: the identity)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if lang == "en":
        return NullTranslations()
    po = resources.files(__name__.rsplit(".", 1)[0]).joinpath("locale", lang, "LC_MESSAGES", f"{DOMAIN}.po")
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def template_environment(catalogue: Any) -> Any:
    """The Jinja environment of the report templates, with ``catalogue`` (from :func:`translations`) behind ``_()``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radsurvey.daemon.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(catalogue, newstyle=False)  # type: ignore[attr-defined]
    return env


def gregorian_to_solar_hijri(day: date) -> tuple[int, int, int]:
    """(year, month, day) of the Solar Hijri (Jalali) calendar for a Gregorian date.

    The arithmetic 33-year-cycle rule: exact for 1925-2087 (the official
    astronomical calendar agrees with it over that span).
    """
    # Days since an epoch 1 Farvardin 1 AP aligned to the proleptic Gregorian calendar.
    month_offsets = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
    gy = day.year
    leap_year_for_feb = gy + 1 if day.month > 2 else gy
    days = (
        355666
        + 365 * gy
        + (leap_year_for_feb + 3) // 4
        - (leap_year_for_feb + 99) // 100
        + (leap_year_for_feb + 399) // 400
        + day.day
        + month_offsets[day.month - 1]
    )
    year = -1595 + 33 * (days // 12053)
    days %= 12053
    year += 4 * (days // 1461)
    days %= 1461
    if days > 365:
        year += (days - 1) // 365
        days = (days - 1) % 365
    if days < 186:
        month, mday = 1 + days // 31, 1 + days % 31
    else:
        month, mday = 7 + (days - 186) // 30, 1 + (days - 186) % 30
    return year, month, mday


@dataclass(frozen=True)
class Formatter:
    lang: str
    solar_hijri: bool = False
    timezone: str = ""  # the site's IANA zone; times print in it with their offset (UTC when unset)

    def _zone(self) -> Any:
        if self.timezone:
            from zoneinfo import ZoneInfo

            return ZoneInfo(self.timezone)
        return UTC

    def formula(self, text: Any) -> str:
        """A formula with the language's decimal separator and digits (heights in names, D160, stay)."""
        return re.sub(r"(?<![\w.])\d+(?:\.\d+)?", lambda m: self.number(float(m[0]), "g"), str(text))

    def moment(self, value: Any) -> str:
        """A timestamp in the site's zone: ``date hh:mm:ss UTC+hh:mm``."""
        at = _utc(value)
        if at is None:
            return self.digits(str(value or "—"))
        local = at.astimezone(self._zone())
        return self.digits(f"{self.date(local)} {local:%H:%M:%S} {_offset(local)}")

    def clock(self, value: Any) -> str:
        """A timestamp's time of day in the site's zone: ``hh:mm:ss UTC+hh:mm`` (the console's clocks)."""
        at = _utc(value)
        if at is None:
            return self.digits(str(value or "—"))
        local = at.astimezone(self._zone())
        return self.digits(f"{local:%H:%M:%S} {_offset(local)}")

    def digits(self, value: Any) -> str:
        text = str(value)
        return text.translate(PERSIAN_DIGITS) if self.lang == "fa" else text

    def number(self, value: Any, spec: str = ".6g") -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return str(value)
        try:
            text = format(float(value), spec)
        except (TypeError, ValueError):
            return str(value)
        if self.lang == "fa":
            return text.replace(".", PERSIAN_DECIMAL).translate(PERSIAN_DIGITS)
        if self.lang in ("ru", "kk", "ro"):
            return text.replace(".", ",")
        return text

    def _localise(self, text: str) -> str:
        if self.lang == "fa":
            return text.replace(".", PERSIAN_DECIMAL).translate(PERSIAN_DIGITS)
        if self.lang in ("ru", "kk", "ro"):
            return text.replace(".", ",")
        return text

    def uncertainty(self, u: Any) -> str:
        """An expanded uncertainty U to two significant figures (GUM, JCGM 100:2008, 7.2.6)."""
        places = gum_places(u)
        if places is None:
            return self.number(u, ".2g")
        return self._localise(_fixed(float(u), places))

    def measured(self, value: Any, u: Any) -> str:
        """A value to the decimal place of its uncertainty ``u`` at two significant figures (GUM 7.2.6).

        Without a usable ``u`` (none, zero) the value keeps six significant figures.
        """
        places = gum_places(u)
        if places is None or value is None or isinstance(value, bool):
            return self.number(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return self._localise(_fixed(number, places))

    def date(self, value: Any) -> str:
        """A date in the language's usual form, or Solar Hijri ``YYYY/MM/DD`` when asked (any language)."""
        if value in (None, ""):
            return "—"
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value[:10])
            except ValueError:
                return self.digits(value)
        if isinstance(value, datetime):
            value = value.date()
        if self.solar_hijri:
            y, m, d = gregorian_to_solar_hijri(value)
            return self.digits(f"{y:04d}/{m:02d}/{d:02d}")
        if self.lang in ("ru", "kk", "ro"):
            return value.strftime("%d.%m.%Y")
        return self.digits(value.isoformat())

    def time_span(self, start: Any, end: Any = None) -> str:
        """Two UTC timestamps (ISO 8601, e.g. from the journal) as ``date hh:mm:ss – hh:mm:ss UTC+hh:mm``.

        Printed in the site's time zone with its offset; the date once when both fall
        on the same day; milliseconds are dropped.
        """
        first, last = _utc(start), _utc(end)
        if first is None:
            return self.digits(str(start or "—"))
        zone = self._zone()
        first = first.astimezone(zone)
        text = f"{self.date(first)} {first:%H:%M:%S}"
        if last is not None and last != first:
            last = last.astimezone(zone)
            same_day = last.date() == first.date()
            text += f" – {'' if same_day else self.date(last) + ' '}{last:%H:%M:%S}"
        return self.digits(f"{text} {_offset(first)}")


def gum_places(u: Any) -> int | None:
    """Decimal places that show ``u`` with two significant figures (negative: tens, hundreds...); None if u <= 0."""
    if u is None or isinstance(u, bool):
        return None
    try:
        value = float(u)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    exponent = Decimal(repr(value)).adjusted()  # 0.4812 -> -1, 13.2 -> 1
    places = 1 - exponent
    if Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).adjusted() > exponent:
        places -= 1  # 0.0996 rounds to 0.10: still two significant figures, one place fewer
    return places


def _fixed(value: float, places: int) -> str:
    """``value`` rounded half-up at ``places`` decimals, printed without exponent, never ``-0``."""
    quantum = Decimal(1).scaleb(-places)
    text = format(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]
    return text


def _offset(moment: datetime) -> str:
    """``UTC+05:00`` (ISO 8601 offset after "UTC", so a reader sees which clock it is)."""
    delta = moment.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def formatter(lang: str, *, solar_hijri: bool = False, timezone: str = "") -> Formatter:
    return Formatter(lang, solar_hijri, timezone)
