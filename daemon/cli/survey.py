"""``radsurvey survey ...`` (sessions, guided capture) and ``radsurvey report``."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import fail, run_command

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import SurveyEvaluation

app = typer.Typer(help="Guided X-ray room surveys: sessions, capture, survey files.", no_args_is_help=True)

JournalOpt = typer.Option(
    None,
    "--journal",
    "-j",
    envvar="RADSURVEY_SURVEY_JOURNAL",
    help="survey journal (default ~/.local/share/radsurvey/surveys.sqlite)",
)
ProfileOpt = typer.Option(
    None,
    "--profile",
    envvar="RADSURVEY_PROFILE",
    help="technician profile (default ~/.config/radsurvey/profile.toml)",
)
PlanOpt = typer.Option(
    None,
    "--plan",
    help="survey file (JSON/TOML) whose metadata, points and readings answer the prompts",
)


def _quiet_logs() -> None:
    """Logs on stderr, warnings only unless --verbose: stdout carries ids, files and prompts."""
    import logging

    import structlog

    from ..logging import configure_logging
    from .common import STATE

    configure_logging(json=True if STATE.log_json else None, verbose=STATE.verbose)
    if not STATE.verbose:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _store(journal: Path | None, *, read_only: bool = False) -> Any:
    """The survey journal; ``read_only`` commands refuse a missing file instead of creating it."""
    from radsurvey.daemon.survey.store import SurveyStore, default_journal_path
    from radsurvey.protocols.errors import SurveyError

    _quiet_logs()
    path = default_journal_path(journal)
    if read_only and not path.exists():
        raise SurveyError("no survey journal here yet (radsurvey survey start creates it)", source=str(path))
    return SurveyStore(path)


def _meter_options(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            fail(f"--meter-option {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


SIMULATED_SCHEDULE_OPTIONS = ("mode", "beam_uGy_h", "beam_period_s", "beam_on_s", "beam_start_s")


def simulated_survey_options(options: dict[str, Any], background_left: int) -> dict[str, Any]:
    """The simulated meter's options for a survey: survey mode unless a beam schedule is given.

    ``background_left`` readings with the apparatus off, then the beam on; a detector
    sensitive enough (1e8 counts/uGy) that the counting noise stays within the spread check.
    """
    if any(key in options for key in SIMULATED_SCHEDULE_OPTIONS):
        return options
    return {
        "mode": "survey",
        "survey_background_readings": background_left,
        "counts_per_uGy": 1e8,
        **options,
    }


def _capture_options(opts: SessionOptions, background_left: int | None = None) -> tuple[Any, Any]:
    from radsurvey.daemon.survey.capture import CaptureSettings
    from radsurvey.daemon.survey.meter import MeterSource

    if opts.repeats < 3:
        fail("--repeats must be at least 3 (App. 14 p.21)")
    settings = CaptureSettings(
        repeats=opts.repeats,
        settle_s=opts.settle,
        until_stable=opts.until_stable,
        spread_warn_percent=opts.spread_warn,
    )
    source = None
    meter = opts.meter
    if meter:
        options = _meter_options(opts.meter_option)
        if meter == "simulated":
            options = simulated_survey_options(options, opts.repeats if background_left is None else background_left)
        source = run_command(lambda: MeterSource(meter, poll_interval_s=opts.poll_interval, options=options))
    return settings, source


def _run_flow(
    store: Any,
    survey_id: str,
    ui: Any,
    source: Any,
    settings: Any,
    plan: dict[str, Any],
    opts: SessionOptions,
    publisher: Any = None,
) -> None:
    from radsurvey.daemon.survey.capture import SurveyFlow

    report, fmt, lang, strict, drain_timeout_s = opts.report, opts.fmt, opts.lang, opts.strict, opts.drain_timeout

    ui.say(f"Survey {survey_id} (journal {store.path})")
    flow = SurveyFlow(
        store=store, survey_id=survey_id, ui=ui, source=source, settings=settings, plan=plan, strict=strict
    )
    try:
        result = run_command(flow.run)
    except KeyboardInterrupt:
        ui.say(f"\nInterrupted. Every reading so far is saved; continue with: radsurvey survey resume {survey_id}")
        raise typer.Exit(130) from None
    finally:
        if source is not None:
            source.close()
        if publisher is not None:
            _close_publisher(publisher, ui, drain_timeout_s)
    if result is None:
        return
    from radsurvey.daemon.report import write_report

    if report is None and ui.interactive and ui.confirm("Write the report now?", default=True):
        fmt = ui.ask_choice(
            "Report format",
            [
                ("pdf", "PDF (A4, needs chromium)"),
                ("html", "HTML (print from a browser)"),
                ("csv", "CSV for spreadsheets"),
                ("json", "JSON"),
            ],
            default="pdf",
        )
        lang = ui.ask_choice(
            "Language",
            [("en", "English"), ("ru", "Русский"), ("kk", "Қазақша"), ("fa", "فارسی"), ("ro", "Română")],
            default=lang,
        )
        report = Path(ui.ask_text("Report file", default=f"{survey_id}-{lang}.{fmt}"))
    if report is not None:
        run_command(lambda: write_report(store.get(survey_id).document(), report, fmt=fmt, lang=lang))
        ui.say(f"Report written to {report}")
    else:
        ui.say(f"Report: radsurvey report {survey_id} --format pdf   (writes {survey_id}-{lang}.pdf)")


def _publish_config(config: Path | None) -> Any:
    """The validated --config of a survey (before any prompt), or None."""
    if config is None:
        return None
    from radsurvey.daemon.survey.publish import load_publish_config

    return run_command(lambda: load_publish_config(config))


def _start_publisher(cfg: Any, store: Any) -> Any:
    """The live publisher of ``cfg``'s sinks on the survey journal, or None without --config."""
    if cfg is None:
        return None
    from radsurvey.daemon.survey.publish import SurveyPublisher

    _errors_only()
    publisher = run_command(lambda: SurveyPublisher(cfg, store.path).start())
    store.add_point_listener(publisher.notify)
    return publisher


