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


# Why a protocol is not valid (daemon/survey/metadata.py VALIDITY_TEXTS holds the same English
# sentences with plain "uGy/h"; here the unit is a parameter so each language writes its own).
VALIDITY = {
    "no_instrument": N_("no measuring instrument recorded (App. 14 p.32-33 requires a verified dosimeter)"),
    "certificate_number_missing": N_("%(instrument)s: no verification certificate number recorded"),
    "certificate_expiry_missing": N_("%(instrument)s: verification certificate expiry date not recorded"),
    "certificate_expired": N_(
        "%(instrument)s: verification certificate %(certificate)s expired on %(expired)s, before the survey date"
    ),
    "energy_range_missing": N_("%(instrument)s: energy range not recorded (required %(required)s %(keV)s)"),
    "energy_range_narrow": N_(
        "%(instrument)s: energy range %(range)s %(keV)s does not cover the required %(required)s %(keV)s"
    ),
    "dose_rate_range_missing": N_("%(instrument)s: dose-rate range not recorded (required %(required)s %(uGy_h)s)"),
    "dose_rate_range_narrow": N_(
        "%(instrument)s: dose-rate range %(range)s %(uGy_h)s does not cover the required %(required)s %(uGy_h)s"
    ),
    "error_too_large": N_("%(instrument)s: basic error %(error)s %% exceeds the permitted %(permitted)s %%"),
    "no_sanitary_conclusion": N_(
        "no sanitary-epidemiological conclusion for the X-ray apparatus recorded (App. 14 p.6 allows a survey"
        " only when one exists)"
    ),
}

# Warnings of the evaluation and of the capture, rewritten for the reader: the subject
# ("Point S1, 120 cm") and the sentence, both translated; numbers in the report's format.
SUBJECTS = {
    "point_height": N_("Point %(point)s, %(height)s %(cm)s"),
    "point_field": N_("Point %(point)s, %(field)s"),
    "point": N_("Point %(point)s"),
    "background": N_("Background"),
    "field": N_("Field %(field)s"),
}
WARNINGS = {
    "outside_range": N_(
        "%(outside)s of %(total)s readings outside %(low)s–%(high)s %(uGy_h)s, the dose-rate range the instrument"
        " declares (%(source)s)"
    ),
    "below_background": N_(
        "mean %(mean)s %(uGy_h)s is below the background %(background)s %(uGy_h)s; net dose rate set to 0"
    ),
    "kind_heights": N_("points of this kind are measured at %(expected)s (%(source)s), got %(got)s"),
    "background_ignored": N_("ignored, the meter compensates background"),
    "unknown_field": N_("unknown field kept as metadata; did you mean %(suggestion)s?"),
    "workload_fallback": N_("workload for %(apparatus)s is a fallback, %(value)s: %(note)s"),
    "workload_not_in_tables": N_(
        "apparatus %(apparatus)s is not in the %(profile)s tables; workload %(value)s %(W_unit)s taken from the survey"
        " file"
    ),
    "workload_override": N_("workload override %(value)s %(W_unit)s used instead of %(table)s from %(source)s"),
    "meter_not_recorded": N_(
        "connected meter %(model)s serial %(serial)s is not among the recorded instruments (%(recorded)s);"
        " check its verification certificate"
    ),
    "point_corrected": N_("%(field)s corrected from %(old)s to %(new)s when the survey was resumed"),
    # The App. 14 p.15 and p.25 findings of the evaluation (issue 9).
    "fluoroscopy_current": N_("%(current)s %(mA)s is below the 2 %(mA)s App. 14 p.15 requires in fluoroscopy"),
    "voltage_maximum": N_(
        "%(voltage)s %(kV)s; App. 14 p.15 and the Table 1 note ask for the apparatus maximum %(maximum)s %(kV)s"
        " (below the standard %(standard)s %(kV)s of %(source)s)"
    ),
    "voltage_differs": N_(
        "%(voltage)s %(kV)s differs from the standard %(standard)s %(kV)s App. 14 p.15 asks for (%(source)s)"
    ),
    "voltage_hint": N_("if that is the apparatus's maximum, record it as the apparatus maximum voltage (Table 1 note)"),
    # Issue 21 §3: the formula (3) reading that decides a verdict, and input outside the regulation's scope.
    "formula3_decides": N_(
        "formula (3) decides the verdict: as printed (%(literal_text)s) E = %(literal)s %(uSv_h)s, %(literal_verdict)s;"
        " read consistently with formula (4) (%(conservative_text)s) E = %(conservative)s %(uSv_h)s,"
        " %(conservative_verdict)s; the evaluation used the %(used)s reading"
    ),
    "category_scope": N_(
        "category %(category)s (%(description)s) is for %(apparatus)s apparatus (%(source)s), not %(given)s"
    ),
    "therapy_workplace": N_(
        "a workplace point in the room of X-ray therapy apparatus %(apparatus)s: App. 14 p.26 names the adjacent"
        " rooms only"
    ),
    "attenuation_factor": N_(
        "K = %(factor)s from the room's shielding design (%(source)s): E from the measured dose rates is divided by K"
        " and judged against category 7 (App. 14 p.25; the division is radsurvey's reading, the paragraph gives no"
        " formula)"
    ),
}

# Words and units the template and the code pick at run time.
UNITS = (N_("µGy/h"), N_("µSv/h"), N_("keV"), N_("cm"), N_("mA"), N_("kV"), N_("mA·min/week"), N_("m"))
FIELDS = (
    N_("kind of point"),
    N_("anode current"),
    N_("anode voltage"),
    N_("room category"),
    N_("heights"),
    N_("design attenuation factor K"),
    N_("apparatus maximum voltage"),
)
CONCLUSIONS = {
    "complies": N_("complies"),
    "does_not_comply": N_("does not comply"),
    "not_valid": N_("not valid"),
}
AUDIT_ACTIONS = {"discarded": N_("readings discarded (retake)"), "edited": N_("point definition edited")}
DECISION_RULES = {
    "simple": N_(
        "Decision rule: simple acceptance (ILAC-G8:09/2019 §4.2.1): a point complies when E does not exceed DMD_E,"
        " as App. 14 p.30 reads; the uncertainty is stated but not subtracted."
    ),
    "guarded": N_(
        "Decision rule: guarded acceptance (ILAC-G8:09/2019 §4.2.2), guard band w = U: a point complies only when"
        " E + U does not exceed DMD_E. This is stricter than App. 14 p.30 and was chosen for this survey."
    ),
}
PAGE = N_("Page %(page)s of %(pages)s")
# The facility file (report/facility.py): what put a room on hold, an inspection's result.
FACILITY_CAUSES = {
    "survey": N_("non-complying survey"),
    "repair": N_("repair of protective parts"),
    "apparatus": N_("new apparatus"),
    "tube": N_("new X-ray tube"),
    "incident": N_("incident"),
}
INSPECTION_RESULTS = {"pass": N_("fit for use"), "fail": N_("unfit for use")}
CITATIONS = (N_("main text"), N_("p.%(n)s"), N_("Table %(n)s"))
# A survey naming a ``limits_profile`` (docs/profiles.md): whose limits, whose survey maths.
LIMITS = {
    "with_method": N_("Dose limits: %(limits)s v%(limits_version)s. Survey method and maths: %(survey)s."),
    "limits_only": N_(
        "Dose limits: %(limits)s v%(limits_version)s, which defines dose limits only, no survey method; the survey"
        " maths (formulas, permissible dose rates, verdicts) are those of the survey profile %(survey)s"
        " v%(survey_version)s."
    ),
}
