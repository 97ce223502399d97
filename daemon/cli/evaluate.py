"""``radsurvey evaluate`` (a survey file against its protocol) and ``radsurvey tables``.

The commands read the file and print; parsing and maths live in the pure
``radsurvey.protocols`` package. pydantic and rich are imported inside the
command bodies so that ``radsurvey --help`` stays fast.
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import run_command

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from radsurvey.protocols.evaluation import SurveyEvaluation
    from radsurvey.protocols.profiles import Profile


class EvaluationFormat(enum.StrEnum):
    json = "json"
    table = "table"


class Formula3Choice(enum.StrEnum):
    literal = "literal"
    conservative = "conservative"


def register(app: typer.Typer) -> None:
    """Attach this module's commands to ``app``."""
    app.command("evaluate")(evaluate_command)
    app.command("tables")(tables_command)


def evaluate_command(
    file: Annotated[Path, typer.Argument(help="Survey document, .json or .toml (schema radsurvey.survey/1).")],
    output: Annotated[
        EvaluationFormat | None,
        typer.Option(
            "--format",
            help="JSON document or tables for a person; default: tables on a terminal, JSON when piped.",
        ),
    ] = None,
    formula3: Annotated[
        Formula3Choice | None,
        typer.Option(help="Reading of formula (3); overrides options.formula3 in the file."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Beam conditions outside App. 14 p.15 are errors, not warnings.")
    ] = False,
    design: Annotated[
        Path | None,
        typer.Option(help="The room's shielding design (room file); overrides shielding_design in the survey."),
    ] = None,
) -> None:
    """Evaluate a survey: normalised dose rates, effective dose rate E and verdict per point.

    Exits 0 whenever the survey could be evaluated, whatever the verdict; exits 2
    with one line naming the file and field when the input is invalid.
    """
    chosen = output or (EvaluationFormat.table if sys.stdout.isatty() else EvaluationFormat.json)

    def body() -> None:
        from radsurvey.protocols.evaluation import evaluate
        from radsurvey.protocols.survey import parse_survey_text, survey_format

        name = str(file)
        text = _read_text(file)
        survey = parse_survey_text(text, survey_format(name), name)
        room = None
        if design is not None or survey.shielding_design:
            from radsurvey.daemon.survey.evaluation import load_design

            ref = design if design is not None else Path(str(survey.shielding_design))
            room = load_design(ref, source=name, base=None if design is not None else file.parent)
        result = evaluate(survey, formula3=formula3.value if formula3 else None, strict=strict, design=room)
        if chosen is EvaluationFormat.json:
            typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        else:
            _print_evaluation(name, result)

    run_command(body)


def tables_command(
    protocol: Annotated[str, typer.Option(help="Protocol profile id.")] = "kz-2008-303",
    output: Annotated[
        EvaluationFormat, typer.Option("--format", help="Tables for a person, or JSON.")
    ] = EvaluationFormat.table,
) -> None:
    """Show a protocol's tables: workloads, room categories and limits, constants, sources."""

    def body() -> None:
        from radsurvey.protocols.profiles import get_profile

        profile = get_profile(protocol)
        if output is EvaluationFormat.json:
            document = profile.model_dump(mode="json", by_alias=True)
            typer.echo(json.dumps(document, indent=2, allow_nan=False))
        else:
            _print_profile(profile)

    run_command(body)


def _read_text(path: Path) -> str:
    """The file's text; a SurveyError naming the file when it cannot be read."""
    from radsurvey.protocols.errors import SurveyError

    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SurveyError("file not found", source=name) from None
    except IsADirectoryError:
        raise SurveyError("is a directory, not a survey file", source=name) from None
    except OSError as err:
        raise SurveyError(f"cannot read: {err.strerror or err}", source=name) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SurveyError(f"not UTF-8 text (byte {err.start})", source=name) from None


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _table(title: str) -> Table:
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, padding=(0, 1, 0, 0))


