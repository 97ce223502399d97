"""When the next control is due: calendar months from the day of the last one (profile data).

Pure date arithmetic: the periods themselves are the profile's ``control_periods``
(kz-2008-303 p.107, ir-1973-limits Art 12); no clock is read here.
"""

from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months; a day past the month's end falls on its last day (31 Jan + 1 = 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_due(last: date | None, months: int | None) -> date | None:
    """The day the next control falls due: ``last`` + ``months``; None without a last control or a period."""
    if last is None or months is None:
        return None
    return add_months(last, months)


def overdue(due: date | None, today: date) -> bool:
    """Due before today (the due day itself is still in time)."""
    return due is not None and today > due
