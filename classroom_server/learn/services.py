"""Writing learning records: one durable, ordered, idempotent insert per interaction that matters.

This is the whole write path of a student's answer after scoring: nothing else happens on it.
The database runs with synchronous=FULL, so a record whose insert returned survives a power cut.
"""
from __future__ import annotations

import datetime
import re
import threading
import uuid
from dataclasses import dataclass

from ..db import database, is_sqlite
from ..domain.statements import LearningRecord as Statementable
from ..models import LearningRecord, User, utcnow

_WRITES = threading.Lock()
VERBS = ("opened", "progressed", "answered", "completed", "submitted", "read")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class RecordError(ValueError):
    """A record that cannot be stored as given (unknown verb, malformed id...)."""


def new_device_id() -> str:
    return str(uuid.uuid4())


def valid_device_id(value: str | None) -> bool:
    return bool(value) and bool(_UUID.match(value))


@dataclass(frozen=True)
class Interaction:
    """What happened, as the learn views describe it (scoring already done)."""
    verb: str
    pack_id: str
    node_id: str
    node_kind: str
    language: str
    item_id: str | None = None
    classroom: int | None = None
    assignment: str | None = None
    response: str | None = None
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
    if interaction.response is not None and len(interaction.response) > 2000:
        raise RecordError("the response is too long")


def record(user: User, device_id: str, interaction: Interaction, record_uuid: str | None = None,
           occurred_at: datetime.datetime | None = None) -> tuple[LearningRecord, bool]:
    """Store one record durably; (the record, whether it is new).

    `record_uuid` is made here for what happens online; an answer made offline brings the one its
    device made, so uploading it again changes nothing (the stored record comes back, not new).
    """
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
        response=interaction.response, correct=interaction.correct, score=interaction.score,
        duration_ms=interaction.duration_ms, progress=interaction.progress, attempt=interaction.attempt)
    # Two plain statements, no query building: this runs for every answer of every student.
    # IMMEDIATE: take the write lock at BEGIN, so two answers from one device cannot read the same
    # last sequence number (a deferred transaction would fail to upgrade its lock instead of waiting).
    # The threads of this process queue on a lock of our own first: SQLite's busy handler would make
    # them sleep and poll (1, 2, 5 ... 100 ms) while one fsync finishes.
    with _WRITES, (database.atomic(lock_type="IMMEDIATE") if is_sqlite() else database.atomic()):
        if client_made:
            existing = LearningRecord.get_or_none(LearningRecord.uuid == record_uuid)
            if existing is not None:
                return existing, False
        param = database.obj.param
        sequence = database.execute_sql(
            f"INSERT INTO device (id, created_at, last_sequence) VALUES ({param}, {param}, 1) "
            "ON CONFLICT (id) DO UPDATE SET last_sequence = device.last_sequence + 1 RETURNING last_sequence",
            (device_id, now)).fetchone()[0]
        row = LearningRecord(device_sequence=sequence, **fields)
        columns = [LearningRecord._meta.fields[name] for name in (*fields, "device_sequence")]
        values = [field.db_value(row.__data__.get(field.name)) for field in columns]
        row.seq = database.execute_sql(
            f"INSERT INTO learning_record ({', '.join(f.column_name for f in columns)}) "
            f"VALUES ({', '.join([param] * len(columns))}) RETURNING seq", values).fetchone()[0]
    return row, True


def statementable(row: LearningRecord, school_id: str) -> Statementable:
    """The stored record in the form domain.statements turns into an xAPI statement."""
    return Statementable(
        id=row.uuid, device_id=row.device_id, sequence=row.device_sequence,
        timestamp=row.occurred_at.replace(tzinfo=datetime.timezone.utc), learner=row.learner,
        school_id=school_id, verb=row.verb, pack_id=row.pack_id, node_id=row.node_id,
        node_kind=row.node_kind, item_id=row.item_id, language=row.language,
        class_id=str(row.classroom) if row.classroom is not None else None, assignment_id=row.assignment,
        response=row.response, correct=row.correct, score=row.score, duration_ms=row.duration_ms,
        progress=row.progress, attempt=row.attempt)
