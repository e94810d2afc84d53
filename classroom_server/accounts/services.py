"""Accounts: creating users, checking passwords, PINs and picture codes, rate limits, CSV import."""
from __future__ import annotations

import codecs
import concurrent.futures
import csv
import datetime
import io
import os
import re
import secrets
import threading
from dataclasses import dataclass, field

from peewee import IntegrityError, fn
from peewee import OperationalError as PeeweeOperationalError
from werkzeug.security import check_password_hash, generate_password_hash

from ..collation import NAMES
from ..db import Prepared, database, is_disk_full, is_sqlite, run_sql, write_transaction
from ..i18n import Problem
from ..models import (ROLES, SIGNIN_MODES, Classroom, GroupMember, LoginFailure, Membership, SchoolSetting,
                      StudentGroup, User, utcnow)
from ..settings import LANGUAGES

# Pictures for the picture code: (key, symbol). Labels are translated in the templates.
PICTURES = (("cat", "🐱"), ("dog", "🐶"), ("sun", "☀️"), ("tree", "🌳"),
            ("apple", "🍎"), ("car", "🚗"), ("star", "⭐"), ("fish", "🐟"))
PICTURE_KEYS = tuple(key for key, _ in PICTURES)
PICTURE_CODE_LENGTH = 3
PIN_RE = re.compile(r"^\d{4}$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 8
# One dummy hash to compare against when the account does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Problem):
    """Input that cannot make or change an account; the message says what to fix."""


class Deactivated(Exception):
    """The right secret for an account the administrator deactivated: the person is told so."""


class RateLimited(Exception):
    def __init__(self, minutes: int):
        super().__init__(f"too many wrong attempts; try again in {minutes} minutes")
        self.minutes = minutes


def check_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise AccountError("a username is 2-64 characters: Latin letters, digits, dot, dash or underscore, "
                           "starting with a letter or digit")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError("a password needs at least %(count)d characters", count=MIN_PASSWORD)
    return password


def check_pin(pin: str) -> str:
    pin = pin.strip()
    if pin.isdigit() and len(pin) < 4:
        raise AccountError("a PIN is exactly 4 digits; %(pin)s may be a PIN whose leading zeros the "
                           "spreadsheet dropped: format the PIN column as Text", pin=pin)
    if not PIN_RE.match(pin):
        raise AccountError("a PIN is exactly 4 digits")
    return pin


def new_student_secret(signin_mode: str) -> str | None:
    """A random PIN or picture code for a class that signs in with one (None for sign-in by name)."""
    if signin_mode == "pin":
        return f"{secrets.randbelow(10_000):04d}"
    if signin_mode == "picture":
        return "-".join(secrets.choice(PICTURE_KEYS) for _ in range(PICTURE_CODE_LENGTH))
    return None


def picture_symbols(code: str) -> str:
    """A picture code as its pictures (🐱 ☀️ 🍎): what a teacher shows a child."""
    symbols = dict(PICTURES)
    return " ".join(symbols[key] for key in code.split("-"))


def check_display_name(name: str) -> str:
    """A person's name with its spaces tidied; refused when a letter was lost on the way (a "?" or
    "\ufffd" where Excel saved Kazakh letters in an encoding that has none)."""
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise AccountError("a name is 1-120 characters")
    if "?" in name or "\ufffd" in name:
        raise AccountError("%(name)s has a ? where a letter was: the file was saved in an encoding "
                           "without Kazakh letters. Save it as 'CSV UTF-8' and import it again", name=name)
    return name


def check_picture_code(code: str) -> str:
    parts = [p.strip().lower() for p in re.split(r"[\s,;+-]+", code.strip()) if p.strip()]
    if len(parts) != PICTURE_CODE_LENGTH or any(p not in PICTURE_KEYS for p in parts):
        raise AccountError("a picture code is %(count)d of: %(choices)s (for example: cat sun apple)",
                           count=PICTURE_CODE_LENGTH, choices=", ".join(PICTURE_KEYS))
    return "-".join(parts)


# Hash checks run on a small pool of their own threads: each scrypt check takes 16-32 MiB, and
# memory freed by a thread's allocator stays with that thread; 8 waitress threads hashing at 9:00
# would keep 8 such areas. Two threads use both cores (scrypt releases the GIL), also when
# `serve` keeps the request threads on one CPU: these start from a request thread, so they take
# back every CPU the process had when this module was imported.
_EVERY_CPU = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def _on_every_cpu() -> None:
    if _EVERY_CPU:
        os.sched_setaffinity(0, _EVERY_CPU)


HASHING_THREADS = 2
_HASHING = concurrent.futures.ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="scrypt",
                                                 initializer=_on_every_cpu)