def _verdict(verdict: str) -> Text:
    from rich.text import Text

    return Text(verdict.upper(), style="bold green" if verdict == "pass" else "bold red")


def _print_evaluation(name: str, result: SurveyEvaluation) -> None:
    from rich.text import Text

    console = _console()
    background = (
        "compensated by the meter"
        if result.background_uGy_h is None
        else f"{result.background_uGy_h:.4g} uGy/h (mean, subtracted)"
    )
    console.print(Text(f"{name}: protocol {result.protocol}, apparatus {result.apparatus}"))
    console.print(
        Text(
            f"W = {result.workload_mA_min_per_week:g} mA·min/week ({result.workload_source});"
            f" background {background}; formula (3) {result.formula3}: {result.formula3_text}"
        )
    )

    points = _table("Points")
    points.add_column("point", no_wrap=True)
    points.add_column("room", ratio=1, min_width=10)
    for column in ("cat.", "kind", "formula"):
        points.add_column(column, no_wrap=True)
    for column in ("E, uSv/h", "limit", "E/limit"):
        points.add_column(column, justify="right", no_wrap=True)
    points.add_column("verdict", no_wrap=True)
    for p in result.points:
        factor = p.design_attenuation_factor
        shown = f"{p.effective_uSv_h:.4g}"
        if factor is not None:
            shown = f"{p.effective_measured_uSv_h:.4g} / K {factor['value']:g} = {shown}"
        points.add_row(
            Text(p.id),
            Text(p.room),
            str(p.category),
            Text(p.kind),
            f"({p.formula})",
            shown,
            f"{p.limit_uSv_h:g}",
            f"{p.ratio:.3g}",
            _verdict(p.verdict),
        )
    console.print(points)

    heights = _table("Readings by height, uGy/h")
    heights.add_column("point")
    heights.add_column("cm", justify="right")
    heights.add_column("nominal", justify="right")
    heights.add_column("readings")
    for column in ("mean", "net", "normalised"):
        heights.add_column(column, justify="right")
    heights.add_column("flag")
    for p in result.points:
        for h in p.heights:
            heights.add_row(
                Text(p.id),
                str(h.height_cm),
                str(h.nominal_height_cm),
                ", ".join(f"{r:g}" for r in h.readings_uGy_h),
                f"{h.mean_uGy_h:.4g}",
                f"{h.net_uGy_h:.4g}",
                f"{h.normalised_uGy_h:.4g}",
                "below background" if h.below_background else "",
            )
    console.print(heights)

    designed = [p for p in result.points if p.design is not None]
    if designed:
        design = _table("Shielding design behind the points (predicted E: an upper bound, docs/shielding.md)")
        design.add_column("point")
        design.add_column("barrier")
        for column in ("K", "lead needed, mm", "installed, mm", "E predicted, uSv/h", "E measured, uSv/h"):
            design.add_column(column, justify="right")
        for p in designed:
            d = p.design or {}

            def number(value: object) -> str:
                return "-" if value is None else f"{value:.4g}"

            design.add_row(
                Text(p.id),
                Text(f"{d['barrier']} ({d['room']})"),
                number(d["K"]),
                number(d["required_lead_mm"]),
                number(d["installed_lead_equivalent_mm"]),
                number(d["predicted_effective_uSv_h"]),
                number(p.effective_measured_uSv_h),
            )
        console.print(design)

    if result.warnings:
        console.print("Warnings:", style="bold yellow")
        for warning in result.warnings:
            console.print(Text(f"  - {warning}"))
    for p in result.points:
        factor = p.design_attenuation_factor
        if factor is not None:
            console.print(Text(f"K at {p.id}: {factor['value']:g} ({factor['source']}), App. 14 p.25"))
    console.print(Text("Survey verdict: ").append(_verdict(result.verdict)))


