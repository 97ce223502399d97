"""The facility record's codecs under arbitrary input: a dosimetry CSV or a facility file is read or refused with
one FacilityError line, never anything else; due dates are whole calendar months."""

from __future__ import annotations

import calendar
from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.daemon.facility.dosimetry import FIELDS, parse_csv
from radsurvey.daemon.facility.model import FacilityError, read_facility_file
from radsurvey.protocols.periods import add_months, next_due, overdue

MAPPING = {f: f for f in FIELDS}
HEADER = "worker,period_start,period_end,dose_mSv\n"
cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cell, min_size=0, max_size=6), max_size=6), st.booleans())
def test_any_csv_is_parsed_or_refused_with_one_line(rows: list[list[str]], header: bool) -> None:
    text = (HEADER if header else "") + "\n".join(",".join(r) for r in rows)
    try:
        records = parse_csv(text, source="d.csv", mapping=MAPPING, today=date(2026, 12, 7))
    except FacilityError as err:
        assert "\n" not in str(err) and str(err).startswith("d.csv: ")
    else:
        for r in records:
            assert r["worker"] and r["period_start"] <= r["period_end"] <= "2026-12-07"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_facility_file_is_read_or_refused_with_one_line(tmp_path_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("f") / "facility.toml"
    path.write_text('schema = "radsurvey.facility/1"\nname = "x"\n' + text, encoding="utf-8")
    try:
        read_facility_file(path)
    except FacilityError as err:
        assert "\n" not in str(err).strip() or "not valid TOML" in str(err)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)), st.integers(min_value=0, max_value=120))
def test_add_months_lands_in_the_right_month_on_the_same_day_or_the_months_last(day: date, months: int) -> None:
    got = add_months(day, months)
    assert (got.year * 12 + got.month) - (day.year * 12 + day.month) == months
    assert got.day == min(day.day, calendar.monthrange(got.year, got.month)[1])


def test_a_quarter_after_the_last_day_of_november_is_the_last_day_of_february() -> None:
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert next_due(None, 3) is None and next_due(date(2026, 1, 31), None) is None


def test_the_due_day_itself_is_in_time() -> None:
    assert not overdue(date(2026, 3, 1), date(2026, 3, 1)) and overdue(date(2026, 3, 1), date(2026, 3, 2))
