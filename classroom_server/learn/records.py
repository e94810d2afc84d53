"""The learning-record store: writing records and turning a stored record into its xAPI statement.

`record` is one durable, ordered, idempotent insert per interaction that matters: the whole write
path of a student's answer after scoring, nothing else happens on it. The database runs with
synchronous=FULL, so a record whose insert returned survives a power cut.

`statement_for` maps a stored row to the xAPI statement the national platform receives (through the
pure `domain.statements`); coach's export and the sync agent both send what it makes.
"""
from __future__ import annotations

import datetime
import functools
import re
import uuid
from dataclasses import dataclass

from peewee import (AutoField, BooleanField, CharField, DateTimeField, Field, FloatField, ForeignKeyField,
                    IntegerField, TextField)

from ..accounts.services import FIRST_CLASSROOM_SQL
from ..db import GroupCommit, run_sql
from ..domain.statements import PlainRecord, to_statement
from ..models import LearningRecord, User, utcnow

VERBS = ("opened", "progressed", "answered", "completed", "submitted", "read")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class RecordError(ValueError):
    """A record that cannot be stored as given (unknown verb, malformed id...)."""


class NoTriesLeft(RecordError):
    """The answer would be one try more than the exercise allows (counted inside the write)."""


def new_device_id() -> str:
    return str(uuid.uuid4())


def valid_device_id(value: str | None) -> bool:
    return bool(value) and bool(_UUID.match(value))


class _FirstClass:
    """`Interaction.classroom` for "the student's first class, when the record is stored"."""

    def __repr__(self) -> str:
        return "FIRST_CLASS"


# What a record made at the school names as its class: looked up by the record's own INSERT, not by a
# query of each request before it (each query hands the GIL to another request thread and waits to
# get it back) nor by one more statement of the group's write (which holds the school's write lock).
FIRST_CLASS = _FirstClass()


@dataclass(frozen=True)
class Interaction:
    """What happened, as the learn views describe it (scoring already done)."""
    verb: str
    pack_id: str
    node_id: str
    node_kind: str
    language: str
    item_id: str | None = None
    classroom: int | _FirstClass | None = None  # FIRST_CLASS: the student's, when stored
    assignment: str | None = None
    response: str | None = None
    typed: str | None = None  # a typed number or text exactly as typed (scoring.Scored.typed)
    correct: bool | None = None
    score: float | None = None
    duration_ms: int | None = None
    progress: float | None = None
    attempt: int | None = None


def _check(interaction: Interaction, record_uuid: str) -> None:
    if interaction.verb not in VERBS:
        raise RecordError(f"unknown verb {interaction.verb!r}")
    if not _UUID.match(record_uuid):
        raise RecordError("a record id is a lowercase UUID")
    if (interaction.item_id is None) != (interaction.verb != "answered"):
        raise RecordError("an answer names its item, and only an answer does")
    if len(interaction.response or "") > 2000 or len(interaction.typed or "") > 2000:
        raise RecordError("the response is too long")


def record(user: User, device_id: str, interaction: Interaction, record_uuid: str | None = None,
           occurred_at: datetime.datetime | None = None, tries_allowed: int | None = None) -> tuple[LearningRecord, bool]:
    """Store one record durably; (the record, whether it is new).

    `record_uuid` is made here for what happens online; an answer made offline brings the one its
    device made, so uploading it again changes nothing (the stored record comes back, not new).
    A practice answer (verb answered, no assignment, with an attempt) gets its attempt number
    counted again inside the write transaction, so two answers to one item at the same moment
    (a double tap, two devices, two worker processes) are numbered 1 and 2, never 1 and 1; with
    `tries_allowed`, one beyond it raises NoTriesLeft and is not stored.
    """
    stored, new = _GROUP.run(_pending(user, device_id, interaction, record_uuid, occurred_at, tries_allowed))
    # Made here, in the thread that asked, not by the group's leader: most writers never look at it.
    row = stored if isinstance(stored, LearningRecord) else LearningRecord(__no_default__=1, **stored)
    return row, new


def store(user: User, device_id: str, interaction: Interaction, record_uuid: str | None = None) -> bool:
    """`record` for a caller that does not look at the stored record: whether it is new.

    The same write, as durable (it returns once committed); it only makes no model object of it.
    """
    return _GROUP.run(_pending(user, device_id, interaction, record_uuid, None, None))[1]


def store_soon(user: User, device_id: str, interaction: Interaction) -> None:
    """Store a record nobody is told about (a page was opened) without holding the caller to the commit.

    When a group is being written, the record is queued for the next one and this returns at once:
    the page is sent while the record is stored, a few milliseconds later (db.GroupCommit). A power
    cut in those milliseconds loses it; an answer, which the student is told was saved, never goes
    this way.
    """
    _GROUP.run(_pending(user, device_id, interaction, None, None, None), wait=False)


