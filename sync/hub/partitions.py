"""The record table's monthly partitions on PostgreSQL: made ahead, archived when old, and the move of
an older hub's unpartitioned records into them.

Partitions are named `record_pYYYY_MM` and hold the records *received* in that UTC month: receipt
time only moves forward, so a month stops changing once it is over, and can then be exported,
checked and dropped whole. Each partition has its own unique (school_id, seq) and (school_id, uuid)
indexes; PostgreSQL cannot make a unique index on the partitioned table without the partition key
in it, so ingest keeps a school's seqs unique across months itself (services._store, docs/scale.md).

SQL here names tables and partitions we make from dates (never from input): peewee cannot express
partition DDL, COPY or cursors.
"""
from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from peewee import Database, DatabaseProxy, PostgresqlDatabase

from .content import _fsync_folder
from .db import database
from .models import RecordArchive, utcnow

log = logging.getLogger(__name__)

PARENT = "record"
LEGACY = "record_unpartitioned"  # an older hub's table, until `init` has moved its rows
MOVE_STATE = "record_move"  # where the move is up to, committed with each chunk
_NAME = re.compile(r"^record_p(\d{4})_(\d{2})$")
COLUMNS = "school_id, seq, uuid, statement, received_at"
EXPORT_FETCH = 5000
DETACH_LOCK_TIMEOUT = "10s"  # detaching waits for running batches; never for long


class PartitionError(Exception):
    """Partition work that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Partition:
    name: str
    starts: datetime.datetime
    ends: datetime.datetime
    rows: int  # PostgreSQL's estimate (exact after ANALYZE); -1 when it has none yet


@dataclass(frozen=True)
class Archived:
    partition: str
    rows: int
    path: Path
    sha256: str
    bytes: int


# --- months ---------------------------------------------------------------------------------------

def month_start(moment: datetime.datetime | datetime.date) -> datetime.datetime:
    return datetime.datetime(moment.year, moment.month, 1)


def add_months(start: datetime.datetime, months: int) -> datetime.datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime.datetime(index // 12, index % 12 + 1, 1)


def partition_name(start: datetime.datetime) -> str:
    return f"record_p{start.year:04d}_{start.month:02d}"


def _bounds(name: str) -> tuple[datetime.datetime, datetime.datetime] | None:
    match = _NAME.match(name)
    if not match:
        return None
    starts = datetime.datetime(int(match.group(1)), int(match.group(2)), 1)
    return starts, add_months(starts, 1)


# --- what is there --------------------------------------------------------------------------------

def _postgres(db: Database) -> bool:
    return isinstance(db.obj if isinstance(db, DatabaseProxy) else db, PostgresqlDatabase)


def is_partitioned(db: Database | None = None) -> bool:
    db = db or database
    if not _postgres(db):
        return False
    row = db.execute_sql("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                         "WHERE c.oid = to_regclass(%s)", (PARENT,)).fetchone()
    return row is not None


def legacy_pending(db: Database | None = None) -> bool:
    """An older hub's unpartitioned records are still waiting to be moved."""
    db = db or database
    return _postgres(db) and db.execute_sql("SELECT to_regclass(%s)", (LEGACY,)).fetchone()[0] is not None


def partitions(db: Database | None = None) -> list[Partition]:
    """The record table's partitions, oldest first."""
    db = db or database
    if not is_partitioned(db):
        return []
    rows = db.execute_sql("SELECT c.relname, c.reltuples::bigint FROM pg_inherits i "
                          "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
                          (PARENT,)).fetchall()
    found = []
    for name, estimate in rows:
        bounds = _bounds(name)
        if bounds is None:
            log.warning("partition %s of %s is not one the hub made; it is left alone", name, PARENT)
            continue
        found.append(Partition(name, bounds[0], bounds[1], int(estimate)))
    return sorted(found, key=lambda p: p.starts)


# --- making them ahead ----------------------------------------------------------------------------

