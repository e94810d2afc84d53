"""The sync agent's state as the admin page and `classroom-sync status` show it.

The agent (`classroom-sync`, a separate process) writes `sync_state` and `sync_log`; this module only
reads them, and asks the agent for a sync by inserting a `sync_request` row, which the agent watches.
"""
from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field

from ..db import database
from ..models import LearningRecord, SyncLog, SyncRequest, SyncState, utcnow

#: what `last_error_code` means; docs/sync.md explains each one and what to do
ERROR_CODES = ("not_enrolled", "link_down", "hub_error", "wrong_ack", "clock", "auth", "revoked", "conflict",
               "hub_lost_records", "bad_record", "disk")


@dataclass(frozen=True)
class Attempt:
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    ok: bool | None  # None: still running (or the agent stopped before it could say)
    error: str | None
    error_code: str | None
    records: int
    bytes: int


@dataclass(frozen=True)
class SyncStatus:
    enrolled: bool
    hub_url: str | None
    school_id: str | None
    acked_seq: int
    last_seq: int  # the school's newest record
    waiting: int  # records after the acknowledged cursor: still to send
    last_success_at: datetime.datetime | None
    last_attempt_at: datetime.datetime | None
    last_error: str | None
    last_error_code: str | None
    bytes_sent: int
    records_sent: int
    batch_size: int
    agent_version: str | None
    pending_requests: int
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain JSON values (times as ISO 8601 UTC)."""
        def plain(value):
            if isinstance(value, datetime.datetime):
                return value.replace(microsecond=0).isoformat() + "Z"
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value
        return plain(asdict(self))


def state_row() -> SyncState:
    """The agent's one row (made if a database lacks it)."""
    row = SyncState.get_or_none(SyncState.id == 1)
    if row is None:
        row, _ = SyncState.get_or_create(id=1)
    return row


def sync_status(attempts: int = 10) -> SyncStatus:
    state = SyncState.get_or_none(SyncState.id == 1) or SyncState(id=1)
    acked = state.acked_seq or 0
    last_seq = LearningRecord.select(LearningRecord.seq).order_by(LearningRecord.seq.desc()).scalar() or 0
    waiting = LearningRecord.select().where(LearningRecord.seq > acked).count() if last_seq > acked else 0
    recent = [Attempt(row.started_at, row.finished_at, row.ok, row.error, row.error_code, row.records, row.bytes)
              for row in SyncLog.select().order_by(SyncLog.id.desc()).limit(attempts)]
    return SyncStatus(
        enrolled=bool(state.hub_url and state.school_id), hub_url=state.hub_url, school_id=state.school_id,
        acked_seq=acked, last_seq=last_seq, waiting=waiting, last_success_at=state.last_success_at,
        last_attempt_at=state.last_attempt_at, last_error=state.last_error, last_error_code=state.last_error_code,
        bytes_sent=state.bytes_sent or 0, records_sent=state.records_sent or 0, batch_size=state.batch_size or 0,
        agent_version=state.agent_version,
        pending_requests=SyncRequest.select().where(SyncRequest.done_at.is_null()).count(),
        attempts=recent)


def request_sync(requested_by: str | None) -> SyncRequest:
    """Ask the agent to sync now; one waiting request is enough, so a second click adds nothing."""
    with database.atomic():
        pending = SyncRequest.select().where(SyncRequest.done_at.is_null()).order_by(SyncRequest.id).first()
        if pending is not None:
            return pending
        return SyncRequest.create(requested_at=utcnow(), requested_by=requested_by)
