"""National rosters and assignments: the people and work the national platform sends to schools.

Every change the hub makes for a school (a person added, renamed, moved or deactivated; an
assignment sent or withdrawn) is appended to that school's feed as the thing's whole new state,
numbered 1, 2, ... per school. The school's agent pulls the feed after its cursor
(`GET /api/v1/roster/changes?after=N`), applies each page in one transaction, and reports its own
roster back (`POST /api/v1/roster/local`). The rules deciding who wins are in docs/rosters.md; the
one the hub applies is class membership: a school's local move newer than the national record's
last class change is adopted into the national record (and appended to the feed, so the school's
later pulls replay the same order the hub saw).
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import re
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from peewee import SqliteDatabase

from .db import database, is_postgres
from .models import (NationalAssignment, NationalPerson, RosterChange, RosterFeed, School, SchoolRoster, utcnow)
from .services import HubError, get_school

ROLES = ("student", "teacher")
CSV_COLUMNS = ("national_id", "name", "role", "class", "grade", "active")
REQUIRED_COLUMNS = ("national_id", "name", "role")
MAX_CSV_ROWS = 100_000
PAGE_LIMIT = 200  # changes per page unless the agent asks for fewer
MAX_PAGE_LIMIT = 1000
PAGE_BYTES = 256 * 1024  # a page stops growing past this (the agent reads at most 1 MiB per answer)
MAX_REPORT_PEOPLE = 50_000
MAX_REPORT_BYTES = 32 * 1024 * 1024  # inflated
NATIONAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")
RESULTS_RULES = ("submitted", "due", "teacher")
TRUE_WORDS = {"1", "yes", "true", "y", "active", "да", "иә"}
FALSE_WORDS = {"0", "no", "false", "n", "inactive", "нет", "жоқ"}


class RosterImportError(ValueError):
    """A roster file that cannot be imported; `problems` lists (line, what to fix). Nothing was stored."""

    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__(f"{len(problems)} problem(s); nothing was imported")
        self.problems = problems


class AssignmentProblem(ValueError):
    """A national assignment that cannot be sent or withdrawn as asked; the message says what to fix."""


class CursorAhead(HubError):
    status = 409
    code = "roster_cursor_ahead"


@dataclass(frozen=True)
class PersonRow:
    line: int
    national_id: str
    name: str
    role: str
    class_name: str | None
    grade: int | None
    active: bool


@dataclass
class ImportSummary:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    moved_from_other_school: int = 0


@dataclass
class ReportResult:
    people: int = 0
    adopted: list[str] = field(default_factory=list)  # national ids whose local move the hub took


def iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def parse_time(value: Any) -> datetime.datetime | None:
    """A wire timestamp (ISO 8601, UTC, with or without Z) as naive UTC; ValueError if it is not one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a time must be an ISO 8601 string")
    moment = datetime.datetime.fromisoformat(value.strip().removesuffix("Z"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def transaction():
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")  # take the write lock before reading
    return database.atomic()


# --- the feed -------------------------------------------------------------------------------------

def _append(school_id: str, entries: Iterable[tuple[str, str, dict]]) -> int:
    """Append (kind, key, data) entries to a school's feed; inside the caller's transaction."""
    entries = list(entries)
    if not entries:
        return 0
    RosterFeed.insert(school=school_id, last_seq=0).on_conflict_ignore().execute()
    locked = RosterFeed.select(RosterFeed.last_seq).where(RosterFeed.school == school_id)
    last = (locked.for_update() if is_postgres() else locked).scalar() or 0
    now = utcnow()
    rows = [{"school": school_id, "seq": last + index + 1, "kind": kind, "key": key, "data": data,
             "created_at": now} for index, (kind, key, data) in enumerate(entries)]
    for start in range(0, len(rows), 500):
        RosterChange.insert_many(rows[start:start + 500]).execute()
    RosterFeed.update(last_seq=last + len(rows)).where(RosterFeed.school == school_id).execute()
    return last + len(rows)


def changes(school: School, after: int, limit: int = PAGE_LIMIT) -> dict:
    """One page of the school's feed after `after`: {"changes": [...], "last": N, "more": bool}."""
    limit = max(1, min(limit, MAX_PAGE_LIMIT))
    feed = RosterFeed.get_or_none(RosterFeed.school == school.id)
    last = feed.last_seq if feed else 0
    if after > last:
        raise CursorAhead(f"the school's roster cursor is at {after} but this hub's feed for it ends at {last}: "
                          f"the hub may have been restored from an old backup. Nothing was sent: the national "
                          f"platform must restore the feed (docs/rosters.md)")
    page, size = [], 0
    rows = (RosterChange.select().where((RosterChange.school == school.id) & (RosterChange.seq > after))
            .order_by(RosterChange.seq).limit(limit + 1))
    more = False
    for row in rows:
        if len(page) >= limit or (page and size >= PAGE_BYTES):
            more = True
            break
        entry = {"seq": row.seq, "kind": row.kind, "data": row.data}
        size += len(json.dumps(entry, ensure_ascii=False))
        page.append(entry)
    if feed is not None and after > feed.pulled_after:
        RosterFeed.update(pulled_after=after).where((RosterFeed.school == school.id)
                                                    & (RosterFeed.pulled_after < after)).execute()
    return {"changes": page, "last": last, "more": more}


# --- people ---------------------------------------------------------------------------------------

def person_state(person: NationalPerson, left: bool = False) -> dict:
    """What a school is told about a person: the whole national record."""
    return {"national_id": person.national_id, "name": person.display_name, "role": person.role,
            "class": person.class_name, "grade": person.grade, "active": bool(person.active) and not left,
            "left": left, "version": person.version, "class_changed_at": iso(person.class_changed_at)}


def _flag(value: str) -> bool | None:
    value = value.strip().lower()
    if value in TRUE_WORDS or value == "":
        return True
    if value in FALSE_WORDS:
        return False
    return None


def parse_roster_csv(raw: bytes) -> list[PersonRow]:
    """The people in a roster file, checked whole: RosterImportError lists every bad line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterImportError([(0, "the file is not UTF-8 text: save it as CSV UTF-8")]) from None
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter if header_line.count(delimiter) else ",")
    try:
        header = [title.strip().lower() for title in next(reader)]
    except StopIteration:
        raise RosterImportError([(1, "the file is empty: the first line names the columns "
                                     + ", ".join(CSV_COLUMNS))]) from None
    unknown = [title for title in header if title not in CSV_COLUMNS]
    missing = [title for title in REQUIRED_COLUMNS if title not in header]
    if unknown or missing or len(set(header)) != len(header):
        what = "; ".join(filter(None, [f"unknown column(s) {', '.join(unknown)}" if unknown else "",
                                       f"missing column(s) {', '.join(missing)}" if missing else "",
                                       "a column is named twice" if len(set(header)) != len(header) else ""]))
        raise RosterImportError([(1, f"{what}: the columns are {', '.join(CSV_COLUMNS)} "
                                     f"({', '.join(REQUIRED_COLUMNS)} required)")])
    problems: list[tuple[int, str]] = []
    people: list[PersonRow] = []
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            problems.append((line, f"{len(cells)} cells for {len(header)} columns: check for a stray "
                                   f"{'comma' if delimiter == ',' else 'separator'}"))
            continue
        row = dict(zip(header, (cell.strip() for cell in cells)))
        national_id = row.get("national_id", "")
        name = " ".join(row.get("name", "").split())
        role = row.get("role", "").lower()
        class_name = " ".join(row.get("class", "").split()) or None
        grade_text = row.get("grade", "")
        wrong = []
        if not NATIONAL_ID.match(national_id):
            wrong.append("national_id must be 1-64 Latin letters, digits, dot, dash or underscore")
        elif national_id in seen:
            wrong.append(f"national_id {national_id} is also on line {seen[national_id]}")
        if not name or len(name) > 120:
            wrong.append("name must be 1-120 characters")
        if role not in ROLES:
            wrong.append(f"role must be student or teacher, not {row.get('role', '')!r}")
        if class_name is not None and len(class_name) > 64:
            wrong.append("class must be at most 64 characters")
        grade = None
        if grade_text:
            if grade_text.isdigit() and 0 <= int(grade_text) <= 12:
                grade = int(grade_text)
            else:
                wrong.append(f"grade must be a whole number from 0 to 12, not {grade_text!r}")
        if role == "student" and class_name is None:
            wrong.append("a student needs a class")
        if class_name is not None and not grade_text:
            wrong.append("a class needs its grade")
        active = _flag(row.get("active", ""))
        if active is None:
            wrong.append("active must be yes or no")
        if wrong:
            problems.append((line, "; ".join(wrong)))
            continue
        seen[national_id] = line
        people.append(PersonRow(line, national_id, name, role, class_name, grade, bool(active)))
        if len(people) > MAX_CSV_ROWS:
            raise RosterImportError([(line, f"more than {MAX_CSV_ROWS} people in one file: split it")])
    if problems:
        raise RosterImportError(problems)
    if not people:
        raise RosterImportError([(1, "the file lists nobody: one line per person after the column names")])
    return people


def import_roster(school_id: str, people: list[PersonRow]) -> ImportSummary:
    """Add or update these people at the school in one transaction; only real changes go to the feed."""
    get_school(school_id)  # UnknownSchool
    summary = ImportSummary()
    now = utcnow()
    with transaction():
        held = {}
        ids = [p.national_id for p in people]
        for start in range(0, len(ids), 1000):
            held.update({p.national_id: p for p in NationalPerson.select().where(
                NationalPerson.national_id.in_(ids[start:start + 1000]))})
        feed: dict[str, list[tuple[str, str, dict]]] = {}
        for row in people:
            person = held.get(row.national_id)
            if person is None:
                person = NationalPerson.create(national_id=row.national_id, school=school_id, display_name=row.name,
                                               role=row.role, class_name=row.class_name, grade=row.grade,
                                               active=row.active, version=1, updated_at=now, class_changed_at=now)
                summary.added += 1
                feed.setdefault(school_id, []).append(("person", person.national_id, person_state(person)))
                continue
            changes: dict = {}
            if person.school != school_id:
                feed.setdefault(person.school, []).append(("person", person.national_id,
                                                           person_state(person, left=True)))
                changes["school"] = school_id
                summary.moved_from_other_school += 1
            for name, value in (("display_name", row.name), ("role", row.role), ("active", row.active)):
                if getattr(person, name) != value:
                    changes[name] = value
            if (person.class_name, person.grade) != (row.class_name, row.grade):
                changes.update(class_name=row.class_name, grade=row.grade, class_changed_at=now)
            if not changes:
                summary.unchanged += 1
                continue
            changes.update(version=person.version + 1, updated_at=now)
            for name, value in changes.items():
                setattr(person, name, value)
            person.save()
            summary.changed += 1
            feed.setdefault(school_id, []).append(("person", person.national_id, person_state(person)))
        for target, entries in feed.items():
            _append(target, entries)
    return summary


def set_active(national_id: str, active: bool) -> NationalPerson:
    """Deactivate (or reactivate) a person nationally; their school is told."""
    with transaction():
        person = NationalPerson.get_or_none(NationalPerson.national_id == national_id)
        if person is None:
            raise LookupError(national_id)
        if bool(person.active) != active:
            person.active = active
            person.version += 1
            person.updated_at = utcnow()
            person.save()
            _append(person.school, [("person", person.national_id, person_state(person))])
    return person


def people(school_id: str) -> list[NationalPerson]:
    return list(NationalPerson.select().where(NationalPerson.school == school_id)
                .order_by(NationalPerson.class_name, NationalPerson.display_name, NationalPerson.national_id))


def reported(school_id: str) -> list[dict]:
    """The school's roster as its agent last reported it, in the report's own shape."""
    rows = SchoolRoster.select().where(SchoolRoster.school == school_id).order_by(SchoolRoster.person)
    return [_reported_entry(row) for row in rows]


def _reported_entry(row: SchoolRoster) -> dict:
    entry = {"role": row.role, "active": bool(row.active), "classes": row.classes}
    if row.national_id:
        entry["national_id"] = row.national_id
        entry["class_edited_at"] = iso(row.class_edited_at)
    else:
        entry["pseudonym"] = row.pseudonym
    return entry


def roster_summary(school_id: str) -> dict:
    feed = RosterFeed.get_or_none(RosterFeed.school == school_id)
    return {"feed_last": feed.last_seq if feed else 0, "school_pulled_after": feed.pulled_after if feed else 0,
            "reported_at": iso(feed.reported_at) if feed else None}


# --- the school's report --------------------------------------------------------------------------

def inflate(body: bytes, limit: int = MAX_REPORT_BYTES) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HubError(f"the body is not gzip data ({exc})", "bad_roster") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise HubError(f"the roster report inflates beyond {limit} bytes", "bad_roster")
    if not inflater.eof or inflater.unused_data:
        raise HubError("the gzip data is truncated or followed by other bytes: send exactly one gzip member",
                       "bad_roster")
    return raw


def _check_entry(index: int, entry: Any) -> dict:
    where = f"people[{index}]"
    if not isinstance(entry, dict):
        raise HubError(f"{where} must be an object", "bad_roster")
    national_id, pseudonym = entry.get("national_id"), entry.get("pseudonym")
    if national_id is not None:
        if not isinstance(national_id, str) or not NATIONAL_ID.match(national_id):
            raise HubError(f"{where}.national_id is not a national id", "bad_roster")
    elif not isinstance(pseudonym, str) or not PSEUDONYM.match(pseudonym):
        raise HubError(f"{where} needs a national_id or a pseudonym (32 hex characters)", "bad_roster")
    if "name" in entry or "display_name" in entry:
        raise HubError(f"{where}: send no names; people are known by national id or pseudonym only", "bad_roster")
    role = entry.get("role")
    if role not in ("student", "teacher", "admin"):
        raise HubError(f"{where}.role must be student, teacher or admin", "bad_roster")
    classes = entry.get("classes", [])
    if not isinstance(classes, list) or len(classes) > 200:
        raise HubError(f"{where}.classes must be a list of at most 200 classes", "bad_roster")
    checked = []
    for room in classes:
        if not (isinstance(room, dict) and isinstance(room.get("name"), str) and 0 < len(room["name"]) <= 64
                and (room.get("grade") is None or (isinstance(room["grade"], int)
                                                    and not isinstance(room["grade"], bool)))):
            raise HubError(f"{where}.classes: each is {{\"name\": 1-64 characters, \"grade\": a number or null}}",
                           "bad_roster")
        checked.append({"name": room["name"], "grade": room.get("grade")})
    try:
        edited = parse_time(entry.get("class_edited_at"))
    except ValueError:
        raise HubError(f"{where}.class_edited_at must be an ISO 8601 UTC time", "bad_roster") from None
    active = entry.get("active", True)
    if not isinstance(active, bool):
        raise HubError(f"{where}.active must be true or false", "bad_roster")
    return {"national_id": national_id, "pseudonym": None if national_id else pseudonym, "role": role,
            "active": active, "classes": sorted(checked, key=lambda c: c["name"]), "class_edited_at": edited}


def decode_report(body: bytes, gzipped: bool) -> list[dict]:
    raw = inflate(body) if gzipped else body
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HubError(f"the roster report is not UTF-8 JSON: {exc}", "bad_roster") from None
    if not isinstance(document, dict) or not isinstance(document.get("people"), list):
        raise HubError("the roster report must be a JSON object with a list `people`", "bad_roster")
    entries = document["people"]
    if len(entries) > MAX_REPORT_PEOPLE:
        raise HubError(f"{len(entries)} people in one report; at most {MAX_REPORT_PEOPLE}", "bad_roster")
    checked, keys = [], set()
    for index, entry in enumerate(entries):
        entry = _check_entry(index, entry)
        key = f"n:{entry['national_id']}" if entry["national_id"] else f"p:{entry['pseudonym']}"
        if key in keys:
            raise HubError(f"people[{index}] appears twice in the report", "bad_roster")
        keys.add(key)
        entry["person"] = key
        checked.append(entry)
    return checked


def store_report(school: School, entries: list[dict]) -> ReportResult:
    """Replace the school's reported roster (inside the caller's transaction) and adopt local class
    moves newer than the national record's last class change (students only)."""
    result = ReportResult(people=len(entries))
    SchoolRoster.delete().where(SchoolRoster.school == school.id).execute()
    rows = [{"school": school.id, "person": e["person"], "national_id": e["national_id"], "pseudonym": e["pseudonym"],
             "role": e["role"], "active": e["active"], "classes": e["classes"], "class_edited_at": e["class_edited_at"]}
            for e in entries]
    for start in range(0, len(rows), 500):
        SchoolRoster.insert_many(rows[start:start + 500]).execute()
    moved = {e["national_id"]: e for e in entries if e["national_id"] and e["class_edited_at"] is not None}
    ids = list(moved)
    held: dict[str, NationalPerson] = {}
    for start in range(0, len(ids), 1000):
        query = NationalPerson.select().where(NationalPerson.national_id.in_(ids[start:start + 1000])
                                              & (NationalPerson.school == school.id))
        held.update({p.national_id: p for p in (query.for_update() if is_postgres() else query)})
    feed = []
    now = utcnow()
    for national_id, entry in moved.items():
        person = held.get(national_id)
        if person is None or person.role != "student" or entry["class_edited_at"] <= person.class_changed_at:
            continue  # not this school's, or the national class change is the newer one
        room = entry["classes"][0] if entry["classes"] else {"name": None, "grade": None}
        if (room["name"], room["grade"]) == (person.class_name, person.grade):
            continue
        person.class_name, person.grade = room["name"], room["grade"]
        person.class_changed_at = entry["class_edited_at"]
        person.version += 1
        person.updated_at = now
        person.save()
        result.adopted.append(national_id)
        feed.append(("person", national_id, person_state(person)))
    _append(school.id, feed)
    RosterFeed.insert(school=school.id, last_seq=0, reported_at=now).on_conflict(
        conflict_target=[RosterFeed.school], update={RosterFeed.reported_at: now}).execute()
    return result


# --- assignments ----------------------------------------------------------------------------------

def assignment_state(assignment: NationalAssignment) -> dict:
    return {"id": assignment.id, "title": assignment.title, "kind": assignment.kind, "grade": assignment.grade,
            "parts": assignment.parts, "starts_at": iso(assignment.starts_at), "due_at": iso(assignment.due_at),
            "settings": assignment.settings, "withdrawn": assignment.withdrawn_at is not None}


def _targets(region: str | None, school_ids: list[str]) -> list[str]:
    active = School.select(School.id, School.region).where(School.revoked_at.is_null())
    if school_ids:
        known = {s.id for s in active}
        unknown = [s for s in school_ids if s not in known]
        if unknown:
            raise AssignmentProblem(f"no enrolled, active school {', '.join(unknown)}: see `classroom-hub school list`")
        return sorted(set(school_ids))
    found = [s.id for s in active if region is None or s.region == region]
    if not found:
        raise AssignmentProblem(f"no enrolled, active school in region {region!r}" if region
                                else "no school is enrolled yet")
    return sorted(found)


def send_assignment(title: str, grade: int, parts: list[dict], *, kind: str = "work", region: str | None = None,
                    school_ids: list[str] | None = None, starts_at: datetime.datetime | None = None,
                    due_at: datetime.datetime | None = None, time_limit_minutes: int | None = None,
                    attempts: int = 1, results: str = "submitted") -> NationalAssignment:
    """Send work to every class of `grade` in the target schools (by id, by region, or all)."""
    title = " ".join(title.split())
    if not title or len(title) > 200:
        raise AssignmentProblem("--title must be 1-200 characters")
    if kind not in ("work", "quiz"):
        raise AssignmentProblem("an assignment is work or a quiz")
    if not 0 <= grade <= 12:
        raise AssignmentProblem("--grade must be from 0 to 12")
    if not parts:
        raise AssignmentProblem("give at least one part: --pack P --node N")
    for part in parts:
        if not part.get("pack_id") or not part.get("node_id"):
            raise AssignmentProblem("each part needs a pack id and a node id")
    if starts_at and due_at and due_at <= starts_at:
        raise AssignmentProblem("--due must come after --start")
    if due_at and due_at <= utcnow():
        raise AssignmentProblem("--due is in the past")
    settings: dict = {}
    if kind == "quiz":
        if time_limit_minutes is not None and not 1 <= time_limit_minutes <= 600:
            raise AssignmentProblem("--time-limit is from 1 to 600 minutes")
        if not 1 <= attempts <= 20:
            raise AssignmentProblem("--attempts is from 1 to 20")
        if results not in RESULTS_RULES:
            raise AssignmentProblem(f"--results is one of {', '.join(RESULTS_RULES)}")
        settings = {"time_limit_minutes": time_limit_minutes, "attempts": attempts, "results": results}
    if region and school_ids:
        raise AssignmentProblem("give --region or --school, not both")
    with transaction():
        targets = _targets(region, list(school_ids or []))
        assignment = NationalAssignment.create(
            id=str(uuid.uuid4()), title=title, kind=kind, grade=grade, region=region, schools=targets,
            parts=[{"pack_id": p["pack_id"], "node_id": p["node_id"], "item_id": p.get("item_id")} for p in parts],
            starts_at=starts_at, due_at=due_at, settings=settings, created_at=utcnow())
        for school_id in targets:
            _append(school_id, [("assignment", assignment.id, assignment_state(assignment))])
    return assignment


def withdraw_assignment(assignment_id: str) -> NationalAssignment:
    """Withdraw sent work: schools close it (results made so far stay)."""
    with transaction():
        assignment = NationalAssignment.get_or_none(NationalAssignment.id == assignment_id)
        if assignment is None:
            raise AssignmentProblem(f"no national assignment {assignment_id!r}: see `classroom-hub assignment list`")
        if assignment.withdrawn_at is None:
            assignment.withdrawn_at = utcnow()
            assignment.save()
            for school_id in assignment.schools:
                _append(school_id, [("assignment", assignment.id, assignment_state(assignment))])
    return assignment


def assignments() -> list[NationalAssignment]:
    return list(NationalAssignment.select().order_by(NationalAssignment.created_at, NationalAssignment.id))

