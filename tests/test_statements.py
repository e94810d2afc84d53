"""Learning records <-> xAPI 1.0.3 statements: building, the inverse, and the validator."""
from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from classroom_server.domain import statements as st
from classroom_server.domain.statements import (
    InvalidRecord,
    InvalidStatement,
    PlainRecord,
    format_duration,
    from_statement,
    parse_duration,
    to_statement,
    validate_statement,
)

PLATFORM = "https://edu.example.kz"
RECORD_ID = "3f0c9a8e-5b7d-4c21-9e6f-1a2b3c4d5e6f"
ASSIGNMENT_UUID = "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
LEARNER = "lrn-7f3a9c"  # a pseudonym; the real learner below must never reach a statement
LEARNER_NAME = "Aigerim Nurlanovna"


def make(**changes) -> PlainRecord:
    fields = dict(
        id=RECORD_ID, device_id="tablet-07", sequence=42,
        timestamp=datetime(2024, 5, 1, 8, 30, 0, 250000, tzinfo=timezone.utc),
        learner=LEARNER, school_id="school-0113", verb="opened", pack_id="math-5",
        node_id="fractions-intro", node_kind="lesson", language="kk",
    )
    fields.update(changes)
    return PlainRecord(**fields)


# Each verb with the node kinds and fields it comes with in the learn views.
VERB_CASES = {
    "opened/lesson": dict(verb="opened", node_kind="lesson"),
    "opened/media": dict(verb="opened", node_kind="media"),
    "opened/topic": dict(verb="opened", node_kind="topic"),
    "opened/ebook": dict(verb="opened", node_kind="ebook"),
    "progressed/media": dict(verb="progressed", node_kind="media", progress=0.4),
    "progressed/lesson": dict(verb="progressed", node_kind="lesson", progress=0),
    "answered/single": dict(verb="answered", node_kind="exercise", item_id="q1", response="b",
                            correct=True, score=1.0, attempt=1),
    "answered/multiple-wrong": dict(verb="answered", node_kind="exercise", item_id="q2",
                                    response="a[,]c", correct=False, score=0.0, attempt=2),
    "answered/bare": dict(verb="answered", node_kind="exercise", item_id="q/3 ü"),
    "completed/lesson": dict(verb="completed", node_kind="lesson"),
    "completed/media": dict(verb="completed", node_kind="media", progress=1.0),
    "submitted/exercise": dict(verb="submitted", node_kind="exercise", score=0.75, correct=True),
    "read/chapter": dict(verb="read", node_kind="chapter"),
}

# Optional fields, each alone and all together, crossed with every verb case.
OPTIONAL_CASES = {
    "none": {},
    "class": dict(class_id="5B"),
    "assignment-uuid": dict(assignment_id=ASSIGNMENT_UUID),
    "assignment-other": dict(assignment_id="hw-2024-05-01"),
    "duration-0": dict(duration_ms=0),
    "duration": dict(duration_ms=3723004),
    "attempt": dict(attempt=3),
    "ru": dict(language="ru"),
    "en": dict(language="en"),
    "odd-ids": dict(school_id="школа 7/б", pack_id="pack#1?x", node_id="node 1/2"),
    "all": dict(class_id="5B", assignment_id=ASSIGNMENT_UUID, duration_ms=1500, attempt=1,
                language="ru", sequence=0),
}

CASES = [
    pytest.param({**VERB_CASES[v], **OPTIONAL_CASES[o]}, id=f"{v}+{o}")
    for v, o in itertools.product(VERB_CASES, OPTIONAL_CASES)
]


@pytest.mark.parametrize("fields", CASES)
def test_every_statement_validates(fields):
    statement = to_statement(make(**fields), PLATFORM)
    assert validate_statement(statement) == []
    assert statement["version"] == "1.0.3"
    assert statement["id"] == RECORD_ID


@pytest.mark.parametrize("fields", CASES)
def test_round_trip_over_json(fields):
    record = make(**fields)
    wire = json.loads(json.dumps(to_statement(record, PLATFORM)))
    assert from_statement(wire, PLATFORM) == record


