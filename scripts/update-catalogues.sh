#!/bin/sh
# Re-extract the report's messages and merge them into every language's catalogue.
#
#   scripts/update-catalogues.sh          (from the checkout, with the venv set up)
#
# 1. pybabel extract (babel.cfg): the template's _("...") labels, the run-time
#    words in daemon/report/messages.py and the protocol profiles' table texts
#    -> daemon/report/locale/radsurvey.pot
# 2. pybabel update: new msgids are added to each locale/<lang>/LC_MESSAGES/radsurvey.po
#    with an empty msgstr, removed ones are dropped; translations are kept.
# Then translate the empty entries; tests/unit/survey/test_report_catalogues.py
# fails while any msgid a report can print lacks a translation.
set -eu
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
LOCALE=daemon/report/locale

"$PYBABEL" extract -F babel.cfg --project radsurvey --version 0.1 --no-wrap \
    --copyright-holder "radsurvey contributors" -o "$LOCALE/radsurvey.pot" .
"$PYBABEL" update -i "$LOCALE/radsurvey.pot" -d "$LOCALE" -D radsurvey \
    --no-wrap --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
