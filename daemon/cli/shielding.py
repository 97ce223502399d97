"""``radsurvey shielding``: a barrier by App. 5 and App. 8, and a room's shielding calculation document.

Numbers on the command line are read as the decimals written (exact arithmetic);
every option is checked here so that bad input is one line and exit 2.
"""

from __future__ import annotations

import enum
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import fail, run_command

if TYPE_CHECKING:
    from radsurvey.protocols.shielding.barrier import BarrierResult

app = typer.Typer(help="Shielding design by the regulation: a barrier, or a room's calculation document.")


class OutputFormat(enum.StrEnum):
    json = "json"
    table = "table"


def _decimal(text: str | None, option: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        fail(f"{option}: not a number: {text!r}")
    if not value.is_finite():
        fail(f"{option}: must be a finite number, got {text!r}")
    return value


@app.command("barrier")
def barrier_command(
    apparatus: Annotated[str | None, typer.Option(help="Apparatus key of App. 6/16 (or 'other' with W and U).")] = None,
    distance_m: Annotated[
        str | None, typer.Option("--distance-m", help="Focus to calculation point, m (p.60).")
    ] = None,
    beam: Annotated[str | None, typer.Option(help="primary (N = 1), moving (N = 0.1) or scatter (N = 0.05).")] = None,
    category: Annotated[str | None, typer.Option(help="Room category behind the barrier, App. 7 row 1-7.")] = None,
    kr: Annotated[str | None, typer.Option("--kr", help="K_R from the tube's documentation, mGy·m²/(mA·min).")] = None,
    workload: Annotated[str | None, typer.Option(help="W, (mA·min)/week, instead of App. 6/16's.")] = None,
    anode_voltage_kv: Annotated[
        str | None, typer.Option("--anode-voltage-kV", help="U, kV, instead of App. 6/16's (needed for 'nominal').")
    ] = None,
    material: Annotated[str | None, typer.Option(help="Installed material (App. 8 Tables 3-6, or lead).")] = None,
    thickness_mm: Annotated[str | None, typer.Option("--thickness-mm", help="Installed thickness, mm.")] = None,
    density: Annotated[str | None, typer.Option(help="Density of the installed material, g/cm³ (Table 3).")] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="Tables for a person or JSON; default: tables on a terminal, JSON when piped."),
    ] = None,
) -> None:
    """One barrier: D0, K = D0/DMD, the lead App. 8 Table 2 asks for, and the installed lead equivalent.

    Exits 2 with one line for invalid input or a result beyond the regulation's tables.
    """
    chosen = output or (OutputFormat.table if sys.stdout.isatty() else OutputFormat.json)
    for name, value in (
        ("--apparatus", apparatus),
        ("--distance-m", distance_m),
        ("--beam", beam),
        ("--category", category),
    ):
        if value is None:
            fail(f"{name} is required")
    if (material is None) != (thickness_mm is None):
        fail("--material and --thickness-mm go together")
    if density is not None and material is None:
        fail("--density needs --material and --thickness-mm")
    assert apparatus is not None and beam is not None and category is not None
    if beam not in ("primary", "moving", "scatter"):
        fail(f"--beam: must be primary, moving or scatter, got {beam!r}")
    if not category.strip().isdigit():
        fail(f"--category: must be an App. 7 row number 1-7, got {category!r}")
    distance = _decimal(distance_m, "--distance-m")
    assert distance is not None
    numbers = {
        "K_R": _decimal(kr, "--kr"),
        "workload_mA_min_per_week": _decimal(workload, "--workload"),
        "anode_voltage_kV": _decimal(anode_voltage_kv, "--anode-voltage-kV"),
    }
    thickness = _decimal(thickness_mm, "--thickness-mm")
    rho = _decimal(density, "--density")

    def body() -> None:
        from radsurvey.protocols.shielding.barrier import BarrierInput, Layer, calculate_barrier

        layers = () if material is None or thickness is None else (Layer(material, thickness, rho),)
        result = calculate_barrier(
            BarrierInput(
                apparatus=apparatus,
                distance_m=distance,
                beam=beam,  # checked above
                category=int(category),
                K_R=numbers["K_R"],
                workload_mA_min_per_week=numbers["workload_mA_min_per_week"],
                anode_voltage_kV=numbers["anode_voltage_kV"],
                layers=layers,
            )
        )
        if chosen is OutputFormat.json:
            typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
        else:
            _print_barrier(result)

    run_command(body)


