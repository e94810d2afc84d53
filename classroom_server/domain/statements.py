"""Learning records and the xAPI 1.0.3 statements the national platform receives for them.

One record maps to one statement and back (`to_statement`, `from_statement`); `validate_statement`
checks the xAPI rules this mapping relies on. Pure: plain data in, plain data out.

Verbs (ADL vocabulary where it has a fitting verb):

| record verb  | xAPI verb id                                  | display       | result.completion |
|--------------|-----------------------------------------------|---------------|-------------------|
| `opened`     | http://adlnet.gov/expapi/verbs/launched       | launched      |                   |
| `progressed` | http://adlnet.gov/expapi/verbs/progressed     | progressed    |                   |
| `answered`   | http://adlnet.gov/expapi/verbs/answered       | answered      |                   |
| `completed`  | http://adlnet.gov/expapi/verbs/completed      | completed     | true              |
| `submitted`  | http://activitystrea.ms/schema/1.0/submit     | submitted     | true              |
| `read`       | http://adlnet.gov/expapi/verbs/experienced    | experienced   | true              |

ADL has no "submitted": Activity Streams' `submit` is the verb LRSs and profiles use for handing
in work, and it does not claim a grade the way `scored`/`passed` would. `experienced` is ADL's
verb for consuming content, so it carries "read a chapter"; `launched` is "opened".

Activity types (`object.definition.type`, and the parent's for item answers):

| what                      | activity type                                    |
|---------------------------|--------------------------------------------------|
| an exercise item          | http://adlnet.gov/expapi/activities/question     |
| node kind `exercise`      | http://adlnet.gov/expapi/activities/assessment   |
| node kind `lesson`        | http://adlnet.gov/expapi/activities/lesson       |
| node kind `media`         | http://adlnet.gov/expapi/activities/media        |
| node kind `topic`         | http://adlnet.gov/expapi/activities/module       |
| node kind `ebook`         | http://id.tincanapi.com/activitytype/book        |
| node kind `chapter`       | http://id.tincanapi.com/activitytype/chapter     |
| the pack (grouping)       | http://adlnet.gov/expapi/activities/course       |

IRIs, with every id percent-encoded as one path segment:

- actor: account `{homePage: <platform>/schools/<school_id>, name: <learner>}` (a pseudonym)
- object: `<platform>/content/<pack_id>/<node_id>[/items/<item_id>]`
- grouping: the pack `<platform>/content/<pack_id>` and the class
  `<platform>/schools/<school_id>/classes/<class_id>`; parent: the node, for item answers
- extensions: `<platform>/xapi/{progress,attempt}` (result), `<platform>/xapi/{device,sequence}`
  and, when the assignment id is not a UUID, `<platform>/xapi/assignment` (context); a UUID
  assignment id is the statement's `registration`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

XAPI_VERSION = "1.0.3"
PLATFORM = "classroom-server"

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
ADL_ACTIVITIES = "http://adlnet.gov/expapi/activities/"

#: record verb -> (xAPI verb id, en-US display)
VERBS: dict[str, tuple[str, str]] = {
    "opened": (ADL_VERBS + "launched", "launched"),
    "progressed": (ADL_VERBS + "progressed", "progressed"),
    "answered": (ADL_VERBS + "answered", "answered"),
    "completed": (ADL_VERBS + "completed", "completed"),
    "submitted": ("http://activitystrea.ms/schema/1.0/submit", "submitted"),
    "read": (ADL_VERBS + "experienced", "experienced"),
}
#: verbs that mean the learner finished the activity (`result.completion: true`)
COMPLETING_VERBS = frozenset({"completed", "submitted", "read"})

#: content node kind -> activity type
NODE_ACTIVITY_TYPES: dict[str, str] = {
    "topic": ADL_ACTIVITIES + "module",
    "lesson": ADL_ACTIVITIES + "lesson",
    "exercise": ADL_ACTIVITIES + "assessment",
    "media": ADL_ACTIVITIES + "media",
    "ebook": "http://id.tincanapi.com/activitytype/book",
    "chapter": "http://id.tincanapi.com/activitytype/chapter",
}
ITEM_ACTIVITY_TYPE = ADL_ACTIVITIES + "question"
PACK_ACTIVITY_TYPE = ADL_ACTIVITIES + "course"

#: the server's language codes -> RFC 5646 tags sent upstream (Kazakhstan's Kazakh and Russian)
LANGUAGE_TAGS: dict[str, str] = {"kk": "kk-KZ", "ru": "ru-KZ", "en": "en"}

_VERB_BY_IRI = {iri: verb for verb, (iri, _) in VERBS.items()}
_KIND_BY_TYPE = {iri: kind for kind, iri in NODE_ACTIVITY_TYPES.items()}
_CODE_BY_TAG = {tag: code for code, tag in LANGUAGE_TAGS.items()}

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
# RFC 5646 Language-Tag (langtag | privateuse | grandfathered), case-insensitive.
_LANGTAG = re.compile(
    r"(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"
    r"(?:-[a-z]{4})?"
    r"(?:-(?:[a-z]{2}|\d{3}))?"
    r"(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*"
    r"(?:-[\da-wy-z](?:-[a-z\d]{2,8})+)*"
    r"(?:-x(?:-[a-z\d]{1,8})+)?"
    r"|x(?:-[a-z\d]{1,8})+"
    r"|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)"
    r"|en-gb-oed|sgn-(?:be-fr|be-nl|ch-de)",
    re.IGNORECASE,
)
_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile(
    rf"P(?!$)(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?(?:(?P<weeks>{_NUMBER})W)?"
    rf"(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?"
)

_STATEMENT_KEYS = frozenset(
    {"id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority",
     "version", "attachments"}
)
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_CONTEXT_ACTIVITY_KEYS = ("parent", "grouping", "category", "other")


class InvalidRecord(ValueError):
    """A learning record that breaks one of its invariants."""


class InvalidStatement(ValueError):
    """A statement that is not valid xAPI, or not one this server could have made."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class PlainRecord:
    """A learning record as plain data: what one xAPI statement carries (the school stores it as a
    `models.LearningRecord` row; `learn.records.plain_record` turns a row into this).

    `learner` is a pseudonymous school-scoped id: a record has no field for a name.
    `language` is the server's code (`kk`, `ru`, `en`); the statement carries the RFC 5646 tag.
    `item_id` is set exactly when `verb` is `answered`.
    """

    id: str
    device_id: str
    sequence: int
    timestamp: datetime
    learner: str
    school_id: str
    verb: str
    pack_id: str
    node_id: str
    node_kind: str
    language: str
    item_id: str | None = None
    class_id: str | None = None
    assignment_id: str | None = None
    response: str | None = None
    correct: bool | None = None
    score: float | None = None
    duration_ms: int | None = None
    progress: float | None = None
    attempt: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _CANONICAL_UUID.fullmatch(self.id):
            raise InvalidRecord(f"id must be a lowercase UUID, got {self.id!r}")
        for name in ("device_id", "learner", "school_id", "pack_id", "node_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidRecord(f"{name} must be a non-empty string, got {value!r}")
        for name in ("item_id", "class_id", "assignment_id"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidRecord(f"{name} must be a non-empty string or None, got {value!r}")
        if not _is_int(self.sequence) or self.sequence < 0:
            raise InvalidRecord(f"sequence must be an integer >= 0, got {self.sequence!r}")
        if not isinstance(self.timestamp, datetime) or self.timestamp.utcoffset() is None:
            raise InvalidRecord(f"timestamp must be an aware datetime, got {self.timestamp!r}")
        # One instant, one spelling: records compare and print the same whatever zone made them.
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(timezone.utc))
        if self.verb not in VERBS:
            raise InvalidRecord(f"verb must be one of {sorted(VERBS)}, got {self.verb!r}")
        if self.node_kind not in NODE_ACTIVITY_TYPES:
            raise InvalidRecord(
                f"node_kind must be one of {sorted(NODE_ACTIVITY_TYPES)}, got {self.node_kind!r}")
        if not isinstance(self.language, str) or not _LANGUAGE_CODE.fullmatch(self.language):
            raise InvalidRecord(f"language must be a language code like 'kk', got {self.language!r}")
        if (self.verb == "answered") != (self.item_id is not None):
            raise InvalidRecord("item_id is required for 'answered' and only for it")
        if self.response is not None and not isinstance(self.response, str):
            raise InvalidRecord(f"response must be a string or None, got {self.response!r}")
        if self.correct is not None and not isinstance(self.correct, bool):
            raise InvalidRecord(f"correct must be a bool or None, got {self.correct!r}")
        for name in ("score", "progress"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and 0 <= value <= 1):
                raise InvalidRecord(f"{name} must be a number in [0, 1] or None, got {value!r}")
        if self.duration_ms is not None and not (_is_int(self.duration_ms) and self.duration_ms >= 0):
            raise InvalidRecord(f"duration_ms must be an integer >= 0 or None, got {self.duration_ms!r}")
        if self.attempt is not None and not (_is_int(self.attempt) and self.attempt >= 1):
            raise InvalidRecord(f"attempt must be an integer >= 1 or None, got {self.attempt!r}")


# --- building ---------------------------------------------------------------------------------

def to_statement(record: PlainRecord, platform_iri: str) -> dict[str, Any]:
    """The xAPI 1.0.3 statement for one record; absent fields are omitted, never null."""
    base = _platform(platform_iri)
    school = f"{base}/schools/{_segment(record.school_id)}"
    node_iri = f"{base}/content/{_segment(record.pack_id)}/{_segment(record.node_id)}"
    node_activity = _activity(node_iri, NODE_ACTIVITY_TYPES[record.node_kind])
    verb_iri, display = VERBS[record.verb]

    statement: dict[str, Any] = {
        "id": record.id,
        "actor": {"objectType": "Agent", "account": {"homePage": school, "name": record.learner}},
        "verb": {"id": verb_iri, "display": {"en-US": display}},
    }
    if record.item_id is not None:
        statement["object"] = _activity(f"{node_iri}/items/{_segment(record.item_id)}",
                                        ITEM_ACTIVITY_TYPE)
    else:
        statement["object"] = node_activity

    result: dict[str, Any] = {}
    if record.response is not None:
        result["response"] = record.response
    if record.correct is not None:
        result["success"] = record.correct
    if record.score is not None:
        result["score"] = {"scaled": record.score}
    if record.verb in COMPLETING_VERBS:
        result["completion"] = True
    if record.duration_ms is not None:
        result["duration"] = format_duration(record.duration_ms)
    result_extensions: dict[str, Any] = {}
    if record.progress is not None:
        result_extensions[f"{base}/xapi/progress"] = record.progress
    if record.attempt is not None:
        result_extensions[f"{base}/xapi/attempt"] = record.attempt
    if result_extensions:
        result["extensions"] = result_extensions
    if result:
        statement["result"] = result

    grouping = [_activity(f"{base}/content/{_segment(record.pack_id)}", PACK_ACTIVITY_TYPE)]
    if record.class_id is not None:
        grouping.append({"objectType": "Activity",
                         "id": f"{school}/classes/{_segment(record.class_id)}"})
    context_activities: dict[str, Any] = {"grouping": grouping}
    if record.item_id is not None:
        context_activities["parent"] = [node_activity]
    context: dict[str, Any] = {
        "platform": PLATFORM,
        "language": LANGUAGE_TAGS.get(record.language, record.language),
        "contextActivities": context_activities,
    }
    context_extensions: dict[str, Any] = {
        f"{base}/xapi/device": record.device_id,
        f"{base}/xapi/sequence": record.sequence,
    }
    if record.assignment_id is not None:
        # registration must be a UUID; it is the xAPI home for "this assignment" when we have one
        if _CANONICAL_UUID.fullmatch(record.assignment_id):
            context["registration"] = record.assignment_id
        else:
            context_extensions[f"{base}/xapi/assignment"] = record.assignment_id
    context["extensions"] = context_extensions
    statement["context"] = context

    statement["timestamp"] = format_timestamp(record.timestamp)
    statement["version"] = XAPI_VERSION
    return statement


def from_statement(statement: dict[str, Any], platform_iri: str) -> PlainRecord:
    """The record a statement made by `to_statement` came from; raises InvalidStatement."""
    problems = validate_statement(statement)
    if problems:
        raise InvalidStatement("not a valid xAPI statement: " + "; ".join(problems), problems)
    base = _platform(platform_iri)
    try:
        return _record_from(statement, base)
    except InvalidStatement:
        raise
    except (KeyError, TypeError, IndexError) as exc:
        raise InvalidStatement(f"not a statement this server makes: missing {exc}") from exc
    except ValueError as exc:  # InvalidRecord, or a duration in years or months
        raise InvalidStatement(f"not a statement this server makes: {exc}") from exc


def _record_from(statement: dict[str, Any], base: str) -> PlainRecord:
    account = statement["actor"].get("account")
    if account is None:
        raise InvalidStatement("actor: not identified by an account")
    schools = f"{base}/schools/"
    home = account["homePage"]
    if not home.startswith(schools) or "/" in home[len(schools):]:
        raise InvalidStatement(f"actor.account.homePage: {home!r} is not a school of {base}")
    school_id = unquote(home[len(schools):])

    verb = _VERB_BY_IRI.get(statement["verb"]["id"])
    if verb is None:
        raise InvalidStatement(f"verb.id: {statement['verb']['id']!r} is not a verb this server uses")

    obj = statement["object"]
    content = f"{base}/content/"
    object_id = obj["id"]
    if not object_id.startswith(content):
        raise InvalidStatement(f"object.id: {object_id!r} is not content of {base}")
    parts = object_id[len(content):].split("/")
    context = statement["context"]
    activities = context.get("contextActivities", {})
    if len(parts) == 2:
        item_id = None
        kind_type = obj.get("definition", {}).get("type")
    elif len(parts) == 4 and parts[2] == "items":
        item_id = unquote(parts[3])
        kind_type = _as_list(activities["parent"])[0].get("definition", {}).get("type")
    else:
        raise InvalidStatement(f"object.id: {object_id!r} names no content node or item")
    node_kind = _KIND_BY_TYPE.get(kind_type)
    if node_kind is None:
        raise InvalidStatement(f"activity type {kind_type!r} is not a content node kind")

    classes = f"{home}/classes/"
    class_id = None
    for activity in _as_list(activities.get("grouping", [])):
        if activity["id"].startswith(classes):
            class_id = unquote(activity["id"][len(classes):])

    tag = context.get("language")
    language = _CODE_BY_TAG.get(tag, tag)
    result = statement.get("result", {})
    result_ext = result.get("extensions", {})
    context_ext = context.get("extensions", {})
    duration = result.get("duration")
    score = result.get("score", {}).get("scaled")
    return PlainRecord(
        id=statement["id"],
        device_id=context_ext[f"{base}/xapi/device"],
        sequence=context_ext[f"{base}/xapi/sequence"],
        timestamp=parse_timestamp(statement["timestamp"]),
        learner=account["name"],
        school_id=school_id,
        verb=verb,
        pack_id=unquote(parts[0]),
        node_id=unquote(parts[1]),
        node_kind=node_kind,
        language=language,
        item_id=item_id,
        class_id=class_id,
        assignment_id=context.get("registration", context_ext.get(f"{base}/xapi/assignment")),
        response=result.get("response"),
        correct=result.get("success"),
        score=score,
        duration_ms=None if duration is None else parse_duration(duration),
        progress=result_ext.get(f"{base}/xapi/progress"),
        attempt=result_ext.get(f"{base}/xapi/attempt"),
    )


# --- formats ----------------------------------------------------------------------------------

def format_duration(duration_ms: int) -> str:
    """ISO 8601 duration in hours, minutes and seconds: 3723004 -> 'PT1H2M3.004S', 0 -> 'PT0S'."""
    if not _is_int(duration_ms) or duration_ms < 0:
        raise ValueError(f"duration must be an integer >= 0 ms, got {duration_ms!r}")
    hours, rest = divmod(duration_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if seconds or millis or not (hours or minutes):
        text += str(seconds)
        if millis:
            text += "." + f"{millis:03d}".rstrip("0")
        text += "S"
    return text


def parse_duration(text: str) -> int:
    """Milliseconds in an ISO 8601 duration of weeks, days, hours, minutes and seconds."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    if match["years"] or match["months"]:
        raise ValueError(f"{text!r}: years and months have no fixed length")
    factors = {"weeks": 604_800_000, "days": 86_400_000, "hours": 3_600_000,
               "minutes": 60_000, "seconds": 1000}
    total = sum((Decimal(match[name]) * factor for name, factor in factors.items()
                 if match[name]), Decimal(0))
    return int(total.to_integral_value())


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as precise as the datetime ('2024-05-01T08:30:00.250Z')."""
    if moment.utcoffset() is None:
        raise ValueError("timestamp must be an aware datetime")
    moment = moment.astimezone(timezone.utc)
    # %Y is not zero-padded on glibc (year 999 gives "999"): ISO 8601 and xAPI need four digits.
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    if moment.microsecond:
        fraction = f"{moment.microsecond:06d}"
        text += "." + (fraction[:3] if fraction.endswith("000") else fraction)
    return text + "Z"


def parse_timestamp(text: str) -> datetime:
    """An aware datetime from an ISO 8601 timestamp with a zone; finer than 1 µs is dropped."""
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        raise ValueError(f"{text!r} has no time zone")
    if zone == "Z":
        tz = timezone.utc
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                    tzinfo=tz)


# --- validating -------------------------------------------------------------------------------

def validate_statement(statement: Any) -> list[str]:
    """Problems with a statement under the xAPI 1.0.3 rules this module relies on ([] if none)."""
    if not isinstance(statement, dict):
        return ["statement: must be a JSON object"]
    problems: list[str] = []
    _check_nulls(statement, "", problems)
    for key in statement:
        if key not in _STATEMENT_KEYS:
            problems.append(f"statement: unknown property {key!r}")

    if "id" not in statement:
        problems.append("id: missing")
    elif statement["id"] is not None and not _is_uuid(statement["id"]):
        problems.append(f"id: not a UUID: {statement['id']!r}")

    for key in ("actor", "verb", "object"):
        if key not in statement:
            problems.append(f"{key}: missing")
    if statement.get("actor") is not None:
        _check_actor(statement["actor"], "actor", problems)
    if statement.get("verb") is not None:
        _check_verb(statement["verb"], problems)
    if statement.get("object") is not None:
        _check_object(statement["object"], "object", problems)
    if statement.get("result") is not None:
        _check_result(statement["result"], problems)
    if statement.get("context") is not None:
        _check_context(statement["context"], problems)
    for key in ("timestamp", "stored"):
        if statement.get(key) is not None:
            _check_timestamp(statement[key], key, problems)
    if statement.get("authority") is not None:
        _check_actor(statement["authority"], "authority", problems)
    version = statement.get("version")
    if version is not None and not (isinstance(version, str)
                                    and re.fullmatch(r"1\.0(?:\.\d+)?", version)):
        problems.append(f"version: {version!r} is not 1.0.x")
    return problems


def _check_nulls(value: Any, path: str, problems: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if item is None:
                problems.append(f"{child}: null value")
            else:
                _check_nulls(item, child, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            child = f"{path}[{index}]"
            if item is None:
                problems.append(f"{child}: null value")
            else:
                _check_nulls(item, child, problems)


def _check_actor(actor: Any, path: str, problems: list[str]) -> None:
    if not isinstance(actor, dict):
        problems.append(f"{path}: must be an object")
        return
    kind = actor.get("objectType", "Agent")
    if kind not in ("Agent", "Group"):
        problems.append(f"{path}.objectType: {kind!r} is not Agent or Group")
        return
    ifis = [key for key in _IFIS if actor.get(key) is not None]
    if kind == "Agent" and len(ifis) != 1:
        problems.append(f"{path}: has {len(ifis)} inverse functional identifiers "
                        f"({', '.join(ifis) or 'none'}), needs exactly one")
    if kind == "Group":
        if len(ifis) > 1:
            problems.append(f"{path}: has {len(ifis)} inverse functional identifiers "
                            f"({', '.join(ifis)}), needs at most one")
        if not ifis and not actor.get("member"):
            problems.append(f"{path}: an anonymous group needs members")
        for index, member in enumerate(actor.get("member") or []):
            _check_actor(member, f"{path}.member[{index}]", problems)
    if actor.get("name") is not None and not isinstance(actor["name"], str):
        problems.append(f"{path}.name: must be a string")
    mbox = actor.get("mbox")
    if mbox is not None and not (isinstance(mbox, str) and mbox.startswith("mailto:")):
        problems.append(f"{path}.mbox: {mbox!r} is not a mailto IRI")
    sha1 = actor.get("mbox_sha1sum")
    if sha1 is not None and not (isinstance(sha1, str) and re.fullmatch(r"[0-9a-fA-F]{40}", sha1)):
        problems.append(f"{path}.mbox_sha1sum: {sha1!r} is not a SHA-1 hex digest")
    openid = actor.get("openid")
    if openid is not None and not _is_iri(openid):
        problems.append(f"{path}.openid: {openid!r} is not an IRI")
    account = actor.get("account")
    if account is not None:
        if not isinstance(account, dict):
            problems.append(f"{path}.account: must be an object")
        else:
            if "homePage" not in account:
                problems.append(f"{path}.account.homePage: missing")
            elif account["homePage"] is not None and not _is_iri(account["homePage"]):
                problems.append(f"{path}.account.homePage: {account['homePage']!r} is not an IRI")
            if "name" not in account:
                problems.append(f"{path}.account.name: missing")
            elif account["name"] is not None and not (isinstance(account["name"], str)
                                                      and account["name"]):
                problems.append(f"{path}.account.name: must be a non-empty string")


def _check_verb(verb: Any, problems: list[str]) -> None:
    if not isinstance(verb, dict):
        problems.append("verb: must be an object")
        return
    if "id" not in verb:
        problems.append("verb.id: missing")
    elif verb["id"] is not None and not _is_iri(verb["id"]):
        problems.append(f"verb.id: {verb['id']!r} is not an IRI")
    if verb.get("display") is not None:
        _check_language_map(verb["display"], "verb.display", problems)


def _check_object(obj: Any, path: str, problems: list[str]) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{path}: must be an object")
        return
    kind = obj.get("objectType", "Activity")
    if kind in ("Agent", "Group"):
        _check_actor(obj, path, problems)
    elif kind == "StatementRef":
        if obj.get("id") is not None and not _is_uuid(obj["id"]):
            problems.append(f"{path}.id: not a UUID: {obj['id']!r}")
    elif kind == "Activity":
        _check_activity(obj, path, problems)
    elif kind != "SubStatement":
        problems.append(f"{path}.objectType: {kind!r} is not an xAPI object type")


def _check_activity(activity: Any, path: str, problems: list[str]) -> None:
    if not isinstance(activity, dict):
        problems.append(f"{path}: must be an object")
        return
    if activity.get("objectType", "Activity") != "Activity":
        problems.append(f"{path}.objectType: {activity['objectType']!r} is not Activity")
    if "id" not in activity:
        problems.append(f"{path}.id: missing")
    elif activity["id"] is not None and not _is_iri(activity["id"]):
        problems.append(f"{path}.id: {activity['id']!r} is not an IRI")
    definition = activity.get("definition")
    if definition is None:
        return
    if not isinstance(definition, dict):
        problems.append(f"{path}.definition: must be an object")
        return
    for key in ("type", "moreInfo"):
        if definition.get(key) is not None and not _is_iri(definition[key]):
            problems.append(f"{path}.definition.{key}: {definition[key]!r} is not an IRI")
    for key in ("name", "description"):
        if definition.get(key) is not None:
            _check_language_map(definition[key], f"{path}.definition.{key}", problems)
    if definition.get("extensions") is not None:
        _check_extensions(definition["extensions"], f"{path}.definition.extensions", problems)


def _check_result(result: Any, problems: list[str]) -> None:
    if not isinstance(result, dict):
        problems.append("result: must be an object")
        return
    score = result.get("score")
    if score is not None:
        if not isinstance(score, dict):
            problems.append("result.score: must be an object")
        else:
            _check_score(score, problems)
    for key in ("success", "completion"):
        if result.get(key) is not None and not isinstance(result[key], bool):
            problems.append(f"result.{key}: must be true or false")
    if result.get("response") is not None and not isinstance(result["response"], str):
        problems.append("result.response: must be a string")
    duration = result.get("duration")
    if duration is not None and not (isinstance(duration, str) and _DURATION.fullmatch(duration)):
        problems.append(f"result.duration: {duration!r} is not an ISO 8601 duration")
    if result.get("extensions") is not None:
        _check_extensions(result["extensions"], "result.extensions", problems)


def _check_score(score: dict[str, Any], problems: list[str]) -> None:
    numbers = {}
    for key in ("scaled", "raw", "min", "max"):
        value = score.get(key)
        if value is None:
            continue
        if not _is_number(value):
            problems.append(f"result.score.{key}: must be a number")
        else:
            numbers[key] = value
    if "scaled" in numbers and not -1 <= numbers["scaled"] <= 1:
        problems.append(f"result.score.scaled: {numbers['scaled']!r} is outside [-1, 1]")
    if "min" in numbers and "max" in numbers and not numbers["min"] < numbers["max"]:
        problems.append("result.score: min must be less than max")
    if "raw" in numbers:
        if "min" in numbers and numbers["raw"] < numbers["min"]:
            problems.append("result.score.raw: below min")
        if "max" in numbers and numbers["raw"] > numbers["max"]:
            problems.append("result.score.raw: above max")


def _check_context(context: Any, problems: list[str]) -> None:
    if not isinstance(context, dict):
        problems.append("context: must be an object")
        return
    registration = context.get("registration")
    if registration is not None and not _is_uuid(registration):
        problems.append(f"context.registration: not a UUID: {registration!r}")
    for key in ("instructor", "team"):
        if context.get(key) is not None:
            _check_actor(context[key], f"context.{key}", problems)
    for key in ("revision", "platform"):
        if context.get(key) is not None and not isinstance(context[key], str):
            problems.append(f"context.{key}: must be a string")
    language = context.get("language")
    if language is not None and not _is_langtag(language):
        problems.append(f"context.language: {language!r} is not an RFC 5646 language tag")
    ref = context.get("statement")
    if ref is not None:
        _check_object(ref, "context.statement", problems)
    activities = context.get("contextActivities")
    if activities is not None:
        if not isinstance(activities, dict):
            problems.append("context.contextActivities: must be an object")
        else:
            for key, value in activities.items():
                path = f"context.contextActivities.{key}"
                if key not in _CONTEXT_ACTIVITY_KEYS:
                    problems.append(f"{path}: not one of {', '.join(_CONTEXT_ACTIVITY_KEYS)}")
                    continue
                if value is None:
                    continue
                if isinstance(value, list):
                    for index, activity in enumerate(value):
                        if activity is not None:
                            _check_activity(activity, f"{path}[{index}]", problems)
                else:
                    _check_activity(value, path, problems)
    if context.get("extensions") is not None:
        _check_extensions(context["extensions"], "context.extensions", problems)


def _check_extensions(extensions: Any, path: str, problems: list[str]) -> None:
    if not isinstance(extensions, dict):
        problems.append(f"{path}: must be an object")
        return
    for key in extensions:
        if not _is_iri(key):
            problems.append(f"{path}: key {key!r} is not an IRI")


def _check_language_map(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{path}: must be a language map")
        return
    for key, text in value.items():
        if not _is_langtag(key):
            problems.append(f"{path}: key {key!r} is not an RFC 5646 language tag")
        if text is not None and not isinstance(text, str):
            problems.append(f"{path}.{key}: must be a string")


def _check_timestamp(value: Any, path: str, problems: list[str]) -> None:
    try:
        parse_timestamp(value)
    except ValueError:
        problems.append(f"{path}: {value!r} is not an ISO 8601 timestamp with a time zone")
        return
    zone = _TIMESTAMP.fullmatch(value).group(8)
    if zone.startswith("-") and not zone[1:].replace(":", "").strip("0"):
        problems.append(f"{path}: the offset -00:00 is not allowed")


# --- helpers ----------------------------------------------------------------------------------

def _platform(platform_iri: str) -> str:
    base = platform_iri.rstrip("/")
    if not _is_iri(base):
        raise ValueError(f"platform IRI {platform_iri!r} is not an IRI")
    return base


def _segment(value: str) -> str:
    """One IRI path segment for an id, whatever characters the id has."""
    return quote(value, safe="")


def _activity(iri: str, activity_type: str) -> dict[str, Any]:
    return {"objectType": "Activity", "id": iri, "definition": {"type": activity_type}}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _is_iri(value: Any) -> bool:
    return isinstance(value, str) and _IRI.fullmatch(value) is not None


def _is_langtag(value: Any) -> bool:
    return isinstance(value, str) and _LANGTAG.fullmatch(value) is not None