def _errors_only() -> None:
    """Sink reconnection warnings would interleave with the prompts; the end of the survey sums them up."""
    import logging

    import structlog

    from .common import STATE

    if not STATE.verbose:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def _close_publisher(publisher: Any, ui: Any, drain_timeout_s: float) -> None:
    """Stop the publisher after at most ``drain_timeout_s``; say what is still owed."""
    from radsurvey.daemon.survey.publish import describe

    for line in describe(publisher.close(drain_timeout_s=drain_timeout_s)):
        ui.say(f"warning: {line}")


def _check_report_options(fmt: str, lang: str) -> None:
    """Refuse a bad --format or --lang before the first prompt, not after the capture."""
    from radsurvey.daemon.report import FORMATS
    from radsurvey.daemon.report.i18n import LANGUAGES

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        fail(f"--lang {lang!r}: use one of {', '.join(LANGUAGES)}")


def _check_formula3(formula3: str | None) -> None:
    from radsurvey.protocols.profiles import FORMULA3_VARIANTS

    if formula3 is not None and formula3 not in FORMULA3_VARIANTS:
        fail(f"--formula3 {formula3!r}: use one of {', '.join(FORMULA3_VARIANTS)}")


def choose_formula3(doc: dict[str, Any], formula3: str | None, ui: Any) -> None:
    """The survey's formula (3) variant: --formula3, else the plan's, else asked on a terminal (default literal)."""
    from radsurvey.protocols.profiles import get_profile

    given = doc.get("options")
    options: dict[str, Any] = given if isinstance(given, dict) else {}
    if formula3 is None and "formula3" in options:
        return
    if formula3 is None and ui.interactive:
        variants = get_profile(doc.get("protocol") or "kz-2008-303").formula3
        formula3 = ui.ask_choice(
            "Formula (3) for wall points (App. 14 p.29; the report names it)",
            [(key, f"{v.text} - {v.source}") for key, v in variants.items()],
            default="literal",
        )
    doc["options"] = {**options, "formula3": formula3 or "literal"}


def _as_plan(doc: dict[str, Any], plan: Path | None, say: Any) -> dict[str, Any]:
    """The plan part of a survey file; says what of an exported survey's history it leaves behind."""
    from radsurvey.daemon.survey.files import plan_document

    kept, left_out = plan_document(doc)
    if left_out and plan is not None:
        say(f"note: {plan}: {', '.join(left_out)} stay with the survey it was exported from; not carried over")
    return kept


