"""The records step: every learning record after the cursor goes to the hub, exactly once.

Ping the hub (cheap; also shows a clock far off), ask it for the cursor it holds, then send the
records after the cursor in gzip batches ordered by sequence, moving the cursor only to what the hub
acknowledges. A cut at any point loses nothing: the next sync starts after the cursor and the hub
stores by UUID, so a batch sent twice changes nothing. Each attempt is kept in `sync_state` and
`sync_log` for the admin page and `classroom-sync status`.
"""
from __future__ import annotations

import copy
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.admin.sync import state_row
from classroom_server.db import database
from classroom_server.domain.statements import InvalidRecord
from classroom_server.learn.records import statement_for
from classroom_server.models import LearningRecord, SyncLog, SyncState, utcnow
from classroom_server.settings import Settings
from sync import __version__, protocol

from .client import HubClient, SyncFailure, is_count, read_secret

log = logging.getLogger(__name__)

CURSOR_PATH = "/api/v1/records/cursor"
RECORDS_PATH = "/api/v1/records"
LOG_KEEP = 500  # sync_log rows kept


@dataclass
class Outcome:
    """What one sync attempt did."""
    ok: bool
    records: int = 0  # newly acknowledged by the hub
    bytes: int = 0  # request bodies sent
    batches: int = 0
    resent_batches: int = 0  # batches holding records this agent had sent before (after a failure)
    resent_records: int = 0
    in_flight: int = 0  # records of the batch being sent when the attempt failed (0: none)
    waiting: int = 0  # records still after the cursor at the end
    error: str | None = None
    code: str | None = None
    skipped: str | None = None  # why nothing was tried (outside hours, another sync running)
    roster_error: str | None = None  # the roster step's failure: its own, the records went through