@pytest.mark.parametrize("fields", CASES)
def test_no_nulls_and_absent_fields_omitted(fields):
    record = make(**fields)
    text = json.dumps(to_statement(record, PLATFORM))
    assert "null" not in text
    statement = json.loads(text)
    result = statement.get("result", {})
    assert ("response" in result) == (record.response is not None)
    assert ("success" in result) == (record.correct is not None)
    assert ("score" in result) == (record.score is not None)
    assert ("duration" in result) == (record.duration_ms is not None)
    assert ("registration" in statement["context"]) == (record.assignment_id == ASSIGNMENT_UUID)


@pytest.mark.parametrize("verb, iri, display", [
    ("opened", "http://adlnet.gov/expapi/verbs/launched", "launched"),
    ("progressed", "http://adlnet.gov/expapi/verbs/progressed", "progressed"),
    ("answered", "http://adlnet.gov/expapi/verbs/answered", "answered"),
    ("completed", "http://adlnet.gov/expapi/verbs/completed", "completed"),
    ("submitted", "http://activitystrea.ms/schema/1.0/submit", "submitted"),
    ("read", "http://adlnet.gov/expapi/verbs/experienced", "experienced"),
])
def test_verb_vocabulary(verb, iri, display):
    extra = {"item_id": "q1", "node_kind": "exercise"} if verb == "answered" else {}
    statement = to_statement(make(verb=verb, **extra), PLATFORM)
    assert statement["verb"] == {"id": iri, "display": {"en-US": display}}
    assert statement.get("result", {}).get("completion") == (
        True if verb in ("completed", "submitted", "read") else None)


@pytest.mark.parametrize("kind, activity_type", [
    ("lesson", "http://adlnet.gov/expapi/activities/lesson"),
    ("exercise", "http://adlnet.gov/expapi/activities/assessment"),
    ("media", "http://adlnet.gov/expapi/activities/media"),
    ("topic", "http://adlnet.gov/expapi/activities/module"),
    ("ebook", "http://id.tincanapi.com/activitytype/book"),
    ("chapter", "http://id.tincanapi.com/activitytype/chapter"),
])
def test_activity_types(kind, activity_type):
    statement = to_statement(make(node_kind=kind), PLATFORM)
    assert statement["object"] == {
        "objectType": "Activity", "id": f"{PLATFORM}/content/math-5/fractions-intro",
        "definition": {"type": activity_type}}


def test_item_answer_shape():
    record = make(verb="answered", node_kind="exercise", item_id="q2", response="a[,]c",
                  correct=False, score=0.5, duration_ms=12500, attempt=2, class_id="5B",
                  assignment_id="hw-7", language="kk")
    statement = to_statement(record, PLATFORM)
    assert statement == {
        "id": RECORD_ID,
        "actor": {"objectType": "Agent",
                  "account": {"homePage": f"{PLATFORM}/schools/school-0113", "name": LEARNER}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {"objectType": "Activity",
                   "id": f"{PLATFORM}/content/math-5/fractions-intro/items/q2",
                   "definition": {"type": "http://adlnet.gov/expapi/activities/question"}},
        "result": {"response": "a[,]c", "success": False, "score": {"scaled": 0.5},
                   "duration": "PT12.5S", "extensions": {f"{PLATFORM}/xapi/attempt": 2}},
        "context": {
            "platform": "classroom-server",
            "language": "kk-KZ",
            "contextActivities": {
                "grouping": [
                    {"objectType": "Activity", "id": f"{PLATFORM}/content/math-5",
                     "definition": {"type": "http://adlnet.gov/expapi/activities/course"}},
                    {"objectType": "Activity", "id": f"{PLATFORM}/schools/school-0113/classes/5B"},
                ],
                "parent": [{"objectType": "Activity",
                            "id": f"{PLATFORM}/content/math-5/fractions-intro",
                            "definition": {"type": "http://adlnet.gov/expapi/activities/assessment"}}],
            },
            "extensions": {f"{PLATFORM}/xapi/device": "tablet-07",
                           f"{PLATFORM}/xapi/sequence": 42,
                           f"{PLATFORM}/xapi/assignment": "hw-7"},
        },
        "timestamp": "2024-05-01T08:30:00.250Z",
        "version": "1.0.3",
    }


def test_uuid_assignment_is_the_registration():
    statement = to_statement(make(assignment_id=ASSIGNMENT_UUID), PLATFORM)
    assert statement["context"]["registration"] == ASSIGNMENT_UUID
    assert f"{PLATFORM}/xapi/assignment" not in statement["context"]["extensions"]


@pytest.mark.parametrize("code, tag", [("kk", "kk-KZ"), ("ru", "ru-KZ"), ("en", "en")])
def test_language_tags(code, tag):
    assert to_statement(make(language=code), PLATFORM)["context"]["language"] == tag


@pytest.mark.parametrize("moment, text", [
    (datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc), "2024-05-01T08:30:00Z"),
    (datetime(2024, 5, 1, 14, 30, 0, 123000, tzinfo=timezone(timedelta(hours=6))),
     "2024-05-01T08:30:00.123Z"),
    (datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=timezone.utc), "2024-05-01T08:30:00.123456Z"),
    # Years always have four digits (glibc's %Y writes "999"), so the statement stays valid xAPI.
    (datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "0999-01-02T03:04:05Z"),
    (datetime(1, 1, 1, 0, 0, tzinfo=timezone.utc), "0001-01-01T00:00:00Z"),
])
def test_timestamps_are_utc_with_z(moment, text):
    record = make(timestamp=moment)
    assert to_statement(record, PLATFORM)["timestamp"] == text
    assert from_statement(to_statement(record, PLATFORM), PLATFORM).timestamp == moment


