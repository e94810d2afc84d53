"""The agent's work and its order: `Agent` runs one sync (the records step, then the roster and
certificate steps, each failing on its own), the content step, and the daemon's decisions; the
APScheduler jobs are plain module-level functions with explicit ids that tests call directly.

The daemon also makes the school's nightly backup (`backup_job`, at [backup] time) into
`<data-dir>/backups`, keeping the newest [backup] keep, and fits the adaptive practice model.
"""
from __future__ import annotations

import datetime
import logging
import signal
import threading
from typing import Callable

import requests
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.admin import audit
from classroom_server.admin.backup import BackupError, nightly_backup
from classroom_server.admin.sync import beat
from classroom_server.db import database
from classroom_server.learn import tutor
from classroom_server.models import SyncRequest, utcnow
from classroom_server.settings import Settings, SettingsError, load_settings
from sync import protocol

from . import certificate, content, roster
from .client import HubClient, SyncFailure
from .records import Outcome, Records
from .school import CONTENT_LOCK_FILE, exclusive, school_now, within_hours

log = logging.getLogger(__name__)

REQUESTS_KEEP = 50  # done sync_request rows kept
REQUEST_POLL_SECONDS = 5.0  # how soon "sync now" on the admin page is noticed
# A step's failure that is about the hub itself, not about that step: an answer someone else made, a
# plain http:// hub not allowed, this school refused or its clock off. Any step meeting one fails the
# sync, so the admin page shows it where it looks first.
HUB_FAILURES = frozenset({"unauthenticated", "insecure", "revoked", "auth", "clock"})


# --- the agent ----------------------------------------------------------------------------------------

class Agent:
    """The school's side of the exchange: one hub client shared by every step, and the cursor in the
    school database.

    The database proxy must be open (school.open_school). `progress` receives one line per step.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None, reread_settings: bool = False):
        self.client = HubClient(settings, session)
        self.records = Records(self.client)
        # The daemon reads the settings file again before each run: hours, the bandwidth cap and
        # backup retention changed on the admin page apply without a restart.
        self.reread_settings = reread_settings
        self.failures = 0  # failed attempts in a row: how long the daemon waits before the next
        self.content_wanted = threading.Event()  # a sync ran: the content job follows it

    @property
    def settings(self) -> Settings:
        return self.client.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.client.settings = value

    @property
    def stopping(self) -> threading.Event:
        return self.client.stopping

    @property
    def sizer(self) -> protocol.BatchSizer | None:
        return self.records.sizer

    @property
    def sent_high(self) -> int:
        return self.records.sent_high

    def ping(self, hub_url: str) -> tuple[dict, float]:
        return self.client.ping(hub_url)

    def cursor(self, hub_url: str, school_id: str, secret: str) -> int:
        return self.records.cursor(hub_url, school_id, secret)

    # --- one sync -------------------------------------------------------------------------------------

    def sync(self, progress: Callable[[str], None] | None = None,
             keep_going: Callable[[], bool] | None = None) -> Outcome:
        """One full sync: everything after the cursor, until done, failed, or `keep_going()` is False;
        then, when the records went through, the roster and the HTTPS certificate.

        Always records the attempt (sync_state, sync_log) when the database lets it; never raises
        SyncFailure: the outcome says what went wrong. The attempt is the records step's: a roster
        failure is its own (`outcome.roster_error`, kept for `classroom-sync status`) and does not
        make a sync whose records the hub acknowledged a failed one, unless it is about the hub
        itself (HUB_FAILURES).
        """
        say = progress or (lambda line: None)
        outcome = Outcome(ok=False)
        log_id = None
        try:
            log_id = self.records.begin()
            self.records.push(outcome, say, keep_going or (lambda: True), log_id)
            outcome.ok = True
            self._roster(outcome, say)
            certificate.sync_certificate(self.client, say)  # the school's HTTPS certificate; never fails the sync
        except SyncFailure as exc:
            outcome.ok = False
            outcome.error, outcome.code = str(exc), exc.code
            say(f"failed ({exc.code}): {exc}")
        self.failures = 0 if outcome.ok else self.failures + 1
        self.records.finish(outcome, log_id)
        return outcome

    def _roster(self, outcome: Outcome, say: Callable[[str], None]) -> None:
        """The roster step after records the hub acknowledged: its failure is its own (kept in
        roster_state and `outcome.roster_error`), except one that says the hub itself cannot be
        trusted or reached as this school (HUB_FAILURES): that one is the sync's."""
        try:
            roster.sync_roster(self.client, say)  # national people and assignments down, the school's up
        except SyncFailure as exc:
            if exc.code in HUB_FAILURES:
                raise
            outcome.roster_error = f"{exc.code}: {exc}"
            say(f"roster: failed ({exc.code}): {exc}")
            log.warning("the roster step failed (%s): %s; the records went through", exc.code, exc)

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
                force_hours: bool = False, retry_failed: bool = False) -> content.ContentOutcome:
        """The content step (content.py): catalog, then new or updated packs, one process at a time."""
        with exclusive(self.settings, CONTENT_LOCK_FILE) as mine:
            if not mine:
                return content.ContentOutcome(ok=True, skipped="another classroom-sync is downloading content")
            return content.Downloader(self.client, progress, keep_going, force_hours=force_hours,
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


def content_job(agent: Agent, scheduler=None) -> content.ContentOutcome:
    """After each sync that ran, and every CONTENT_INTERVAL within [sync] hours: the catalog, then
    packs to bring down (files only within [sync] download_hours)."""
    agent.refresh_settings()
    wanted = agent.content_wanted.is_set()
    agent.content_wanted.clear()
    if not wanted and not within_hours(agent.settings.sync_hours, school_now(agent.settings)):
        return content.ContentOutcome(ok=True, skipped=f"outside the allowed hours ({agent.settings.sync_hours})")

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
    hour, minute = (int(part) for part in time_of_day.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=getattr(settings, "i18n_timezone", None) or "UTC")


def run_daemon(agent: Agent) -> None:
    scheduler = BlockingScheduler(timezone=datetime.timezone.utc,
                                  job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_job(sync_job, "interval", seconds=agent.settings.sync_interval_seconds, id=SYNC_JOB,
                      args=[agent, scheduler], next_run_time=_aware_now(), max_instances=1, coalesce=True)
    # First at once: its heartbeat shows the admin page the agent running from its start, not 5 s later.
    scheduler.add_job(watch_requests_job, "interval", seconds=REQUEST_POLL_SECONDS, id=REQUESTS_JOB,
                      args=[agent, scheduler], next_run_time=_aware_now(), max_instances=1, coalesce=True)
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


def _aware_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