# PINs (10^4) and picture codes (8^3) are guarded by the rate limit, not by the hash's cost:
# a lighter scrypt (16 MiB, ~25 ms) for them; passwords keep werkzeug's default (32 MiB, ~70 ms).
SECRET_METHOD = "scrypt:16384:8:1"


def hash_secret(secret: str, method: str = "scrypt") -> str:
    """A memory-hard (scrypt) hash; werkzeug reads the method back from the stored hash."""
    return _HASHING.submit(generate_password_hash, secret, method=method).result()


def check_hash(stored: str, given: str) -> bool:
    return _HASHING.submit(check_password_hash, stored, given).result()


def create_user(username: str | None, display_name: str, role: str, password: str | None = None,
                language: str | None = None) -> User:
    if role not in ROLES:
        raise AccountError("role %(role)r is not one of: %(choices)s", role=role, choices=", ".join(ROLES))
    display_name = check_display_name(display_name)
    if username:
        username = check_username(username)
    elif role != "student":
        raise AccountError("teachers and admins need a username")
    if role != "student":
        if password is None:
            raise AccountError("teachers and admins need a password")
        check_password(password)
    if language is not None and language not in LANGUAGES:
        raise AccountError("language is one of: %(choices)s", choices=", ".join(LANGUAGES))
    password_hash = hash_secret(password) if password else None  # before taking the write lock
    try:
        with database.atomic():
            return User.create(username=username or None, display_name=display_name, role=role,
                               password_hash=password_hash, language=language)
    except IntegrityError:
        raise AccountError("the username %(username)s is taken", username=username) from None