@pytest.mark.parametrize("ms, text", [
    (0, "PT0S"),
    (1, "PT0.001S"),
    (10, "PT0.01S"),
    (1500, "PT1.5S"),
    (12500, "PT12.5S"),
    (60_000, "PT1M"),
    (3_600_000, "PT1H"),
    (3_723_004, "PT1H2M3.004S"),
    (90_061_001, "PT25H1M1.001S"),
])
def test_duration_format(ms, text):
    assert format_duration(ms) == text
    assert parse_duration(text) == ms
    assert validate_statement(to_statement(make(duration_ms=ms), PLATFORM)) == []


@pytest.mark.parametrize("text, ms", [
    ("P1DT1S", 86_401_000),
    ("P1W", 604_800_000),
    ("PT0.5S", 500),
    ("PT01.50S", 1500),
    ("PT1H0M0S", 3_600_000),
])
def test_duration_parse_other_valid_forms(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["P1X", "P", "PT", "PT1", "1S", "P1Y", "P2M", "PT-1S", ""])
def test_duration_parse_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("ms", [-1, 1.5, True])
def test_duration_format_rejects(ms):
    with pytest.raises(ValueError):
        format_duration(ms)


def _good() -> dict:
    record = make(verb="answered", node_kind="exercise", item_id="q1", response="b", correct=True,
                  score=1.0, duration_ms=1500, progress=0.5, class_id="5B")
    return to_statement(record, PLATFORM)


def _set(path: str, value):
    """A fault: put `value` at a `|`-separated path (keys may be IRIs, which hold dots)."""
    def apply(statement):
        keys = path.split("|")
        target = statement
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return apply


def _delete(path: str):
    def apply(statement):
        keys = path.split("|")
        target = statement
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
    return apply


