"""Every message a report can print is extracted into radsurvey.pot and translated in every catalogue.

The messages are extracted the way scripts/update-catalogues.sh does (babel.cfg):
the template's _("...") labels, the run-time words of daemon/report/messages.py
and the protocol profiles' table texts. A new label or profile row without a
translation fails here, naming it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from radsurvey.daemon.report import render_report

ROOT = Path(__file__).resolve().parents[3]
LOCALE = ROOT / "daemon" / "report" / "locale"
TRANSLATED = ("ru", "kk", "fa", "ro")


@functools.cache
def extracted() -> frozenset[str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fp:
        method_map, options_map = parse_mapping_cfg(fp, "babel.cfg")
    return frozenset(message for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options_map))


def catalogue(lang: str) -> dict[str, str]:
    with (LOCALE / lang / "LC_MESSAGES" / "radsurvey.po").open("rb") as fp:
        return {m.id: m.string for m in read_po(fp) if m.id}


def test_extraction_finds_the_template_labels_runtime_words_and_profile_tables() -> None:
    found = extracted()
    for message in (
        "Radiation control protocol",  # template
        "pass",  # run-time word
        "Room above the procedure room",  # point kind
        "Acceptance of the room into operation",  # survey reason
        "App. 14 Table 1 row 3",  # workload source
        "repealed 2010 (Order of the acting Minister of Health of the RK No. 633 of 12 Aug 2010); "
        "historical/reference profile",
    ):
        assert message in found, message


def test_the_committed_template_is_up_to_date() -> None:
    with (LOCALE / "radsurvey.pot").open("rb") as fp:
        pot = {m.id for m in read_po(fp) if m.id}
    assert pot == set(extracted()), "run scripts/update-catalogues.sh"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_a_report_can_print_is_translated(lang: str) -> None:
    translated = catalogue(lang)
    missing = sorted(m for m in extracted() if not translated.get(m))
    assert missing == [], f"{lang}: {len(missing)} untranslated; run scripts/update-catalogues.sh and translate"


class _Recording:
    """gettext that records what the template asks for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def gettext(self, message: str) -> str:
        self.asked.add(message)
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        self.asked.update((singular, plural))
        return singular if n == 1 else plural


@pytest.mark.parametrize(
    "apparatus",
    ["radiography", "lithotripsy", "therapy_long_distance", "densitometer_whole_body"],
)
def test_the_extraction_covers_what_the_template_translates(apparatus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recording = _Recording()
    monkeypatch.setattr("radsurvey.daemon.report.translations", lambda lang: recording)
    text = resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = {**json.loads(text), "id": "WE", "apparatus": apparatus}
    render_report(doc, fmt="html", lang="ru", solar_hijri=True)
    assert recording.asked - extracted() == set()
    assert len(recording.asked) > 50


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_every_placeholder_of_their_message(lang: str) -> None:
    import re

    placeholder = re.compile(r"%\(\w+\)s|%%")
    wrong = {
        message: text
        for message, text in catalogue(lang).items()
        if text and sorted(placeholder.findall(message)) != sorted(placeholder.findall(text))
    }
    assert wrong == {}
