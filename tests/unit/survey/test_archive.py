"""The archive messages of a survey: their topics, the envelope, and a hash independent of key order."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radsurvey.daemon.survey.archive import ARCHIVE_SCHEMA, archive_messages, canonical_sha256
from radsurvey.protocols.errors import ConfigError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
documents = st.dictionaries(st.text(max_size=8), json_values, max_size=6)
survey_ids = st.text(min_size=1, max_size=20).filter(lambda s: not any(c in s for c in "/+#\x00"))


@given(doc=documents)
def test_the_hash_does_not_depend_on_key_order(doc: dict[str, Any]) -> None:
    reordered = dict(reversed(list(doc.items())))
    assert canonical_sha256(reordered) == canonical_sha256(doc)


@given(doc=documents, sid=survey_ids, pdf=st.none() | st.binary(max_size=64))
def test_the_envelope_carries_the_document_and_announces_the_pdf_sent_before_it(
    doc: dict[str, Any], sid: str, pdf: bytes | None
) -> None:
    messages = archive_messages("radsurvey/qc", "qc", sid, doc, {"schema": "radsurvey.report/1"}, pdf)
    *before, last = messages
    assert last.topic == f"radsurvey/qc/surveys/{sid}/protocol"
    envelope = json.loads(last.payload)
    assert envelope["schema"] == ARCHIVE_SCHEMA and envelope["survey"] == sid and envelope["site"] == "qc"
    assert envelope["survey_document"] == json.loads(json.dumps(doc))
    assert envelope["document_sha256"] == canonical_sha256(doc)
    if pdf is None:
        assert before == [] and envelope["pdf"] is None
    else:
        (sent,) = before
        assert sent.topic == f"{last.topic}/pdf" and sent.payload == pdf
        assert envelope["pdf"] == {"topic": sent.topic, "bytes": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}


def test_a_lone_surrogate_in_a_survey_still_gives_json_and_a_hash() -> None:
    doc = {"room": "\ud800 room"}
    (message,) = archive_messages("radsurvey/qc", "qc", "S", doc, {})
    assert json.loads(message.payload)["survey_document"] == doc
    assert len(canonical_sha256(doc)) == 64


@pytest.mark.parametrize("bad", ["a/b", "a+b", "#"])
def test_a_survey_id_that_cannot_be_a_topic_level_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="cannot be an MQTT topic level"):
        archive_messages("radsurvey/qc", "qc", bad, {}, {})
