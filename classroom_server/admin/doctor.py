"""`classroom-server doctor`: what is wrong with this server, and how to fix it.

Every check reads; none writes (but `--fix` narrows file modes that are too wide). The database is opened with SQLite directly (never created), so
the doctor works on a damaged data folder, with whatever tables this version or an older one made.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from typing import Iterator

from .. import migrations, permissions
from ..content.services import BlobStore
from ..settings import Settings, SettingsError, default_data_dir, load_settings
from .backup import ProgressFactory, has_table, no_progress, integrity_errors
from .sync import AGENT_STALE, HEARTBEAT_SETTING, START_AGENT

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GiB, MiB = 2**30, 2**20
# Columns written with the server's own clock (device clocks in learning records may be wrong).
SERVER_TIMESTAMPS = (("migration_history", "applied_at"), ("content_pack", "installed_at"),
                     ("user", "created_at"), ("classroom", "created_at"))


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    message: str


def run_checks(data_dir: str | os.PathLike | None, all_content: bool = False,
               progress: ProgressFactory | None = None, fix: bool = False) -> Iterator[Check]:
    """Each check's result, in order; later checks are skipped when what they need is broken."""
    try:
        settings = load_settings(data_dir)
    except SettingsError as exc:
        folder = Path(data_dir) if data_dir is not None else default_data_dir()
        yield Check("settings", FAIL, f"{exc}")
        yield from _check_folder(folder)
        return
    source = settings.ini_path if settings.ini_path.exists() else "defaults (no settings file)"
    yield Check("settings", OK, f"loaded from {source}")
    folder_ok = False
    for check in _check_folder(settings.data_dir):
        folder_ok = folder_ok or check.level == OK
        yield check
    if not folder_ok:
        return
    yield _check_disk(settings.data_dir)
    conn = None
    for check in _check_database(settings):
        if isinstance(check, sqlite3.Connection):
            conn = check
        else:
            yield check
    try:
        yield _check_clock(settings, conn)
        if conn is not None:
            yield _check_agent(conn)
        yield _check_modes(settings, fix)
        yield from _check_keys(settings)
        if conn is not None:
            yield from _check_content(settings, conn, all_content, progress)
    finally:
        if conn is not None:
            conn.close()


