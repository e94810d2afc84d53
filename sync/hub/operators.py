"""Operator accounts of the education department: levels and their scope, passwords, sessions, the
audit log, and the national school register that places each school in a district and a region.

Levels, widest first: ministry (the country), region (an oblast), district, school (its director,
read-only). An operator sees only the schools of their scope, everywhere (pages, JSON, exports).
"""
from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from peewee import JOIN, IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from .db import database
from .models import AuditEntry, Operator, OperatorSession, RegisterSchool, School, utcnow

LEVELS = ("ministry", "region", "district", "school")
# Who may make whom on the web: each level makes the levels below it, inside its own scope.
CREATES = {"ministry": ("region", "district", "school"), "region": ("district", "school"),
           "district": ("school",), "school": ()}
MIN_PASSWORD = 10
SESSION_IDLE = datetime.timedelta(hours=8)
SESSION_TOUCH = datetime.timedelta(minutes=1)
FAILED_LOGINS_ALLOWED = 10  # within FAILED_LOGIN_WINDOW, per username
FAILED_LOGIN_WINDOW = datetime.timedelta(minutes=15)
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
# A hash of something, so a login for an unknown name costs as much as one for a known name.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class OperatorError(ValueError):
    """Input we cannot use; `message` is an English msgid with %(name)s fields (views translate it)."""

    def __init__(self, message: str, **params: object):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class RegisterError(ValueError):
    """The school register file cannot be imported: every problem, with its line."""

    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s); nothing was imported:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Scope:
    level: str
    region: str | None = None
    district: str | None = None
    school: str | None = None

    def describe(self) -> str:
        return {"ministry": "the whole country", "region": f"region {self.region}",
                "district": f"district {self.district} ({self.region})",
                "school": f"school {self.school}"}[self.level]


def scope_of(operator: Operator) -> Scope:
    return Scope(operator.level, operator.region, operator.district, operator.school)


# --- passwords and accounts --------------------------------------------------------------------

def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")  # werkzeug's scrypt, as the school's accounts


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise OperatorError("a password needs at least %(count)d characters", count=MIN_PASSWORD)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _register_has(region: str, district: str | None = None) -> bool:
    query = RegisterSchool.select().where(RegisterSchool.region == region)
    if district is not None:
        query = query.where(RegisterSchool.district == district)
    return query.exists()


def resolve_school(school: str) -> str:
    """A hub school id from a hub id or a register id; OperatorError if neither is enrolled."""
    found = School.get_or_none(School.id == school)
    if found is not None:
        return found.id
    row = RegisterSchool.get_or_none(RegisterSchool.register_id == school)
    if row is not None and row.hub_school:
        return row.hub_school
    raise OperatorError("no enrolled school %(school)s: give a hub school id (classroom-hub school list) or the "
                        "register id of an enrolled school", school=school)


def place_of_school(school_id: str) -> tuple[str | None, str | None]:
    """(region, district) of an enrolled school: the register's, else the region given at enrolment."""
    row = RegisterSchool.get_or_none(RegisterSchool.hub_school == school_id)
    if row is not None:
        return row.region, row.district
    school = School.get_or_none(School.id == school_id)
    return (school.region if school else None), None


def create_operator(username: str, password: str, level: str, *, display_name: str | None = None,
                    region: str | None = None, district: str | None = None, school: str | None = None,
                    language: str | None = None, creator: Operator | None = None) -> Operator:
    """A new operator. `creator` None is the command line (any level); otherwise CREATES and scope apply."""
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or set(username) - USERNAME_CHARS:
        raise OperatorError("a username is 1 to 64 of a-z, 0-9, dot, dash and underscore")
    if level not in LEVELS:
        raise OperatorError("the level must be one of %(levels)s", levels=", ".join(LEVELS))
    check_password(password)
    region, district, school = _clean(region), _clean(district), _clean(school)
    if level == "ministry":
        region = district = school = None
    elif level == "region":
        district = school = None
        if not region:
            raise OperatorError("a region operator needs a region")
    elif level == "district":
        school = None
        if not (region and district):
            raise OperatorError("a district operator needs a region and a district")
    else:
        if not school:
            raise OperatorError("a school operator needs a school")
        school = resolve_school(school)
        region, district = place_of_school(school)
    if level in ("region", "district") and RegisterSchool.select().exists() and not _register_has(region, district):
        raise OperatorError("the school register has no %(place)s: check the spelling or import the register first",
                            place=f"district {district} in region {region}" if district else f"region {region}")
    if creator is not None:
        if level not in CREATES[creator.level]:
            raise OperatorError("a %(creator)s operator cannot create %(level)s operators",
                                creator=creator.level, level=level)
        if not within(scope_of(creator), region, district, school):
            raise OperatorError("that place is outside your scope (%(scope)s)", scope=scope_of(creator).describe())
    try:
        with database.atomic():
            return Operator.create(username=username, display_name=_clean(display_name) or username,
                                   password_hash=hash_password(password), level=level, region=region,
                                   district=district, school=school, language=_clean(language),
                                   created_by=creator.username if creator else None)
    except IntegrityError:
        raise OperatorError("the username %(username)s is taken", username=username) from None