def _pending(user: User, device_id: str, interaction: Interaction, record_uuid: str | None,
             occurred_at: datetime.datetime | None, tries_allowed: int | None) -> _Pending:
    client_made = record_uuid is not None
    record_uuid = record_uuid or str(uuid.uuid4())
    _check(interaction, record_uuid)
    if not valid_device_id(device_id):
        raise RecordError("a device id is a lowercase UUID")
    now = utcnow()
    fields = dict(
        uuid=record_uuid, device=device_id, created_at=now, occurred_at=occurred_at or now, user=user.id,
        learner=user.pseudonym, verb=interaction.verb, pack_id=interaction.pack_id,
        node_id=interaction.node_id, node_kind=interaction.node_kind, item_id=interaction.item_id,
        language=interaction.language, classroom=interaction.classroom, assignment=interaction.assignment,
        response=interaction.response, typed=interaction.typed, correct=interaction.correct, score=interaction.score,
        duration_ms=interaction.duration_ms, progress=interaction.progress, attempt=interaction.attempt)
    # Answers that arrive together share one transaction and one fsync (db.GroupCommit); `run`
    # returns once the commit that holds this record is done.
    return _Pending(fields, client_made, tries_allowed)


@dataclass(frozen=True)
class _Pending:
    fields: dict
    client_made: bool  # its uuid came from the device: it may be stored already
    tries_allowed: int | None = None


def _counts_tries(fields: dict) -> bool:
    return fields["verb"] == "answered" and fields["assignment"] is None and fields["attempt"] is not None


def _number_attempts(group: list[_Pending], indexes: list[int]) -> None:
    """Number the practice answers among `indexes` from the answers stored (inside the write lock).

    Each student's answers to an item are counted once per group (the report index covers the
    count); the group's own writes follow in order. Raises NoTriesLeft for a write beyond its
    exercise's tries.
    """
    counted = [index for index in indexes if _counts_tries(group[index].fields)]
    if not counted:
        return
    # One indexed count per student and item (a row-value IN over all of them scans the table).
    count = ("SELECT COUNT(*) FROM learning_record WHERE user_id = ? AND verb = 'answered' AND pack_id = ?"
             " AND node_id = ? AND item_id = ? AND assignment IS NULL")
    found: dict[tuple, int] = {}
    for index in counted:
        fields = group[index].fields
        key = (fields["user"], fields["pack_id"], fields["node_id"], fields["item_id"])
        if key not in found:
            found[key] = run_sql(count, key).fetchone()[0]
    for index in counted:
        pending = group[index]
        key = (pending.fields["user"], pending.fields["pack_id"], pending.fields["node_id"], pending.fields["item_id"])
        found[key] = found.get(key, 0) + 1
        if pending.tries_allowed is not None and found[key] > pending.tries_allowed:
            raise NoTriesLeft(f"all {pending.tries_allowed} tries are used")
        pending.fields["attempt"] = found[key]


# What the group gives each write back: the stored row's values (seq included) for a record stored
# now, the model object read for one stored before (an offline record uploaded again); and whether
# it is new.
_Stored = tuple["dict | LearningRecord", bool]


def _store(group: list[_Pending]) -> list[_Stored]:
    """Store a group of records with three statements, inside the group's IMMEDIATE transaction.

    The transaction holds SQLite's write lock, so no other writer can take the same device
    sequence numbers. Plain SQL, no query building: this runs for every answer of every student.
    """
    results: list[_Stored | None] = [None] * len(group)
    client_made = [pending.fields["uuid"] for pending in group if pending.client_made]
    known = ({row.uuid: row for row in LearningRecord.select().where(LearningRecord.uuid.in_(client_made))}
             if client_made else {})
    fresh: dict[str, int] = {}  # uuid -> index of the write that stores it
    again: list[int] = []  # the same offline record twice in one group: stored once
    for index, pending in enumerate(group):
        record_uuid = pending.fields["uuid"]
        if record_uuid in known:
            results[index] = (known[record_uuid], False)
        elif record_uuid in fresh:
            again.append(index)
        else:
            fresh[record_uuid] = index
    if fresh:
        _number_attempts(group, list(fresh.values()))
        rows = [group[index].fields for index in fresh.values()]
        per_device: dict[str, int] = {}  # how many records each device numbers now
        for fields in rows:
            per_device[fields["device"]] = per_device.get(fields["device"], 0) + 1
        last = dict(run_sql(
            _count_devices_sql(len(per_device)),
            [value for device, count in per_device.items() for value in (device, rows[0]["created_at"], count)]))
        following = {device: last[device] - count + 1 for device, count in per_device.items()}
        values = []
        params: list = []
        for fields in rows:
            row = {**fields, "device_sequence": following[fields["device"]]}
            following[fields["device"]] += 1
            values.append(row)
            for name, own_type, db_value in _COLUMNS:
                value = row[name]
                if name == "classroom":  # three values (_CLASS_VALUE): look it up?, whose, else the class
                    first = value is FIRST_CLASS
                    params += (1 if first else 0, row["user"] if first else None)
                    if first:
                        value = None
                params.append(value if value is None or type(value) is own_type else db_value(value))
        stored = {record_id: (seq, classroom) for record_id, seq, classroom in run_sql(
            _insert_sql(len(values)), params)}
        for row, index in zip(values, fresh.values()):
            row["seq"], row["classroom"] = stored[row["uuid"]]
            results[index] = (row, True)
    for index in again:
        results[index] = (results[fresh[group[index].fields["uuid"]]][0], False)
    return results  # type: ignore[return-value]