FAULTS = [
    pytest.param(_set("id", "not-a-uuid"), "id: not a UUID: 'not-a-uuid'", id="bad-uuid"),
    pytest.param(_set("id", "3f0c9a8e5b7d4c219e6f1a2b3c4d5e6f"),
                 "id: not a UUID: '3f0c9a8e5b7d4c219e6f1a2b3c4d5e6f'", id="uuid-no-dashes"),
    pytest.param(_delete("id"), "id: missing", id="no-id"),
    pytest.param(_set("actor|mbox", "mailto:teacher@school.kz"),
                 "actor: has 2 inverse functional identifiers (mbox, account), needs exactly one",
                 id="two-ifis"),
    pytest.param(_delete("actor|account"),
                 "actor: has 0 inverse functional identifiers (none), needs exactly one",
                 id="no-ifi"),
    pytest.param(_set("actor|account|homePage", "school-0113"),
                 "actor.account.homePage: 'school-0113' is not an IRI", id="homepage-not-iri"),
    pytest.param(_delete("actor|account|name"), "actor.account.name: missing", id="no-account-name"),
    pytest.param(_set("verb|id", "answered"), "verb.id: 'answered' is not an IRI", id="verb-not-iri"),
    pytest.param(_set("object|id", "math-5/fractions-intro"),
                 "object.id: 'math-5/fractions-intro' is not an IRI", id="object-not-iri"),
    pytest.param(_set("result|score|scaled", 1.5), "result.score.scaled: 1.5 is outside [-1, 1]",
                 id="scaled-1.5"),
    pytest.param(_set("result|score|scaled", -1.01),
                 "result.score.scaled: -1.01 is outside [-1, 1]", id="scaled-below"),
    pytest.param(_set("result|score|scaled", "1"), "result.score.scaled: must be a number",
                 id="scaled-string"),
    pytest.param(_set("result|duration", "P1X"), "result.duration: 'P1X' is not an ISO 8601 duration",
                 id="duration-P1X"),
    pytest.param(_set("result|duration", "1.5"), "result.duration: '1.5' is not an ISO 8601 duration",
                 id="duration-seconds"),
    pytest.param(_set("result|response", None), "result.response: null value", id="null-response"),
    pytest.param(_set("context|contextActivities|grouping", [None]),
                 "context.contextActivities.grouping[0]: null value", id="null-in-list"),
    pytest.param(_set("result|success", "yes"), "result.success: must be true or false",
                 id="success-not-bool"),
    pytest.param(_set("context|extensions|device", "tablet-07"),
                 "context.extensions: key 'device' is not an IRI", id="extension-key-not-iri"),
    pytest.param(_set("result|extensions|progress", 0.5),
                 "result.extensions: key 'progress' is not an IRI", id="result-extension-key"),
    pytest.param(_set("verb|display", {"en_US": "answered"}),
                 "verb.display: key 'en_US' is not an RFC 5646 language tag", id="display-key"),
    pytest.param(_set("context|language", "kk_KZ"),
                 "context.language: 'kk_KZ' is not an RFC 5646 language tag", id="language-tag"),
    pytest.param(_set("context|registration", "hw-7"), "context.registration: not a UUID: 'hw-7'",
                 id="registration-not-uuid"),
    pytest.param(_set("context|contextActivities|sibling", []),
                 "context.contextActivities.sibling: not one of parent, grouping, category, other",
                 id="context-activities-key"),
    pytest.param(_set("timestamp", "01/05/2024 08:30"),
                 "timestamp: '01/05/2024 08:30' is not an ISO 8601 timestamp with a time zone",
                 id="timestamp-format"),
    pytest.param(_set("timestamp", "2024-05-01T08:30:00"),
                 "timestamp: '2024-05-01T08:30:00' is not an ISO 8601 timestamp with a time zone",
                 id="timestamp-no-zone"),
    pytest.param(_set("timestamp", "2024-02-30T08:30:00Z"),
                 "timestamp: '2024-02-30T08:30:00Z' is not an ISO 8601 timestamp with a time zone",
                 id="timestamp-no-such-day"),
    pytest.param(_set("timestamp", "2024-05-01T08:30:00-00:00"),
                 "timestamp: the offset -00:00 is not allowed", id="timestamp-minus-zero"),
    pytest.param(_set("version", "2.0.0"), "version: '2.0.0' is not 1.0.x", id="version"),
    pytest.param(_set("extra", 1), "statement: unknown property 'extra'", id="unknown-property"),
]


@pytest.mark.parametrize("fault, message", FAULTS)
def test_validator_catches_planted_fault(fault, message):
    statement = _good()
    assert validate_statement(statement) == []
    fault(statement)
    assert validate_statement(statement) == [message]


@pytest.mark.parametrize("fault, message", FAULTS)
def test_from_statement_refuses_invalid(fault, message):
    statement = _good()
    fault(statement)
    with pytest.raises(InvalidStatement) as caught:
        from_statement(statement, PLATFORM)
    assert caught.value.problems == [message]


@pytest.mark.parametrize("version", ["1.0", "1.0.0", "1.0.3"])
def test_validator_accepts_1_0_x(version):
    statement = _good()
    statement["version"] = version
    assert validate_statement(statement) == []