def _ui(non_interactive: bool) -> Any:
    from radsurvey.daemon.survey.capture import SilentUI

    if non_interactive or not sys.stdin.isatty():
        return SilentUI(typer.echo)
    from radsurvey.daemon.survey.terminal import RichUI

    return RichUI()


MeterOpt = typer.Option(
    None, "--meter", help="driver name (e.g. simulated, gmc, radpro); omit to type readings by hand"
)
MeterOptionOpt = typer.Option([], "--meter-option", help="driver option KEY=VALUE (repeatable), e.g. port=/dev/ttyUSB0")
PollOpt = typer.Option(1.0, "--poll-interval", help="seconds between meter readings")
RepeatsOpt = typer.Option(3, "--repeats", help="readings per height and for the background (>= 3)")
SettleOpt = typer.Option(0.0, "--settle", help="seconds of readings shown but not kept after placing the probe")
StableOpt = typer.Option(
    False,
    "--until-stable",
    help="after --settle, also wait until 3 readings agree within --spread-warn",
)
SpreadOpt = typer.Option(
    20.0, "--spread-warn", help="spread (coefficient of variation, %) that triggers a retake offer"
)
NonInterOpt = typer.Option(
    False, "--non-interactive", "--yes", help="never prompt: answers come from --plan and the meter"
)
ReportOpt = typer.Option(None, "--report", help="write the report here when the survey is finished")
PublishOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="daemon config whose [mqtt]/[influxdb] receive each evaluated point as it is measured",
)
DrainOpt = typer.Option(10.0, "--drain-timeout", help="seconds to wait for the sinks at the end before leaving")
FormatOpt = typer.Option("html", "--format", "-f", help="html, pdf, csv or json")
Formula3Opt = typer.Option(
    None,
    "--formula3",
    help="reading of formula (3) for wall points: literal (as printed, the default) or conservative;"
    " asked on a terminal when neither this nor the plan says",
)
LangOpt = typer.Option("en", "--lang", help="en, ru, kk, fa or ro")
StrictOpt = typer.Option(
    False,
    "--strict",
    help="refuse instruments that fail the check, and beam conditions outside App. 14 p.15",
)


def _valid_or_confirmed(store: Any, sid: str, ui: Any, *, strict: bool, resumed: bool = False) -> bool:
    """Before measuring: an invalid survey (expired certificate, no p.6 conclusion) needs a yes; --strict refuses.

    Asked again on every ``survey resume``: a yes covers one sitting, not the session.
    """
    from radsurvey.daemon.survey.metadata import confirm_measuring_anyway, header_validity_problems

    problems = header_validity_problems(store.get(sid).header, today=datetime.now(UTC).date())
    if confirm_measuring_anyway(ui, problems, strict=strict):
        return True
    why = " (--strict)" if strict else ""
    if resumed:
        ui.say(f"Survey {sid} left open{why}; nothing more measured. Readings so far are kept.")
    else:
        ui.say(f"Survey {sid} left open with nothing measured{why}.")
    return False


@app.command("new")
def new_command(
    plan: Path | None = PlanOpt,
    apparatus: str | None = typer.Option(None, "--apparatus", help="workload table key, e.g. radiography"),
    survey_id: str | None = typer.Option(None, "--id", help="session id (default YYYYMMDD-NN)"),
    strict: bool = typer.Option(False, "--strict", help="refuse instruments that fail the check"),
    journal: Path | None = JournalOpt,
    profile: Path | None = ProfileOpt,
) -> None:
    """Create a survey session from a plan file (and the technician profile); print its id."""
    from radsurvey.daemon.survey.files import new_session, read_survey_file
    from radsurvey.daemon.survey.metadata import load_profile

    def body() -> str:
        doc = _as_plan(read_survey_file(plan), plan, lambda text: typer.echo(text, err=True)) if plan else {}
        doc = doc or {"schema": "radsurvey.survey/1"}
        if apparatus:
            doc["apparatus"] = apparatus
        with _store(journal) as store:
            sid = new_session(
                store,
                doc,
                profile=load_profile(profile),
                strict=strict,
                survey_id=survey_id,
                source=str(plan) if plan else None,
            )
            for w in store.get(sid).header["metadata"].get("warnings", []):
                typer.echo(f"warning: {w}", err=True)
            return sid

    typer.echo(run_command(body))


