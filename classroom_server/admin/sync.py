"""The sync agent's state as the admin page and `classroom-sync status` show it.

The agent (`classroom-sync`, a separate process) writes `sync_state` and `sync_log`; this module only
reads them, and asks the agent for a sync by inserting a `sync_request` row, which the agent watches.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field

from peewee import DatabaseError as PeeweeDatabaseError

from ..db import database
from ..models import (ContentDownload, ContentPack, LearningRecord, SchoolSetting, SyncLog, SyncRequest, SyncState,
                      utcnow)
from ..settings import hour_windows

#: what `last_error_code` means; docs/sync.md explains each one and what to do
ERROR_CODES = ("not_enrolled", "link_down", "hub_error", "wrong_ack", "clock", "auth", "revoked", "conflict",
               "hub_lost_records", "bad_record", "disk", "unauthenticated", "insecure")


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
class Download:
    """A content pack the agent fetches (a content_download row), as the pages show it."""
    pack_id: str
    version: str
    title: dict
    previous_version: str | None
    state: str  # models.DOWNLOAD_STATES
    bytes_total: int
    bytes_received: int
    bytes_downloaded: int
    speed: float  # bytes per second lately (0 when not moving)
    eta_seconds: float | None  # at that speed; None when not moving
    error: str | None
    started_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    finished_at: datetime.datetime | None

    @property
    def percent(self) -> int:
        return int(100 * self.bytes_received / self.bytes_total) if self.bytes_total else 0

    @property
    def eta(self) -> datetime.timedelta | None:
        return datetime.timedelta(seconds=round(self.eta_seconds)) if self.eta_seconds is not None else None


@dataclass(frozen=True)
class Update:
    """A pack in the hub's last catalog that this school lacks, or has at an older version."""
    pack_id: str
    version: str
    title: dict
    size: int
    installed_version: str | None


#: school_setting keys the sync agent writes: the national signing keys and the last catalog
KEYS_SETTING = "sync.national_keys"
CATALOG_SETTING = "sync.catalog"
#: how the agent trusts the hub (sync/agent/trust.py): the pinned key's fingerprint, an allowed http:// hub
TRUST_SETTING = "sync.trust"
#: what happened to that trust: keys pinned, followed, dropped or refused; hub answers refused
TRUST_EVENTS_SETTING = "sync.trust_events"
#: trust event kinds that need a person (the admin page shows them as a warning)
TRUST_WARNINGS = ("dropped", "unvouched", "bad_rotation", "unauthenticated", "insecure", "no_key")
log = logging.getLogger(__name__)
STALE_DOWNLOAD = datetime.timedelta(minutes=2)  # a "downloading" row not written for this long is stopped


