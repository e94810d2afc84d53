"""A class's students and groups: add one, import many from a spreadsheet (CSV), group them.

An import is checked whole first: every row with a problem is reported with its line number and
what to fix, and then nothing is imported; a clean file is imported in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import IntegrityError

from ..accounts import services as accounts
from ..accounts.services import AccountError
from ..collation import NAMES
from ..db import database
from ..i18n import Problem
from ..models import Classroom, GroupMember, Membership, RosterEdit, StudentGroup, User, utcnow

MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 2000
#: accepted column titles (lower case) -> our field; Excel users write them in their language
COLUMNS = {
    "name": "name", "full name": "name", "student": "name", "имя": "name", "фио": "name", "ученик": "name",
    "аты": "name", "аты-жөні": "name", "оқушы": "name",
    "pin": "pin", "пин": "pin", "пин-код": "pin", "pin-код": "pin",
    "picture code": "pictures", "pictures": "pictures", "картинки": "pictures", "суреттер": "pictures",
    "group": "group", "группа": "group", "топ": "group",
}


class RosterError(Problem):
    """A roster change that cannot be made; the message says what to fix."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    problem: str  # English msgid
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ImportResult:
    added: list[str]
    problems: list[RowProblem]


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = COLUMNS.get(title.strip().lower())
        if key is None:
            raise RosterError("unknown column %(title)r: use name, and if you like pin, picture code, group",
                              title=title.strip())
        if key in found:
            raise RosterError("column %(title)r is given twice", title=title.strip())
        found[key] = index
    if "name" not in found:
        raise RosterError("the first line must name the columns, with a column called name")
    return found