@dataclass(frozen=True)
class SessionOptions:
    """The options ``survey start`` and ``survey resume`` share: meter, capture, report, sinks."""

    plan: Path | None
    strict: bool
    meter: str | None
    meter_option: list[str]
    poll_interval: float
    repeats: int
    settle: float
    until_stable: bool
    spread_warn: float
    non_interactive: bool
    report: Path | None
    fmt: str
    lang: str
    journal: Path | None
    publish: Path | None
    drain_timeout: float


# One signature for both commands: (name, type, typer option), in the order --help lists them.
SESSION_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("plan", Path | None, PlanOpt),
    ("strict", bool, StrictOpt),
    ("meter", str | None, MeterOpt),
    ("meter_option", list[str], MeterOptionOpt),
    ("poll_interval", float, PollOpt),
    ("repeats", int, RepeatsOpt),
    ("settle", float, SettleOpt),
    ("until_stable", bool, StableOpt),
    ("spread_warn", float, SpreadOpt),
    ("non_interactive", bool, NonInterOpt),
    ("report", Path | None, ReportOpt),
    ("fmt", str, FormatOpt),
    ("lang", str, LangOpt),
    ("journal", Path | None, JournalOpt),
    ("publish", Path | None, PublishOpt),
    ("drain_timeout", float, DrainOpt),
)