def _store_one(pending: _Pending) -> _Stored:
    return _store([pending])[0]


@functools.lru_cache(maxsize=64)
def _count_devices_sql(devices: int) -> str:
    """Add each device's new records to its count; its last number after them."""
    return ("INSERT INTO device (id, created_at, last_sequence) VALUES " + ", ".join(["(?, ?, ?)"] * devices)
            + " ON CONFLICT (id) DO UPDATE SET last_sequence = device.last_sequence + excluded.last_sequence"
            " RETURNING id, last_sequence")


# A row's class: the student's first, looked up (1, the user's id, NULL), or the one given (0, NULL,
# the class or NULL). One statement per group size whatever its rows name, so that a group mixing
# quiz answers (their class given) with page views (looked up) is not a statement of its own.
_CLASS_VALUE = f"CASE ? WHEN 1 THEN {FIRST_CLASSROOM_SQL} ELSE ? END"


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    """One INSERT of `rows` rows, each of _COLUMNS with its class as _CLASS_VALUE."""
    row = "(" + ", ".join(_CLASS_VALUE if name == "classroom" else "?" for name, _, _ in _COLUMNS) + ")"
    return (f"INSERT INTO learning_record ({_COLUMN_NAMES}) VALUES " + ", ".join([row] * rows)
            + " RETURNING uuid, seq, classroom")


# The field classes whose db_value gives a value of this Python type back unchanged (exact classes:
# a subclass may convert, as FixedCharField strips).
_UNCHANGED = {CharField: str, TextField: str, DateTimeField: datetime.datetime, BooleanField: bool,
              FloatField: float, IntegerField: int, AutoField: int}


def _own_type(field: Field) -> type | None:
    """The Python type whose values `field.db_value` gives back unchanged (None: call it always)."""
    if type(field) is ForeignKeyField:
        field = field.rel_field
    return _UNCHANGED.get(type(field))


_GROUP: GroupCommit[_Pending, _Stored] = GroupCommit(_store, _store_one)
# (name, type, db_value) per column. A value of the column's own type (or None) is stored as it
# is, which is what db_value would give back; any other (an int for a text column) goes through
# db_value, as peewee would convert it: the same stored values, without two calls per column.
_COLUMNS = [(name, _own_type(LearningRecord._meta.fields[name]), LearningRecord._meta.fields[name].db_value)
            for name in ("uuid", "device", "created_at", "occurred_at", "user", "learner", "verb", "pack_id",
                         "node_id", "node_kind", "item_id", "language", "classroom", "assignment", "response",
                         "typed", "correct", "score", "duration_ms", "progress", "attempt", "device_sequence")]
_COLUMN_NAMES = ", ".join(LearningRecord._meta.fields[name].column_name for name, _, _ in _COLUMNS)


def plain_record(row: LearningRecord, school_id: str) -> PlainRecord:
    """The stored record as plain data, the form domain.statements maps to and from xAPI."""
    return PlainRecord(
        id=row.uuid, device_id=row.device_id, sequence=row.device_sequence,
        timestamp=row.occurred_at.replace(tzinfo=datetime.timezone.utc), learner=row.learner,
        school_id=school_id, verb=row.verb, pack_id=row.pack_id, node_id=row.node_id,
        node_kind=row.node_kind, item_id=row.item_id, language=row.language,
        class_id=str(row.classroom) if row.classroom is not None else None, assignment_id=row.assignment,
        response=row.response, correct=row.correct, score=row.score, duration_ms=row.duration_ms,
        progress=row.progress, attempt=row.attempt)


def statement_for(row: LearningRecord, school_id: str, platform_iri: str) -> dict:
    """The xAPI statement for a stored record; domain.statements.InvalidRecord if it cannot be one."""
    return to_statement(plain_record(row, school_id), platform_iri)
