"""What the survey commands print for a person: the session list, a session, the evaluated points.

Pure functions from documents to rich renderables, so they are tested without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation, SurveyEvaluation


def evaluation_table(points: Sequence[PointEvaluation], *, title: str, rooms: bool = False) -> Table:
    """One row per evaluated point: formula, E (measured / K = judged where K applies), limit, ratio, verdict."""
    table = Table(title=title)
    columns = ["point", *(["room", "cat."] if rooms else []), "formula", "E uSv/h", "limit uSv/h", "E/limit"]
    for col in (*columns, "verdict"):
        table.add_column(col, justify="right" if col.startswith(("E", "limit")) else "left")
    for p in points:
        e = f"{p.effective_uSv_h:.4g}"
        factor = p.design_attenuation_factor
        if factor:
            e = f"{p.effective_measured_uSv_h:.4g} / K {factor['value']:g} = {e}"
        verdict = p.verdict.upper()
        where: list[Text | str] = [Text(p.room), str(p.category)] if rooms else []
        table.add_row(
            Text(p.id),
            *where,
            f"({p.formula})",
            e,
            f"{p.limit_uSv_h:g}",
            f"{p.ratio:.3f}",
            Text(verdict, style="bold green" if verdict == "PASS" else "bold red"),
        )
    return table


def surveys_table(rows: list[dict[str, Any]]) -> Any:
    """The table of ``survey list``: ids and times are never cut; the text columns wrap."""
    table = Table(title="surveys")
    width = max((len(str(r["id"])) for r in rows), default=2)
    table.add_column("id", no_wrap=True, min_width=width)
    table.add_column("status", no_wrap=True)
    table.add_column("facility", ratio=1)
    table.add_column("room", ratio=1)
    table.add_column("apparatus")
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("readings", justify="right", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    for r in rows:
        table.add_row(
            Text(str(r["id"])),
            r["status"],
            Text(r["facility"]),
            Text(r["room"]),
            Text(str(r["apparatus"])),
            str(r["points"]),
            str(r["readings"]),
            str(r["updated_at"]),
        )
    return table


def show_renderables(
    survey_id: str,
    status: str,
    doc: dict[str, Any],
    meta: dict[str, Any],
    problems: list[str],
    evaluation: SurveyEvaluation | None,
    problem: str,
) -> list[Any]:
    """What ``survey show`` prints: a header, the readings by point and height, the evaluation."""
    given_fac, given_options = meta.get("facility"), doc.get("options")
    fac: dict[str, Any] = given_fac if isinstance(given_fac, dict) else {}
    options: dict[str, Any] = given_options if isinstance(given_options, dict) else {}
    out: list[Any] = [
        Text(f"Survey {survey_id} ({status})", style="bold"),
        Text(
            f"facility {fac.get('name') or '-'}, room {fac.get('room') or '-'}; apparatus {doc.get('apparatus')};"
            f" protocol {doc.get('protocol')}; formula (3) {options.get('formula3', 'literal')}"
        ),
    ]
    if doc.get("background_compensated"):
        out.append(Text("background: compensated by the meter"))
    else:
        values = ", ".join(f"{v:g}" for v in doc.get("background_uGy_h") or []) or "not measured yet"
        out.append(Text(f"background, uGy/h: {values}"))
    means = {
        (p.id, str(h.height_cm)): h.mean_uGy_h for p in (evaluation.points if evaluation else ()) for h in p.heights
    }
    readings = Table(title="Readings, uGy/h")
    for col in ("point", "room", "cat.", "kind", "I mA", "U kV", "cm", "readings", "mean"):
        readings.add_column(col, justify="right" if col in ("cat.", "I mA", "U kV", "cm", "mean") else "left")
    for p in doc.get("points") or []:
        heights = (p.get("readings_uGy_h") or {}).items() or [("-", [])]
        for i, (height, values) in enumerate(heights):
            mean = means.get((p["id"], str(height)))
            first = i == 0
            readings.add_row(
                Text(str(p["id"]) if first else ""),
                Text(str(p.get("room", "")) if first else ""),
                str(p.get("category", "")) if first else "",
                Text(str(p.get("kind", "")) if first else ""),
                f"{p['anode_current_mA']:g}" if first and isinstance(p.get("anode_current_mA"), int | float) else "",
                f"{p['anode_voltage_kV']:g}" if first and isinstance(p.get("anode_voltage_kV"), int | float) else "",
                str(height),
                ", ".join(f"{v:g}" for v in values) or "-",
                f"{mean:.4g}" if isinstance(mean, int | float) else "",
            )
    out.append(readings)
    stored_warnings = meta.get("warnings")
    for w in stored_warnings if isinstance(stored_warnings, list) else []:
        out.append(Text(f"warning: {w}", style="yellow"))
    for p in problems:
        out.append(
            Text(
                f"warning: {p}; to repair it: radsurvey survey export {survey_id} --out {survey_id}.json,"
                " correct that field, and import the file (or start from it with --plan)",
                style="yellow",
            )
        )
    if evaluation:
        out.append(evaluation_table(evaluation.points, title="Evaluation"))
        for w in evaluation.warnings:
            out.append(Text(f"warning: {w}", style="yellow"))
        out.append(Text(f"verdict: {evaluation.verdict.upper()}", style="bold"))
    else:
        out.append(Text(f"not evaluable yet: {problem}"))
    return out