def import_students(classroom: Classroom, raw: bytes) -> ImportResult:
    """Add the students listed in a CSV file to the class (all of them, or none)."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise RosterError("the file is larger than 1 MB: split it into smaller files")
    reader = accounts.open_csv(accounts.decode_csv(raw))
    header = reader.fieldnames or []
    if not any(title.strip() for title in header):
        raise RosterError("the file is empty")
    columns = _columns(header)
    rows = []  # (line number, cells by our field, whether the line has more cells than columns)
    for row in reader:
        cells = {key: (row[header[index]] or "").strip() for key, index in columns.items()}
        if any(cells.values()) or row.get(None):
            rows.append((reader.line_num, cells, bool(row.get(None))))
    if len(rows) > MAX_IMPORT_ROWS:
        raise RosterError("at most %(count)d students in one file", count=MAX_IMPORT_ROWS)
    existing = {s.display_name.casefold() for s in accounts.class_students(classroom)}
    groups = {g.name.casefold(): g for g in StudentGroup.select().where(StudentGroup.classroom == classroom.id)}
    problems: list[RowProblem] = []
    planned: list[tuple[str, str | None, str | None]] = []
    seen: set[str] = set()
    for line, cells, too_many in rows:
        if too_many:
            problems.append(RowProblem(line, "more cells than columns: check for a stray comma or semicolon"))
            continue
        try:
            name = accounts.check_display_name(cells["name"])
        except AccountError as exc:
            problems.append(RowProblem(line, exc.message, exc.params))
            continue
        if name.casefold() in existing or name.casefold() in seen:
            problems.append(RowProblem(line, "%(name)s is already in this class", {"name": name}))
            continue
        secret = cells.get("pin") if classroom.signin_mode == "pin" else (
            cells.get("pictures") if classroom.signin_mode == "picture" else None)
        if secret:
            try:
                (accounts.check_pin if classroom.signin_mode == "pin" else accounts.check_picture_code)(secret)
            except AccountError as exc:
                problems.append(RowProblem(line, exc.message, exc.params))
                continue
        group = cells.get("group") or None
        if group and group.casefold() not in groups and len(group) > 64:
            problems.append(RowProblem(line, "a group name is at most 64 characters"))
            continue
        seen.add(name.casefold())
        planned.append((name, secret or None, group))
    if problems:
        return ImportResult([], problems)
    with database.atomic():
        for name, secret, group in planned:
            student = accounts.create_user(None, name, "student")
            accounts.enrol(student, classroom)
            if secret:
                accounts.set_student_secret(student, classroom, secret)
            if group:
                if group.casefold() not in groups:
                    groups[group.casefold()] = StudentGroup.create(classroom=classroom.id, name=group)
                GroupMember.create(group=groups[group.casefold()].id, user=student.id)
    return ImportResult([name for name, _, _ in planned], [])


def add_student(classroom: Classroom, name: str) -> tuple[User, str | None]:
    """Add one student; in a class that signs in with a PIN or pictures, with a new random one at
    once (returned, for the teacher to hand over), so the child can sign in today."""
    try:
        name = accounts.check_display_name(name)
    except AccountError as exc:
        raise RosterError(exc.message, **exc.params) from None
    if name.casefold() in {s.display_name.casefold() for s in accounts.class_students(classroom)}:
        raise RosterError("%(name)s is already in this class", name=name)
    secret = accounts.new_student_secret(classroom.signin_mode)
    with database.atomic():
        student = accounts.create_user(None, name, "student")
        accounts.enrol(student, classroom)
        if secret:
            accounts.set_student_secret(student, classroom, secret)
    return student, secret


def move_student(student: User, from_room: Classroom, to_room: Classroom, by: User | None) -> None:
    """Move a student to another class (leaving the old class's groups). The move is noted with its
    time: for a nationally enrolled student it is reported to the national platform and wins over a
    national class change made before it (docs/rosters.md)."""
    if from_room.id == to_room.id:
        raise RosterError("%(name)s is already in this class", name=student.display_name)
    if not accounts.is_student_of(student, from_room):
        raise RosterError("only students of this class can be moved")
    with database.atomic():
        Membership.delete().where(Membership.user == student.id, Membership.classroom == from_room.id).execute()
        GroupMember.delete().where(GroupMember.user == student.id, GroupMember.group.in_(
            StudentGroup.select(StudentGroup.id).where(StudentGroup.classroom == from_room.id))).execute()
        accounts.enrol(student, to_room)
        RosterEdit.insert(user=student.id, class_edited_at=utcnow(), edited_by=by.id if by else None).on_conflict(
            conflict_target=[RosterEdit.user],
            update={RosterEdit.class_edited_at: utcnow(), RosterEdit.edited_by: by.id if by else None}).execute()


# --- groups --------------------------------------------------------------------------------------

def groups(classroom: Classroom) -> list[tuple[StudentGroup, list[User]]]:
    """The class's groups with their (active) members, by name."""
    found = list(StudentGroup.select().where(StudentGroup.classroom == classroom.id).order_by(StudentGroup.name))
    members: dict[int, list[User]] = {g.id: [] for g in found}
    for member in (GroupMember.select(GroupMember, User).join(User)
                   .where(GroupMember.group.in_(list(members)), User.is_active == True)  # noqa: E712
                   .order_by(User.display_name.collate(NAMES))):
        members[member.group_id].append(member.user)
    return [(g, members[g.id]) for g in found]


def create_group(classroom: Classroom, name: str) -> StudentGroup:
    name = " ".join(name.split())
    if not name or len(name) > 64:
        raise RosterError("a group name is 1 to 64 characters")
    try:
        with database.atomic():
            return StudentGroup.create(classroom=classroom.id, name=name)
    except IntegrityError:
        raise RosterError("there is already a group called %(name)s", name=name) from None


def set_members(group: StudentGroup, classroom: Classroom, student_ids: list[int]) -> None:
    students = {s.id for s in accounts.class_students(classroom)}
    unknown = [i for i in student_ids if i not in students]
    if unknown:
        raise RosterError("only students of this class can be in its groups")
    with database.atomic():
        GroupMember.delete().where(GroupMember.group == group.id).execute()
        if student_ids:
            GroupMember.insert_many([{"group": group.id, "user": i} for i in sorted(set(student_ids))]).execute()


def group_students(classroom: Classroom, group_ids: list[int]) -> list[User]:
    """The active students of these groups of the class (each once)."""
    if not group_ids:
        return []
    known = {g.id for g in StudentGroup.select(StudentGroup.id).where(StudentGroup.classroom == classroom.id)}
    if any(i not in known for i in group_ids):
        raise RosterError("choose groups of this class")
    return list(User.select().join(GroupMember).where(GroupMember.group.in_(group_ids),
                                                      User.is_active == True)  # noqa: E712
                .distinct().order_by(User.display_name.collate(NAMES)))