def password_matches(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_hash(user.password_hash, password)


def end_sessions(user: User) -> None:
    """Sign this person out everywhere: every session made before this stops working at its next
    request (security.py compares the session's version with the user's)."""
    User.update(session_version=User.session_version + 1).where(User.id == user.id).execute()


def set_password(user: User, password: str) -> None:
    check_password(password)
    password_hash = hash_secret(password)  # before taking the write lock
    with database.atomic():
        User.update(password_hash=password_hash).where(User.id == user.id).execute()
        end_sessions(user)


def set_student_secret(user: User, classroom: Classroom, secret: str | None) -> None:
    """Set the PIN or picture code that the class's sign-in mode asks for (None clears it)."""
    if secret is not None:
        if classroom.signin_mode == "pin":
            secret = check_pin(secret)
        elif classroom.signin_mode == "picture":
            secret = check_picture_code(secret)
        else:
            raise AccountError("class %(name)s signs in by name only: set its sign-in mode to PIN or "
                               "picture code first", name=classroom.name)
    secret_hash = hash_secret(secret, SECRET_METHOD) if secret else None
    with database.atomic():
        User.update(secret_hash=secret_hash).where(User.id == user.id).execute()
        end_sessions(user)


def set_signin_mode(classroom: Classroom, mode: str) -> bool:
    """How the class's students sign in (name, PIN, picture code); whether it changed. Their PINs and
    picture codes are cleared with it, in the same transaction: a PIN cannot be used as a picture
    code, so the teacher gives each student a new secret."""
    if mode not in SIGNIN_MODES:
        raise AccountError("sign-in mode is one of: %(choices)s", choices=", ".join(SIGNIN_MODES))
    if mode == classroom.signin_mode:
        return False
    students = Membership.select(Membership.user).where(Membership.classroom == classroom.id,
                                                        Membership.role == "student")
    with database.atomic():
        Classroom.update(signin_mode=mode).where(Classroom.id == classroom.id).execute()
        User.update(secret_hash=None).where(User.id.in_(students)).execute()
    classroom.signin_mode = mode
    return True


def create_classroom(name: str, grade: int | None = None, signin_mode: str = "name") -> Classroom:
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("a class name is 1-64 characters")
    if signin_mode not in SIGNIN_MODES:
        raise AccountError("sign-in mode is one of: %(choices)s", choices=", ".join(SIGNIN_MODES))
    try:
        with database.atomic():
            return Classroom.create(name=name, grade=grade, signin_mode=signin_mode)
    except IntegrityError:
        raise AccountError("a class named %(name)s exists already", name=name) from None


def enrol(user: User, classroom: Classroom) -> None:
    role = "teacher" if user.role in ("teacher", "admin") else "student"
    Membership.insert(classroom=classroom, user=user, role=role).on_conflict_ignore().execute()


def classroom_named(name: str, grade: int | None) -> Classroom:
    """The class of that name, made (signing in by name) when the school has none; its grade filled in
    if it had none. For classes that come from the national roster."""
    with database.atomic():
        room = Classroom.get_or_none(Classroom.name == name)
        if room is None:
            return Classroom.create(name=name, grade=grade, signin_mode="name")
        if room.grade is None and grade is not None:
            Classroom.update(grade=grade).where(Classroom.id == room.id).execute()
            room.grade = grade
    return room


def leave_classes(user: User, classroom_ids: list[int]) -> None:
    """Take a person out of these classes and of their groups; records and the rest stay."""
    if not classroom_ids:
        return
    with database.atomic():
        Membership.delete().where(Membership.user == user.id, Membership.classroom.in_(classroom_ids)).execute()
        GroupMember.delete().where(GroupMember.user == user.id, GroupMember.group.in_(
            StudentGroup.select(StudentGroup.id).where(StudentGroup.classroom.in_(classroom_ids)))).execute()


def create_national_user(national_id: str, display_name: str, role: str, username: str | None = None,
                         now: datetime.datetime | None = None) -> User:
    """A student or teacher as the national roster names them (no password: a national teacher sets
    one through the admin). Not checked as a form is: the national platform's record is the truth."""
    return User.create(username=username, display_name=display_name[:120], role=role, national_id=national_id,
                       created_at=now or utcnow())


def update_identity(user: User, *, display_name: str | None = None, role: str | None = None,
                    active: bool | None = None) -> User:
    """Change a person's name, role or active flag (None: as it is); the person as now stored. A new
    role or active flag signs them out everywhere, and their class memberships take the new role."""
    changes: dict = {}
    if display_name is not None and display_name != user.display_name:
        changes[User.display_name] = display_name[:120]
    if role is not None and role != user.role:
        changes[User.role] = role
    if active is not None and bool(user.is_active) != active:
        changes[User.is_active] = active
    if not changes:
        return user
    with database.atomic():
        User.update(changes).where(User.id == user.id).execute()
        if User.role in changes or User.is_active in changes:
            end_sessions(user)
        if User.role in changes:
            Membership.update(role="teacher" if role in ("teacher", "admin") else "student") \
                .where(Membership.user == user.id).execute()
    return User.get_by_id(user.id)


def admin_exists() -> bool:
    return User.select().where(User.role == "admin", User.is_active == True).exists()  # noqa: E712


def get_setting(key: str, default: str | None = None) -> str | None:
    row = SchoolSetting.get_or_none(SchoolSetting.key == key)
    return row.value if row else default


def put_setting(key: str, value: str) -> None:
    # An upsert both SQLite and PostgreSQL know (INSERT OR REPLACE is SQLite's alone).
    (SchoolSetting.insert(key=key, value=value)
     .on_conflict(conflict_target=[SchoolSetting.key], update={SchoolSetting.value: value}).execute())


# --- Sign-in -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    account_attempts: int  # wrong tries at one account from one address before the waits begin
    address_attempts: int  # wrong tries from one address (at any accounts) within `window`
    window: datetime.timedelta  # the address's window, and the longest wait for one account

    @classmethod
    def of(cls, settings) -> Limits:
        return cls(settings.security_account_attempts, settings.security_address_attempts,
                   datetime.timedelta(minutes=settings.security_lockout_minutes))


@dataclass(frozen=True)
class Lockout:
    """Wrong sign-ins at one account from one address (the last day's)."""
    address: str
    failures: int
    last: datetime.datetime
    until: datetime.datetime | None  # locked until then; None: not locked now


# Failures are remembered a day: waits keep growing for a guesser who comes back slowly.
MEMORY = datetime.timedelta(days=1)
_SEPARATOR = "|"  # between account and address in a key; neither a username nor an address has it


def _pair_key(account: str, address: str) -> str:
    return f"account:{account}{_SEPARATOR}{address}"


def _wait(failures: int, limits: Limits) -> datetime.timedelta:
    """How long after the last wrong try the next one may come: nothing until `account_attempts`,
    then one minute, doubling with each further wrong try, at most `window`."""
    if failures < limits.account_attempts:
        return datetime.timedelta(0)
    return min(limits.window, datetime.timedelta(minutes=2 ** min(failures - limits.account_attempts, 20)))


def _minutes(delta: datetime.timedelta) -> int:
    return max(1, -(-int(delta.total_seconds()) // 60))


# Tries that could not be stored because the disk is full, by key: counted here (per process) so a
# full disk, which still lets people sign in, does not also let a guesser try without limit.
_UNSTORED: dict[str, list[datetime.datetime]] = {}
_UNSTORED_LOCK = threading.Lock()

# Sign-in checks under way in this process: no more than the hashing threads, from before a try is
# counted until its check is done. Each try counts against its address from its claim until a
# right secret takes it back, so with every request thread (4 processes x 8 threads = 32) holding
# a claim while it waits for the two hashing threads, a class of 31 behind one Wi-Fi router, every
# PIN right, would reach `address_attempts` (30) on claims alone and be told to wait. Bounded
# here, one address has at most `workers x HASHING_THREADS` tries counted at once (8 with 4
# workers); the others wait their turn before they are counted, which costs them nothing, since
# they could not be hashed any sooner.
_CHECKS = threading.BoundedSemaphore(HASHING_THREADS)


def _refuse_if_limited(pair: str, by_address: str, limits: Limits, now: datetime.datetime) -> None:
    """RateLimited when the account's wait from this address, or the address's window, is not over."""
    failures, last = (LoginFailure.select(fn.COUNT(LoginFailure.id), fn.MAX(LoginFailure.created_at))
                      .where(LoginFailure.key == pair, LoginFailure.created_at >= now - MEMORY).scalar(as_tuple=True))
    unstored = [moment for moment in _UNSTORED.get(pair, []) if moment >= now - MEMORY]
    failures += len(unstored)
    last = max([moment for moment in (last, *unstored) if moment is not None], default=None)
    if failures and last + _wait(failures, limits) > now:
        raise RateLimited(_minutes(last + _wait(failures, limits) - now))
    since = now - limits.window
    count, oldest = (LoginFailure.select(fn.COUNT(LoginFailure.id), fn.MIN(LoginFailure.created_at))
                     .where(LoginFailure.key == by_address, LoginFailure.created_at >= since).scalar(as_tuple=True))
    unstored = [moment for moment in _UNSTORED.get(by_address, []) if moment >= since]
    if count + len(unstored) >= limits.address_attempts:
        raise RateLimited(_minutes(min(moment for moment in (oldest, *unstored) if moment is not None)
                                   + limits.window - now))


def _claim_attempt(account: str, address: str, limits: Limits) -> list[int]:
    """Count this try as wrong before its secret is checked, or raise RateLimited; the ids of the
    rows that count it (a right secret takes them back). Checking and counting are one transaction
    holding the write lock, so 40 tries at once are counted one after the other and no more than
    the limits allow ever reach the slow hash."""
    pair, by_address = _pair_key(account, address), f"address:{address}"
    try:
        with write_transaction():
            if not is_sqlite():  # PostgreSQL: one sign-in check at a time, as SQLite's write lock gives
                run_sql("SELECT pg_advisory_xact_lock(?)", (0x5167_1e55,))
            now = utcnow()
            _refuse_if_limited(pair, by_address, limits, now)
            LoginFailure.delete().where(LoginFailure.created_at < now - MEMORY).execute()  # keep the table small
            return [LoginFailure.insert(key=pair, created_at=now).execute(),
                    LoginFailure.insert(key=by_address, created_at=now).execute()]
    except PeeweeOperationalError as exc:
        if not is_disk_full(exc):
            raise
    with _UNSTORED_LOCK:  # the disk is full: count the try in this process instead
        now = utcnow()
        _refuse_if_limited(pair, by_address, limits, now)
        for key in (pair, by_address):
            _UNSTORED[key] = [m for m in _UNSTORED.get(key, []) if m >= now - MEMORY] + [now]
    return []


def _succeeded(account: str, address: str, claimed: list[int]) -> None:
    """A right secret: this try was not wrong, and the account's earlier wrong tries from here are forgiven."""
    pair = _pair_key(account, address)
    with _UNSTORED_LOCK:
        _UNSTORED.pop(pair, None)
        if not claimed and f"address:{address}" in _UNSTORED:  # this try was counted in memory
            _UNSTORED[f"address:{address}"] = _UNSTORED[f"address:{address}"][:-1]
    if claimed or LoginFailure.select().where(LoginFailure.key == pair).exists():  # no write otherwise
        LoginFailure.delete().where((LoginFailure.id.in_(claimed)) | (LoginFailure.key == pair)).execute()


def authenticate_staff(username: str, password: str, address: str, limits: Limits) -> User | None:
    """The teacher or admin with these credentials, or None. Raises RateLimited, and Deactivated for
    the right password of a deactivated account (only the right password learns that)."""
    username = username.strip().lower()[:64]
    with _CHECKS:  # until the claim is taken back, or left counted as wrong
        claimed = _claim_attempt(username, address, limits)
        user = User.get_or_none(User.username == username, User.role != "student")
        ok = check_hash(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        if user is None or not ok:
            return None
        _succeeded(username, address, claimed)
    if not user.is_active:
        raise Deactivated(username)
    return user


def student_account(student: User) -> str:
    return f"student:{student.id}"


def authenticate_student(student: User, classroom: Classroom, secret: str, address: str,
                         limits: Limits) -> bool:
    """Check a student's PIN or picture code for a class that asks for one. Raises RateLimited."""
    with _CHECKS:  # until the claim is taken back, or left counted as wrong
        claimed = _claim_attempt(student_account(student), address, limits)
        if classroom.signin_mode == "picture":
            try:
                secret = check_picture_code(secret)
            except AccountError:
                secret = ""
        ok = bool(student.secret_hash) and check_hash(student.secret_hash, secret.strip())
        if not ok:
            return False
        _succeeded(student_account(student), address, claimed)
    return True


def account_of(user: User) -> str:
    """The name wrong sign-ins at this person's account are counted under."""
    return student_account(user) if user.role == "student" or not user.username else user.username


def lockouts(user: User, limits: Limits) -> list[Lockout]:
    """Wrong sign-ins at this account by address, most recent first, with whether each is locked now."""
    prefix = _pair_key(account_of(user), "")
    now = utcnow()
    rows = (LoginFailure.select(LoginFailure.key, fn.COUNT(LoginFailure.id), fn.MAX(LoginFailure.created_at))
            .where(LoginFailure.key.startswith(prefix), LoginFailure.created_at >= now - MEMORY)
            .group_by(LoginFailure.key).tuples())
    found = []
    for key, failures, last in rows:
        until = last + _wait(failures, limits)
        found.append(Lockout(key[len(prefix):], failures, last, until if until > now else None))
    return sorted(found, key=lambda lockout: lockout.last, reverse=True)


def unlock(user: User) -> int:
    """Forget the wrong sign-ins at this account, and those of the addresses they came from (a device
    locked out for this person's tries can sign them in again). How many addresses had wrong tries."""
    prefix = _pair_key(account_of(user), "")
    keys = [key for (key,) in LoginFailure.select(LoginFailure.key.distinct())
            .where(LoginFailure.key.startswith(prefix)).tuples()]
    with _UNSTORED_LOCK:
        unstored = [key for key in _UNSTORED if key.startswith(prefix)]
        keys += [key for key in unstored if key not in keys]
        for key in unstored + [f"address:{key[len(prefix):]}" for key in unstored]:
            _UNSTORED.pop(key, None)
    addresses = [f"address:{key[len(prefix):]}" for key in keys]
    LoginFailure.delete().where(LoginFailure.key.in_(keys + addresses)).execute()
    return len(keys)


def class_students(classroom: Classroom) -> list[User]:
    return list(User.select().join(Membership)
                .where(Membership.classroom == classroom, Membership.role == "student",
                       User.is_active == True)  # noqa: E712
                .order_by(User.display_name.collate(NAMES)))


def is_student_of(student: User, classroom: Classroom) -> bool:
    return Membership.select().where(Membership.classroom == classroom, Membership.user == student,
                                     Membership.role == "student").exists()


_USER_CLASSROOMS = Prepared(lambda: Classroom.select().join(Membership).where(Membership.user == 0)
                            .order_by(Classroom.grade, Classroom.name))


def user_classrooms(user: User) -> list[Classroom]:
    return _USER_CLASSROOMS(user.id)


# The id of the first of a user's classes (as user_classrooms orders them), the user's id its one
# parameter: every learning record names its student's first class, looked up inside the record's
# own INSERT (learn.records), so that no request and no group write spends a statement on it.
FIRST_CLASSROOM_SQL = ("(SELECT c.id FROM classroom AS c JOIN membership AS m ON m.classroom_id = c.id"
                       " WHERE m.user_id = ? ORDER BY c.grade, c.name LIMIT 1)")


# --- CSV import ----------------------------------------------------------------------------------

CSV_COLUMNS = ("role", "username", "display_name", "password", "class", "pin", "language")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    rejected: list[tuple[int, AccountError]] = field(default_factory=list)  # (line number, why)
    classes_created: list[str] = field(default_factory=list)


KZ1048_TELLS = "ЌЋЎЈЅќћўјѕ"


def decode_csv(raw: bytes) -> str:
    """A spreadsheet's text: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"),
    Windows-1251 (Excel in Russian on Windows saves "CSV" in it) or KZ-1048 (Kazakh Windows)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1251")
    except UnicodeDecodeError:
        raise AccountError("the file is not text in UTF-8, UTF-16 or Windows-1251: save it as 'CSV UTF-8'") \
            from None
    # KZ-1048 (Kazakh Windows) puts Қ Ң Ә Ұ Һ where Windows-1251 has Serbian and Macedonian letters
    # no class list here holds; Ukrainian Ґ Є Ї (also KZ-1048's Ө Ғ Ү) alone do not decide.
    if any(letter in text for letter in KZ1048_TELLS):
        return raw.decode("kz1048")
    return text


def open_csv(text: str) -> csv.DictReader:
    """Rows by column title; comma, semicolon or tab: whichever the title line uses most (csv's
    Sniffer guesses wrong on names with spaces)."""
    header = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header.count)
    return csv.DictReader(io.StringIO(text), delimiter=delimiter if header.count(delimiter) else ",")


def import_users(data: bytes, dry_run: bool = False) -> ImportReport:
    """Create users from CSV (see decode_csv and open_csv for encodings and separators).

    Columns: role, display_name, and as needed username, password, class, pin, language.
    Each bad row is rejected with its reason; good rows are created (none with `dry_run`). A class
    named in a row is created when missing.
    """
    report = ImportReport()
    reader = open_csv(decode_csv(data))
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = {"role", "display_name"} - set(headers)
    if missing:
        raise AccountError("the first line must name the columns; missing: %(missing)s. Known columns: "
                           "%(known)s", missing=", ".join(sorted(missing)), known=", ".join(CSV_COLUMNS))
    unknown = [h for h in headers if h not in CSV_COLUMNS]
    if unknown:
        raise AccountError("unknown columns: %(unknown)s. Known columns: %(known)s",
                           unknown=", ".join(unknown), known=", ".join(CSV_COLUMNS))
    reader.fieldnames = headers
    with database.atomic() as transaction:
        for row in reader:
            line = reader.line_num
            row = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(row.values()):
                continue
            try:
                with database.atomic():  # a savepoint: a bad row leaves nothing behind
                    _import_row(row, report)
            except AccountError as exc:
                report.rejected.append((line, exc))
        if dry_run:
            transaction.rollback()
    return report


def _import_row(row: dict, report: ImportReport) -> None:
    role = row.get("role", "").lower()
    if role not in ROLES:
        raise AccountError("role %(role)r is not one of: %(choices)s", role=row.get("role"),
                           choices=", ".join(ROLES))
    username = row.get("username") or None
    password = row.get("password") or None
    language = row.get("language") or None
    class_name = row.get("class") or None
    pin = row.get("pin") or None
    classroom = Classroom.get_or_none(Classroom.name == class_name) if class_name else None
    user = create_user(username, row.get("display_name", ""), role, password, language)
    if class_name:
        if classroom is None:
            classroom = create_classroom(class_name, signin_mode="pin" if pin else "name")
            report.classes_created.append(class_name)
        enrol(user, classroom)
        if pin and role == "student":
            if classroom.signin_mode == "name" and class_name in report.classes_created:
                # A class this file made takes the PIN mode its rows ask for.
                classroom.signin_mode = "pin"
                classroom.save()
            set_student_secret(user, classroom, pin)
    report.created.append(username or user.display_name)
