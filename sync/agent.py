"""`classroom-sync`: the school's sync agent. It sends every learning record to the national hub,
exactly once, over whatever link the school has.

A process of its own next to the web server, sharing the data folder (SQLite in WAL mode lets both
use the database). What it keeps, in the school database: the hub and school id it is enrolled
with, the cursor (the highest record sequence the hub acknowledged), its figures and last error
(`sync_state`), a short log of attempts (`sync_log`) and the "sync now" requests the admin page
makes (`sync_request`). The school's secret is in `<data-dir>/keys/hub-secret`.

One sync: ping the hub (cheap; also shows a clock far off), ask it for the cursor it holds, then
send the records after the cursor in gzip batches ordered by sequence, moving the cursor only to
what the hub acknowledges. A cut at any point loses nothing: the next sync starts after the cursor
and the hub stores by UUID, so a batch sent twice changes nothing. Being offline is a normal state:
it is recorded, and the daemon tries again later, waiting longer each time (with jitter).

Nothing the hub says is acted on unless the hub signed that answer for that request (sync/trust.py:
the national key pinned at enrolment, rotations, an allowed http:// hub, and what happened to them).

The daemon also makes the school's nightly backup (`backup_job`, at [backup] time) into
`<data-dir>/backups`, keeping the newest [backup] keep.
"""
from __future__ import annotations

import copy
import datetime
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import click
import requests
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server import migrations
from classroom_server.admin import audit
from classroom_server.admin.backup import BackupError, nightly_backup
from classroom_server.admin.sync import Attempt, SyncStatus, beat, request_sync, state_row, sync_status
from classroom_server.db import DatabaseError, database, open_database
from classroom_server.domain.statements import InvalidRecord, to_statement
from classroom_server.learn import tutor
from classroom_server.learn.services import statementable
from classroom_server.models import LearningRecord, SyncLog, SyncRequest, SyncState, utcnow
from classroom_server.settings import Settings, SettingsError, hour_windows, load_settings
from sync import __version__, protocol
from sync import certificate
from sync import content as content_sync
from sync import roster, trust

log = logging.getLogger(__name__)

USER_AGENT = f"{protocol.USER_AGENT_PREFIX}{__version__}"
SECRET_FILE = Path("keys") / "hub-secret"
LOCK_FILE = "classroom-sync.lock"
CONTENT_LOCK_FILE = "classroom-sync-content.lock"  # content downloads run beside record syncs
LOG_KEEP = 500  # sync_log rows kept
REQUESTS_KEEP = 50  # done sync_request rows kept
REQUEST_POLL_SECONDS = 5.0  # how soon "sync now" on the admin page is noticed
MAX_ANSWER_BYTES = 1024 * 1024  # a hub's JSON answer is small; anything bigger is not our hub
PING_PATH = "/api/v1/ping"
CURSOR_PATH = "/api/v1/records/cursor"
RECORDS_PATH = "/api/v1/records"