def _print_profile(profile: Profile) -> None:
    from rich.text import Text

    console = _console()
    console.print(Text(f"{profile.id}: {profile.title}", style="bold"))
    console.print(Text(f"Source: {profile.source}"))
    console.print(Text(f"Status: {profile.status}"))

    constants = _table("Constants and formulas")
    for column in ("item", "value", "source"):
        constants.add_column(column)
    weights = ", ".join(f"{h} cm: {w:g}" for h, w in sorted(profile.height_weights.weights.items()))
    week, conversion = profile.standard_week_min, profile.effective_conversion
    tolerance, repeats = profile.height_tolerance_cm, profile.min_repeats
    rows: list[tuple[str, str, str]] = [
        ("standard week, min", f"{week.value:g}", week.source),
        ("dose to effective", f"{conversion.value:g}", conversion.source),
        ("height tolerance, cm", f"±{tolerance.value:g}", tolerance.source),
        ("readings per height", str(repeats.value), repeats.source),
        ("formula (2) weights", weights, profile.height_weights.source),
        *((f"formula (3) {key}", v.text, v.source) for key, v in profile.formula3.items()),
        ("formula (4)", profile.formula4.text, profile.formula4.source),
    ]
    for item, value, source in rows:
        constants.add_row(item, Text(value), Text(source))
    console.print(constants)

    workloads = _table("Workload W, (mA·min)/week, and anode voltage")
    workloads.add_column("apparatus", no_wrap=True)
    workloads.add_column("W", justify="right", no_wrap=True)
    workloads.add_column("kV", justify="right", no_wrap=True)
    workloads.add_column("source")
    workloads.add_column("note", ratio=1)
    for w in profile.workloads:
        voltage = w.voltage_kV if isinstance(w.voltage_kV, str) else f"{w.voltage_kV:g}"
        note = ("fallback; " if w.fallback else "") + w.note
        workloads.add_row(w.key, f"{w.workload_mA_min_per_week:g}", voltage, Text(w.source), Text(note))
    console.print(workloads)

    categories = _table("Room categories: stay, dose limit PD and permissible effective dose rate DMD_E")
    categories.add_column("#", no_wrap=True)
    categories.add_column("room / territory", ratio=1)
    for column in ("h/year", "mSv/year", "uSv/h"):
        categories.add_column(column, justify="right", no_wrap=True)
    categories.add_column("group", no_wrap=True)
    categories.add_column("source", max_width=16)
    for c in profile.categories:
        categories.add_row(
            str(c.number),
            Text(c.description),
            f"{c.hours_per_year:g}",
            f"{c.dose_limit_mSv_per_year:g}",
            f"{c.dmd_uSv_h:g}",
            c.exposed_group,
            Text(c.source),
        )
    console.print(categories)

    kinds = _table("Point kinds")
    for column in ("kind", "heights, cm", "where", "source"):
        kinds.add_column(column)
    for k in profile.point_kinds:
        heights = "/".join(str(h) for h in k.heights_cm) or "user picks"
        kinds.add_row(k.key, heights, Text(k.text), Text(k.source))
    console.print(kinds)

    choices = _table("Reasons for survey and apparatus types")
    for column in ("list", "key", "text", "source"):
        choices.add_column(column)
    for kind, entries in (
        ("reason", profile.survey_reasons),
        ("apparatus", profile.apparatus_types),
    ):
        for entry in entries:
            choices.add_row(kind, entry.key, Text(entry.text), Text(entry.source))
    console.print(choices)

    inst = profile.instrument
    console.print(
        Text(
            f"Instrument: {inst.energy_min_keV:g}-{inst.energy_max_keV:g} keV,"
            f" {inst.dose_rate_min_uGy_h:g}-{inst.dose_rate_max_uGy_h:g} uGy/h,"
            f" error ±{inst.basic_error_percent:g} %, valid verification certificate"
            f" ({inst.source})"
        )
    )