def with_session_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command(..., opts: SessionOptions)`` as a Typer command with the shared options spelled out.

    Typer reads options from the signature; the wrapper's signature is the command's own parameters
    followed by :data:`SESSION_OPTIONS`, and it hands the command one :class:`SessionOptions`.
    """
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "opts"]
    names = [name for name, _, _ in SESSION_OPTIONS]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        opts = SessionOptions(**{name: kwargs.pop(name) for name in names})
        command(**kwargs, opts=opts)

    shared = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t) for n, t, o in SESSION_OPTIONS
    ]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    wrapper.__signature__ = inspect.Signature([*params, *shared], return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in own}, **{n: t for n, t, _ in SESSION_OPTIONS}}
    del wrapper.__wrapped__  # Typer must see the signature above, not the command's
    return wrapper


@app.command("start")
@with_session_options
def start_command(
    survey_id: str | None = typer.Option(None, "--id", help="session id (default YYYYMMDD-NN)"),
    profile: Path | None = ProfileOpt,
    formula3: str | None = Formula3Opt,
    *,
    opts: SessionOptions,
) -> None:
    """Start a guided survey: background, points and heights, evaluation, report."""
    from radsurvey.daemon.survey.files import new_session, read_survey_file
    from radsurvey.daemon.survey.header import ask_header
    from radsurvey.daemon.survey.metadata import load_profile, profile_path

    plan = opts.plan
    _check_report_options(opts.fmt, opts.lang)
    _check_formula3(formula3)
    publish_cfg = _publish_config(opts.publish)
    ui = _ui(opts.non_interactive)
    if plan is None and not ui.interactive:
        fail(
            "survey start needs a plan or a terminal: give --plan FILE (a survey file whose metadata, points"
            " and readings answer the questions), or run it in a terminal to be asked"
        )
    doc = run_command(lambda: read_survey_file(plan)) if plan else {"schema": "radsurvey.survey/1"}
    doc = _as_plan(doc, plan, ui.say)
    technician = run_command(lambda: load_profile(profile))
    if ui.interactive:
        doc = run_command(
            lambda: ask_header(
                doc, ui, technician, profile_file=profile_path(profile), source=str(plan) if plan else None
            )
        )
    choose_formula3(doc, formula3, ui)
    planned = doc.get("background_uGy_h")
    planned_background: list[Any] = planned if isinstance(planned, list) else []
    background_left = 0 if doc.get("background_compensated") else max(0, opts.repeats - len(planned_background))
    settings, source = _capture_options(opts, background_left)
    store = run_command(lambda: _store(opts.journal))
    try:
        sid = run_command(
            lambda: new_session(
                store,
                doc,
                profile=technician,
                strict=opts.strict,
                survey_id=survey_id,
                source=str(plan) if plan else None,
            )
        )
    except BaseException:
        if source is not None:
            source.close()
        raise
    for w in store.get(sid).header["metadata"].get("warnings", []):
        ui.say(f"warning: {w}")
    if not _valid_or_confirmed(store, sid, ui, strict=opts.strict):
        if source is not None:
            source.close()
        raise typer.Exit(1)
    try:
        publisher = _start_publisher(publish_cfg, store)
    except BaseException:
        if source is not None:
            source.close()
        raise
    _run_flow(store, sid, ui, source, settings, doc, opts, publisher)


@app.command("resume")
@with_session_options
def resume_command(
    survey_id: str = typer.Argument(..., help="session id"),
    *,
    opts: SessionOptions,
) -> None:
    """Continue a session where it stopped (after Ctrl-C, a crash or a dead battery)."""
    from radsurvey.daemon.survey.files import read_survey_file

    plan = opts.plan
    _check_report_options(opts.fmt, opts.lang)
    publish_cfg = _publish_config(opts.publish)
    ui = _ui(opts.non_interactive)
    doc = run_command(lambda: read_survey_file(plan)) if plan else {}
    store = run_command(lambda: _store(opts.journal))
    session = run_command(lambda: store.get(survey_id))
    ui.say(
        f"Resuming: {len(session.background)} background readings, {len(session.points)} points, "
        f"{sum(1 for r in session.readings if not r.discarded)} readings kept"
    )
    resumable = session.status == "finished" or _valid_or_confirmed(
        store, survey_id, ui, strict=opts.strict, resumed=True
    )
    if not resumable:
        raise typer.Exit(1)
    publisher = _start_publisher(publish_cfg, store)
    try:
        compensated = session.header.get("background_compensated")
        settings, source = _capture_options(opts, 0 if compensated else max(0, opts.repeats - len(session.background)))
    except BaseException:
        if publisher is not None:
            publisher.close(drain_timeout_s=0)
        raise
    _run_flow(store, survey_id, ui, source, settings, doc, opts, publisher)


@app.command("list")
def list_command(
    journal: Path | None = JournalOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Every survey session in the journal (read-only: a missing journal is not created)."""
    from radsurvey.daemon.survey.store import default_journal_path

    path = default_journal_path(journal)
    if not path.exists():
        if as_json:
            typer.echo("[]")
        else:
            typer.echo(f"no surveys yet: {path} does not exist (radsurvey survey start creates it)")
        return

    def body() -> list[dict[str, Any]]:
        with _store(journal) as store:
            return store.list_surveys()

    rows = run_command(body)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        if r["problem"]:
            typer.echo(f"warning: {r['problem']}", err=True)
    from rich.console import Console

    from radsurvey.daemon.survey.views import surveys_table

    Console(highlight=False).print(surveys_table(rows))


@app.command("show")
def show_command(
    survey_id: str = typer.Argument(..., help="session id"),
    journal: Path | None = JournalOpt,
    as_json: bool = typer.Option(False, "--json", help="print the survey file and its evaluation as JSON"),
) -> None:
    """A session: its metadata, readings so far and, when complete, the evaluation."""
    from radsurvey.daemon.survey.evaluation import evaluate_document
    from radsurvey.protocols.errors import SurveyError

    with run_command(lambda: _store(journal, read_only=True)) as store:
        session = run_command(lambda: store.get(survey_id))
    doc = session.document()
    problems = session.problems()
    try:
        evaluation: SurveyEvaluation | None = evaluate_document(doc, source=f"survey {survey_id}")
        problem = ""
    except SurveyError as err:
        evaluation, problem = None, str(err)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "status": session.status,
                    "survey": doc,
                    "evaluation": evaluation.to_dict() if evaluation else None,
                    "problem": problem or None,
                    "problems": problems,
                },
                indent=2,
                default=str,
            )
        )
        return
    from rich.console import Console

    from radsurvey.daemon.survey.views import show_renderables

    console = Console(highlight=False)
    for renderable in show_renderables(survey_id, session.status, doc, session.metadata, problems, evaluation, problem):
        console.print(renderable)