def within(scope: Scope, region: str | None, district: str | None, school: str | None) -> bool:
    """Whether a place (a region, a district, a school) lies inside a scope."""
    if scope.level == "ministry":
        return True
    if scope.level == "school":
        return school is not None and school == scope.school
    if region != scope.region:
        return False
    return scope.level == "region" or district == scope.district


def managed(operator: Operator) -> list[Operator]:
    """The operators below `operator`, inside its scope (what its users page lists)."""
    below = CREATES[operator.level]
    if not below:
        return []
    query = Operator.select().where(Operator.level.in_(below)).order_by(Operator.level, Operator.username)
    scope = scope_of(operator)
    return [o for o in query if within(scope, o.region, o.district, o.school)]


def set_password(username: str, password: str) -> None:
    check_password(password)
    if not Operator.update(password_hash=hash_password(password)).where(Operator.username == username).execute():
        raise OperatorError("no operator %(username)s", username=username)
    OperatorSession.delete().where(OperatorSession.operator == username).execute()


_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def set_email(username: str, email: str | None, digest: bool) -> None:
    """An operator's address and whether the weekly digest is mailed to it (empty address: no mail)."""
    email = (email or "").strip() or None
    if email is not None and not _EMAIL.match(email):
        raise OperatorError("%(email)s is not an e-mail address like name@example.kz", email=email)
    if digest and email is None:
        raise OperatorError("give an e-mail address to receive the weekly digest")
    if not Operator.update(email=email, digest_email=digest).where(Operator.username == username).execute():
        raise OperatorError("no operator %(username)s", username=username)


def disable_operator(username: str, undo: bool = False) -> None:
    changed = Operator.update(disabled_at=None if undo else utcnow()).where(Operator.username == username).execute()
    if not changed:
        raise OperatorError("no operator %(username)s", username=username)
    if not undo:
        OperatorSession.delete().where(OperatorSession.operator == username).execute()


# --- sign-in and sessions ----------------------------------------------------------------------

def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def failed_recently(username: str) -> int:
    since = utcnow() - FAILED_LOGIN_WINDOW
    return (AuditEntry.select().where((AuditEntry.action == "login_failed") & (AuditEntry.at >= since)
                                      & (AuditEntry.operator == username)).count())


def sign_in(username: str, password: str) -> Operator | None:
    """The operator if the password is right and the account usable; None otherwise (same cost either way)."""
    operator = Operator.get_or_none(Operator.username == (username or "").strip().lower())
    ok = check_password_hash(operator.password_hash if operator else _DUMMY_HASH, password or "")
    if operator is None or not ok or operator.disabled_at is not None:
        return None
    return operator