def ensure(first: datetime.datetime, last: datetime.datetime, db: Database | None = None) -> list[str]:
    """Make the monthly partitions covering `first` to `last` that are missing; return their names.

    Safe to run from several processes at once: they queue on an advisory lock.
    """
    db = db or database
    if not is_partitioned(db):
        return []
    made = []
    with db.atomic():
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(current_schema() || %s))", ("." + PARENT,))
        existing = {p.name for p in partitions(db)}
        month = month_start(first)
        while month <= last:
            name = partition_name(month)
            if name not in existing:
                following = add_months(month, 1)
                db.execute_sql(f"CREATE TABLE {name} PARTITION OF {PARENT} "
                               f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')")
                db.execute_sql(f"CREATE UNIQUE INDEX {name}_seq ON {name} (school_id, seq)")
                db.execute_sql(f"CREATE UNIQUE INDEX {name}_uuid ON {name} (school_id, uuid)")
                made.append(name)
                log.info("made partition %s", name)
            month = add_months(month, 1)
    return made


def ensure_ahead(months_ahead: int, now: datetime.datetime | None = None, db: Database | None = None) -> list[str]:
    """This month's partition and the next `months_ahead` ones."""
    this_month = month_start(now or utcnow())
    return ensure(this_month, add_months(this_month, max(months_ahead, 1)), db)


_covered: dict[int, datetime.datetime] = {}  # per opened database: partitions are known to exist until


def ensure_for_ingest(now: datetime.datetime) -> None:
    """Make sure a partition takes records received at `now` (looked at once a month per process).

    The hub makes partitions ahead at `init`, at `serve` and daily (`partitions ensure`); this only
    keeps a hub whose timer stopped from refusing records.
    """
    key = id(database.obj)
    if now < _covered.get(key, datetime.datetime.min):
        return
    ensure_ahead(1, now)
    _covered[key] = add_months(month_start(now), 1)


def forget_made() -> None:
    """Look again at the next ingest (a partition made in a transaction that was rolled back is gone)."""
    _covered.clear()


# --- retention ------------------------------------------------------------------------------------

def due_for_archive(retention_months: int, now: datetime.datetime | None = None,
                    db: Database | None = None) -> list[Partition]:
    """Partitions whose every record was received more than `retention_months` whole months ago."""
    if retention_months <= 0:
        return []
    cutoff = add_months(month_start(now or utcnow()), -retention_months)
    return [p for p in partitions(db) if p.ends <= cutoff]


def archive_path(folder: Path, partition: str) -> Path:
    return folder / f"{partition}.jsonl.gz"


def _line(school_id: str, seq: int, uid: str, received_at: datetime.datetime, statement: str) -> bytes:
    if "\n" in statement:  # kept as sent; one record per line for readers of JSON lines
        statement = json.dumps(json.loads(statement), ensure_ascii=False, separators=(",", ":"))
    return (f'{{"school_id":"{school_id}","seq":{seq},"uuid":"{uid}",'
            f'"received_at":"{received_at.isoformat()}Z","statement":{statement}}}\n').encode("utf-8")


def _export(partition: Partition, target: Path, db: Database,
            progress: Callable[[int], None] | None) -> tuple[int, int, str]:
    """Write the partition to `target`; return (rows written, rows counted by the database, sha256 of
    the uncompressed lines)."""
    digest = hashlib.sha256()
    written = 0
    with db.atomic():
        cursor = db.cursor()
        cursor.execute(f"DECLARE export_{partition.name} NO SCROLL CURSOR FOR "
                       f"SELECT school_id, seq, uuid::text, received_at, statement::text FROM {partition.name}")
        with open(target, "wb") as raw:
            with gzip.GzipFile(filename=target.name.removesuffix(".partial"), fileobj=raw, mode="wb",
                               compresslevel=6, mtime=0) as packed:
                while True:
                    cursor.execute(f"FETCH {EXPORT_FETCH} FROM export_{partition.name}")
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    chunk = b"".join(_line(*row) for row in rows)
                    digest.update(chunk)
                    packed.write(chunk)
                    written += len(rows)
                    if progress:
                        progress(len(rows))
            raw.flush()
            os.fsync(raw.fileno())
        cursor.execute(f"CLOSE export_{partition.name}")
        counted = db.execute_sql(f"SELECT count(*) FROM {partition.name}").fetchone()[0]
    return written, counted, digest.hexdigest()


class _Hashing:
    """A file read through that also hashes what it reads."""

    def __init__(self, handle):
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def _reread(path: Path) -> tuple[int, str, str]:
    """(lines, sha256 of the uncompressed lines, sha256 of the file), each line parsed as JSON."""
    digest = hashlib.sha256()
    lines = 0
    with open(path, "rb") as raw:
        hashing = _Hashing(raw)
        with gzip.GzipFile(fileobj=hashing, mode="rb") as packed:
            for line in packed:
                digest.update(line)
                json.loads(line)  # an analyst's reader must be able to read every line
                lines += 1
        while hashing.read(1 << 20):  # anything after the gzip stream is part of the file too
            pass
    return lines, digest.hexdigest(), hashing.digest.hexdigest()


def archive(partition: Partition, folder: Path, db: Database | None = None,
            progress: Callable[[int], None] | None = None) -> Archived:
    """Export one partition to `<folder>/<name>.jsonl.gz`, check the file, then detach and drop it.

    The file is written beside its final name and fsynced, read back whole (every line parsed, the
    count equal to the partition's, the checksum equal to what was written), renamed, and only then
    is the partition dropped, in the transaction that records the archive. A run stopped anywhere
    leaves the partition in place; running again does it all again.
    """
    db = db or database
    if partition.ends > month_start(utcnow()):
        raise PartitionError(f"{partition.name} is this month's or later: only past months are archived")
    if legacy_pending(db):
        raise PartitionError("the records of the older hub are not all moved into partitions yet: "
                             "run `classroom-hub init` first")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PartitionError(f"cannot create the archive folder {folder}: {exc.strerror}. Set [records] "
                             f"archive_dir to a writable folder.") from None
    final = archive_path(folder, partition.name)
    partial = final.with_name(final.name + ".partial")
    written, counted, content_sha = _export(partition, partial, db, progress)
    lines, reread_sha, file_sha = _reread(partial)
    if not (written == counted == lines and content_sha == reread_sha):
        partial.unlink(missing_ok=True)
        raise PartitionError(f"the export of {partition.name} does not check out ({written} rows written, "
                             f"{counted} in the database, {lines} read back; checksum "
                             f"{'equal' if content_sha == reread_sha else 'different'}): nothing was "
                             f"dropped. Check the disk of {folder} and run it again.")
    os.replace(partial, final)
    final.with_name(final.name + ".sha256").write_text(f"{file_sha}  {final.name}\n", encoding="utf-8")
    _fsync_folder(folder)
    with db.atomic():
        db.execute_sql(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT}'")
        RecordArchive.insert(partition=partition.name, starts=partition.starts, ends=partition.ends,
                             rows=counted, path=str(final), sha256=file_sha, archived_at=utcnow()).on_conflict(
            conflict_target=[RecordArchive.partition],
            preserve=[RecordArchive.rows, RecordArchive.path, RecordArchive.sha256,
                      RecordArchive.archived_at]).execute()
        db.execute_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.name}")
        db.execute_sql(f"DROP TABLE {partition.name}")
    log.info("archived %s: %d records to %s", partition.name, counted, final)
    return Archived(partition.name, counted, final, file_sha, final.stat().st_size)


