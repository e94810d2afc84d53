"""All the words of `classroom-sync status` (and `keys show`, `https show`): what the school database
and the data folder say about syncing, content, the roster, HTTPS and trust, as lines a person reads
or as JSON; and the small words other messages share (a duration, a moment ago, a size)."""
from __future__ import annotations

import datetime

from classroom_server.admin import https
from classroom_server.admin.sync import START_AGENT, AgentAlive, Attempt, SyncStatus, agent_alive, next_window_start
from classroom_server.models import NationalAssignment, RosterState, User, utcnow
from classroom_server.settings import Settings

from .school import school_now


# --- words ------------------------------------------------------------------------------------------

def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ago(moment: datetime.datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = (utcnow() - moment).total_seconds()
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({duration(max(0.0, seconds))} ago)"


def size(count: int) -> str:
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def iso(moment: datetime.datetime | None) -> str | None:
    """A naive UTC moment as the hub and `status --json` write it."""
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


#: what to do about a plain http:// hub (enrolment and status say it)
ENROL_AGAIN = ("Enrol again with the hub's https:// address in the enrolment form on the school's admin page "
               "(Sync, \"Enrol again\": /admin/sync)")


# --- `classroom-sync status` -------------------------------------------------------------------------

def status_lines(status: SyncStatus, settings: Settings | None = None) -> list[str]:
    lines = []
    if status.enrolled:
        lines.append(f"enrolled:         school {status.school_id} at {status.hub_url}")
    else:
        lines.append("enrolled:         no (run `classroom-sync enroll --hub URL --school-id ID --secret-file F "
                     "--national-key FINGERPRINT`)")
    lines.append(f"last success:     {ago(status.last_success_at)}")
    attempt = ago(status.last_attempt_at)
    if status.last_attempt_at is not None:
        attempt += f": FAILED ({status.last_error_code}): {status.last_error}" if status.last_error else ": ok"
    lines.append(f"last attempt:     {attempt}")
    lines.append(f"records waiting:  {status.waiting} (the hub acknowledged up to {status.acked_seq}; "
                 f"the newest record is {status.last_seq})")
    lines.append(f"sent in total:    {status.records_sent} records, {size(status.bytes_sent)} "
                 f"({status.bytes_sent} bytes)")
    lines.append(f"batch size:       {status.batch_size} records")
    lines.append(f"agent version:    {status.agent_version or '(has not run yet)'}")
    lines.append(f"agent:            {heartbeat_words(agent_alive())}")
    if status.pending_requests:
        lines.append(f"sync now:         asked for on the admin page, {status.pending_requests} waiting for the agent")
    lines += content_lines(status, settings)
    lines += certificate_lines(settings)
    lines += trust_lines(status)
    if status.attempts:
        lines.append("recent attempts:")
        for row in status.attempts:
            lines.append("  " + attempt_line(row))
    return lines


def status_dict(status: SyncStatus, settings: Settings) -> dict:
    """`classroom-sync status --json`."""
    seen = agent_alive()
    return {**status.as_dict(), **content_extra(settings), "roster": roster_dict(),
            "https": certificate_dict(settings), "agent": {"alive": seen.alive, "last_seen": iso(seen.last_beat)}}


def heartbeat_words(seen: AgentAlive) -> str:
    """Whether the agent's daemon is running, from its heartbeat, as the admin page says it."""
    if seen.alive:
        return f"alive, last seen {ago(seen.last_beat)}"
    since = f"last seen {ago(seen.last_beat)}" if seen.last_beat is not None else "never seen"
    return f"NOT running ({since}); start it: `{START_AGENT}` (or `classroom-sync run`)"


def trust_lines(status: SyncStatus, events: int = 5) -> list[str]:
    """The national keys trusted for content, an http:// hub allowed, and the newest trust events."""
    lines = []
    if status.insecure_http:
        lines.append(f"hub address:      WARNING plain http://: answers are authenticated but not private. "
                     f"{ENROL_AGAIN}")
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


def attempt_line(row: Attempt) -> str:
    took = f"{(row.finished_at - row.started_at).total_seconds():.1f} s" if row.finished_at else "unfinished"
    result = "ok" if row.ok else ("running or stopped" if row.ok is None else f"FAILED ({row.error_code}): {row.error}")
    return f"{row.started_at:%Y-%m-%d %H:%M:%S} UTC  {took:>10}  {row.records:>7} records  {size(row.bytes):>9}  {result}"


# --- content ------------------------------------------------------------------------------------------

def download_window(settings: Settings) -> tuple[str, str | None]:
    """The download hours and when they open next (None: open now)."""
    spec = settings.sync_download_hours or settings.sync_hours
    return spec, next_window_start(spec, school_now(settings))


def content_extra(settings: Settings) -> dict:
    """What `status --json` adds to the sync state: the download hours and when they open next."""
    spec, opens = download_window(settings)
    return {"download_hours": spec, "download_window_opens_at": opens}


def _eta(seconds: float | None) -> str:
    return "unknown" if seconds is None else duration(seconds)


def content_lines(status: SyncStatus, settings: Settings | None = None) -> list[str]:
    """The content part of `classroom-sync status`."""
    lines = []
    opens = download_window(settings)[1] if settings is not None else None
    active = [d for d in status.downloads if d.state not in ("installed", "withdrawn")]
    if status.updates:
        lines.append(f"content updates:  {len(status.updates)} in the catalog of {ago(status.catalog_fetched_at)}:")
        for update in status.updates:
            was = f" (installed {update.installed_version})" if update.installed_version else " (new)"
            lines.append(f"  {update.pack_id} {update.version}{was}, {size(update.size)}")
    elif status.catalog_fetched_at is not None:
        lines.append(f"content updates:  none (catalog of {ago(status.catalog_fetched_at)})")
    for d in active:
        head = f"  {d.pack_id} {d.version}: {size(d.bytes_received)} of {size(d.bytes_total)} ({d.percent}%)"
        if d.state == "downloading":
            speed = f"{size(int(d.speed))}/s, about {_eta(d.eta_seconds)} left" if d.speed else "not moving now"
            lines.append(f"{head}, downloading, {speed}")
        elif d.state == "waiting_window":
            when = f" (from {opens})" if opens else ""
            lines.append(f"{head}, waits for the download hours{when}")
        elif d.state == "failed":
            lines.append(f"{head}, FAILED: {d.error}")
        else:
            lines.append(f"{head}, {d.state}")
    if active:
        lines.insert(len(lines) - len(active), "downloads:")
    for d in status.downloads:
        if d.state == "installed" and d.finished_at:
            lines.append(f"installed:        {d.pack_id} {d.version} at {d.finished_at:%Y-%m-%d %H:%M} UTC")
        elif d.state == "withdrawn":
            lines.append(f"withdrawn:        {d.pack_id} {d.version}: {d.error}")
    return lines


# --- the roster ---------------------------------------------------------------------------------------

def roster_dict() -> dict:
    row = RosterState.get_or_none(RosterState.id == 1)
    return {"cursor": row.cursor if row else 0, "changes_applied": row.changes_applied if row else 0,
            "last_pull_at": iso(row.last_pull_at) if row else None,
            "last_report_at": iso(row.last_report_at) if row else None,
            "last_error": row.last_error if row else None,
            "national_people": User.select().where(User.national_id.is_null(False)).count(),
            "national_assignments": NationalAssignment.select().count()}


def roster_lines() -> list[str]:
    status = roster_dict()
    row = RosterState.get_or_none(RosterState.id == 1)
    lines = [f"roster cursor:    {status['cursor']} ({status['changes_applied']} national change(s) applied; "
             f"{status['national_people']} national people, {status['national_assignments']} national "
             f"assignment(s))",
             f"roster pulled:    {ago(row.last_pull_at if row else None)}",
             f"roster reported:  {ago(row.last_report_at if row else None)}"]
    if status["last_error"]:
        lines.append(f"roster error:     {status['last_error']}")
    return lines


# --- HTTPS --------------------------------------------------------------------------------------------

def certificate_lines(settings: Settings | None) -> list[str]:
    """For `classroom-sync status`: the certificate installed and the last certificate step."""
    if settings is None:
        return []
    current = https.installed(settings.data_dir)
    if current is not None and current.self_signed:
        current = None  # install.sh's stand-in
    state = https.agent_state()
    if current is None and not state.get("offered"):
        return []
    line = (f"https:            {current.name}, valid until {current.not_after:%Y-%m-%d %H:%M} UTC"
            + (" (NEARING EXPIRY)" if current.nearing_expiry() else "") if current
            else "https:            no certificate yet (the national platform orders it after the box's request)")
    return [line] + ([f"https error:      {state['error']}"] if state.get("error") else [])


def certificate_dict(settings: Settings) -> dict:
    """For `classroom-sync status --json`: the installed certificate and the last certificate step."""
    current = https.installed(settings.data_dir)
    real = current is not None and not current.self_signed
    return {"names": list(current.names) if real else [], "not_after": current.not_after.isoformat() + "Z" if real
            else None, "nearing_expiry": real and current.nearing_expiry(), "last_step": https.agent_state()}
