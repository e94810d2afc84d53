"""Backups of a school's data folder, and restoring them (here or on a new machine).

A backup is one `.tar.gz`: a consistent copy of the SQLite database made with SQLite's online
backup API (the server may keep serving and writing), the settings file, the session key and the
`*.pem` keys, the school's own files (teachers' pictures), optionally the packs' content blobs, and
last `manifest.json` listing every file with its SHA-256. It is written beside its final name and
renamed into place only when complete.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from typing import IO, Callable, ContextManager, Iterator

from peewee import SqliteDatabase

from .. import __version__, migrations
from ..content.services import BlobStore, fsync_dir
from ..db import SQLITE_PRAGMAS
from ..permissions import make_folder
from ..settings import INI_NAME, Settings, SettingsError, load_settings
from .device import disk

log = logging.getLogger(__name__)

FORMAT = "classroom-server-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "classroom.sqlite3"
SECRET_KEY = "secret_key"
_BLOB = re.compile(r"^content/blobs/([0-9a-f]{2})/([0-9a-f]{64})$")
_KEY_FILE = re.compile(r"^[^/]+\.pem$")
_CHUNK = 1024 * 1024

# progress(total_bytes) -> a context manager yielding something with update(n): click.progressbar fits.
ProgressFactory = Callable[[int], ContextManager]


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    schema: int
    files: int
    blobs: int
    missing_blobs: int  # referenced by the database but absent from the store when the backup ran


@dataclass
class RestoreResult:
    created_at: str
    app_version: str
    schema: int
    with_content: bool
    moved_aside: Path | None
    migrations_applied: list[str] = field(default_factory=list)
    packs: int = 0
    packs_missing_content: list[str] = field(default_factory=list)


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file of these settings; BackupError for PostgreSQL."""
    url = settings.effective_database_url
    if not url.startswith("sqlite:///"):
        raise BackupError("this school's database is PostgreSQL: back it up with pg_dump (and restore it with "
                          "pg_restore); `classroom-server backup` copies SQLite databases only")
    return Path(url[len("sqlite:///"):])


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def _schema(conn: sqlite3.Connection) -> list[int]:
    if not has_table(conn, "migration_history"):
        return []
    return [row[0] for row in conn.execute("SELECT number FROM migration_history ORDER BY number")]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def integrity_errors(conn: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` finds (empty when the database is sound)."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def copy_database(source: Path, target: Path) -> list[int]:
    """A consistent copy of a live SQLite database (WAL readers never block the server's writers).

    The copy is checked with integrity_check and left as one self-contained file (no -wal).
    Returns the migration numbers it records.
    """
    src = sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(str(target))
        try:
            # One step (pages=-1): the copy is one read transaction, a snapshot of committed data.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            errors = integrity_errors(dst)
            if errors:
                raise BackupError(f"the copy of {source} fails its integrity check ({errors[0]}); the database "
                                  f"itself may be damaged: run `classroom-server doctor`")
            return _schema(dst)
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot copy the database {source}: {exc}. Run `classroom-server doctor`.") from None
    finally:
        src.close()


def _referenced_blobs(conn: sqlite3.Connection, with_content: bool) -> dict[str, int]:
    """The blobs a backup holds: the school's own files always (nothing else has a copy of a teacher's
    picture), the packs' files too `with_content` (the hub or a USB stick has those)."""
    found = {}
    if with_content and has_table(conn, "content_file"):
        found.update(conn.execute("SELECT DISTINCT sha256, size FROM content_file"))
    if has_table(conn, "school_file"):
        found.update(conn.execute("SELECT DISTINCT sha256, size FROM school_file"))
    return found


def _data_files(data_dir: Path) -> list[Path]:
    """Settings and keys kept in the data folder."""
    found = [data_dir / name for name in (INI_NAME, SECRET_KEY)]
    found += sorted(data_dir.glob("*.pem"))
    return [p for p in found if p.is_file()]


class _HashingReader(io.RawIOBase):
    def __init__(self, handle: IO[bytes], on_read: Callable[[int], None] | None):
        self.handle, self.on_read, self.digest = handle, on_read, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        if self.on_read and chunk:
            self.on_read(len(chunk))
        return chunk


def _add_file(tar: tarfile.TarFile, path: Path, name: str, on_read=None) -> dict:
    """Add one file, hashing it as it streams in; its manifest entry."""
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = stat.st_size, stat.st_mode & 0o777, int(stat.st_mtime)
        reader = _HashingReader(handle, on_read)
        tar.addfile(info, reader)
    return {"path": name, "size": info.size, "sha256": reader.digest.hexdigest(), "mode": info.mode}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    info.mtime = int(datetime.datetime.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


@contextlib.contextmanager
def no_progress(total: int) -> Iterator:
    class Nothing:
        def update(self, n: int) -> None:
            pass
    yield Nothing()


def make_backup(settings: Settings, target: str | os.PathLike, with_content: bool = False,
                progress: ProgressFactory | None = None) -> BackupResult:
    """Write a backup of the data folder of `settings` to `target` (atomically)."""
    source = sqlite_path(settings)
    target = Path(target).absolute()
    folder = target.parent
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup's file name, e.g. {target / 'school.tar.gz'}")
    if not folder.is_dir():
        raise BackupError(f"the folder {folder} does not exist; create it or choose another place")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BackupError(f"the folder {folder} is not writable by this user; choose another place or run as "
                          f"a user who may write there")
    if not source.is_file():
        raise BackupError(f"there is no database at {source}: nothing to back up (is --data-dir right?)")
    store = BlobStore(settings.data_dir)
    db_size = source.stat().st_size + _size_or_zero(Path(f"{source}-wal"))
    # A rough upper bound: the database copy, the archive (at worst uncompressed) and the blobs.
    content = sum(p.stat().st_size for p in store.blobs.glob("??/*") if p.is_file()) if with_content else 0
    needed = 2 * db_size + content + 1024 * 1024
    free = _free_bytes(folder)
    if needed > free:
        raise BackupError(f"not enough disk space in {folder}: the backup needs up to {needed // 2**20} MiB, "
                          f"{free // 2**20} MiB are free. Free some space or write the backup elsewhere "
                          f"(a USB drive)")
    fd, temp_db = tempfile.mkstemp(dir=folder, prefix=f".partial-{target.name}-", suffix=".sqlite3")
    os.close(fd)
    fd, temp_archive = tempfile.mkstemp(dir=folder, prefix=f".partial-{target.name}-")
    os.close(fd)
    present: dict[str, int] = {}
    referenced: dict[str, int] = {}
    try:
        with contextlib.ExitStack() as stack:
            # Hold the store's lock: no import or clean-up removes a blob the copy refers to (the
            # school's own files are always copied).
            stack.enter_context(_store_lock(store))
            schema = copy_database(source, Path(temp_db))
            conn = sqlite3.connect(temp_db)
            try:
                referenced = _referenced_blobs(conn, with_content)
            finally:
                conn.close()
            with open(temp_archive, "wb") as raw:
                # Content is mostly compressed media already: compress it lightly, the rest well.
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1 if with_content else 9,
                                  format=tarfile.PAX_FORMAT) as tar:
                    entries = [_add_file(tar, Path(temp_db), DATABASE)]
                    entries += [_add_file(tar, path, path.name) for path in _data_files(settings.data_dir)]
                    present = {sha: size for sha, size in referenced.items() if store.has(sha, size)}
                    with (progress or no_progress)(sum(present.values())) as bar:
                        for sha in sorted(present):
                            entries.append(_add_file(tar, store.path(sha), f"content/blobs/{sha[:2]}/{sha}",
                                                     bar.update))
                    manifest = {
                        "format": FORMAT, "format_version": FORMAT_VERSION, "app_version": __version__,
                        "schema": max(schema, default=0), "migrations": schema,
                        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "with_content": with_content, "files": entries,
                    }
                    _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
                raw.flush()
                os.fsync(raw.fileno())
        os.chmod(temp_archive, 0o600)  # it holds the session key and password hashes
        os.replace(temp_archive, target)
        fsync_dir(folder)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_archive)
        if exc.errno == errno.ENOSPC:
            raise BackupError(f"the disk holding {folder} filled up while writing the backup; nothing was kept. "
                              f"Free some space or write the backup elsewhere") from None
        raise BackupError(f"cannot write the backup {target}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_archive)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_db)
    log.info("backup written to %s", target)
    return BackupResult(target, target.stat().st_size, max(schema, default=0), len(entries), len(present),
                        len(referenced) - len(present))


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def _store_lock(store: BlobStore) -> Iterator[None]:
    try:
        lock = store.lock()
        lock.__enter__()
    except OSError as exc:
        # Reading a data folder we may not write (a backup run as another user): go on without the lock.
        log.warning("cannot take the content lock (%s); a pack import during the backup may leave some "
                    "content out", exc)
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


# --- Restoring ------------------------------------------------------------------------------------

def _allowed(name: str) -> bool:
    return name in (MANIFEST, DATABASE, INI_NAME, SECRET_KEY) or bool(_KEY_FILE.match(name)) \
        or bool(_BLOB.match(name) and _BLOB.match(name).group(2)[:2] == _BLOB.match(name).group(1))


def _unpack(archive: Path, staging: Path, progress: ProgressFactory | None) -> tuple[dict, dict[str, dict]]:
    """Extract `archive` into `staging`, hashing as it goes; (manifest, what was found per name)."""
    found: dict[str, dict] = {}
    manifest_raw = None
    try:
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar, \
                (progress or no_progress)(archive.stat().st_size) as bar:
            done = 0
            for member in tar:
                name = member.name
                if not member.isfile() or not _allowed(name) or name in found:
                    raise BackupError(f"{archive} is not a classroom-server backup: unexpected entry {name!r}")
                handle = tar.extractfile(member)
                if name == MANIFEST:
                    manifest_raw = handle.read(10 * 2**20)
                    found[name] = {}
                    continue
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with open(path, "wb") as out:
                    for chunk in iter(lambda: handle.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                secret = name == SECRET_KEY or name.endswith(".pem")
                os.chmod(path, 0o600 if secret else (member.mode & 0o777) | 0o600)
                found[name] = {"sha256": digest.hexdigest(), "size": size}
                position = raw.tell()
                bar.update(max(0, position - done))
                done = max(done, position)
            # tarfile stops quietly at a damaged header: read to the end so gzip checks its CRC.
            while tar.fileobj.read(_CHUNK):
                pass
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive} is damaged or not a backup ({exc}); use another copy") from None
    if manifest_raw is None:
        raise BackupError(f"{archive} has no {MANIFEST}: it is damaged, cut short, or not a classroom-server backup")
    try:
        manifest = json.loads(manifest_raw)
    except ValueError:
        raise BackupError(f"{archive}: {MANIFEST} is not valid JSON; the archive is damaged") from None
    return manifest, found


def check_backup(archive: Path, staging: Path, progress: ProgressFactory | None = None) -> dict:
    """Unpack and check everything: manifest, every hash, the database's integrity and schema."""
    manifest, found = _unpack(archive, staging, progress)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is not a classroom-server backup")
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{archive} was made by a newer classroom-server (backup format "
                          f"{manifest.get('format_version')}); restore it with that version")
    listed = {entry["path"]: entry for entry in manifest.get("files", [])}
    for name, entry in listed.items():
        got = found.get(name)
        if got is None:
            raise BackupError(f"{archive} lacks {name}, which its manifest lists: the archive is incomplete")
        if got["sha256"] != entry.get("sha256") or got["size"] != entry.get("size"):
            raise BackupError(f"{archive}: {name} does not match its SHA-256 in the manifest: the archive was "
                              f"changed or damaged; use another copy")
        blob = _BLOB.match(name)
        if blob and blob.group(2) != got["sha256"]:
            raise BackupError(f"{archive}: content file {name} does not match its name; use another copy")
    extra = set(found) - set(listed) - {MANIFEST}
    if extra:
        raise BackupError(f"{archive} holds files its manifest does not list ({sorted(extra)[0]}); refusing it")
    if DATABASE not in listed:
        raise BackupError(f"{archive} holds no database")
    conn = sqlite3.connect(f"file:{quote(str(staging / DATABASE))}?mode=rw", uri=True)
    try:
        errors = integrity_errors(conn)
        schema = _schema(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database in {archive} cannot be read ({exc}); use another copy") from None
    finally:
        conn.close()
    if errors:
        raise BackupError(f"the database in {archive} fails its integrity check ({errors[0]}); use another copy")
    known = {m.number for m in migrations.available()}
    newer = [n for n in schema if n not in known]
    if newer:
        raise BackupError(f"{archive} was made by a newer classroom-server (schema {max(newer):04d}; this version "
                          f"knows up to {max(known):04d}). Install that version, then restore; nothing was changed.")
    return manifest


def _database_target(staging: Path, data_dir: Path, current: Path | None) -> Path:
    """Where the restored database goes: as the restored settings (and the environment) say, but
    only inside the data folder or where this server's own settings put it already (`current`): a
    backup is a file from somewhere, and its settings must not make a restore write anywhere else."""
    try:
        restored = load_settings(staging).replace(data_dir=data_dir)
    except SettingsError as exc:
        raise BackupError(f"the settings file in the backup is not usable here: {exc}") from None
    target = sqlite_path(restored)
    if not target.resolve().is_relative_to(data_dir.resolve()) and target != current:
        raise BackupError(f"the backup's settings put the database at {target}, outside the data folder {data_dir}; "
                          f"a restore writes only inside the data folder (or where this server's settings already "
                          f"put the database): nothing was changed. To use another place, set "
                          f"CLASSROOM_DATABASE_URL for the restore and the server")
    return target


def _current_files(data_dir: Path, database: Path) -> list[Path]:
    files = [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")]
    return [p for p in files + _data_files(data_dir) if p.exists()]


def restore_backup(archive: str | os.PathLike, data_dir: str | os.PathLike, force: bool = False,
                   progress: ProgressFactory | None = None) -> RestoreResult:
    """Check `archive` completely, then put its files in `data_dir`; migrate the restored database."""
    archive, data_dir = Path(archive).absolute(), Path(data_dir).absolute()
    if not archive.is_file():
        raise BackupError(f"there is no file {archive}")
    try:
        make_folder(data_dir)
    except OSError as exc:
        raise BackupError(f"cannot create the data folder {data_dir}: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise BackupError(f"the data folder {data_dir} is not writable by this user")
    try:  # before-restore-<time> in the school's time, as people read it
        stamp = load_settings(data_dir).school_now().strftime("%Y%m%d-%H%M%S")
    except SettingsError:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=f".restore-{stamp}-"))
    try:
        manifest = check_backup(archive, staging, progress)
        try:
            current_database = sqlite_path(load_settings(data_dir).replace(data_dir=data_dir))
        except (SettingsError, BackupError):
            current_database = None
        database = _database_target(staging, data_dir, current_database)
        current_database = current_database or database
        databases = {p for db in {database, current_database} for p in _current_files(data_dir, db)
                     if p.name.startswith(db.name)}
        existing = databases | set(_data_files(data_dir))
        if databases and not force:
            raise BackupError(f"{data_dir} already has a database; nothing was changed. Stop the server, then "
                              f"restore with --force: the current database, settings and keys are moved to "
                              f"{data_dir}/before-restore-<time>/ first")
        aside = None
        if existing:
            aside = data_dir / f"before-restore-{stamp}"
            for n in range(1, 100):
                try:
                    aside.mkdir()
                    break
                except FileExistsError:  # two restores within one second
                    aside = data_dir / f"before-restore-{stamp}-{n}"
            for path in sorted(set(existing)):
                shutil.move(str(path), str(aside / path.name))
            fsync_dir(aside)
        for entry in manifest["files"]:
            name = entry["path"]
            source = staging / name
            if name == DATABASE:
                target = database
            else:
                target = data_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.parent == staging.parent or os.stat(target.parent).st_dev == os.stat(source).st_dev:
                os.replace(source, target)
            else:  # the database lives on another disk: copy beside it, then rename
                temp = target.with_name(f".partial-{target.name}")
                shutil.copy2(source, temp)
                os.replace(temp, target)
        for folder in {data_dir, database.parent} | {(data_dir / e["path"]).parent for e in manifest["files"]}:
            fsync_dir(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = RestoreResult(created_at=manifest.get("created_at", "?"), app_version=manifest.get("app_version", "?"),
                           schema=manifest.get("schema", 0), with_content=bool(manifest.get("with_content")),
                           moved_aside=aside)
    result.migrations_applied = _migrate(database)
    result.packs, result.packs_missing_content = _packs_missing_content(database, data_dir)
    return result


def _migrate(path: Path) -> list[str]:
    db = SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS)
    try:
        db.connect()
        return migrations.migrate(db)
    except migrations.MigrationError as exc:
        raise BackupError(str(exc)) from None
    finally:
        db.close()


def _packs_missing_content(database: Path, data_dir: Path) -> tuple[int, list[str]]:
    """(installed packs, those with a file missing from the store)."""
    store = BlobStore(data_dir)
    conn = sqlite3.connect(str(database))
    try:
        if not (has_table(conn, "content_pack") and has_table(conn, "content_file")):
            return 0, []
        packs = conn.execute("SELECT COUNT(*) FROM content_pack").fetchone()[0]
        missing = set()
        for pack_id, sha, size in conn.execute(
                "SELECT p.pack_id, f.sha256, f.size FROM content_file f JOIN content_pack p ON p.id = f.pack_id"):
            if pack_id not in missing and not store.has(sha, size):
                missing.add(pack_id)
        return packs, sorted(missing)
    finally:
        conn.close()


# --- the backups folder: made on the admin page or by the sync agent each night -------------------

BACKUPS = "backups"
_NAME = re.compile(r"^(nightly|manual)-(\d{8})-(\d{6})(?:-(\d{1,3}))?\.tar\.gz$")
_PARTIAL_AGE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class StoredBackup:
    name: str
    kind: str  # "nightly" or "manual"
    size: int
    modified: datetime.datetime  # UTC, naive


def backups_folder(settings: Settings) -> Path:
    return settings.data_dir / BACKUPS


def is_backup_name(name: str) -> bool:
    return _NAME.match(name) is not None


def list_backups(settings: Settings) -> list[StoredBackup]:
    """The backups in <data-dir>/backups, newest first."""
    folder = backups_folder(settings)
    found = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        stat = entry.stat(follow_symlinks=False)
        if stat.st_size == 0:  # a name claimed by a backup being written
            continue
        modified = datetime.datetime.fromtimestamp(stat.st_mtime, datetime.timezone.utc).replace(tzinfo=None)
        found.append(StoredBackup(entry.name, match.group(1), stat.st_size, modified))
    found.sort(key=lambda b: (b.modified, b.name), reverse=True)
    return found


def backup_into_folder(settings: Settings, kind: str) -> BackupResult:
    """A database backup (no content files) as <data-dir>/backups/<kind>-<date>-<time>.tar.gz."""
    if kind not in ("nightly", "manual"):
        raise ValueError(kind)
    folder = backups_folder(settings)
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backups folder {folder}: {exc.strerror or exc}") from None
    _check_reserve(settings, folder)
    stamp = settings.school_now().strftime("%Y%m%d-%H%M%S")  # the school's wall time, as people read it
    for n in range(1000):
        name = f"{kind}-{stamp}.tar.gz" if n == 0 else f"{kind}-{stamp}-{n}.tar.gz"
        try:
            # Claim the name (two clicks within one second get two files); make_backup replaces it.
            os.close(os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except FileExistsError:
            continue
    else:
        raise BackupError(f"too many backups named {kind}-{stamp}* in {folder}")
    try:
        return make_backup(settings, folder / name)
    except BaseException:
        # A claimed name still empty (the backup failed before replacing it) is no backup.
        with contextlib.suppress(FileNotFoundError):
            if (folder / name).stat().st_size == 0:
                (folder / name).unlink()
        raise


def _check_reserve(settings: Settings, folder: Path) -> None:
    """Refuse a backup that would leave less free space than the admin page's reserve: students'
    answers need the room more than another copy of the database does."""
    source = sqlite_path(settings)
    usage = disk(folder)
    if usage is None:
        return
    needed = 2 * (_size_or_zero(source) + _size_or_zero(Path(f"{source}-wal")))
    if usage.free - needed < usage.reserve:
        raise BackupError(f"not enough free disk space for a backup in {folder}: {usage.free // 2**20} MiB free, "
                          f"the backup needs up to {needed // 2**20} MiB and {usage.reserve // 2**20} MiB are kept "
                          f"for students' work. Remove old backups or unused packs, or back up to a USB drive "
                          f"with `classroom-server backup FILE`")


def delete_backup(settings: Settings, name: str) -> None:
    if not is_backup_name(name):
        raise BackupError(f"{name!r} is not a backup in the backups folder")
    try:
        (backups_folder(settings) / name).unlink()
    except FileNotFoundError:
        raise BackupError(f"there is no backup {name}") from None


def prune_backups(settings: Settings, keep: int) -> list[str]:
    """Remove nightly backups beyond the newest `keep`, and day-old leftovers of interrupted
    backups; backups made by hand stay. Returns the names removed."""
    nightly = [b for b in list_backups(settings) if b.kind == "nightly"]
    removed = []
    for old in nightly[max(1, keep):]:
        with contextlib.suppress(FileNotFoundError):
            (backups_folder(settings) / old.name).unlink()
            removed.append(old.name)
    cutoff = datetime.datetime.now().timestamp() - _PARTIAL_AGE.total_seconds()
    for leftover in backups_folder(settings).glob(".partial-*"):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
                removed.append(leftover.name)
    return removed


def nightly_backup(settings: Settings) -> tuple[BackupResult, list[str]]:
    """The sync agent's nightly job: a backup into the backups folder, then older nightly ones
    pruned to `[backup] keep`. Raises BackupError (nothing pruned) when the backup fails."""
    result = backup_into_folder(settings, "nightly")
    return result, prune_backups(settings, settings.backup_keep)


# --- A restore asked for on the admin page, done when the web server next starts ---------------------
# The running server and the sync agent hold the database open, so the page only checks the backup
# and leaves a note; `classroom-server serve` restores it before it opens the database.

PENDING_RESTORE = "restore-pending"  # holds the name of a backup in <data-dir>/backups
FAILED_RESTORE = "restore-failed"  # why the last restore asked for on the admin page did not happen


def request_restore(settings: Settings, name: str) -> dict:
    """Check the backup `name` completely now (hashes, database integrity, schema), then note it for the
    next start; its manifest. Raises BackupError saying what is wrong (nothing is noted then)."""
    if not is_backup_name(name):
        raise BackupError(f"{name} is not the name of a backup")
    archive = backups_folder(settings) / name
    if not archive.is_file():
        raise BackupError(f"there is no backup {name}")
    staging = Path(tempfile.mkdtemp(dir=settings.data_dir, prefix=".restore-check-"))
    try:
        manifest = check_backup(archive, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    note = settings.data_dir / PENDING_RESTORE
    note.write_text(name + "\n", encoding="utf-8")
    (settings.data_dir / FAILED_RESTORE).unlink(missing_ok=True)
    return manifest


def pending_restore(settings: Settings) -> str | None:
    try:
        name = (settings.data_dir / PENDING_RESTORE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name if is_backup_name(name) else None


def cancel_restore(settings: Settings) -> None:
    (settings.data_dir / PENDING_RESTORE).unlink(missing_ok=True)


def restore_failure(settings: Settings) -> str | None:
    try:
        return (settings.data_dir / FAILED_RESTORE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def apply_pending_restore(settings: Settings) -> RestoreResult | None:
    """The restore the admin page asked for, if any (called by `serve` before it opens the database);
    a failure is noted for the admin page and the server goes on with the data it has."""
    note = settings.data_dir / PENDING_RESTORE
    if not note.exists():
        return None
    name = pending_restore(settings)
    note.unlink()
    try:
        if name is None:
            raise BackupError("the restore note does not name a backup")
        return restore_backup(backups_folder(settings) / name, settings.data_dir, force=True)
    except BackupError as exc:
        (settings.data_dir / FAILED_RESTORE).write_text(f"{name}: {exc}\n", encoding="utf-8")
        raise
