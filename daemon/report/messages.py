"""Every report string that is not a literal ``_("...")`` in the template, for message extraction.

The template translates some values it picks at run time: the verdict, the
formula (3) variant, and the protocol profile's table texts (title, status,
room categories, survey reasons, apparatus types, point kinds, workload rows
with their sources and notes). Babel cannot see those in the template, so
``babel.cfg`` extracts them from here: :func:`extract_profile` reads a profile
TOML file, and the ``N_`` markers below name the run-time words.

Update the catalogues with ``scripts/update-catalogues.sh`` (see docs/survey.md).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import IO, Any

from radsurvey.protocols.profiles import Profile


def N_(message: str) -> str:
    """Marks a message for extraction; translated where the template uses it."""
    return message


VERDICTS = (N_("pass"), N_("fail"))
FORMULA3_VARIANTS = (N_("literal"), N_("conservative"))


def profile_messages(profile: Profile) -> Iterator[tuple[str, str]]:
    """(text, where) for every profile string a report can print, in profile order."""
    yield profile.title, "title"
    yield profile.status, "status"
    for w in profile.workloads:
        yield w.description, f"workloads[{w.key}].description"
        yield w.source, f"workloads[{w.key}].source"
        if w.note and (w.fallback or w.alternative is not None):  # the report prints the note only then
            yield w.note, f"workloads[{w.key}].note"
    for c in profile.categories:
        yield c.description, f"categories[{c.number}].description"
    for r in profile.survey_reasons:
        yield r.text, f"survey_reasons[{r.key}].text"
    for a in profile.apparatus_types:
        yield a.text, f"apparatus_types[{a.key}].text"
    for k in profile.point_kinds:
        yield k.text, f"point_kinds[{k.key}].text"


def extract_profile(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method for protocol profile TOML files (see ``babel.cfg``)."""
    text = fileobj.read().decode("utf-8")
    data = tomllib.loads(text)
    if data.get("schema") == "radsurvey.limits/1":
        return  # a limits profile's texts are not printed in survey reports
    profile = Profile.model_validate(data)
    lines = text.splitlines()
    for message, where in profile_messages(profile):
        lineno = next((i + 1 for i, line in enumerate(lines) if message in line), 0)
        yield lineno, None, message, [f"profile {profile.id}: {where}"]