class SyncFailure(Exception):
    """A sync that could not finish; `code` is one of classroom_server.admin.sync.ERROR_CODES and the
    message says what happened and what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


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


# --- the data folder --------------------------------------------------------------------------------

def open_school(data_dir: str | os.PathLike | None, wait_for_schema: bool = False) -> Settings:
    """Load the school's settings and open its database the way classroom-server does.

    The agent never migrates (the web server does, at start): with `wait_for_schema` it waits until
    the schema is current, else it stops with the fix.
    """
    try:
        settings = load_settings(data_dir)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        open_database(settings.effective_database_url)
        database.connect(reuse_if_open=True)
        while True:
            pending = migrations.pending(database.obj)
            if not pending:
                break
            if not wait_for_schema:
                raise click.ClickException(
                    f"the school database in {settings.data_dir} is not up to date (needs "
                    f"{', '.join(m.name for m in pending)}): run `classroom-server migrate`, or start the web "
                    f"server, which migrates")
            log.warning("waiting for the web server to bring the database schema up to date (%s)",
                        ", ".join(m.name for m in pending))
            time.sleep(10)
    except (DatabaseError, migrations.MigrationError, PeeweeDatabaseError) as exc:
        raise click.ClickException(f"cannot use the school database: {exc}") from None
    return settings


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def save_secret(settings: Settings, secret: str) -> Path:
    """Write the secret to <data-dir>/keys/hub-secret, mode 0600, replacing any old one atomically."""
    path = secret_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path


def read_secret(settings: Settings) -> str:
    path = secret_path(settings)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SyncFailure("not_enrolled", f"this school is not enrolled ({path} is missing): run `classroom-sync "
                                          f"enroll --hub URL --school-id ID --secret-file F --national-key "
                                          f"FINGERPRINT`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyncFailure("not_enrolled", f"cannot read the school's secret {path}: {exc}; run the agent as the "
                                          f"user that owns the data folder, or enrol again") from None
    if not secret:
        raise SyncFailure("not_enrolled", f"{path} is empty: enrol again with the secret the hub issued")
    return secret


@contextmanager
def exclusive(settings: Settings, name: str = LOCK_FILE) -> Iterator[bool]:
    """One sync at a time per data folder (the daemon and `once` may both be asked): yields False
    when another process is syncing."""
    path = settings.data_dir / name
    handle = open(path, "a+b")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def within_hours(spec: str, moment: datetime.datetime) -> bool:
    """Whether `moment` (aware or naive wall time) falls in one of the `[sync] hours` windows."""
    minute = moment.hour * 60 + moment.minute
    for start, end in hour_windows(spec):
        if (start <= minute < end) if start < end else (minute >= start or minute < end):
            return True
    return False


def school_now(settings: Settings) -> datetime.datetime:
    """The wall time at the school, in its `[i18n] timezone` when that setting exists."""
    zone = getattr(settings, "i18n_timezone", None)
    if zone:
        try:
            from zoneinfo import ZoneInfo
            return datetime.datetime.now(ZoneInfo(zone))
        except (ImportError, KeyError, ValueError):
            pass
    return datetime.datetime.now()


# --- the agent ----------------------------------------------------------------------------------------

class Agent:
    """The school's side of the exchange: talks to the hub and keeps the cursor in the school database.

    The database proxy must be open (open_school). `progress` receives one line per step.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None, reread_settings: bool = False):
        self.settings = settings
        # The daemon reads the settings file again before each run: hours, the bandwidth cap and
        # backup retention changed on the admin page apply without a restart.
        self.reread_settings = reread_settings
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.failures = 0  # failed attempts in a row: how long the daemon waits before the next
        self.stopping = threading.Event()
        self.sizer: protocol.BatchSizer | None = None
        self.sent_high = 0  # the highest sequence this process has posted: later posts below it are re-sends
        self.content_wanted = threading.Event()  # a sync ran: the content job follows it
        self.insecure_hub: str | None = None  # an http:// hub being enrolled with --insecure-http

    # --- HTTP ---------------------------------------------------------------------------------------

    @property
    def timeouts(self) -> tuple[float, float]:
        timeout = float(self.settings.sync_timeout_seconds)
        return min(timeout, 30.0), timeout  # (connect, read)

    def _request(self, method: str, hub_url: str, path: str, body: bytes = b"", headers: dict | None = None,
                 signed: tuple[str, str] | None = None, now: float | None = None) -> tuple[int, dict | None, str]:
        """(status, JSON object or None, a short description of the answer) or SyncFailure('link_down')."""
        url = hub_url.rstrip("/") + path
        if urlsplit(url).scheme != "https" and self.insecure_hub != hub_url.rstrip("/") \
                and not trust.http_allowed(hub_url):
            raise SyncFailure("insecure", f"the hub address {hub_url} is not https://, and plain http:// was not "
                                          f"allowed for it: enrol with the https:// address, or (in a lab only) "
                                          f"with --insecure-http")
        headers = dict(headers or {})
        if signed is not None:
            school_id, secret = signed
            parts = urlsplit(url)
            signed_path = protocol.path_with_query(parts.path or "/", parts.query)  # the hub signs the query too
            headers.update(protocol.sign_request(school_id, secret, method, signed_path, body, now=now))
        try:
            response = self.session.request(method, url, data=body or None, headers=headers,
                                            timeout=self.timeouts, stream=True, allow_redirects=False)
            try:
                raw = b""
                for chunk in response.iter_content(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise SyncFailure("hub_error", f"{url} answered more than {MAX_ANSWER_BYTES} bytes: "
                                                       f"this is not the classroom hub; check the hub URL")
            finally:
                response.close()
        except requests.Timeout:
            raise SyncFailure("link_down", f"the hub at {hub_url} did not answer within "
                                           f"{self.settings.sync_timeout_seconds} s ([sync] timeout_seconds)") from None
        except requests.RequestException as exc:
            raise SyncFailure("link_down", f"cannot reach the hub at {hub_url}: {_reason(exc)}") from None
        what = f"HTTP {response.status_code} {response.headers.get('Content-Type', '(no type)')}"
        if not raw and response.status_code == 200:
            # The hub never answers 200 with nothing: the link cut the answer short after its first lines.
            raise SyncFailure("link_down", f"the answer from the hub at {hub_url} was cut short ({what}, no body)")
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict):
            data = None
        if signed is not None and data is not None and 200 <= response.status_code < 300 and \
                not protocol.answer_is_authentic(secret, method, signed_path, headers[protocol.HEADER_NONCE],
                                                 response.status_code, raw,
                                                 response.headers.get(protocol.HEADER_ANSWER_SIGNATURE)):
            # Only the real hub knows the school's secret: an answer it did not sign for this very
            # request (a forgery, or one recorded earlier and played back) changes nothing.
            why = "carries no" if not response.headers.get(protocol.HEADER_ANSWER_SIGNATURE) else "has a wrong"
            message = (f"the answer to {method} {path} from {hub_url} {why} {protocol.HEADER_ANSWER_SIGNATURE}: "
                       f"it was not made by the hub this school is enrolled with for this request (someone on the "
                       f"way answering in its place, an answer played back, or a classroom-hub older than this "
                       f"agent). Nothing was changed")
            trust.note("unauthenticated", message)
            raise SyncFailure("unauthenticated", message)
        return response.status_code, data, what

    def ping(self, hub_url: str) -> tuple[dict, float]:
        """The hub's ping answer and the clock difference (hub - school) in seconds; raises
        SyncFailure for a hub that is not ours or a clock far off."""
        sent = time.time()
        status, data, what = self._request("GET", hub_url, PING_PATH)
        received = time.time()
        if status != 200 or data is None or not _is_number(data.get("time")) or "protocol" not in data:
            raise SyncFailure("hub_error", f"{hub_url}{PING_PATH} answered {what}, not the classroom hub's ping: "
                                           f"check the hub URL; a captive portal or a proxy may be in the way")
        if data["protocol"] != protocol.PROTOCOL_VERSION:
            raise SyncFailure("hub_error", f"the hub speaks sync protocol {data['protocol']!r}, this agent "
                                           f"{protocol.PROTOCOL_VERSION}: upgrade classroom-server at the school")
        skew = float(data["time"]) - (sent + received) / 2
        if abs(skew) > protocol.CLOCK_SKEW_SECONDS:
            school = datetime.datetime.fromtimestamp(received, datetime.timezone.utc)
            hub = datetime.datetime.fromtimestamp(float(data["time"]), datetime.timezone.utc)
            raise SyncFailure(
                "clock", f"the school's clock and the hub's differ by {_duration(abs(skew))} (school "
                         f"{school:%Y-%m-%d %H:%M} UTC, hub {hub:%Y-%m-%d %H:%M} UTC); the hub refuses requests more "
                         f"than {protocol.CLOCK_SKEW_SECONDS} s off. Set this computer's clock (`timedatectl "
                         f"set-ntp true`, or `date -s`), or tell the national platform if its clock is wrong")
        return data, skew

    def _check_signed(self, status: int, data: dict | None, what: str, hub_url: str) -> None:
        code = (data or {}).get("error")
        message = (data or {}).get("message") or ""
        detail = f" ({message})" if message else ""
        if status == 401:
            if code == "revoked":
                raise SyncFailure("revoked", f"the national platform revoked this school's secret{detail}: ask it "
                                             f"for a new one and enrol again (`classroom-sync enroll`)")
            if code == "stale_timestamp":
                raise SyncFailure("clock", f"the hub refused the request's time{detail}: set this computer's "
                                           f"clock (`timedatectl set-ntp true`)")
            if code == "unknown_school":
                raise SyncFailure("auth", f"the hub does not know this school id{detail}: check the id the "
                                          f"national platform gave and enrol again")
            raise SyncFailure("auth", f"the hub refused this school's signature ({code or what}){detail}: the "
                                      f"secret may be wrong or replaced; enrol again with the current secret")
        if status == 403:
            raise SyncFailure("auth", f"the hub refused this school ({code or what}){detail}")
        if status == 409:
            raise SyncFailure("conflict", f"the hub holds different records under the same numbers{detail}: this "
                                          f"database may have been restored from an old backup, or enrolled with "
                                          f"another school's id. Nothing was lost here; ask the national platform")
        if status >= 500:
            raise SyncFailure("hub_error", f"the hub failed ({what}){detail}; it will be tried again")

    def cursor(self, hub_url: str, school_id: str, secret: str) -> int:
        """The highest contiguous sequence the hub holds for this school (a signed request)."""
        status, data, what = self._request("GET", hub_url, CURSOR_PATH, signed=(school_id, secret))
        self._check_signed(status, data, what, hub_url)
        acked = (data or {}).get("acked")
        if status != 200 or not _is_count(acked):
            raise SyncFailure("hub_error", f"{hub_url}{CURSOR_PATH} answered {what} without a cursor: check the "
                                           f"hub URL; a captive portal or a proxy may be in the way")
        return acked

    def post_batch(self, hub_url: str, school_id: str, secret: str, body: bytes) -> tuple[int, dict | None, str]:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        status, data, what = self._request("POST", hub_url, RECORDS_PATH, body, headers, signed=(school_id, secret))
        self._check_signed(status, data, what, hub_url)
        return status, data, what

    # --- one sync -------------------------------------------------------------------------------------

    def sync(self, progress: Callable[[str], None] | None = None,
             keep_going: Callable[[], bool] | None = None) -> Outcome:
        """One full sync: everything after the cursor, until done, failed, or `keep_going()` is False.

        Always records the attempt (sync_state, sync_log) when the database lets it; never raises
        SyncFailure: the outcome says what went wrong.
        """
        say = progress or (lambda line: None)
        outcome = Outcome(ok=False)
        log_id = None
        try:
            log_id = self._begin()
            self._push(outcome, say, keep_going or (lambda: True), log_id)
            roster.sync_roster(self, say)  # national people and assignments down, the school's roster up
            certificate.sync_certificate(self, say)  # the school's HTTPS certificate; never fails the sync
            outcome.ok = True
        except SyncFailure as exc:
            outcome.error, outcome.code = str(exc), exc.code
            say(f"failed ({exc.code}): {exc}")
        self.failures = 0 if outcome.ok else self.failures + 1
        self._finish(outcome, log_id)
        return outcome

    def _begin(self) -> int:
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
                                      f"sent. {_disk_hint(exc, self.settings)}") from None

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
                                      f"{_disk_hint(exc, self.settings)}") from None

    def _finish(self, outcome: Outcome, log_id: int | None) -> None:
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

    def _push(self, outcome: Outcome, say: Callable[[str], None], keep_going: Callable[[], bool],
              log_id: int | None) -> None:
        state = state_row()
        if not (state.hub_url and state.school_id):
            raise SyncFailure("not_enrolled", "this school is not enrolled: run `classroom-sync enroll --hub URL "
                                              "--school-id ID --secret-file F --national-key FINGERPRINT`")
        secret = read_secret(self.settings)
        hub, school = state.hub_url, state.school_id
        if self.sizer is None:
            self.sizer = protocol.BatchSizer(start=state.batch_size or 200)
        started = time.monotonic()
        info, skew = self.ping(hub)
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
                while batch is not None and keep_going() and not self.stopping.is_set():
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

    def _send(self, batch: "Batch", cursor: int, hub: str, school: str, secret: str, outcome: Outcome,
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
        if status != 200 or not _is_count(acked):
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
        cap = self.settings.sync_bandwidth_bytes_per_second
        if cap > 0:
            pause = sent / cap - elapsed
            if pause > 0:
                self.stopping.wait(pause)

    # --- the daemon's decisions -----------------------------------------------------------------------

    def refresh_settings(self) -> None:
        """Take up changes to the settings file (when `reread_settings`); a file with a bad value is
        reported and the settings read before are kept. The database, interval and backup time
        are fixed until the agent restarts."""
        if not self.reread_settings:
            return
        try:
            fresh = load_settings(self.settings.data_dir)
        except SettingsError as exc:
            log.error("keeping the settings read before: %s", exc)
            return
        kept = dict(database_url=self.settings.database_url,
                    sync_interval_seconds=self.settings.sync_interval_seconds,
                    backup_time=self.settings.backup_time, adaptive_fit_time=self.settings.adaptive_fit_time)
        changed = [name for name, value in kept.items() if getattr(fresh, name) != value]
        if changed:
            log.warning("%s changed in the settings: restart classroom-sync to use the new value",
                        ", ".join(changed))
        self.settings = fresh.replace(**kept)

    def retry_delay(self) -> float:
        """Seconds before the next try after `failures` failed attempts in a row (full jitter, at least 1 s)."""
        base = min(5.0, float(self.settings.sync_interval_seconds))
        cap = float(self.settings.sync_retry_max_seconds)
        return max(1.0, protocol.backoff(self.failures - 1, base=base, cap=cap))

    def pending_requests(self) -> list[int]:
        return [row.id for row in SyncRequest.select(SyncRequest.id).where(SyncRequest.done_at.is_null())]

    def mark_done(self, request_ids: list[int]) -> None:
        if not request_ids:
            return
        try:
            with database.atomic():
                SyncRequest.update(done_at=utcnow()).where(SyncRequest.id.in_(request_ids)).execute()
                keep = (SyncRequest.select(SyncRequest.id).where(SyncRequest.done_at.is_null(False))
                        .order_by(SyncRequest.id.desc()).limit(1).offset(REQUESTS_KEEP - 1).scalar())
                if keep:
                    SyncRequest.delete().where(SyncRequest.id < keep, SyncRequest.done_at.is_null(False)).execute()
        except PeeweeDatabaseError as exc:
            log.error("cannot mark the sync-now request done: %s", exc)

    def content(self, progress: Callable[[str], None] | None = None, keep_going: Callable[[], bool] | None = None,
                force_hours: bool = False, retry_failed: bool = False) -> content_sync.ContentOutcome:
        """The content step (sync/content.py): catalog, then new or updated packs, one process at a time."""
        with exclusive(self.settings, CONTENT_LOCK_FILE) as mine:
            if not mine:
                return content_sync.ContentOutcome(ok=True, skipped="another classroom-sync is downloading content")
            return content_sync.Downloader(self, progress, keep_going, force_hours=force_hours,
                                           retry_failed=retry_failed).run()

    def scheduled(self) -> Outcome:
        """What the daemon runs: a sync when one was asked for, or within the allowed hours."""
        self.refresh_settings()
        requested = self.pending_requests()
        if not requested and not within_hours(self.settings.sync_hours, school_now(self.settings)):
            return Outcome(ok=True, skipped=f"outside the allowed hours ({self.settings.sync_hours})")
        with exclusive(self.settings) as mine:
            if not mine:
                return Outcome(ok=True, skipped="another classroom-sync process is syncing")

            def keep_going() -> bool:
                return bool(requested) or within_hours(self.settings.sync_hours, school_now(self.settings))
            outcome = self.sync(progress=lambda line: log.info("%s", line), keep_going=keep_going)
        self.mark_done(requested)
        return outcome


@dataclass(frozen=True)
class Batch:
    """Records ready to send: the request body and the sequence numbers it holds."""
    first: int
    last: int
    count: int
    body: bytes


def prepare_batch(after: int, size: int, school_id: str, platform_iri: str) -> Batch | None:
    """Up to `size` records after sequence `after`, as xAPI statements in one gzip batch (None: none)."""
    rows = list(LearningRecord.select().where(LearningRecord.seq > after).order_by(LearningRecord.seq).limit(size))
    if not rows:
        return None
    records = []
    for row in rows:
        try:
            statement = to_statement(statementable(row, school_id), platform_iri)
        except InvalidRecord as exc:
            raise SyncFailure("bad_record", f"record {row.seq} ({row.uuid}) cannot be made into an xAPI statement: "
                                            f"{exc}. This is a bug in classroom-server: report it; later records "
                                            f"wait behind it") from None
        records.append({"seq": row.seq, "uuid": row.uuid, "statement": statement})
    return Batch(rows[0].seq, rows[-1].seq, len(rows), protocol.encode_batch(school_id, __version__, records))


# --- APScheduler jobs (module-level, explicit ids; tests call them directly) -----------------------

SYNC_JOB = "sync"
REQUESTS_JOB = "sync-requests"
BACKUP_JOB = "backup"
CONTENT_JOB = "content"
CONTENT_INTERVAL = 900  # seconds; besides running after each sync
ADAPTIVE_FIT_JOB = "adaptive-fit"


def sync_job(agent: Agent, scheduler=None) -> Outcome:
    """Probe the link and push records; after a failure, bring the next try forward or push it back
    by the backoff instead of waiting for the interval."""
    outcome = agent.scheduled()
    if outcome.skipped:
        log.debug("sync skipped: %s", outcome.skipped)
    elif outcome.ok:
        log.info("sync done: %d record(s) acknowledged, %d waiting", outcome.records, outcome.waiting)
        agent.content_wanted.set()  # the content step follows each sync that ran
        if scheduler is not None:
            scheduler.modify_job(CONTENT_JOB, next_run_time=_aware_now())
    else:
        delay = agent.retry_delay()
        log.warning("sync failed (%s): %s; next try in %.0f s", outcome.code, outcome.error, delay)
        if scheduler is not None:
            scheduler.modify_job(SYNC_JOB, next_run_time=_aware_now() + datetime.timedelta(seconds=delay))
    return outcome


def content_job(agent: Agent, scheduler=None) -> content_sync.ContentOutcome:
    """After each sync that ran, and every CONTENT_INTERVAL within [sync] hours: the catalog, then
    packs to bring down (files only within [sync] download_hours)."""
    agent.refresh_settings()
    wanted = agent.content_wanted.is_set()
    agent.content_wanted.clear()
    if not wanted and not within_hours(agent.settings.sync_hours, school_now(agent.settings)):
        return content_sync.ContentOutcome(ok=True, skipped=f"outside the allowed hours ({agent.settings.sync_hours})")

    def keep_going() -> bool:
        return wanted or within_hours(agent.settings.sync_hours, school_now(agent.settings))
    outcome = agent.content(progress=lambda line: log.info("%s", line), keep_going=keep_going)
    if outcome.error:
        log.warning("content step stopped (%s): %s", outcome.code, outcome.error)
    return outcome


def watch_requests_job(agent: Agent, scheduler=None) -> bool:
    """Start a sync now when the admin page asked for one (a sync_request row); True if it did."""
    beat()  # the admin page shows the agent as running while this loop writes
    try:
        pending = agent.pending_requests()
    except PeeweeDatabaseError as exc:
        log.warning("cannot read sync-now requests: %s", exc)
        return False
    if pending and scheduler is not None:
        scheduler.modify_job(SYNC_JOB, next_run_time=_aware_now())
    return bool(pending)


def backup_job(agent: Agent) -> bool:
    """The nightly backup into <data-dir>/backups, then older nightly ones pruned to [backup] keep;
    the outcome goes to the audit log the admin page shows. True if a backup was made."""
    agent.refresh_settings()
    try:
        result, removed = nightly_backup(agent.settings)
    except BackupError as exc:
        log.error("the nightly backup failed: %s", exc)
        details, target, made = {"ok": False, "error": str(exc)}, None, False
    else:
        log.info("nightly backup %s (%d bytes); removed %s", result.path, result.size, ", ".join(removed) or "none")
        details = {"ok": True, "size": result.size, "removed": removed}
        target, made = result.path.name, True
    try:
        with database.atomic():
            audit.write("backup.nightly", target, details, actor_name="classroom-sync")
    except PeeweeDatabaseError as exc:
        log.error("cannot record the nightly backup in the audit log: %s", exc)
    return made


def backup_trigger(settings: Settings):
    """When the nightly backup runs: [backup] time in the school's time zone (None: off)."""
    if settings.backup_time == "off":
        return None
    from apscheduler.triggers.cron import CronTrigger
    hour, minute = (int(part) for part in settings.backup_time.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=getattr(settings, "i18n_timezone", None) or "UTC")


def adaptive_fit_job(agent: Agent) -> tutor.FitResult | None:
    """The nightly fit of the adaptive practice model (learn.tutor.fit_job); None if it failed."""
    try:
        return tutor.fit_job(agent.settings)
    except PeeweeDatabaseError as exc:
        log.error("the adaptive practice fit failed: %s", exc)
        return None


def daily_trigger(time_of_day: str, settings: Settings):
    """A cron trigger at `HH:MM` in the school's time zone (None: `off`)."""
    if time_of_day == "off":
        return None
    from apscheduler.triggers.cron import CronTrigger
    hour, minute = (int(part) for part in time_of_day.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=getattr(settings, "i18n_timezone", None) or "UTC")


def run_daemon(agent: Agent) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler
    scheduler = BlockingScheduler(timezone=datetime.timezone.utc,
                                  job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_job(sync_job, "interval", seconds=agent.settings.sync_interval_seconds, id=SYNC_JOB,
                      args=[agent, scheduler], next_run_time=_aware_now(), max_instances=1, coalesce=True)
    scheduler.add_job(watch_requests_job, "interval", seconds=REQUEST_POLL_SECONDS, id=REQUESTS_JOB,
                      args=[agent, scheduler], max_instances=1, coalesce=True)
    scheduler.add_job(content_job, "interval", seconds=max(CONTENT_INTERVAL, agent.settings.sync_interval_seconds),
                      id=CONTENT_JOB, args=[agent, scheduler], max_instances=1, coalesce=True)
    nightly = backup_trigger(agent.settings)
    if nightly is not None:
        scheduler.add_job(backup_job, nightly, id=BACKUP_JOB, args=[agent], max_instances=1, coalesce=True)
    fit_trigger = daily_trigger(agent.settings.adaptive_fit_time, agent.settings)
    if fit_trigger is not None:
        scheduler.add_job(adaptive_fit_job, fit_trigger, id=ADAPTIVE_FIT_JOB, args=[agent], max_instances=1,
                          coalesce=True)

    def stop(signum, frame) -> None:
        agent.stopping.set()
        scheduler.shutdown(wait=False)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        agent.stopping.set()


# --- helpers --------------------------------------------------------------------------------------

def _aware_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause of a connection failure, short: 'Connection refused', 'Connection reset by peer'."""
    cause: BaseException | None = exc
    seen = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        nxt = cause.__cause__ or cause.__context__
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        if nxt is None and cause.args and len(cause.args) > 1 and isinstance(cause.args[1], BaseException):
            nxt = cause.args[1]
        cause = nxt
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _disk_hint(exc: Exception, settings: Settings) -> str:
    if "locked" in str(exc) or "busy" in str(exc):
        return "The database was busy for too long; the agent tries again later"
    return f"Free disk space where {settings.data_dir} is (`df -h`), or fix its permissions"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _ago(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = (utcnow() - moment).total_seconds()
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_duration(max(0.0, seconds))} ago)"


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def status_lines(status: SyncStatus, settings: Settings | None = None) -> list[str]:
    lines = []
    if status.enrolled:
        lines.append(f"enrolled:         school {status.school_id} at {status.hub_url}")
    else:
        lines.append("enrolled:         no (run `classroom-sync enroll --hub URL --school-id ID --secret-file F "
                     "--national-key FINGERPRINT`)")
    lines.append(f"last success:     {_ago(status.last_success_at)}")
    attempt = _ago(status.last_attempt_at)
    if status.last_attempt_at is not None:
        attempt += f": FAILED ({status.last_error_code}): {status.last_error}" if status.last_error else ": ok"
    lines.append(f"last attempt:     {attempt}")
    lines.append(f"records waiting:  {status.waiting} (the hub acknowledged up to {status.acked_seq}; "
                 f"the newest record is {status.last_seq})")
    lines.append(f"sent in total:    {status.records_sent} records, {_size(status.bytes_sent)} "
                 f"({status.bytes_sent} bytes)")
    lines.append(f"batch size:       {status.batch_size} records")
    lines.append(f"agent version:    {status.agent_version or '(has not run yet)'}")
    if status.pending_requests:
        lines.append(f"sync now:         asked for on the admin page, {status.pending_requests} waiting for the agent")
    lines += content_sync.status_lines(status, settings)
    lines += certificate.status_lines(settings)
    lines += trust_lines(status)
    if status.attempts:
        lines.append("recent attempts:")
        for row in status.attempts:
            lines.append("  " + _attempt_line(row))
    return lines


def trust_lines(status: SyncStatus, events: int = 5) -> list[str]:
    """The national keys trusted for content, an http:// hub allowed, and the newest trust events."""
    lines = []
    if status.insecure_http:
        lines.append("hub address:      WARNING plain http:// (--insecure-http): answers are authenticated but "
                     "not private; use https:// outside a lab")
    if status.national_keys:
        lines.append(f"national keys:    {len(status.national_keys)} trusted for content packs from the hub:")
        for key in status.national_keys:
            lines.append(f"  {key.fingerprint}{'  (pinned)' if key.pinned else ''}")
    elif status.enrolled:
        lines.append("national keys:    NONE trusted: packs from the hub are refused; pin the national key with "
                     "`classroom-sync keys pin FINGERPRINT`")
    if status.trust_events:
        lines.append("trust events:")
        for event in status.trust_events[:events]:
            when = f"{event.at:%Y-%m-%d %H:%M} UTC" if event.at else "?"
            times = f" ({event.count} times)" if event.count > 1 else ""
            flag = "WARNING " if event.warning else ""
            lines.append(f"  {when}  {flag}{event.kind}{times}: {event.message}")
    return lines


def _attempt_line(row: Attempt) -> str:
    took = f"{(row.finished_at - row.started_at).total_seconds():.1f} s" if row.finished_at else "unfinished"
    result = "ok" if row.ok else ("running or stopped" if row.ok is None else f"FAILED ({row.error_code}): {row.error}")
    return f"{row.started_at:%Y-%m-%d %H:%M:%S} UTC  {took:>10}  {row.records:>7} records  {_size(row.bytes):>9}  {result}"


# --- the command line ---------------------------------------------------------------------------------

class Context:
    def __init__(self, data_dir: str | None):
        self.data_dir = data_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-sync")
@click.option("--data-dir", envvar="CLASSROOM_DATA_DIR", type=click.Path(file_okay=False),
              help="The school's data folder, the web server's. [env: CLASSROOM_DATA_DIR]")
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, verbose: bool) -> None:
    """The school's sync agent: sends learning records to the national platform (docs/sync.md)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    ctx.obj = Context(data_dir)


@main.command()
@click.option("--hub", "hub_url", required=True, help="The national hub's address, e.g. https://hub.example.kz")
@click.option("--school-id", required=True, help="The id the national platform gave this school.")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False),
              help="A file holding the secret the national platform gave this school (it is copied).")
@click.option("--national-key", "national_key", required=True, metavar="FINGERPRINT",
              help="The national signing key's fingerprint, given out with the secret (`classroom-hub keys "
                   "show` prints it): a hub that does not publish this key is refused.")
@click.option("--insecure-http", is_flag=True,
              help="Allow a plain http:// hub address (a lab without TLS): the admin page then warns.")
@click.pass_obj
def enroll(obj: Context, hub_url: str, school_id: str, secret_file: str, national_key: str,
           insecure_http: bool) -> None:
    """Enrol this school with the national hub: checks the hub answers, accepts the id and secret and
    publishes the national key with the given fingerprint, then saves them (the secret to
    <data-dir>/keys/hub-secret, mode 0600; the key as the one this school trusts for content)."""
    hub_url = hub_url.strip().rstrip("/")
    parts = urlsplit(hub_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.UsageError("--hub must be an https:// address, e.g. https://hub.example.kz")
    if parts.scheme == "http" and not insecure_http:
        raise click.UsageError(f"--hub {hub_url} is plain http://: whoever is on the way could read the school's "
                               f"traffic. Use the hub's https:// address; in a lab without TLS only, add "
                               f"--insecure-http")
    if parts.scheme == "https" and insecure_http:
        insecure_http = False  # nothing to allow
    from content_packs.signing import fingerprint, normalize_fingerprint
    if normalize_fingerprint(national_key) is None:
        raise click.UsageError(f"--national-key {national_key!r} is not a key fingerprint: 64 hex digits (spaces "
                               f"allowed) as the national platform gives it out (`classroom-hub keys show`)")
    school_id = school_id.strip()
    try:
        secret = Path(secret_file).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {secret_file}: {exc}") from None
    if not secret or any(c.isspace() for c in secret):
        raise click.ClickException(f"{secret_file} does not hold a secret (one line, as `classroom-hub school add` "
                                   f"printed it)")
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    if insecure_http:
        agent.insecure_hub = hub_url
    try:
        info, skew = agent.ping(hub_url)
        click.echo(f"hub {hub_url} answers ({info.get('hub') or 'no name'}; clocks differ by {abs(skew):.1f} s)")
        held = agent.cursor(hub_url, school_id, secret)
        pinned, keys = trust.pin(agent, hub_url, school_id, secret, national_key)
    except (SyncFailure, trust.TrustFailure) as exc:
        raise click.ClickException(f"not enrolled: {exc}") from None
    last_seq = LearningRecord.select(LearningRecord.seq).order_by(LearningRecord.seq.desc()).scalar() or 0
    if held > last_seq:
        raise click.ClickException(
            f"not enrolled: the hub holds records up to {held} for school {school_id}, but this database has only "
            f"{last_seq}: is this the right school id? (A school reinstalled without its backup needs a new id.)")
    path = save_secret(settings, secret)
    with database.atomic():
        state = state_row()
        changed = state.school_id not in (None, school_id) or state.hub_url not in (None, hub_url)
        SyncState.update(hub_url=hub_url, school_id=school_id, acked_seq=held, last_error=None,
                         last_error_code=None, agent_version=__version__, updated_at=utcnow()) \
            .where(SyncState.id == 1).execute()
    trust.save_pinned(pinned, keys, hub_url, insecure_http)
    if changed:
        click.echo(f"replaced the previous enrolment (school {state.school_id} at {state.hub_url})")
    click.echo(f"trusting {len(keys.trusted)} national signing key(s) for content packs from the hub: "
               f"{fingerprint(pinned)} (pinned){' and the older ones it vouches for' if len(keys.trusted) > 1 else ''}")
    if insecure_http:
        click.echo(f"warning: {hub_url} is plain http:// (--insecure-http): answers are authenticated, not "
                   f"private; the admin page shows a warning", err=True)
    click.echo(f"enrolled school {school_id} with {hub_url}; secret saved in {path}")
    click.echo(f"the hub holds records up to {held}; {last_seq - held} record(s) will be sent")
    click.echo("start the agent: `classroom-sync run`, best as a service (docs/sync.md has a systemd unit)")


@main.command()
@click.pass_obj
def run(obj: Context) -> None:
    """The daemon: sync every [sync] interval_seconds within [sync] hours, retry with backoff while the
    link is down, start at once when "sync now" is pressed on the admin page, and back up the school
    every night at [backup] time."""
    settings = open_school(obj.data_dir, wait_for_schema=True)
    agent = Agent(settings, reread_settings=True)
    state = state_row()
    where = f"school {state.school_id} with {state.hub_url}" if state.hub_url else "(not enrolled yet)"
    nightly = (f"nightly backup at {settings.backup_time} keeping {settings.backup_keep}"
               if settings.backup_time != "off" else "no nightly backup")
    click.echo(f"classroom-sync {__version__}: syncing {where} every {settings.sync_interval_seconds} s, hours "
               f"{settings.sync_hours}, cap {settings.sync_bandwidth_bytes_per_second or 'none'} bytes/s, "
               f"{nightly} (data: {settings.data_dir})", err=True)
    sys.stderr.flush()
    run_daemon(agent)
    click.echo("stopped", err=True)


@main.command()
@click.pass_obj
def once(obj: Context) -> None:
    """One full sync now, whatever the hour, with a line per step; exit status 1 if it failed."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    with exclusive(settings) as mine:
        if not mine:
            raise click.ClickException("another classroom-sync is syncing right now (the daemon?); see "
                                       "`classroom-sync status`, or ask for a sync on the admin page")
        outcome = agent.sync(progress=click.echo)
    fetched = agent.content(progress=click.echo) if outcome.ok else None
    if not outcome.ok or (fetched is not None and not fetched.ok):
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Where syncing stands: enrolment, last success, last attempt and its error, records waiting,
    bytes sent, batch size, recent attempts."""
    settings = open_school(obj.data_dir)
    current = sync_status()
    if as_json:
        click.echo(json.dumps({**current.as_dict(), **content_sync.status_extra(current, settings),
                               "roster": roster.status_dict(), "https": certificate.status_dict(settings)},
                              indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(status_lines(current, settings) + roster.status_lines()))


@main.command("content")
@click.option("--any-hour", is_flag=True, help="Download now even outside [sync] download_hours.")
@click.pass_obj
def content_command(obj: Context, any_hour: bool) -> None:
    """Fetch the national catalog and bring down new or updated content packs now, with progress;
    packs refused before are tried again. Exit status 1 if it stopped on an error."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    outcome = agent.content(progress=click.echo, force_hours=any_hour, retry_failed=True)
    if outcome.skipped:
        raise click.ClickException(f"{outcome.skipped} (the daemon?); see `classroom-sync status`")
    click.echo(f"content: {len(outcome.installed)} installed, {len(outcome.removed)} removed, "
               f"{len(outcome.waiting)} waiting for the download hours, {len(outcome.failed)} refused; "
               f"{outcome.bytes} bytes downloaded")
    if not outcome.ok or outcome.failed:
        sys.exit(1)


@main.command("now")
@click.pass_obj
def now_command(obj: Context) -> None:
    """Ask the running daemon to sync now (what the admin page's button does)."""
    open_school(obj.data_dir)
    request_sync("classroom-sync now")
    click.echo(f"asked; the daemon starts within {REQUEST_POLL_SECONDS:.0f} s (see `classroom-sync status`)")


@main.command()
@click.option("--yes", is_flag=True, help="Do it without asking.")
@click.pass_obj
def rewind(obj: Context, yes: bool) -> None:
    """Move the cursor back to what the hub holds, so records it lost are sent again."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    state = state_row()
    if not (state.hub_url and state.school_id):
        raise click.ClickException("this school is not enrolled")
    try:
        agent.ping(state.hub_url)
        held = agent.cursor(state.hub_url, state.school_id, read_secret(settings))
    except SyncFailure as exc:
        raise click.ClickException(str(exc)) from None
    if held >= state.acked_seq:
        click.echo(f"the hub holds everything up to {held}; nothing to rewind")
        return
    if not yes:
        click.confirm(f"send records {held + 1}-{state.acked_seq} again?", abort=True)
    SyncState.update(acked_seq=held, last_error=None, last_error_code=None).where(SyncState.id == 1).execute()
    click.echo(f"cursor moved back to {held}; the next sync sends the rest")


main.add_command(certificate.https_command)


@main.group("keys")
def keys_group() -> None:
    """The national keys this school trusts for content packs from the hub."""


@keys_group.command("show")
@click.pass_obj
def keys_show(obj: Context) -> None:
    """Print the national keys this school trusts (the pinned one marked) and what happened to them."""
    open_school(obj.data_dir)
    current = sync_status(attempts=0)
    click.echo("\n".join(trust_lines(current, events=30)))


@keys_group.command("pin")
@click.argument("fingerprint")
@click.pass_obj
def keys_pin(obj: Context, fingerprint: str) -> None:
    """Trust the national key the hub publishes under FINGERPRINT (given out by the national platform, out
    of band) instead of the keys trusted so far: for a school enrolled before keys were pinned, or after
    the platform replaced a leaked key."""
    settings = open_school(obj.data_dir)
    agent = Agent(settings)
    state = state_row()
    if not (state.hub_url and state.school_id):
        raise click.ClickException("this school is not enrolled: run `classroom-sync enroll` (it pins the key too)")
    from content_packs.signing import fingerprint as printed
    try:
        agent.ping(state.hub_url)
        pinned, keys = trust.pin(agent, state.hub_url, state.school_id, read_secret(settings), fingerprint)
    except (SyncFailure, trust.TrustFailure) as exc:
        raise click.ClickException(f"nothing pinned: {exc}") from None
    insecure = trust.http_allowed(state.hub_url) and state.hub_url.lower().startswith("http://")
    trust.save_pinned(pinned, keys, state.hub_url, insecure)
    click.echo(f"pinned the national key {printed(pinned)}; trusting {len(keys.trusted)} key(s) for content packs")


if __name__ == "__main__":
    main()