@app.command("export")
def export_command(
    survey_id: str = typer.Argument(..., help="session id"),
    fmt: str = typer.Option("json", "--format", "-f", help="json or toml"),
    out: Path | None = typer.Option(None, "--out", "-o", help="file (default: stdout)"),
    journal: Path | None = JournalOpt,
) -> None:
    """Write a session as a survey file (radsurvey.survey/1), e.g. for `radsurvey evaluate`."""
    from radsurvey.daemon.survey.files import dump_survey

    with run_command(lambda: _store(journal, read_only=True)) as store:
        text = run_command(lambda: dump_survey(store.get(survey_id).document(), fmt))
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"{out}: cannot write: {err.strerror or err}")


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="survey file, JSON or TOML"),
    survey_id: str | None = typer.Option(None, "--id", help="session id (default: the file's id or a new one)"),
    new_id: bool = typer.Option(False, "--new-id", help="if --id is taken, store the file under a fresh id"),
    journal: Path | None = JournalOpt,
) -> None:
    """Store a survey file (e.g. typed from a meter without interface) as a finished session."""
    from radsurvey.daemon.survey.evaluation import evaluate_document
    from radsurvey.daemon.survey.files import read_survey_file
    from radsurvey.protocols.errors import SurveyError

    def body() -> str:
        doc = read_survey_file(file)
        result = evaluate_document(doc, source=str(file))  # refuse files that do not evaluate
        with _store(journal) as store:
            if survey_id and store.exists(survey_id) and not new_id:
                raise SurveyError(
                    f"survey {survey_id!r} already exists; choose another --id, or add --new-id to store"
                    " the file under a fresh id",
                    source=str(store.path),
                )
            wanted = survey_id or doc.get("id")
            sid = store.import_document(doc, survey_id=survey_id, source=str(file))
            if wanted and sid != wanted:
                typer.echo(f"note: survey id {wanted!r} is taken; stored as {sid}", err=True)
            for p in result.points:
                store.record_point(sid, p)
            return sid

    typer.echo(run_command(body))


@app.command("publish")
def publish_command(
    config: Path = typer.Option(..., "--config", "-c", help="daemon config with [mqtt] and/or [influxdb]"),
    timeout: float = typer.Option(60.0, "--timeout", help="seconds to wait for the sinks"),
    journal: Path | None = JournalOpt,
    as_json: bool = typer.Option(False, "--json", help="print each sink's state as JSON"),
) -> None:
    """Publish every evaluated point not yet delivered (e.g. after a survey without network), then exit."""
    from radsurvey.daemon.survey.publish import SurveyPublisher, describe, load_publish_config, status_of

    store = run_command(lambda: _store(journal))
    _errors_only()
    try:
        cfg = run_command(lambda: load_publish_config(config))
        publisher = run_command(lambda: SurveyPublisher(cfg, store.path).start())
        left = publisher.close(drain_timeout_s=timeout)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(status_of(left), indent=2))
    lines = describe(left)
    if lines:
        fail("; ".join(lines), code=1)
    if not as_json:
        typer.echo("every evaluated survey point is delivered: " + ", ".join(p.sink for p in left))