def national_keys() -> tuple[str, ...]:
    """The national platform's signing keys the agent stored at enrolment (and refreshes)."""
    row = SchoolSetting.get_or_none(SchoolSetting.key == KEYS_SETTING)
    try:
        keys = json.loads(row.value) if row is not None else []
    except ValueError:
        return ()
    return tuple(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else ()


@dataclass(frozen=True)
class NationalKey:
    key: str  # base64 Ed25519 public key
    fingerprint: str  # what the ministry hands out (content_packs.signing.fingerprint)
    pinned: bool  # the one given at enrolment (or `classroom-sync keys pin`)


@dataclass(frozen=True)
class TrustEvent:
    at: datetime.datetime | None
    kind: str  # pinned, rotated, dropped, unvouched, bad_rotation, unauthenticated, insecure, legacy, no_key
    message: str  # English, for the IT person
    fingerprint: str | None
    count: int  # the same event this many times in a row (refused answers repeat at every sync)

    @property
    def warning(self) -> bool:
        return self.kind in TRUST_WARNINGS


def key_fingerprint(key: str) -> str:
    """content_packs.signing.fingerprint, for pages that must not import the signing library."""
    try:
        digest = hashlib.sha256(base64.b64decode(key, validate=True)).hexdigest()
    except ValueError:
        return "?"
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def _setting_json(key: str, default):
    row = SchoolSetting.get_or_none(SchoolSetting.key == key)
    try:
        value = json.loads(row.value) if row is not None else default
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def trust_config() -> dict:
    """The agent's trust settings: {"pinned": fingerprint, "insecure_http": hub URL, ...}; {} before the
    agent wrote any (a school enrolled by an older agent)."""
    return _setting_json(TRUST_SETTING, {})


def trusted_national_keys() -> list[NationalKey]:
    pinned = (trust_config().get("pinned") or "").replace(" ", "")
    return [NationalKey(k, key_fingerprint(k), key_fingerprint(k).replace(" ", "") == pinned)
            for k in national_keys()]


def trust_events(limit: int = 10) -> list[TrustEvent]:
    """The newest first."""
    out = []
    for event in reversed(_setting_json(TRUST_EVENTS_SETTING, [])[-limit:]):
        if not isinstance(event, dict):
            continue
        try:
            at = datetime.datetime.fromisoformat(str(event.get("at", "")).rstrip("Z"))
        except ValueError:
            at = None
        out.append(TrustEvent(at, str(event.get("kind", "")), str(event.get("message", "")),
                              event.get("fingerprint") if isinstance(event.get("fingerprint"), str) else None,
                              event.get("count") if isinstance(event.get("count"), int) else 1))
    return out


def downloads(finished: int = 5) -> list[Download]:
    """Downloads under way or waiting, then the latest `finished` ones (installed, withdrawn)."""
    rows = list(ContentDownload.select().where(ContentDownload.state.not_in(("installed", "withdrawn")))
                .order_by(ContentDownload.id))
    rows += list(ContentDownload.select().where(ContentDownload.state.in_(("installed", "withdrawn")))
                 .order_by(ContentDownload.updated_at.desc(), ContentDownload.id.desc()).limit(finished))
    now = utcnow()
    out = []
    for row in rows:
        moving = row.state == "downloading" and row.speed > 0 and row.updated_at and \
            now - row.updated_at < STALE_DOWNLOAD
        left = max(0, row.bytes_total - row.bytes_received)
        try:
            title = json.loads(row.title or "{}")
        except ValueError:
            title = {}
        out.append(Download(row.pack_id, row.version, title if isinstance(title, dict) else {},
                            row.previous_version, row.state, row.bytes_total, row.bytes_received,
                            row.bytes_downloaded, row.speed if moving else 0.0,
                            left / row.speed if moving else None, row.error, row.started_at, row.updated_at,
                            row.finished_at))
    return out


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except (AttributeError, ValueError):
        return ()


def updates_waiting() -> tuple[list[Update], datetime.datetime | None]:
    """Packs in the last catalog the agent stored that are not installed, or newer; and when it came."""
    row = SchoolSetting.get_or_none(SchoolSetting.key == CATALOG_SETTING)
    try:
        stored = json.loads(row.value) if row is not None else {}
        packs = stored["catalog"]["packs"]
        fetched = datetime.datetime.fromisoformat(stored["fetched_at"].rstrip("Z"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], None
    installed = {p.pack_id: p.version for p in ContentPack.select(ContentPack.pack_id, ContentPack.version)}
    out = []
    for pack in packs if isinstance(packs, list) else []:
        try:
            pack_id, version, size = str(pack["id"]), str(pack["version"]), int(pack["size"])
        except (KeyError, TypeError, ValueError):
            continue
        have = installed.get(pack_id)
        if have is None or _version_key(version) > _version_key(have):
            title = pack.get("title") if isinstance(pack.get("title"), dict) else {}
            out.append(Update(pack_id, version, title, size, have))
    return out, fetched


def next_window_start(spec: str, moment: datetime.datetime) -> str | None:
    """When the next window of `spec` opens after `moment` (wall time), as HH:MM; None if open now."""
    minute = moment.hour * 60 + moment.minute
    starts = []
    for start, end in hour_windows(spec):
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return None
        starts.append(start)
    following = min(starts, key=lambda s: (s - minute) % 1440)
    return f"{following // 60 % 24:02d}:{following % 60:02d}"


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
    downloads: list[Download] = field(default_factory=list)  # content packs coming from the hub
    updates: list[Update] = field(default_factory=list)  # in the last catalog, not installed (or newer)
    catalog_fetched_at: datetime.datetime | None = None
    national_keys: list[NationalKey] = field(default_factory=list)  # trusted for content from the hub
    trust_events: list[TrustEvent] = field(default_factory=list)  # newest first
    insecure_http: bool = False  # the hub is reached over plain http:// (`enroll --insecure-http`)

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
    updates, fetched = updates_waiting()
    return SyncStatus(
        enrolled=bool(state.hub_url and state.school_id), hub_url=state.hub_url, school_id=state.school_id,
        acked_seq=acked, last_seq=last_seq, waiting=waiting, last_success_at=state.last_success_at,
        last_attempt_at=state.last_attempt_at, last_error=state.last_error, last_error_code=state.last_error_code,
        bytes_sent=state.bytes_sent or 0, records_sent=state.records_sent or 0, batch_size=state.batch_size or 0,
        agent_version=state.agent_version,
        pending_requests=SyncRequest.select().where(SyncRequest.done_at.is_null()).count(),
        attempts=recent, downloads=downloads(), updates=updates, catalog_fetched_at=fetched,
        national_keys=trusted_national_keys(), trust_events=trust_events(),
        insecure_http=bool(state.hub_url and state.hub_url.lower().startswith("http://")))


def request_sync(requested_by: str | None) -> SyncRequest:
    """Ask the agent to sync now; one waiting request is enough, so a second click adds nothing."""
    with database.atomic():
        pending = SyncRequest.select().where(SyncRequest.done_at.is_null()).order_by(SyncRequest.id).first()
        if pending is not None:
            return pending
        return SyncRequest.create(requested_at=utcnow(), requested_by=requested_by)


# --- Is the agent alive, and is syncing overdue? -------------------------------------------------------

#: school_setting key the agent's request-watching loop writes (beat()): when it last ran
HEARTBEAT_SETTING = "sync.heartbeat"
HEARTBEAT_EVERY = datetime.timedelta(seconds=60)  # a write at most this often (the loop runs every 5 s)
AGENT_STALE = datetime.timedelta(minutes=5)  # no beat for this long: the agent is not running
START_AGENT = "sudo systemctl start classroom-sync"


def heartbeat() -> datetime.datetime | None:
    """When the sync agent's loop last said it was alive (UTC); None if it never did."""
    row = SchoolSetting.get_or_none(SchoolSetting.key == HEARTBEAT_SETTING)
    try:
        return datetime.datetime.fromisoformat(row.value) if row is not None else None
    except ValueError:
        return None


def beat(now: datetime.datetime | None = None) -> bool:
    """The agent says it is alive (called from its loop every few seconds; writes once a minute at
    most so that it costs nothing). True if it wrote; a full disk or a locked database only skips a beat."""
    now = now or utcnow()
    try:
        last = heartbeat()
        if last is not None and timedelta_between(last, now) < HEARTBEAT_EVERY:
            return False
        value = now.replace(tzinfo=None).isoformat()
        SchoolSetting.insert(key=HEARTBEAT_SETTING, value=value).on_conflict(  # SQLite and PostgreSQL alike
            conflict_target=[SchoolSetting.key], update={SchoolSetting.value: value}).execute()
    except PeeweeDatabaseError as exc:
        log.warning("cannot write the sync agent's heartbeat: %s", exc)
        return False
    return True


def timedelta_between(earlier: datetime.datetime, later: datetime.datetime) -> datetime.timedelta:
    """`later - earlier`, and a clock set back (negative) counts as no time at all."""
    return max(datetime.timedelta(0), later - earlier)


@dataclass(frozen=True)
class AgentAlive:
    alive: bool
    last_beat: datetime.datetime | None  # UTC; None: the agent never ran (or is older than heartbeats)


def agent_alive(now: datetime.datetime | None = None) -> AgentAlive:
    last = heartbeat()
    now = now or utcnow()
    return AgentAlive(last is not None and now - last < AGENT_STALE, last)


def sync_overdue(status: SyncStatus, days: int, now: datetime.datetime | None = None) -> int | None:
    """Whole days since the last successful sync when that is `days` or more (an enrolled school
    that never synced counts from its first attempt); None when syncing is not overdue."""
    if not status.enrolled:
        return None
    now = now or utcnow()
    since = status.last_success_at
    if since is None:
        since = SyncLog.select(SyncLog.started_at).order_by(SyncLog.id).limit(1).scalar()
        if since is None:
            return None
    gone = timedelta_between(since, now).days
    return gone if gone >= days else None