def _check_folder(folder: Path) -> Iterator[Check]:
    if not folder.exists():
        blocker = next((p for p in folder.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            yield Check("data folder", FAIL, f"{folder} cannot exist: {blocker} is a file, not a folder. "
                                             f"Choose another --data-dir or CLASSROOM_DATA_DIR")
        else:
            yield Check("data folder", FAIL, f"{folder} does not exist: set up the school with "
                                             f"`classroom-server init`, or give the right --data-dir")
        return
    if not folder.is_dir():
        yield Check("data folder", FAIL, f"{folder} is a file, not a folder: choose another --data-dir")
        return
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        yield Check("data folder", FAIL, f"{folder} is not writable by this user (uid {os.getuid()}): run as "
                                         f"the user that owns it (e.g. sudo -u classroom) or fix its permissions")
        return
    yield Check("data folder", OK, f"{folder} exists and is writable")


def _check_disk(folder: Path) -> Check:
    stats = os.statvfs(folder)
    free, total = stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize
    share = free / total if total else 0
    text = f"{free / GiB:.1f} GiB free of {total / GiB:.1f} GiB ({share:.0%})"
    if free < 256 * MiB:
        return Check("disk", FAIL, f"{text}: new work will be refused soon. Remove unused packs or old backups, "
                                   f"or move the data folder to a bigger disk")
    if free < GiB or share < 0.10:
        return Check("disk", WARN, f"{text}: getting low. Remove unused packs or old backups")
    return Check("disk", OK, text)


def _check_database(settings: Settings) -> Iterator:
    """Checks of the database; also yields the open sqlite3 connection for later checks."""
    url = settings.effective_database_url
    if not url.startswith("sqlite:///"):
        yield from _check_postgres(url)
        return
    path = Path(url[len("sqlite:///"):])
    if not path.is_file():
        yield Check("database", FAIL, f"there is no database at {path}: run `classroom-server init` (a new "
                                      f"school) or `classroom-server restore BACKUP`")
        return
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=10)
    except sqlite3.Error as exc:
        yield Check("database", FAIL, f"cannot open {path}: {exc}. Check its owner and permissions")
        return
    try:
        errors = integrity_errors(conn)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        done = _applied(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        yield Check("database", FAIL, f"{path} is damaged ({exc}): stop the server and restore the latest "
                                      f"backup (`classroom-server restore BACKUP --force`)")
        return
    if errors:
        conn.close()
        yield Check("database", FAIL, f"{path} fails its integrity check ({'; '.join(errors[:3])}): stop the "
                                      f"server and restore the latest backup (`classroom-server restore BACKUP "
                                      f"--force`)")
        return
    yield Check("database", OK, f"{path} passes its integrity check")
    if mode != "wal":
        yield Check("journal mode", WARN, f"journal_mode is {mode}, not wal: the server and the sync agent block "
                                          f"each other. Starting the server sets it")
    else:
        yield Check("journal mode", OK, "wal")
    yield _schema_check(done)
    yield conn


def _check_postgres(url: str) -> Iterator[Check]:
    from peewee import ImproperlyConfigured, PeeweeException
    from playhouse.db_url import connect
    try:
        db = connect(url)
        db.connect()
    except (PeeweeException, ImproperlyConfigured, OSError) as exc:
        yield Check("database", FAIL, f"cannot connect to PostgreSQL ({exc}): check [database] url and that "
                                      f"the PostgreSQL server runs")
        return
    try:
        yield Check("database", OK, "PostgreSQL answers (its integrity is PostgreSQL's own business)")
        yield _schema_check(migrations.applied(db))
    finally:
        db.close()


def _applied(conn: sqlite3.Connection) -> list[int]:
    if not has_table(conn, "migration_history"):
        return []
    return [row[0] for row in conn.execute("SELECT number FROM migration_history ORDER BY number")]


def _schema_check(done: list[int]) -> Check:
    known = {m.number for m in migrations.available()}
    newer = [n for n in done if n not in known]
    if newer:
        return Check("schema", FAIL, f"schema {max(newer):04d} is newer than this version knows "
                                     f"({max(known):04d}): install the newer classroom-server again")
    waiting = sorted(known - set(done))
    if waiting:
        return Check("schema", WARN, f"{len(waiting)} migration(s) waiting: run `classroom-server migrate` "
                                     f"(starting the server does it too)")
    return Check("schema", OK, f"up to date ({max(done, default=0):04d})")


def _newest_timestamp(settings: Settings, conn: sqlite3.Connection | None) -> tuple[datetime.datetime, str] | None:
    """The newest moment this server's own clock wrote down, and where."""
    found: list[tuple[datetime.datetime, str]] = []
    if conn is not None:
        for table, column in SERVER_TIMESTAMPS:
            with contextlib.suppress(sqlite3.Error):
                columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
                if column not in columns:
                    continue
                value = conn.execute(f'SELECT MAX("{column}") FROM "{table}"').fetchone()[0]
                if value:
                    with contextlib.suppress(ValueError):
                        found.append((datetime.datetime.fromisoformat(str(value)[:26]), f"{table}.{column}"))
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        for path in (Path(url[len("sqlite:///"):]), Path(url[len("sqlite:///"):] + "-wal")):
            with contextlib.suppress(OSError):
                moment = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
                found.append((moment.replace(tzinfo=None), f"the change time of {path.name}"))
    return max(found) if found else None


def _check_clock(settings: Settings, conn: sqlite3.Connection | None) -> Check:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if now.year < 2024:
        return Check("clock", FAIL, f"the clock says {now:%Y-%m-%d %H:%M} UTC: set the date (timedatectl "
                                    f"set-time, or enable NTP with timedatectl set-ntp true)")
    newest = _newest_timestamp(settings, conn)
    if newest is not None and newest[0] - now > datetime.timedelta(minutes=5):
        return Check("clock", FAIL, f"the clock ({now:%Y-%m-%d %H:%M} UTC) is behind {newest[1]} "
                                    f"({newest[0]:%Y-%m-%d %H:%M}): set the date (timedatectl set-time, or "
                                    f"timedatectl set-ntp true); reports and sync order depend on it")
    return Check("clock", OK, f"{now:%Y-%m-%d %H:%M} UTC")


def _check_agent(conn: sqlite3.Connection) -> Check:
    """Whether the sync agent's loop wrote its heartbeat lately (admin/sync.py beat())."""
    row = (conn.execute("SELECT value FROM school_setting WHERE key = ?", (HEARTBEAT_SETTING,)).fetchone()
           if has_table(conn, "school_setting") else None)
    try:
        last = datetime.datetime.fromisoformat(row[0]) if row else None
    except ValueError:
        last = None
    if last is None:
        return Check("sync agent", WARN, f"never seen running: start it with `{START_AGENT}`")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if now - last > AGENT_STALE:
        return Check("sync agent", WARN, f"not running since {last:%Y-%m-%d %H:%M} UTC: start it with "
                                         f"`{START_AGENT}`")
    return Check("sync agent", OK, f"running (last seen {last:%H:%M:%S} UTC)")


def _check_modes(settings: Settings, fix: bool) -> Check:
    where = (settings.data_dir, permissions.sqlite_path(settings.effective_database_url), settings.ini_path)
    if fix:
        fixed = permissions.fix_modes(*where)
        if fixed:
            return Check("file modes", OK, "narrowed: " + "; ".join(str(wrong) for wrong in fixed))
    wrong = permissions.wrong_modes(*where)
    if wrong:
        return Check("file modes", WARN, "; ".join(str(w) for w in wrong) + ": other users of this computer could "
                                         "read the school's data. Run `classroom-server doctor --fix`")
    return Check("file modes", OK, "the data folder, database, settings and keys are for this user only")


def _check_keys(settings: Settings) -> Iterator[Check]:
    key = settings.data_dir / "secret_key"
    if not key.exists():
        yield Check("secret key", WARN, f"{key} does not exist yet: the server makes it when it first starts")
    else:
        mode = key.stat().st_mode & 0o777
        if mode & 0o077:
            yield Check("secret key", WARN, f"{key} has mode {mode:04o}: others could forge sign-ins. Run "
                                            f"`chmod 600 {key}`")
        else:
            yield Check("secret key", OK, f"mode {mode:04o}")
    for pem in sorted(settings.data_dir.glob("*.pem")):
        mode = pem.stat().st_mode & 0o777
        if mode & 0o077:
            yield Check("private key", WARN, f"{pem} has mode {mode:04o}: run `chmod 600 {pem}`")
    if settings.content_trusted_keys:
        yield Check("trusted keys", OK, f"{len(settings.content_trusted_keys)} configured")
    else:
        yield Check("trusted keys", WARN, "no [content] trusted_keys: no pack counts as reviewed. Enrol with the "
                                          "national platform, or add its public key to classroom-server.ini")


def _check_content(settings: Settings, conn: sqlite3.Connection, all_content: bool,
                   progress: ProgressFactory | None) -> Iterator[Check]:
    if not has_table(conn, "content_file"):
        yield Check("content", OK, "no content catalog yet")
        return
    store = BlobStore(settings.data_dir)
    files: dict[str, tuple[int, set[str]]] = {}
    join = has_table(conn, "content_pack")
    query = ("SELECT f.sha256, f.size, p.pack_id FROM content_file f JOIN content_pack p ON p.id = f.pack_id"
             if join else "SELECT sha256, size, '?' FROM content_file")
    for sha, size, pack in conn.execute(query):
        files.setdefault(sha, (size, set()))[1].add(pack)
    missing, wrong = set(), set()
    for sha, (size, packs) in files.items():
        try:
            actual = store.path(sha).stat().st_size
        except FileNotFoundError:
            missing.add(sha)
            continue
        if actual != size:
            wrong.add(sha)
    broken_packs = sorted({p for sha in missing | wrong for p in files[sha][1]})
    fix = ("re-import " + ", ".join(broken_packs) + " (`classroom-server pack import`) or let the sync agent "
           "fetch them again")
    if missing or wrong:
        yield Check("content files", FAIL, f"{len(missing)} missing and {len(wrong)} of the wrong size, of "
                                           f"{len(files)}: {fix}")
    else:
        yield Check("content files", OK, f"all {len(files)} present with the right size")
    if all_content:
        todo = {sha: size for sha, (size, _) in files.items() if sha not in missing | wrong}
        corrupt = set()
        with (progress or no_progress)(sum(todo.values())) as bar:
            for sha in sorted(todo):
                digest = hashlib.sha256()
                with open(store.path(sha), "rb") as handle:
                    for chunk in iter(lambda: handle.read(2**20), b""):
                        digest.update(chunk)
                        bar.update(len(chunk))
                if digest.hexdigest() != sha:
                    corrupt.add(sha)
        if corrupt:
            packs = sorted({p for sha in corrupt for p in files[sha][1]})
            yield Check("content hashes", FAIL, f"{len(corrupt)} file(s) damaged (wrong SHA-256): remove and "
                                                f"re-import {', '.join(packs)}, or let the sync agent fetch "
                                                "them; the disk may be failing")
        else:
            yield Check("content hashes", OK, f"all {len(todo)} match their SHA-256")
    school = ({sha for (sha,) in conn.execute("SELECT sha256 FROM school_file")}
              if has_table(conn, "school_file") else set())  # teachers' pictures: kept, not unused
    orphans = store.all_hashes() - set(files) - school
    leftovers = store.leftovers()
    if orphans or leftovers:
        size = sum(_size(store.path(sha)) for sha in orphans) + sum(_size(p) for p in leftovers)
        yield Check("unused content", WARN, f"{len(orphans)} file(s) no pack uses and {len(leftovers)} "
                                            f"interrupted import file(s), {size / MiB:.1f} MiB: they are removed "
                                            f"by the next pack import or removal")
    else:
        yield Check("unused content", OK, "none")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