@app.command("archive")
def archive_command(
    surveys: list[str] | None = typer.Argument(None, help="survey ids (default: every finished survey)"),
    config: Path = typer.Option(..., "--config", "-c", help="daemon config with [site] and [mqtt]"),
    pdf: bool = typer.Option(False, "--pdf", help="also the PDF report (needs chromium)"),
    lang: str = LangOpt,
    timeout: float = typer.Option(60.0, "--timeout", help="seconds to wait for the broker"),
    journal: Path | None = JournalOpt,
) -> None:
    """Send surveys' protocol documents to the central archive: retained on the broker, one per survey id."""
    import asyncio
    import tempfile

    from radsurvey.daemon.report import render_report, write_report
    from radsurvey.daemon.survey.archive import ArchiveError, archive_messages, publish
    from radsurvey.daemon.survey.publish import load_publish_config
    from radsurvey.protocols.errors import ConfigError

    _check_report_options("pdf" if pdf else "json", lang)
    cfg = run_command(lambda: load_publish_config(config))
    if cfg.mqtt is None or not cfg.mqtt.enabled:
        fail(f"{config}: no enabled [mqtt] section to archive the surveys to")
    root = f"{cfg.mqtt.prefix}/{cfg.site.id}"

    def messages() -> tuple[list[Any], list[str]]:
        out, lines = [], []
        with _store(journal) as store:
            ids = surveys or [r["id"] for r in store.list_surveys() if r["status"] == "finished"]
            if not ids:
                raise ConfigError(f"{store.path}: no finished survey to archive (name one by its id)")
            for sid in ids:
                doc = store.get(sid).document()
                report = json.loads(render_report(doc, fmt="json", lang=lang, source=f"survey {sid}"))
                pdf_bytes = None
                if pdf:
                    with tempfile.TemporaryDirectory(prefix="radsurvey-archive-") as tmp:
                        out_pdf = Path(tmp) / f"{sid}.pdf"
                        write_report(doc, out_pdf, fmt="pdf", lang=lang, source=f"survey {sid}")
                        pdf_bytes = out_pdf.read_bytes()
                built = archive_messages(root, cfg.site.id, sid, doc, report, pdf_bytes)
                out += built
                extra = f", PDF {len(pdf_bytes)} bytes" if pdf_bytes is not None else ""
                lines.append(f"{sid}: archived on {built[-1].topic}{extra}")
        return out, lines

    _errors_only()
    built, lines = run_command(messages)
    try:
        asyncio.run(publish(cfg, built, timeout_s=timeout))
    except ArchiveError as err:
        fail(f"{err}; nothing was lost: run the same command again", code=1)
    except ConfigError as err:
        fail(str(err))
    for line in lines:
        typer.echo(line)


@app.command("delete")
def delete_command(
    survey_id: str = typer.Argument(..., help="session id"),
    yes: bool = typer.Option(False, "--yes", help="do not ask"),
    journal: Path | None = JournalOpt,
) -> None:
    """Delete a session and its readings (published points stay in the journal)."""
    if not yes and not typer.confirm(f"Delete survey {survey_id} and all its readings?"):
        raise typer.Exit(1)
    with run_command(lambda: _store(journal)) as store:
        run_command(lambda: store.delete(survey_id))
    typer.echo(f"deleted {survey_id}")


def report_command(
    survey: str = typer.Argument(..., help="session id or survey file (JSON/TOML)"),
    fmt: str = FormatOpt,
    lang: str = LangOpt,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="file (default: stdout; pdf: ID-LANG.pdf in the current folder)"
    ),
    solar_hijri: bool = typer.Option(False, "--solar-hijri", help="dates in the Solar Hijri calendar (any --lang)"),
    journal: Path | None = JournalOpt,
) -> None:
    """The signed protocol report of a survey: html (A4 printable), pdf, csv or json."""
    from radsurvey.daemon.report import render_report, write_report
    from radsurvey.daemon.survey.files import read_survey_file

    def document() -> tuple[dict[str, Any], str]:
        path = Path(survey)
        if path.suffix.lower() in (".json", ".toml") and path.exists():
            doc = read_survey_file(path)
            doc.setdefault("id", str(doc.get("survey_id") or path.stem))
            return doc, str(path)
        with _store(journal) as store:
            return store.get(survey).document(), f"survey {survey}"

    doc, source = run_command(document)
    if out is None and fmt == "pdf":
        # A PDF cannot go to a terminal: the file the end of a guided survey offers (ID-LANG.pdf).
        name = Path(survey).stem if Path(survey).suffix.lower() in (".json", ".toml") else survey
        out = Path(f"{name}-{lang}.pdf")
    if out is not None:
        run_command(lambda: write_report(doc, out, fmt=fmt, lang=lang, solar_hijri=solar_hijri, source=source))
        typer.echo(str(out), err=True)
        return
    typer.echo(
        run_command(lambda: render_report(doc, fmt=fmt, lang=lang, solar_hijri=solar_hijri, source=source)),
        nl=False,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="survey")
    root.command("report")(report_command)
