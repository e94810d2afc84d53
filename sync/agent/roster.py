"""The agent's roster step: national people and assignments down, the school's own roster up.

Runs in every sync after the records (`Agent.sync`). Down: `GET /api/v1/roster/changes?after=CURSOR`
in bounded pages; each page is applied in one transaction that also moves the cursor, so a link cut
mid-page leaves nothing half-applied and the page is simply pulled again. Up: the school's whole
roster (national people by national id, local people by pseudonym only, with their classes) in one
signed `POST /api/v1/roster/local`, which the hub stores as its view of the school.

The rules (docs/rosters.md): identity fields (name, role, active) follow the national record; a
class move made here wins over a national class change made before it, and loses to one made
after it; a class the hub names that does not exist here is created; a person deactivated
nationally is deactivated here and keeps their records; local people stay local. National
assignments become ordinary assignments for every class of their grade, marked national.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Callable

from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.accounts import services as accounts
from classroom_server.accounts.services import USERNAME_RE
from classroom_server.admin.sync import state_row
from classroom_server.coach import services as coach
from classroom_server.db import database
from classroom_server.models import (Assignment, Classroom, Membership, NationalAssignment, RosterEdit, RosterState,
                                     User, utcnow)
from sync import protocol

from .client import HubClient, SyncFailure, is_count, read_secret
from .status import iso

log = logging.getLogger(__name__)

CHANGES_PATH = "/api/v1/roster/changes"
LOCAL_PATH = "/api/v1/roster/local"
PAGE_SIZE = 200
MAX_PAGES_PER_SYNC = 10_000  # a guard against a hub that always says "more"
KINDS = ("person", "assignment")
REPORT_AGAIN_AFTER = datetime.timedelta(days=1)  # an unchanged roster is still sent this often


@dataclass
class RosterOutcome:
    pages: int = 0
    applied: int = 0
    cursor: int = 0
    reported: int = 0
    adopted: int = 0


# --- pure rules ---------------------------------------------------------------------------------------

def keep_local_class(local_edited_at: datetime.datetime | None, national_changed_at: datetime.datetime | None) -> bool:
    """Whether a class move made here stands against the national record's class (the newer wins; a tie:
    the school's, since the hub sets the national time to the school's when it adopts a move)."""
    if local_edited_at is None:
        return False
    if national_changed_at is None:
        return True
    return local_edited_at >= national_changed_at


def parse_time(value) -> datetime.datetime | None:
    if not value:
        return None
    moment = datetime.datetime.fromisoformat(str(value).strip().removesuffix("Z"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


# --- state --------------------------------------------------------------------------------------------

def state() -> RosterState:
    RosterState.insert(id=1).on_conflict_ignore().execute()
    return RosterState.get_by_id(1)


# --- one roster sync ---------------------------------------------------------------------------------

def sync_roster(client: HubClient, say: Callable[[str], None] | None = None) -> RosterOutcome:
    """Pull the national changes after the cursor, then report the school's roster; SyncFailure if the
    hub cannot be reached or answers wrongly (the failure is also kept for `classroom-sync status`)."""
    say = say or (lambda line: None)
    row = state_row()
    if not (row.hub_url and row.school_id):
        raise SyncFailure("not_enrolled", "this school is not enrolled: run `classroom-sync enroll`")
    signed = (row.school_id, read_secret(client.settings))
    outcome = RosterOutcome()
    try:
        _pull(client, row.hub_url, signed, outcome, say)
        adopted = _report(client, row.hub_url, signed, outcome, say)
        if adopted:  # the hub appended what it adopted to the feed: take it now, so the cursor is current
            _pull(client, row.hub_url, signed, outcome, say)
    except SyncFailure as exc:
        _note_error(f"{exc.code}: {exc}")
        raise
    _note_error(None)
    return outcome


def _note_error(error: str | None) -> None:
    try:
        with database.atomic():
            state()
            RosterState.update(last_error=error).where(RosterState.id == 1).execute()
    except PeeweeDatabaseError as exc:  # a full disk must not hide the sync's own error
        log.error("cannot record the roster sync's outcome: %s", exc)


def _pull(client, hub: str, signed: tuple[str, str], outcome: RosterOutcome, say: Callable[[str], None]) -> None:
    cursor = state().cursor
    for _ in range(MAX_PAGES_PER_SYNC):
        status, data, what = client.request("GET", hub, f"{CHANGES_PATH}?after={cursor}&limit={PAGE_SIZE}",
                                            signed=signed)
        if status == 409 and data and data.get("error") == "roster_cursor_ahead":
            raise SyncFailure("conflict", f"the hub's roster feed ends before this school's roster "
                                                     f"cursor ({data.get('message')}); nothing was changed")
        client.check_signed(status, data, what, hub)
        changes = _checked_page(status, data, what, cursor)
        if not changes:
            break
        cursor = apply_page(changes, cursor)
        outcome.pages += 1
        outcome.applied += len(changes)
        say(f"roster: applied {len(changes)} national change(s) up to {cursor} of {data['last']}")
        if not data["more"]:
            break
    outcome.cursor = cursor
    with database.atomic():
        RosterState.update(last_pull_at=utcnow()).where(RosterState.id == 1).execute()


def _checked_page(status: int, data: dict | None, what: str, cursor: int) -> list[dict]:
    def wrong(why: str) -> SyncFailure:
        return SyncFailure("hub_error", f"the hub's roster feed answered {what}: {why}; nothing was "
                                                   f"applied, it will be tried again")
    if status != 200 or data is None:
        detail = f" ({data.get('message')})" if data and data.get("message") else ""
        raise wrong(f"not a page of changes{detail}")
    changes, more, last = data.get("changes"), data.get("more"), data.get("last")
    if not isinstance(changes, list) or not isinstance(more, bool) or not is_count(last):
        raise wrong("a page needs changes, more and last")
    previous = cursor
    for change in changes:
        if not isinstance(change, dict) or not is_count(change.get("seq")):
            raise wrong("each change needs a seq")
        if change["seq"] <= previous:
            raise wrong(f"seq {change['seq']} does not follow {previous}")
        if change.get("kind") not in KINDS or not isinstance(change.get("data"), dict):
            raise wrong(f"change {change['seq']} is not a person or an assignment")
        previous = change["seq"]
    if more and not changes:
        raise wrong("more changes promised but none sent")
    return changes


def apply_page(changes: list[dict], cursor: int) -> int:
    """Apply one page of national changes and move the cursor to its last seq, all in one transaction."""
    now = utcnow()
    with database.atomic():
        held = state()
        if held.cursor != cursor:  # another process applied it meanwhile: take the page again
            raise SyncFailure("conflict", f"the roster cursor moved from {cursor} to {held.cursor} "
                                                     f"while a page was applied; it will be tried again")
        for change in changes:
            try:
                if change["kind"] == "person":
                    apply_person(change["data"], now)
                else:
                    apply_assignment(change["data"], now)
            except (KeyError, TypeError, ValueError) as exc:
                raise SyncFailure(
                    "hub_error", f"roster change {change['seq']} from the hub cannot be applied ({exc!r}); nothing "
                                 f"of its page was applied") from None
        give_national_work(now)
        last = changes[-1]["seq"]
        RosterState.update(cursor=last, changes_applied=RosterState.changes_applied + len(changes)) \
            .where(RosterState.id == 1).execute()
    return last


# --- people -------------------------------------------------------------------------------------------

def _username(national_id: str) -> str | None:
    """A national teacher signs in with their national id (lowercased) when it makes a free username."""
    candidate = national_id.strip().lower()
    if not USERNAME_RE.match(candidate) or User.select().where(User.username == candidate).exists():
        return None
    return candidate


def apply_person(data: dict, now: datetime.datetime) -> User | None:
    national_id = str(data["national_id"])
    role = data["role"]
    if role not in ("student", "teacher"):
        raise ValueError(f"role {role!r}")
    active = bool(data["active"]) and not data.get("left")
    user = User.get_or_none(User.national_id == national_id)
    if user is None:
        if not active:
            return None  # never here, and not to be: nothing to keep
        user = accounts.create_national_user(national_id, str(data["name"]), role,
                                             username=_username(national_id) if role == "teacher" else None, now=now)
    else:
        user = accounts.update_identity(user, display_name=str(data["name"]),
                                        role=role if user.role != "admin" else None,  # a local admin stays admin
                                        active=active)
    if not active:
        return user  # deactivated or gone to another school: classes and records stay as they were
    edit = RosterEdit.get_or_none(RosterEdit.user == user.id)
    if keep_local_class(edit.class_edited_at if edit else None, parse_time(data.get("class_changed_at"))):
        return user
    _set_national_class(user, data.get("class"), data.get("grade"))
    return user


def _set_national_class(user: User, class_name: str | None, grade: int | None) -> None:
    if user.role == "student":
        rooms = Membership.select(Membership.classroom).where(Membership.user == user.id, Membership.role == "student")
        keep = accounts.classroom_named(class_name, grade) if class_name else None
        accounts.leave_classes(user, [room_id for (room_id,) in rooms.tuples() if keep is None or room_id != keep.id])
        if keep is not None:
            accounts.enrol(user, keep)
    elif class_name:  # a teacher's national class is added; classes they teach besides stay
        accounts.enrol(user, accounts.classroom_named(class_name, grade))


# --- assignments --------------------------------------------------------------------------------------

def apply_assignment(data: dict, now: datetime.datetime) -> None:
    national_id = str(data["id"])
    grade = int(data["grade"])
    withdrawn = bool(data.get("withdrawn"))
    row = NationalAssignment.get_or_none(NationalAssignment.id == national_id)
    document = json.dumps(data, ensure_ascii=False, sort_keys=True)
    if row is None:
        NationalAssignment.create(id=national_id, grade=grade, data=document, received_at=now,
                                  withdrawn_at=now if withdrawn else None)
    else:
        NationalAssignment.update(grade=grade, data=document,
                                  withdrawn_at=(row.withdrawn_at or now) if withdrawn else None) \
            .where(NationalAssignment.id == national_id).execute()
    if withdrawn:
        coach.close_national_assignment(national_id, now)
    else:
        coach.update_national_assignment(national_id, str(data["title"]), parse_time(data.get("starts_at")),
                                         parse_time(data.get("due_at")))


def give_national_work(now: datetime.datetime | None = None) -> int:
    """Every class whose grade a national assignment is for gets it (classes made later too); the count made."""
    now = now or utcnow()
    made = 0
    for national in NationalAssignment.select().where(NationalAssignment.withdrawn_at.is_null()):
        given = {c for (c,) in Assignment.select(Assignment.classroom).where(
            Assignment.national_id == national.id).tuples()}
        rooms = [room for room in Classroom.select().where(Classroom.grade == national.grade) if room.id not in given]
        if not rooms:
            continue
        data = json.loads(national.data)
        for room in rooms:
            _give(room, national.id, data, now)
            made += 1
    return made


def _give(room: Classroom, national_id: str, data: dict, now: datetime.datetime) -> Assignment:
    kind = "quiz" if data.get("kind") == "quiz" else "work"
    settings = data.get("settings") or {}
    parts = [(str(part["pack_id"]), str(part["node_id"]), part.get("item_id")) for part in data.get("parts") or []]
    return coach.give_national_assignment(
        room, national_id, str(data["title"]), kind, parse_time(data.get("starts_at")),
        parse_time(data.get("due_at")), settings.get("time_limit_minutes") if kind == "quiz" else None,
        int(settings.get("attempts") or 1) if kind == "quiz" else 1,
        settings.get("results") or "submitted" if kind == "quiz" else "submitted", parts, now)


# --- up: the school's own roster -----------------------------------------------------------------------

def local_roster() -> list[dict]:
    """The school's students and teachers as the hub may know them: national id or pseudonym, role, active,
    classes (name and grade) and, for national people, when their class was last changed here. No names."""
    classes: dict[int, list[dict]] = {}
    for user_id, name, grade in (Membership.select(Membership.user, Classroom.name, Classroom.grade)
                                 .join(Classroom).tuples()):
        classes.setdefault(user_id, []).append({"name": name, "grade": grade})
    edits = {user_id: edited for user_id, edited in RosterEdit.select(RosterEdit.user, RosterEdit.class_edited_at)
             .tuples()}
    people = []
    for user in User.select().where(User.role.in_(("student", "teacher"))).order_by(User.id):
        entry: dict = {"role": user.role, "active": bool(user.is_active),
                       "classes": sorted(classes.get(user.id, []), key=lambda c: c["name"])}
        if user.national_id:
            entry["national_id"] = user.national_id
            entry["class_edited_at"] = iso(edits.get(user.id))
        elif user.pseudonym:
            entry["pseudonym"] = user.pseudonym
        else:
            continue
        people.append(entry)
    return people


def _report(client, hub: str, signed: tuple[str, str], outcome: RosterOutcome, say: Callable[[str], None]) -> int:
    people = local_roster()
    raw = json.dumps({"protocol": protocol.PROTOCOL_VERSION, "people": people}, ensure_ascii=False,
                     separators=(",", ":")).encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest()
    held = state()
    if (digest == held.report_sha256 and held.last_report_at is not None
            and utcnow() - held.last_report_at < REPORT_AGAIN_AFTER):
        return 0  # the hub has this very roster: spare the link (it is sent again once a day anyway)
    body = protocol.gzip_compress(raw)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    status, data, what = client.request("POST", hub, LOCAL_PATH, body, headers, signed=signed)
    client.check_signed(status, data, what, hub)
    adopted = (data or {}).get("adopted")
    if status != 200 or not isinstance(adopted, list) or (data or {}).get("people") != len(people):
        detail = f" ({data.get('message')})" if data and data.get("message") else ""
        raise SyncFailure("hub_error", f"the hub answered the school's roster with {what}{detail}; it "
                                                  f"will be sent again")
    with database.atomic():
        RosterState.update(last_report_at=utcnow(), report_sha256=digest).where(RosterState.id == 1).execute()
    outcome.reported, outcome.adopted = len(people), len(adopted)
    say(f"roster: reported {len(people)} people ({len(body)} bytes)"
        + (f"; the hub took this school's class move for {len(adopted)}" if adopted else ""))
    return len(adopted)