@pytest.mark.parametrize("timestamp", ["2024-05-01T14:30:00+06:00", "2024-05-01T14:30:00.5+0600",
                                       "2024-05-01T08:30:00.1234567Z"])
def test_validator_accepts_other_timestamps(timestamp):
    statement = _good()
    statement["timestamp"] = timestamp
    assert validate_statement(statement) == []


def test_validator_rejects_non_object():
    assert validate_statement([]) == ["statement: must be a JSON object"]


@pytest.mark.parametrize("change, message", [
    (lambda s: s["actor"]["account"].update(homePage="https://other.example/schools/x"),
     "is not a school of"),
    (lambda s: s["object"].update(id="https://other.example/content/a/b"), "is not content of"),
    (lambda s: s["verb"].update(id="http://adlnet.gov/expapi/verbs/passed"),
     "is not a verb this server uses"),
    (lambda s: s["object"]["definition"].update(type="http://adlnet.gov/expapi/activities/link"),
     "is not a content node kind"),
    (lambda s: s["context"].update(language="de-DE"), "language must be"),
    (lambda s: s["context"]["extensions"].pop(f"{PLATFORM}/xapi/device"), "missing"),
    (lambda s: s.update(result={"duration": "P1Y"}), "years and months have no fixed length"),
])
def test_from_statement_refuses_foreign_statements(change, message):
    statement = to_statement(make(), PLATFORM)
    change(statement)
    with pytest.raises(InvalidStatement, match=message):
        from_statement(statement, PLATFORM)


def test_trailing_slash_on_platform_iri_changes_nothing():
    record = make()
    assert to_statement(record, PLATFORM + "/") == to_statement(record, PLATFORM)
    assert from_statement(to_statement(record, PLATFORM), PLATFORM + "/") == record


@pytest.mark.parametrize("changes, message", [
    (dict(id="3F0C9A8E-5B7D-4C21-9E6F-1A2B3C4D5E6F"), "lowercase UUID"),
    (dict(id="r-1"), "lowercase UUID"),
    (dict(timestamp=datetime(2024, 5, 1, 8, 30)), "aware datetime"),
    (dict(verb="watched"), "verb must be one of"),
    (dict(node_kind="applet"), "node_kind must be one of"),
    (dict(language="kk-KZ"), "language must be"),
    (dict(verb="answered", node_kind="exercise"), "item_id is required"),
    (dict(item_id="q1"), "item_id is required"),
    (dict(score=1.5), "score must be"),
    (dict(progress=-0.1), "progress must be"),
    (dict(correct=1), "correct must be"),
    (dict(sequence=-1), "sequence must be"),
    (dict(sequence=True), "sequence must be"),
    (dict(duration_ms=-5), "duration_ms must be"),
    (dict(attempt=0), "attempt must be"),
    (dict(learner=""), "learner must be"),
    (dict(class_id=""), "class_id must be"),
])
def test_record_invariants(changes, message):
    with pytest.raises(InvalidRecord, match=message):
        make(**changes)


def test_record_is_frozen_and_stores_utc():
    record = make(timestamp=datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=6))))
    assert record.timestamp.tzinfo is timezone.utc
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.learner = LEARNER_NAME  # type: ignore[misc]


def test_learner_name_never_appears():
    names = {f.name for f in dataclasses.fields(PlainRecord)}
    assert not names & {"name", "learner_name", "full_name", "display_name", "first_name",
                        "last_name", "email", "mbox"}
    with pytest.raises(TypeError):
        make(learner_name=LEARNER_NAME)
    statement = to_statement(make(**VERB_CASES["answered/single"], class_id="5B"), PLATFORM)
    text = json.dumps(statement, ensure_ascii=False)
    assert LEARNER_NAME not in text and "Aigerim" not in text
    # The only person in the statement is the pseudonymous account: no display name, no mailbox.
    assert statement["actor"] == {"objectType": "Agent", "account": {
        "homePage": f"{PLATFORM}/schools/school-0113", "name": LEARNER}}
    assert text.count(LEARNER) == 1


def test_module_is_pure():
    path = Path(st.__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"flask", "peewee", "requests", "werkzeug", "classroom_server"}
    # Loaded on its own, it pulls in no web or database library either.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('statements', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['statements'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted(m for m in ('flask', 'peewee', 'requests', 'werkzeug') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
