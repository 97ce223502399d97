"""``radsurvey profiles``: list, show and check regulation profiles (docs/profiles.md).

Shipped profiles are package data; user profiles are ``*.toml`` files in the
user's config directory (``$XDG_CONFIG_HOME/radsurvey/profiles``, by default
``~/.config/radsurvey/profiles``) and in the system's (``/etc/radsurvey/profiles``).
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from .common import fail, run_command

app = typer.Typer(help="Regulation profiles: list, show, check (shipped, user and system ones).", no_args_is_help=True)

SYSTEM_DIR = Path("/etc/radsurvey/profiles")


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "radsurvey" / "profiles"


def profile_dirs() -> list[tuple[str, Path]]:
    """Where user profiles are looked for, highest precedence first."""
    return [("user", user_dir()), ("system", SYSTEM_DIR)]


def use_profile_dirs() -> None:
    """Make the user's and system's profiles known to every command (called at start-up; reads nothing yet)."""
    from radsurvey.protocols import profile_dirs as search

    search.SEARCH_PATH[:] = profile_dirs()


class Format(enum.StrEnum):
    table = "table"
    json = "json"


@app.command("list")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="Lines for a person, or JSON.")] = Format.table,
) -> None:
    """Every profile radsurvey knows: id, version, kind, where it comes from; unusable files last."""

    def body() -> None:
        from radsurvey.protocols import profiles

        rows = [
            {
                "id": e.profile.id,
                "version": e.profile.version,
                "kind": "survey" if e.profile.has_survey_method else "limits",
                "origin": e.origin,
                "path": e.path,
                "title": e.profile.title,
            }
            for e in profiles.entries()
        ]
        problems = list(profiles.search_problems())
        if output is Format.json:
            typer.echo(json.dumps({"profiles": rows, "problems": problems}, indent=2))
            return
        for r in rows:
            where = f"{r['origin']}" + (f" {r['path']}" if r["path"] and r["origin"] != "package" else "")
            typer.echo(f"{r['id']}  v{r['version']}  {r['kind']:<6}  {where}  {r['title']}")
        typer.echo(f"searched: {', '.join(f'{o} {d}' for o, d in profiles.search_path()) or 'package only'}")
        for line in problems:
            typer.echo(f"problem: {line}", err=True)

    run_command(body)


@app.command("show")
def show_command(
    profile_id: Annotated[str, typer.Argument(metavar="ID", help="Profile id, or a profile file (.toml).")],
    output: Annotated[
        Format, typer.Option("--format", help="Text for a person, or the profile as JSON.")
    ] = Format.table,
) -> None:
    """One profile: identity, provenance, room categories (with occupancy factors T) and dose limits."""

    def body() -> None:
        from radsurvey.protocols import profiles

        profile = profiles.find_profile(profile_id)
        if output is Format.json:
            document = profile.model_dump(mode="json", by_alias=True)
            document["resolved_limits"] = [
                r.model_dump(mode="json") for r in (profile.limit(x.key) for x in profile.limits) if r is not None
            ]
            typer.echo(json.dumps(document, indent=2, allow_nan=False))
            return
        kind = "survey method and tables" if profile.has_survey_method else "dose limits only (no survey method)"
        typer.echo(f"{profile.id} v{profile.version}: {profile.title}")
        typer.echo(f"  kind:   {kind}")
        typer.echo(f"  source: {profile.source}")
        typer.echo(f"  status: {profile.status}")
        if profile.note:
            typer.echo(f"  note:   {profile.note}")
        if not profile.has_survey_method:
            typer.echo(
                "  A survey or channel names a survey profile for its maths; this profile gives only the limits "
                "a dose budget is judged against."
            )
        if profile.rem_to_mSv is not None:
            typer.echo(f"  conversion: 1 rem = {profile.rem_to_mSv.value:g} mSv ({profile.rem_to_mSv.source})")
        if isinstance(profile, profiles.Profile):
            typer.echo("room categories (# | DMD_E uSv/h | annual limit mSv | occupancy factor T | source):")
            for c in profile.categories:
                t = c.occupancy_factor
                t_text = f"{t.value:g} ({t.source})" if t is not None else "-"
                typer.echo(f"  {c.number} | {c.dmd_uSv_h:g} | {c.dose_limit_mSv_per_year:g} | {t_text} | {c.source}")
            typer.echo(f"  (all tables: radsurvey tables --protocol {profile.id})")
        if profile.limits:
            typer.echo("dose limits (key | period | mSv | applies to | source | derivation):")
            for limit in profile.limits:
                r = profile.limit(limit.key)
                assert r is not None
                typer.echo(
                    f"  {r.key} | {r.period} | {r.mSv:g} | {r.applies_to} | {r.source}"
                    + (f" | {r.derivation}" if r.derivation else "")
                )

    run_command(body)


@app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(help="A profile file (.toml).")],
) -> None:
    """Check a profile file: every problem on its own line with its key path; exit 0 when it is valid."""

    def body() -> None:
        from radsurvey.protocols import profiles

        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            fail(f"{file}: cannot read: {err}")
        problems = profiles.check_profile_text(text, str(file))
        if not problems:
            profile = profiles.parse_profile(text, str(file))
            clash = next(
                (e for e in profiles.entries() if e.profile.id == profile.id and e.path != str(file.resolve())), None
            )
            if clash is not None and clash.origin == "package" and clash.path != str(file.resolve()):
                problems.append(f"{file}: id: {profile.id!r} is a shipped profile; give yours another id")
        if problems:
            for line in problems:
                typer.echo(line, err=True)
            raise typer.Exit(1)
        kind = "survey profile" if profile.has_survey_method else "limits profile"
        typer.echo(f"{file}: ok ({kind} {profile.id} v{profile.version})")

    run_command(body)


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the profile format (both kinds)."""
    from radsurvey.protocols import profiles

    typer.echo(json.dumps(profiles.json_schema(), indent=2))