def _num(value: object, digits: int = 6) -> str:
    from fractions import Fraction

    if value is None:
        return "-"
    assert isinstance(value, Fraction)
    return f"{float(value):.{digits}g}"


def _print_barrier(result: BarrierResult) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(box=box.SIMPLE_HEAD, show_header=True, pad_edge=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("apparatus", result.apparatus),
        ("beam, N", f"{result.beam}, {_num(result.N)}"),
        ("K_R, mGy·m²/(mA·min)", _num(result.K_R)),
        ("W, (mA·min)/week", _num(result.workload_mA_min_per_week)),
        ("U, kV", _num(result.anode_voltage_kV)),
        ("r, m", _num(result.distance_m)),
        ("D0, µGy/h", _num(result.D0_uGy_h)),
        (f"DMD (category {result.category}), µGy/h", _num(result.DMD_uGy_h)),
        ("K = D0 / DMD", _num(result.K)),
        ("Table 2 row K", _num(result.table_K_row)),
        ("required lead, mm Pb", _num(result.lead_mm)),
    ]
    if result.layers:
        for layer in result.layers:
            rows.append((f"{layer.material} {_num(layer.thickness_mm)} mm, mm Pb", _num(layer.lead_equivalent_mm)))
        rows.append(("installed lead equivalent, mm Pb", _num(result.installed_lead_equivalent_mm)))
        rows.append(("verdict", "sufficient" if result.sufficient else "NOT sufficient"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for note in result.notes + tuple(n for layer in result.layers for n in layer.notes):
        console.print(f"  [{note.paragraph}] {note.text}", soft_wrap=True, markup=False)


class DocumentFormat(enum.StrEnum):
    html = "html"
    pdf = "pdf"
    json = "json"


@app.command("room")
def room_command(
    file: Annotated[Path, typer.Argument(help="Room file, TOML (schema radsurvey.shielding-room/1).")],
    output: Annotated[DocumentFormat, typer.Option("--format", help="html (A4), pdf or json.")] = DocumentFormat.html,
    lang: Annotated[str, typer.Option(help="Document language: en, ru, kk, fa, ro.")] = "en",
    out: Annotated[Path | None, typer.Option(help="Write here (needed for pdf); default: standard output.")] = None,
) -> None:
    """A room's shielding calculation document: every barrier, its K, required and installed lead, verdict.

    Exits 2 with one line naming the file and field for invalid input.
    """

    def body() -> None:
        from radsurvey.daemon.report.shielding import document_text, write_room_document
        from radsurvey.protocols.shielding.room import calculate_room, parse_room_text

        name = str(file)
        result = calculate_room(parse_room_text(_read(file), name), source=name)
        if lang not in ("en", "ru", "kk", "fa", "ro"):
            fail(f"--lang: use one of en, ru, kk, fa, ro (got {lang!r})")
        if out is not None:
            write_room_document(result, out, fmt=output.value, lang=lang)
            typer.echo(f"{out}", err=True)
        elif output is DocumentFormat.pdf:
            fail("--format pdf needs --out FILE")
        else:
            typer.echo(document_text(result, fmt=output.value, lang=lang), nl=False)

    run_command(body)


def _read(path: Path) -> str:
    from radsurvey.protocols.errors import ShieldingError

    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ShieldingError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ShieldingError(f"cannot read: {err}", source=str(path)) from None
