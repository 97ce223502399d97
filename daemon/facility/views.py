"""Read-only views of the facility record for the CLI, the console and the facility file: register, exports."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import RadsurveyError

from .record import due, equipment_due, today_utc
from .store import TABLES, FacilityStore


def driver_facts(driver: str, model: str = "") -> dict[str, Any]:
    """What radsurvey's driver knows of an instrument: its model table entry and why it is unfit (App. 14 p.32).

    Empty without a driver; ``known`` False for a driver radsurvey does not have; ``model`` None when
    the instrument's model is not in the driver's table (drivers/models.py).
    """
    if not driver:
        return {}
    from radsurvey.drivers import registry
    from radsurvey.drivers.models import model_for

    try:
        spec = registry.get(driver)
    except RadsurveyError:
        return {"driver": driver, "known": False}
    entry = model_for(driver, model) if model else None
    facts: list[str] = []
    if entry is not None:

        def rng(lo: float | None, hi: float | None) -> str:
            return "not known" if lo is None or hi is None else f"{lo:g}-{hi:g}"

        pulsed = {True: "yes", False: "no", None: "not stated"}[entry.pulsed_field_ok]
        facts.append(
            f"{entry.model}: {entry.detector}; energy {rng(entry.energy_min_keV, entry.energy_max_keV)} keV;"
            f" dose rate {rng(entry.dose_rate_uSv_h_min, entry.dose_rate_uSv_h_max)} uSv/h;"
            f" pulsed X-ray fields: {pulsed} ({entry.source})"
        )
    problems = [p.text for p in entry.fitness()] if entry is not None else []
    return {
        "driver": driver,
        "known": True,
        "summary": spec.summary,
        "model": entry.as_dict() if entry is not None else None,
        "p32_problems": problems,
        "facts": facts + problems,
    }


def instrument_view(record: dict[str, Any], *, today: date) -> dict[str, Any]:
    expires = record.get("certificate_expires")
    return {
        **record,
        "expired": bool(expires) and date.fromisoformat(str(expires)) < today,
        "fitness": driver_facts(str(record.get("driver") or ""), str(record.get("model") or "")),
    }


def register(store: FacilityStore, *, today: date | None = None) -> dict[str, Any]:
    """The whole register, as ``facility show --format json`` prints it."""
    today = today or today_utc()
    settings = store.settings()
    return {
        "facility": {k: settings.get(k) for k in ("name", "address", "department", "radiation_work_code", "protocol")},
        "rooms": store.all("room"),
        "apparatus": store.all("apparatus"),
        "instruments": [instrument_view(i, today=today) for i in store.all("instrument")],
        "equipment": store.all("equipment"),
        "dosimetry": settings.get("dosimetry", True) is not False,
    }


def facility_file(store: FacilityStore, *, today: date | None = None) -> dict[str, Any]:
    """Everything the facility file shows: register, what is due, surveys, holds, incidents, inspections."""
    today = today or today_utc()
    return {
        **register(store, today=today),
        "due": due(store, today=today),
        "equipment_due": equipment_due(store, today=today),
        "surveys": store.surveys(),
        "holds": store.holds(),
        "incidents": [
            {k: v for k, v in i.items() if k != "samples"} | {"samples": len(i.get("samples") or [])}
            for i in store.incidents()
        ],
        "inspections": store.inspections(),
        "today": today.isoformat(),
    }


def export_tables(store: FacilityStore, out: Path, fmt: str) -> list[Path]:
    """One file per table (CSV with a header row, or a JSON list); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        columns, rows = store.table(name)
        path = out / f"{name}.{fmt}"
        if fmt == "json":
            path.write_text(json.dumps(rows, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        else:
            with path.open("w", newline="", encoding="utf-8") as fp:
                writer = csv.DictWriter(fp, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        written.append(path)
    return written
