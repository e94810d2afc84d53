"""The audit log: every administrator's action, written in the same transaction as the action where
the action is a database change, and read back page by page on the admin page."""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from ..models import AuditLog, SyncLog, User, utcnow

#: every action written; the admin page names each one (admin/audit.html)
ACTIONS = ("user.create", "user.import", "user.password_reset", "user.deactivate", "user.reactivate",
           "user.unlock", "user.secret_reset", "user.classes_handed_over",
           "class.create", "class.teacher", "content.import", "content.remove", "sync.now", "sync.enrol",
           "settings.change", "backup.make", "backup.download", "backup.delete", "backup.nightly", "backup.restore",
           "backup.restore_cancel")
PAGE_SIZE = 50


def write(action: str, target: str | None = None, details: dict | None = None, actor: User | None = None,
          actor_name: str | None = None, ip: str | None = None) -> AuditLog:
    """Add one row. Call it inside the action's own `database.atomic()` so both are kept or neither."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return AuditLog.create(
        created_at=utcnow(), actor_id=actor.id if actor is not None else None,
        actor_name=(actor.username or actor.display_name) if actor is not None else actor_name,
        action=action, target=(target or "")[:255] or None,
        details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str), ip=ip)


@dataclass(frozen=True)
class Entry:
    """One row as the page shows it."""
    id: int
    at: datetime.datetime
    actor_id: int | None
    actor: str | None
    action: str
    target: str | None
    details: dict
    ip: str | None


def _entry(row: AuditLog) -> Entry:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {"details": row.details}
    return Entry(row.id, row.created_at, row.actor_id, row.actor_name, row.action, row.target,
                 details if isinstance(details, dict) else {"details": details}, row.ip)


def page(number: int, size: int = PAGE_SIZE) -> tuple[list[Entry], int]:
    """The rows of page `number` (1: the newest), and how many pages there are."""
    total = AuditLog.select().count()
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    rows = AuditLog.select().order_by(AuditLog.id.desc()).paginate(number, size)
    return [_entry(row) for row in rows], pages


def latest(action: str) -> Entry | None:
    row = AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id.desc()).first()
    return _entry(row) if row is not None else None


@dataclass(frozen=True)
class Event:
    """One line of the recent-events page: an audit row or a sync attempt."""
    at: datetime.datetime
    kind: str  # "audit" or "sync"
    audit: Entry | None = None
    sync: SyncLog | None = None


def recent_events(limit: int = 100) -> list[Event]:
    """The newest audit rows and sync attempts together, newest first."""
    events = [Event(entry.at, "audit", audit=entry)
              for entry in map(_entry, AuditLog.select().order_by(AuditLog.id.desc()).limit(limit))]
    events += [Event(row.started_at, "sync", sync=row)
               for row in SyncLog.select().order_by(SyncLog.id.desc()).limit(limit)]
    events.sort(key=lambda event: event.at, reverse=True)
    return events[:limit]