def open_session(operator: Operator) -> tuple[str, str]:
    """(cookie token, CSRF token) of a new session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    OperatorSession.create(token_sha256=_sha(token), operator=operator.username, csrf=csrf)
    return token, csrf


def session_of(token: str | None) -> tuple[Operator, OperatorSession] | None:
    if not token:
        return None
    row = OperatorSession.get_or_none(OperatorSession.token_sha256 == _sha(token))
    if row is None:
        return None
    now = utcnow()
    if now - row.seen_at > SESSION_IDLE:
        row.delete_instance()
        return None
    operator = Operator.get_or_none(Operator.username == row.operator)
    if operator is None or operator.disabled_at is not None:
        return None
    if now - row.seen_at > SESSION_TOUCH:
        OperatorSession.update(seen_at=now).where(OperatorSession.token_sha256 == row.token_sha256).execute()
    return operator, row


def close_session(token: str | None) -> None:
    if token:
        OperatorSession.delete().where(OperatorSession.token_sha256 == _sha(token)).execute()


def audit(operator: str | None, action: str, address: str | None = None, **detail: Any) -> None:
    AuditEntry.create(operator=operator, action=action, detail=detail, address=address)


def audit_entries(operator: Operator, limit: int = 200) -> list[AuditEntry]:
    """What the operator and those below them did, newest first (the ministry sees everything)."""
    query = AuditEntry.select().order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if operator.level != "ministry":
        names = [operator.username] + [o.username for o in managed(operator)]
        query = query.where(AuditEntry.operator.in_(names))
    return list(query.limit(limit))


# --- the schools an operator sees --------------------------------------------------------------

def visible_schools(scope: Scope):
    """Enrolled schools in the scope with their register row (a LEFT JOIN): a query of School rows,
    each with `.reg` (a RegisterSchool, its fields None when the school is not in the register)."""
    query = (School.select(School, RegisterSchool)
             .join(RegisterSchool, JOIN.LEFT_OUTER, on=(RegisterSchool.hub_school == School.id), attr="reg"))
    if scope.level == "region":
        query = query.where((RegisterSchool.region == scope.region)
                            | (RegisterSchool.register_id.is_null() & (School.region == scope.region)))
    elif scope.level == "district":
        query = query.where((RegisterSchool.region == scope.region) & (RegisterSchool.district == scope.district))
    elif scope.level == "school":
        query = query.where(School.id == scope.school)
    return query.order_by(RegisterSchool.region, RegisterSchool.district, School.name, School.id)


def visible_school_ids(scope: Scope) -> list[str]:
    return [school_id for (school_id,) in visible_schools(scope).select(School.id).tuples()]


_ROW_FIELDS = (School.id, School.name, School.region, School.revoked_at, School.last_contact, School.created_at,
               School.records_received, School.acked, RegisterSchool.register_id,
               RegisterSchool.region.alias("register_region"), RegisterSchool.district, RegisterSchool.locality,
               RegisterSchool.rural, RegisterSchool.language, RegisterSchool.students)


def scope_rows(scope: Scope) -> list[dict[str, Any]]:
    """The scope's schools as an operator sees them (school_row), read as plain rows: 7,500 model
    instances with their joined register rows would cost the ministry's page a quarter of a second."""
    return [school_row(row) for row in visible_schools(scope).select(*_ROW_FIELDS).dicts()]


def school_row(row: dict[str, Any]) -> dict[str, Any]:
    """One school as an operator sees it: place, register facts, sync state. No learner's data.
    (`_`-prefixed keys are for the hub's own use, never shown or exported.)"""
    placed = row["register_id"] is not None
    return {"school_id": row["id"], "name": row["name"], "register_id": row["register_id"],
            "region": row["register_region"] if placed else row["region"],
            "district": row["district"] if placed else None, "locality": row["locality"],
            "rural": row["rural"], "language": row["language"], "students": row["students"],
            "status": "revoked" if row["revoked_at"] else "active",
            "last_contact": _iso(row["last_contact"]), "records_received": row["records_received"],
            "_last_contact": row["last_contact"], "_created_at": row["created_at"], "_acked": row["acked"]}


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


# --- the national school register ----------------------------------------------------------------

REGISTER_COLUMNS = ("school_id", "name", "region", "district", "locality", "rural_urban", "language", "students")
# Header spellings accepted for each column (lower case): English, Russian and Kazakh as exported.
REGISTER_HEADERS = {
    "school_id": ("school_id", "school id", "id", "register_id", "код", "код школы", "мектеп коды"),
    "name": ("name", "school", "наименование", "название", "атауы"),
    "region": ("region", "oblast", "область", "регион", "облыс"),
    "district": ("district", "район", "аудан"),
    "locality": ("locality", "населенный пункт", "населённый пункт", "елді мекен"),
    "rural_urban": ("rural_urban", "rural/urban", "location", "город/село", "местность", "қала/ауыл"),
    "language": ("language", "language of instruction", "язык обучения", "оқыту тілі"),
    "students": ("students", "учащихся", "количество учащихся", "оқушылар саны"),
    "hub_school_id": ("hub_school_id", "hub school id"),
}
RURAL = {"rural", "село", "сельская", "ауыл", "r", "1", "yes"}
URBAN = {"urban", "город", "городская", "қала", "u", "0", "no"}


def decode_register(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), else Windows-1251 as Excel saves in Russian Windows."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")