class Records:
    """The records step of one agent: keeps the batch size it learnt and the highest sequence it has
    posted (later posts below it are re-sends) from one attempt to the next."""

    def __init__(self, client: HubClient):
        self.client = client
        self.sizer: protocol.BatchSizer | None = None
        self.sent_high = 0

    def cursor(self, hub_url: str, school_id: str, secret: str) -> int:
        """The highest contiguous sequence the hub holds for this school (a signed request)."""
        status, data, what = self.client.request("GET", hub_url, CURSOR_PATH, signed=(school_id, secret))
        self.client.check_signed(status, data, what, hub_url)
        acked = (data or {}).get("acked")
        if status != 200 or not is_count(acked):
            raise SyncFailure("hub_error", f"{hub_url}{CURSOR_PATH} answered {what} without a cursor: check the "
                                           f"hub URL; a captive portal or a proxy may be in the way")
        return acked

    def post_batch(self, hub_url: str, school_id: str, secret: str, body: bytes) -> tuple[int, dict | None, str]:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        status, data, what = self.client.request("POST", hub_url, RECORDS_PATH, body, headers, signed=(school_id, secret))
        self.client.check_signed(status, data, what, hub_url)
        return status, data, what

    def begin(self) -> int:
        """Record that an attempt starts. If the state cannot be written (disk full), nothing is sent:
        the cursor could not move, so sending would only spend the link."""
        now = utcnow()
        try:
            with database.atomic():
                state_row()
                SyncState.update(last_attempt_at=now, agent_version=__version__, updated_at=now) \
                    .where(SyncState.id == 1).execute()
                return SyncLog.insert(started_at=now).execute()
        except PeeweeDatabaseError as exc:
            raise SyncFailure("disk", f"cannot write the sync state to the school database ({exc}); nothing was "
                                      f"sent. {disk_hint(exc, self.client.settings)}") from None

    def _save_cursor(self, acked: int, sent_bytes: int, new_records: int, log_id: int | None) -> None:
        now = utcnow()
        try:
            with database.atomic():
                SyncState.update(acked_seq=acked, bytes_sent=SyncState.bytes_sent + sent_bytes,
                                 records_sent=SyncState.records_sent + new_records,
                                 batch_size=self.sizer.size if self.sizer else SyncState.batch_size,
                                 updated_at=now).where(SyncState.id == 1).execute()
                if log_id is not None:
                    SyncLog.update(records=SyncLog.records + new_records, bytes=SyncLog.bytes + sent_bytes) \
                        .where(SyncLog.id == log_id).execute()
        except PeeweeDatabaseError as exc:
            raise SyncFailure("disk", f"the hub acknowledged records up to {acked} but the school database cannot "
                                      f"record it ({exc}); nothing is lost: the next sync asks the hub again. "
                                      f"{disk_hint(exc, self.client.settings)}") from None

    def finish(self, outcome: Outcome, log_id: int | None) -> None:
        now = utcnow()
        try:
            with database.atomic():
                changes = dict(updated_at=now, last_error=outcome.error, last_error_code=outcome.code)
                if outcome.ok:
                    changes["last_success_at"] = now
                if self.sizer is not None:
                    changes["batch_size"] = self.sizer.size
                SyncState.update(**changes).where(SyncState.id == 1).execute()
                if log_id is not None:
                    SyncLog.update(finished_at=now, ok=outcome.ok, error=outcome.error, error_code=outcome.code) \
                        .where(SyncLog.id == log_id).execute()
                    SyncLog.delete().where(SyncLog.id <= log_id - LOG_KEEP).execute()
        except PeeweeDatabaseError as exc:
            log.error("cannot record the sync attempt in the school database: %s (%s)", exc,
                      outcome.error or "the attempt itself went well")

    def push(self, outcome: Outcome, say: Callable[[str], None], keep_going: Callable[[], bool],
              log_id: int | None) -> None:
        state = state_row()
        if not (state.hub_url and state.school_id):
            raise SyncFailure("not_enrolled", "this school is not enrolled: run `classroom-sync enroll --hub URL "
                                              "--school-id ID --secret-file F --national-key FINGERPRINT`")
        secret = read_secret(self.client.settings)
        hub, school = state.hub_url, state.school_id
        if self.sizer is None:
            self.sizer = protocol.BatchSizer(start=state.batch_size or 200)
        started = time.monotonic()
        info, skew = self.client.ping(hub)
        say(f"hub {hub} is up ({info.get('hub') or 'no name'}; clocks differ by {abs(skew):.1f} s)")
        cursor = state.acked_seq or 0
        last_seq = LearningRecord.select(LearningRecord.seq).order_by(LearningRecord.seq.desc()).scalar() or 0
        held = self.cursor(hub, school, secret)
        if held > last_seq:
            raise SyncFailure("conflict", f"the hub holds records up to {held} for school {school}, but this database "
                                          f"has only {last_seq}: it may have been restored from an old backup, or "
                                          f"enrolled with another school's id. Nothing was sent; ask the national "
                                          f"platform")
        if held < cursor:
            raise SyncFailure("hub_lost_records", f"the hub holds records only up to {held} but acknowledged up to "
                                                  f"{cursor} before: it may have lost records. Nothing was sent. "
                                                  f"When the national platform confirms, run `classroom-sync "
                                                  f"rewind` to send them again")
        if held > cursor:
            say(f"the hub already holds records up to {held} (an acknowledgement was lost on the way)")
            self._save_cursor(held, 0, held - cursor, log_id)
            outcome.records += held - cursor
            cursor = held
        waiting = last_seq - cursor
        say(f"{waiting} record(s) to send after {cursor}")
        # While one batch is on the link, the next is read and compressed (CPU the link would
        # otherwise wait for); it is used only if the hub acknowledges the whole batch before it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="classroom-sync-batch") as pool:
            try:
                batch = prepare_batch(cursor, self.sizer.size, school, hub)
                elapsed = 0.0
                while batch is not None and keep_going() and not self.client.stopping.is_set():
                    if len(batch.body) > protocol.MAX_BODY_BYTES and batch.count > 1:
                        self.sizer.size = max(self.sizer.minimum, batch.count // 2)
                        batch = prepare_batch(cursor, self.sizer.size, school, hub)
                        continue
                    following = pool.submit(prepare_batch, batch.last, self._size_if_fine(elapsed), school, hub)
                    acked, elapsed = self._send(batch, cursor, hub, school, secret, outcome, say)
                    if acked is None:  # refused as too large: smaller, and again
                        following.cancel()
                        batch = prepare_batch(cursor, self.sizer.size, school, hub)
                        continue
                    self._save_cursor(acked, len(batch.body), acked - cursor, log_id)
                    outcome.records += acked - cursor
                    cursor = acked
                    waiting = max(0, last_seq - cursor)
                    say(f"sent records {batch.first}-{batch.last} ({batch.count}, {len(batch.body)} bytes in "
                        f"{elapsed:.2f} s); hub acknowledged up to {acked}; {waiting} waiting; next batch "
                        f"{self.sizer.size}")
                    self._respect_cap(len(batch.body), elapsed)
                    if acked == batch.last:
                        batch = following.result()
                    else:  # the hub took only part of it: go on from what it acknowledged
                        following.cancel()
                        batch = prepare_batch(cursor, self.sizer.size, school, hub)
                    if cursor >= last_seq:  # newer records may have come meanwhile
                        last_seq = LearningRecord.select(LearningRecord.seq).order_by(
                            LearningRecord.seq.desc()).scalar() or 0
            finally:
                pool.submit(database.close)  # the helper thread's own connection
        outcome.waiting = LearningRecord.select().where(LearningRecord.seq > cursor).count()
        say(f"done in {time.monotonic() - started:.1f} s: {outcome.records} record(s) acknowledged, "
            f"{outcome.bytes} bytes sent, {outcome.waiting} waiting")

    def _size_if_fine(self, elapsed: float) -> int:
        """The batch size after one more success taking `elapsed` seconds (the sizer left as it is)."""
        preview = copy.copy(self.sizer)
        preview.success(elapsed)
        return preview.size

    def _send(self, batch: OutgoingBatch, cursor: int, hub: str, school: str, secret: str, outcome: Outcome,
              say: Callable[[str], None]) -> tuple[int | None, float]:
        """POST one batch; (the hub's acknowledgement, seconds taken), (None, ...) when the hub found
        it too large. Raises SyncFailure for anything else, the cursor untouched."""
        if batch.first <= self.sent_high:
            outcome.resent_batches += 1
            outcome.resent_records += min(batch.last, self.sent_high) - batch.first + 1
        self.sent_high = max(self.sent_high, batch.last)
        outcome.in_flight = batch.count
        t0 = time.monotonic()
        try:
            status, data, what = self.post_batch(hub, school, secret, batch.body)
        except SyncFailure as exc:
            if exc.code == "link_down":
                self.sizer.failure()
            raise
        elapsed = time.monotonic() - t0
        outcome.batches += 1
        outcome.bytes += len(batch.body)
        if status == 413:
            if self.sizer.size <= self.sizer.minimum:
                raise SyncFailure("hub_error", f"the hub refuses even {batch.count} record(s) as too large ({what})")
            self.sizer.failure()
            say(f"the hub found {batch.count} records too large; trying {self.sizer.size}")
            return None, elapsed
        acked = (data or {}).get("acked")
        first, last = batch.first, batch.last
        if status != 200 or not is_count(acked):
            detail = f": {data.get('message') or data.get('error')}" if data else ""
            raise SyncFailure("hub_error", f"the hub answered the batch of records {first}-{last} with {what}{detail}")
        if acked > last:
            raise SyncFailure("wrong_ack", f"the hub acknowledged records up to {acked}, but only up to {last} were "
                                           f"sent: the cursor stays at {cursor}. The hub is misbehaving; tell the "
                                           f"national platform")
        if acked < cursor:
            raise SyncFailure("wrong_ack", f"the hub acknowledged records only up to {acked}, below the {cursor} it "
                                           f"acknowledged before: the cursor stays. The hub may have lost records; "
                                           f"tell the national platform")
        if acked == cursor:
            gap = (f"; records {cursor + 1}-{first - 1} are missing from this database's numbering, and the hub "
                   f"acknowledges only an unbroken run" if first > cursor + 1 else "")
            raise SyncFailure("wrong_ack", f"the hub took records {first}-{last} but acknowledged none of them "
                                           f"(still {cursor}){gap}: it will be tried again")
        self.sizer.success(elapsed)
        outcome.in_flight = 0
        return acked, elapsed

    def _respect_cap(self, sent: int, elapsed: float) -> None:
        cap = self.client.settings.sync_bandwidth_bytes_per_second
        if cap > 0:
            pause = sent / cap - elapsed
            if pause > 0:
                self.client.stopping.wait(pause)


@dataclass(frozen=True)
class OutgoingBatch:
    """Records ready to send: the request body and the sequence numbers it holds (the hub decodes the
    body into a protocol.DecodedBatch)."""
    first: int
    last: int
    count: int
    body: bytes


def prepare_batch(after: int, size: int, school_id: str, platform_iri: str) -> OutgoingBatch | None:
    """Up to `size` records after sequence `after`, as xAPI statements in one gzip batch (None: none)."""
    rows = list(LearningRecord.select().where(LearningRecord.seq > after).order_by(LearningRecord.seq).limit(size))
    if not rows:
        return None
    records = []
    for row in rows:
        try:
            statement = statement_for(row, school_id, platform_iri)
        except InvalidRecord as exc:
            raise SyncFailure("bad_record", f"record {row.seq} ({row.uuid}) cannot be made into an xAPI statement: "
                                            f"{exc}. This is a bug in classroom-server: report it; later records "
                                            f"wait behind it") from None
        records.append({"seq": row.seq, "uuid": row.uuid, "statement": statement})
    return OutgoingBatch(rows[0].seq, rows[-1].seq, len(rows), protocol.encode_batch(school_id, __version__, records))


def disk_hint(exc: Exception, settings: Settings) -> str:
    """What to do about a write the school database refused."""
    if "locked" in str(exc) or "busy" in str(exc):
        return "The database was busy for too long; the agent tries again later"
    return f"Free disk space where {settings.data_dir} is (`df -h`), or fix its permissions"