# --- moving an older hub's records in -------------------------------------------------------------

def move_legacy(db: Database | None = None, chunk: int = 20_000,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Move every row of `record_unpartitioned` into the partitioned table; return how many moved.

    Rows go in (school_id, seq) order, a chunk per transaction, and the position is committed with
    each chunk (in `record_move`), so a move stopped anywhere resumes where the last commit left it:
    no row is skipped or copied twice. When all are in, every old row is looked up in the new table
    (same school, seq and uuid) before the old table is dropped. `progress(moved, total)` is called
    inside each chunk's transaction.
    """
    db = db or database
    if not legacy_pending(db):
        return 0
    db.execute_sql(f"CREATE TABLE IF NOT EXISTS {MOVE_STATE} (id int PRIMARY KEY, school_id varchar(32) NOT NULL, "
                   f"seq bigint NOT NULL, moved bigint NOT NULL)")
    db.execute_sql(f"INSERT INTO {MOVE_STATE} VALUES (1, '', -1, 0) ON CONFLICT (id) DO NOTHING")
    total = db.execute_sql(f"SELECT count(*) FROM {LEGACY}").fetchone()[0]
    moved_now = 0
    while True:
        with db.atomic():
            school_id, seq, moved = db.execute_sql(
                f"SELECT school_id, seq, moved FROM {MOVE_STATE} WHERE id = 1 FOR UPDATE").fetchone()
            last = db.execute_sql(f"SELECT school_id, seq FROM {LEGACY} WHERE (school_id, seq) > (%s, %s) "
                                  f"ORDER BY school_id, seq OFFSET %s LIMIT 1", (school_id, seq, chunk - 1)).fetchone()
            if last is None:  # fewer than a chunk left: up to the last row, if any is left
                last = db.execute_sql(f"SELECT school_id, seq FROM {LEGACY} WHERE (school_id, seq) > (%s, %s) "
                                      f"ORDER BY school_id DESC, seq DESC LIMIT 1", (school_id, seq)).fetchone()
                if last is None:
                    break
            span = "(school_id, seq) > (%s, %s) AND (school_id, seq) <= (%s, %s)"
            values = (school_id, seq, *last)
            earliest, latest = db.execute_sql(f"SELECT min(received_at), max(received_at) FROM {LEGACY} "
                                              f"WHERE {span}", values).fetchone()
            ensure(earliest, latest, db)
            count = db.execute_sql(f"INSERT INTO {PARENT} ({COLUMNS}) SELECT {COLUMNS} FROM {LEGACY} "
                                   f"WHERE {span}", values).rowcount
            db.execute_sql(f"UPDATE {MOVE_STATE} SET school_id = %s, seq = %s, moved = moved + %s WHERE id = 1",
                           (*last, count))
            moved_now += count
            if progress:
                progress(moved + count, total)
    missing = db.execute_sql(f"SELECT count(*) FROM {LEGACY} l WHERE NOT EXISTS (SELECT 1 FROM {PARENT} r "
                             f"WHERE r.school_id = l.school_id AND r.seq = l.seq AND r.uuid = l.uuid)").fetchone()[0]
    if missing:
        raise PartitionError(f"{missing} of the {total} older records are not in the partitioned table after the "
                             f"move: nothing was dropped. Keep {LEGACY} and report this.")
    with db.atomic():
        db.execute_sql(f"DROP TABLE {LEGACY}")
        db.execute_sql(f"DROP TABLE {MOVE_STATE}")
    log.info("moved %d older records into the partitioned table", total)
    return moved_now