def parse_register(data: bytes) -> list[dict[str, Any]]:
    """Rows of a register CSV (`,` or `;` separated); RegisterError with every problem found."""
    text = decode_register(data)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise RegisterError(["the file is empty: it needs a header line (school_id, name, region, district, "
                             "locality, rural_urban, language, students)"])
    where: dict[str, int] = {}
    for index, title in enumerate(header):
        title = title.strip().lower()
        for column, spellings in REGISTER_HEADERS.items():
            if title in spellings and column not in where:
                where[column] = index
    missing = [c for c in ("school_id", "name", "region", "district") if c not in where]
    if missing:
        raise RegisterError([f"line 1: the header lacks the column(s) {', '.join(missing)} (it has: "
                             f"{', '.join(h.strip() for h in header)})"])
    rows, problems, seen = [], [], {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue

        def cell(column: str) -> str:
            index = where.get(column)
            return cells[index].strip() if index is not None and index < len(cells) else ""
        row: dict[str, Any] = {"register_id": cell("school_id"), "name": cell("name"), "region": cell("region"),
                               "district": cell("district"), "locality": cell("locality") or None,
                               "language": cell("language") or None, "hub_school": cell("hub_school_id") or None}
        for column in ("register_id", "name", "region", "district"):
            if not row[column]:
                problems.append(f"line {number}: {column if column != 'register_id' else 'school_id'} is empty")
        kind = cell("rural_urban").lower()
        row["rural"] = True if kind in RURAL else False if kind in URBAN else None
        if kind and row["rural"] is None:
            problems.append(f"line {number}: rural_urban {cell('rural_urban')!r} is neither rural nor urban")
        students = cell("students").replace(" ", "").replace("\u00a0", "")
        row["students"] = None
        if students:
            if students.isdigit() and int(students) < 100_000:
                row["students"] = int(students)
            else:
                problems.append(f"line {number}: students {cell('students')!r} is not a whole number of students")
        if row["register_id"] in seen:
            problems.append(f"line {number}: school_id {row['register_id']} is on line {seen[row['register_id']]} too")
        seen[row["register_id"]] = number
        rows.append(row)
    if problems:
        raise RegisterError(problems)
    return rows


@dataclass(frozen=True)
class RegisterSummary:
    added: int
    changed: int
    linked: int


def import_register(data: bytes) -> RegisterSummary:
    """Add or update register rows; link each to the enrolled school with its hub id (given, or the same id)."""
    rows = parse_register(data)
    enrolled = {s for (s,) in School.select(School.id).tuples()}
    unknown = [r["hub_school"] for r in rows if r["hub_school"] and r["hub_school"] not in enrolled]
    if unknown:
        raise RegisterError([f"hub_school_id {school} is not an enrolled school" for school in unknown[:20]])
    added = changed = linked = 0
    with database.atomic():
        held = {r.register_id: r for r in RegisterSchool.select()}
        for row in rows:
            if row["hub_school"] is None and row["register_id"] in enrolled:
                row["hub_school"] = row["register_id"]
            old = held.get(row["register_id"])
            if old is not None and row["hub_school"] is None:
                row["hub_school"] = old.hub_school  # a link made with `register link` stays
            if row["hub_school"]:
                RegisterSchool.update(hub_school=None).where(
                    (RegisterSchool.hub_school == row["hub_school"])
                    & (RegisterSchool.register_id != row["register_id"])).execute()
                linked += 1
            if old is None:
                RegisterSchool.create(**row)
                added += 1
            else:
                RegisterSchool.update(imported_at=utcnow(), **row).where(
                    RegisterSchool.register_id == row["register_id"]).execute()
                changed += 1
    return RegisterSummary(added, changed, linked)


def link_school(register_id: str, hub_school_id: str) -> None:
    if not School.select().where(School.id == hub_school_id).exists():
        raise OperatorError("no enrolled school %(school)s", school=hub_school_id)
    with database.atomic():
        RegisterSchool.update(hub_school=None).where(RegisterSchool.hub_school == hub_school_id).execute()
        if not RegisterSchool.update(hub_school=hub_school_id).where(
                RegisterSchool.register_id == register_id).execute():
            raise OperatorError("the register has no school %(school)s", school=register_id)


def places(scope: Scope) -> list[tuple[str, str]]:
    """(region, district) pairs of the register inside a scope, for forms."""
    query = RegisterSchool.select(RegisterSchool.region, RegisterSchool.district).distinct().order_by(
        RegisterSchool.region, RegisterSchool.district)
    return [(r, d) for r, d in query.tuples() if within(scope, r, d, None) or scope.level == "ministry"]


def csv_text(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
