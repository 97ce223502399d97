"""The personal dosimetry register: a dosimetry service's CSV in, sums per worker and period against a limit.

Column map (docs/facility.md): the CSV has a header row; by default the columns
are ``worker``, ``period_start``, ``period_end``, ``dose_mSv`` and optionally
``service``; ``--column FIELD=HEADER`` maps a field to the service's own header.
Doses are kept as the decimal text the service wrote and summed exactly.

A worker is flagged above 10 % of the chosen limit (seed 001 Art 14, L73:
medical examination) and above the limit itself. A record counts wholly in the
limit period that holds its ``period_end`` (radsurvey decision: a service's wear
period cannot be split). Nothing here leaves the machine; the register can be
switched off (``dosimetry = false``), after which imports are refused.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import RadsurveyError

from .model import FacilityError
from .record import today_utc
from .store import FacilityStore, now_iso

FIELDS = ("worker", "period_start", "period_end", "dose_mSv", "service")
REQUIRED = ("worker", "period_start", "period_end", "dose_mSv")
UNITS = {"mSv": Decimal(1), "uSv": Decimal("0.001")}
MAX_ROWS = 100_000


def enabled(store: FacilityStore) -> bool:
    return store.settings().get("dosimetry", True) is not False


def set_enabled(store: FacilityStore, on: bool, *, by: str) -> None:
    with store.tx() as c:
        store.set_setting(c, "dosimetry", on, by=by)


def column_map(options: list[str]) -> dict[str, str]:
    """``FIELD=HEADER`` options over the default map (each field its own name)."""
    mapping = {f: f for f in FIELDS}
    for text in options:
        field, sep, header = text.partition("=")
        if not sep or field.strip() not in FIELDS or not header.strip():
            raise FacilityError(
                f"--column {text!r}: give FIELD=HEADER with FIELD one of {', '.join(FIELDS)}", field="column"
            )
        mapping[field.strip()] = header.strip()
    return mapping


def parse_csv(
    text: str, *, source: str, mapping: dict[str, str], unit: str = "mSv", today: date | None = None
) -> list[dict[str, Any]]:
    """The records of a dosimetry CSV; FacilityError naming the file, line and column of the first problem."""
    today = today or today_utc()
    if unit not in UNITS:
        raise FacilityError(f"unit {unit!r}: use {' or '.join(UNITS)}", field="unit")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _records(reader, source=source, mapping=mapping, unit=unit, today=today)
    except csv.Error as err:
        raise FacilityError(f"line {reader.line_num}: not CSV: {err}", source=source) from None


def _records(
    reader: csv.DictReader[str], *, source: str, mapping: dict[str, str], unit: str, today: date
) -> list[dict[str, Any]]:
    headers = reader.fieldnames or []
    for field in REQUIRED:
        if mapping[field] not in headers:
            raise FacilityError(
                f"no column {mapping[field]!r} for {field} (columns: {', '.join(map(repr, headers)) or 'none'});"
                f" map it with --column {field}=HEADER",
                source=source,
            )
    out = []
    for n, row in enumerate(reader, start=2):
        if n > MAX_ROWS + 1:
            raise FacilityError(f"more than {MAX_ROWS} rows", source=source)
        if None in row or any(row.get(mapping[f]) is None for f in REQUIRED):
            raise FacilityError(f"line {n}: {len(headers)} columns expected", source=source)
        worker = row[mapping["worker"]].strip()
        if not worker:
            raise FacilityError(f"line {n}: column {mapping['worker']!r} is empty", source=source)
        days = []
        for field in ("period_start", "period_end"):
            value = row[mapping[field]].strip()
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise FacilityError(
                    f"line {n}: column {mapping[field]!r}: {value!r} is not a date (YYYY-MM-DD)", source=source
                ) from None
            if day > today:
                raise FacilityError(f"line {n}: column {mapping[field]!r}: {value} is in the future", source=source)
            days.append(day)
        if days[1] < days[0]:
            raise FacilityError(f"line {n}: period ends before it starts", source=source)
        raw = row[mapping["dose_mSv"]].strip()
        try:
            dose = Decimal(raw)
        except InvalidOperation:
            dose = Decimal("NaN")
        if not dose.is_finite() or dose < 0:
            raise FacilityError(f"line {n}: column {mapping['dose_mSv']!r}: {raw!r} is not a dose >= 0", source=source)
        service = (row.get(mapping["service"]) or "").strip() if mapping["service"] in headers else ""
        out.append(
            {
                "worker": worker,
                "period_start": days[0].isoformat(),
                "period_end": days[1].isoformat(),
                "dose_mSv": str(dose * UNITS[unit]),
                "service": service,
            }
        )
    if not out:
        raise FacilityError("no records in the file", source=source)
    return out


def import_csv(
    store: FacilityStore, path: Path, *, by: str, mapping: dict[str, str], unit: str = "mSv", today: date | None = None
) -> dict[str, int]:
    """Import a dosimetry CSV whole (or nothing); a record already held is skipped, a changed one refused."""
    if not enabled(store):
        raise FacilityError("the dosimetry register is switched off (radsurvey facility dosimetry on)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise FacilityError(f"cannot read: {getattr(err, 'strerror', None) or err}", source=str(path)) from None
    records = parse_csv(text, source=str(path), mapping=mapping, unit=unit, today=today)
    added = skipped = 0
    with store.tx() as c:
        at = now_iso()
        for r in records:
            held = c.execute(
                "SELECT dose_mSv FROM doses WHERE worker = ? AND period_start = ? AND period_end = ? AND service = ?",
                (r["worker"], r["period_start"], r["period_end"], r["service"]),
            ).fetchone()
            if held is not None:
                if Decimal(held[0]) != Decimal(r["dose_mSv"]):
                    raise FacilityError(
                        f"{r['worker']} {r['period_start']}..{r['period_end']}: the register holds {held[0]} mSv,"
                        f" the file says {r['dose_mSv']} (a correction is not an import)",
                        source=str(path),
                    )
                skipped += 1
                continue
            c.execute(
                "INSERT INTO doses(worker, period_start, period_end, dose_mSv, service, source, imported_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (r["worker"], r["period_start"], r["period_end"], r["dose_mSv"], r["service"], path.name, at),
            )
            added += 1
        store.log(
            c,
            by=by,
            entity="dosimetry",
            key=path.name,
            action="imported",
            at=at,
            new={"added": added, "skipped": skipped},
        )
    return {"added": added, "skipped": skipped}


def _bucket(period: str, day: date) -> list[tuple[date, date]]:
    """The limit periods (first day, last day) a record ending on ``day`` counts in."""
    if period == "year":
        return [(date(day.year, 1, 1), date(day.year, 12, 31))]
    monday = day - timedelta(days=day.weekday())
    if period == "week":
        return [(monday, monday + timedelta(days=6))]
    # any 13 consecutive weeks: every window of 13 ISO weeks that holds the day
    return [(monday - timedelta(weeks=k), monday - timedelta(weeks=k) + timedelta(days=90)) for k in range(13)]


def flags(store: FacilityStore, limit_ref: str) -> dict[str, Any]:
    """Per worker and limit period: the summed dose, its share of the limit, above 10 % and above the limit."""
    from radsurvey.protocols.profiles import get_dose_limit

    if not enabled(store):
        raise FacilityError("the dosimetry register is switched off (radsurvey facility dosimetry on)")
    profile_id, _, key = limit_ref.rpartition("/")
    if not profile_id or not key:
        raise FacilityError(
            f"limit {limit_ref!r}: give PROFILE/KEY, e.g. ir-1973-limits/whole_body_year", field="limit"
        )
    try:
        limit = get_dose_limit(profile_id, key)
    except RadsurveyError as err:
        raise FacilityError(err.message, field="limit") from None
    limit_mSv = Decimal(repr(limit.mSv))
    tenth = limit_mSv / 10
    sums: dict[tuple[str, date, date], Decimal] = defaultdict(Decimal)
    for r in store.doses():
        for start, end in _bucket(limit.period, date.fromisoformat(r["period_end"])):
            sums[(r["worker"], start, end)] += Decimal(r["dose_mSv"])
    rows: list[dict[str, Any]] = []
    for (worker, start, end), total in sorted(sums.items()):
        above_limit = total > limit_mSv
        above_10 = total > tenth
        rows.append(
            {
                "worker": worker,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "dose_mSv": str(total),
                "percent_of_limit": str((total * 100 / limit_mSv).quantize(Decimal("0.01"))),
                "above_10_percent": above_10,
                "above_limit": above_limit,
                "flag": "above_limit" if above_limit else "above_10_percent" if above_10 else None,
            }
        )
    if limit.period == "13_weeks":
        # overlapping windows: keep each worker's highest window and every window that raises a flag
        best: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["worker"] not in best or Decimal(r["dose_mSv"]) > Decimal(best[r["worker"]]["dose_mSv"]):
                best[r["worker"]] = r
        rows = [r for r in rows if r["flag"] or best[r["worker"]] is r]
    return {
        "limit": {
            "ref": limit_ref,
            "mSv": str(limit_mSv),
            "period": limit.period,
            "source": limit.source,
            "derivation": limit.derivation,
        },
        "ten_percent_source": "001:Art 14, L73 (above 10 % of the Art 3 maximum: medical examinations)",
        "rows": rows,
    }
