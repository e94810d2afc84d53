"""The database proxy: SQLite (WAL) in the data folder by default, PostgreSQL by URL."""
from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Generic, Sequence, TypeVar

from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

from . import collation
from .permissions import create_private, make_folder

log = logging.getLogger(__name__)

database = DatabaseProxy()

# synchronous=FULL: an acknowledged write (a student's answer) must survive a power cut.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "full",
    "busy_timeout": 10000,
    "cache_size": -4000,  # 4 MB per connection: a few threads on a 1-2 GB board
}


class DatabaseError(Exception):
    """The database cannot be opened or used; the message says what to do."""


def open_database(url: str) -> Database:
    """Open the database named by `url` and bind it to the proxy."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            if str(path) != ":memory:":  # SQLite's name for a database in memory, not a file
                make_folder(path.parent)
                # Made here, for its owner only: SQLite would make it (and so its WAL) readable by all.
                create_private(path)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder {path.parent} for the database: {exc.strerror}. "
                                f"Choose a writable --data-dir or fix its permissions.") from None
        db: Database = SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False,
                                      timeout=10)
        db.register_collation(collation.compare, collation.NAMES)  # every connection gets it
    else:
        db = connect(url)
        if not isinstance(db, (PostgresqlDatabase, SqliteDatabase)):
            raise DatabaseError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    # Writes still queued for the database bound now (page views whose threads went on) are
    # stored there first: after the switch, their group would go to the new one. A server opens
    # one database once; the test suite opens a school per test in one process.
    flush_all()
    database.initialize(db)
    return db


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


# --- raw SQL ------------------------------------------------------------------------------------------
# Peewee builds our SQL. Raw SQL is kept for what peewee cannot say (FTS5, RETURNING over many rows,
# PostgreSQL's advisory lock) and for hot paths where building the query costs more than running it.
# It is written one way: `?` placeholders, run through `sql()` / `run_sql()`, which give the database
# in use its own marker (psycopg2 takes `%s`). No `%` may appear in such SQL besides (psycopg2).

def sql(query: str) -> str:
    """`query`, written with `?` placeholders, as the database in use takes it."""
    marker = database.obj.param
    return query if marker == "?" else query.replace("?", marker)


def run_sql(query: str, params: Sequence = ()):
    """Run raw SQL written with `?` placeholders; the cursor."""
    # Not through peewee's proxy: a method read through it first fails (a formatted AttributeError,
    # Python 3.11) before its __getattr__ forwards it.
    return database.obj.execute_sql(sql(query), params)


def placeholders(count: int) -> str:
    """`?, ?, ?` for `count` values (an IN list or a row of VALUES)."""
    return ", ".join("?" * count)


class _WriterLock:
    """One writer at a time across the web server's worker processes, queued by the kernel.

    SQLite lets one writer in at a time, and one that finds the lock taken sleeps and tries again
    (1, 2, 5 ... 100 ms: its busy handler): with several worker processes answering at once, those
    sleeps became the slowest answers' wait. An flock on a file beside the database is handed to
    the next waiting process the moment it is released. Opened once per process (a descriptor
    inherited through fork would be shared, and exclude nothing); the kernel releases it when a
    process dies, so a crashed worker never leaves it held.
    """

    def __init__(self):
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._path = ""

    def _descriptor(self, path: str) -> int:
        if self._fd is None or self._pid != os.getpid() or self._path != path:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid, self._path = os.getpid(), path
        return self._fd

    @contextlib.contextmanager
    def held(self):
        db = database.obj
        if not isinstance(db, SqliteDatabase) or db.database in ("", ":memory:"):
            yield
            return
        with self._thread_lock:
            try:
                fd = self._descriptor(db.database + "-writer.lock")
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:  # a read-only or full folder: SQLite's own locking still holds
                log.debug("no writer lock (%s); relying on SQLite's busy handler", exc)
                yield
                return
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


writer_lock = _WriterLock()


class _WriterPriority:
    """The thread that takes and holds the write lock runs at a higher CPU priority until it lets go
    (Linux): a writer waiting for the lock file is at that priority too, so it runs the moment the
    lock is handed to it.

    Each worker's request threads share one CPU (serving.pin_to_one_cpu). The thread writing a
    group needs that CPU for SQLite's own work and wakes from each disk write behind its
    neighbours' page renders, so under load a group's transaction took three times its CPU time,
    and every writer of the school, in every worker, waits for that lock. A lower nice value for
    that one thread, for that time, lets it run when it wakes (measured: docs/BENCHMARKS.md, the
    fourth pass). Lowering a nice value needs CAP_SYS_NICE or RLIMIT_NICE (the systemd unit sets
    LimitNICE); where neither is given, as for a user running the demo, nothing changes.
    """

    NICE = -10

    def __init__(self):
        self.allowed = sys.platform.startswith("linux")  # elsewhere a thread id is not a PRIO_PROCESS id

    @contextlib.contextmanager
    def raised(self):
        if not self.allowed:
            yield
            return
        thread = threading.get_native_id()
        try:
            before = os.getpriority(os.PRIO_PROCESS, thread)
            if before > self.NICE:
                os.setpriority(os.PRIO_PROCESS, thread, self.NICE)
        except OSError as exc:  # not given to this process (or refused by a system call filter)
            log.debug("the writing thread keeps its priority: %s", exc)
            self.allowed = False  # not asked again
            yield
            return
        try:
            yield
        finally:
            if before > self.NICE:
                os.setpriority(os.PRIO_PROCESS, thread, before)  # raising a nice value is always allowed


writer_priority = _WriterPriority()


@contextlib.contextmanager
def write_transaction():
    """A transaction that holds the write lock from its start, so what it reads stays true until it
    commits: check-then-write (a count, then an insert) is atomic against every other writer."""
    # IMMEDIATE: take SQLite's write lock at BEGIN (a deferred transaction that reads first
    # could fail to upgrade its lock instead of waiting for it).
    db = database.obj  # the database itself: peewee's transaction asks it for its stack a few times
    if not isinstance(db, SqliteDatabase):
        with db.atomic():
            yield
        return
    with writer_priority.raised(), writer_lock.held(), db.atomic(lock_type="IMMEDIATE"):
        yield

W = TypeVar("W")  # what one write needs
R = TypeVar("R")  # what it gives back


class WriteLost(DatabaseError):
    """A grouped write whose group stopped before its commit (the thread leading it was interrupted)."""


class _Write(Generic[W, R]):
    __slots__ = ("item", "result", "error", "stored", "ready", "waits")

    def __init__(self, item: W, waits: bool = True):
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.stored = False  # committed
        # Set when stored or failed, or to make this write's thread lead. Made only for a write
        # that waits behind a group; a writer that comes alone leads at once and waits for nothing.
        self.ready: threading.Event | None = None
        self.waits = waits  # its thread waits for the commit (False: GroupCommit.run(wait=False))

    @property
    def finished(self) -> bool:
        return self.stored or self.error is not None

    def outcome(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]

    def wake(self) -> None:
        if self.ready is not None:
            self.ready.set()


class GroupCommit(Generic[W, R]):
    """Writes from many request threads share one transaction and one commit (one fsync).

    With synchronous=FULL every commit waits for the disk, and SQLite lets one writer at a time
    hold its lock, so answers that each commit alone queue behind each other's fsync. Here the
    first writer to come leads: it takes every write queued so far, stores them with `many` (a
    few statements for the whole group) in one IMMEDIATE transaction, commits once and wakes their
    threads; writers that come meanwhile queue, and the first of them leads the next group. Request
    threads do this themselves (the flusher below leads only groups nobody waits for).

    A write returns (or raises) only after the commit that holds it: an acknowledged write is as
    durable as one committed alone. If `many` fails, the group is written again with `one` per
    write, each in a savepoint: the write that fails raises in its own thread, the others are stored.

    A write nobody is told about (a page was opened: `run(item, wait=False)`) need not hold its
    thread: when a group is being written, it is queued and its thread goes on at once to send the
    page; the next group stores it, within milliseconds. When the writes left queued after a group
    are all of that kind, no request thread is waiting to lead them, so a thread of the process's
    own (the flusher, started when first needed) leads that group. Such a write is lost if the
    process dies in those milliseconds (a power cut, SIGKILL); a server stopped with SIGTERM or
    SIGINT stores its queue first (serving.run_until_stopped -> flush_all), and so does
    open_database before it binds another database.
    """

    def __init__(self, many: Callable[[list[W]], list[R]], one: Callable[[W], R], limit: int = 256):
        self.many, self.one = many, one
        self.limit = limit  # writes per group at most, so that a leader's own wait stays bounded
        self._mutex = threading.Lock()
        self._queue: collections.deque[_Write[W, R]] = collections.deque()
        self._leading = False
        self._flusher: _Flusher | None = None
        _GROUPS.append(self)

    def run(self, item: W, wait: bool = True) -> R | None:
        """Store `item` together with whatever other threads are storing; its result once committed.

        With `wait` False, a write that finds a group being written is queued and None comes back at
        once (its outcome is logged if it fails); alone, it is written at once, as any other.
        """
        if database.obj.in_transaction():
            # The caller's own transaction: the write commits, or not, with the rest of it.
            with database.atomic():
                return self.one(item)
        write: _Write[W, R] = _Write(item, wait)
        with self._mutex:
            follow, self._leading = self._leading, True
            if follow:
                if not wait:
                    self._queue.append(write)
                    return None
                write.ready = threading.Event()  # before another thread can take it from the queue
            self._queue.append(write)
        if follow:
            write.ready.wait()  # type: ignore[union-attr]
        if not write.finished:  # the first one here, or handed the lead by the last leader
            self._lead()
        return write.outcome()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until no group is being written: every write queued before is stored (or has failed).
        Whether that happened within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self._leading:  # set while anything is queued or being written; its leader hands on
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    @property
    def queued(self) -> int:
        """Writes waiting to be taken into a group."""
        return len(self._queue)

    def _take(self) -> list[_Write[W, R]]:
        with self._mutex:
            return [self._queue.popleft() for _ in range(min(self.limit, len(self._queue)))]

    def _lead(self) -> None:
        group: list[_Write[W, R]] = []
        try:
            try:
                with self._transaction():
                    # Taken once the lock is held: writes that come while BEGIN waits for it (the
                    # sync agent writing, say) join this group instead of waiting for the next one.
                    group = self._take()
                    results = self.many([write.item for write in group])
                    if len(results) != len(group):
                        raise DatabaseError(f"{len(results)} results for {len(group)} writes")
            except Exception as exc:
                if group:  # rolled back: find the write that fails, store the others
                    log.info("a group of %d writes failed (%s); writing them one by one", len(group), exc)
                    self._one_by_one(group)
                else:  # BEGIN failed (the lock was not free within busy_timeout): nothing stored
                    group = self._take()
                    log.warning("a group of %d writes was not stored: %s", len(group), exc)
                    for write in group:
                        write.error = exc
            else:
                for write, result in zip(group, results):
                    write.result, write.stored = result, True
        finally:
            for write in group:
                if not write.finished:  # this thread was interrupted mid-group; nothing was committed
                    write.error = WriteLost("the write was not stored: its group stopped early")
                if write.error is not None and not write.waits:  # no thread will raise it
                    log.warning("a write was not stored: %s", write.error)
            with self._mutex:
                # The next group is led by the first queued write whose thread waits for it, within
                # that group's reach (a queue longer than `limit` holds more than one group); else,
                # when only writes whose threads went on are there, by the flusher.
                heir = next((write for _, write in zip(range(self.limit), self._queue) if write.waits), None)
                self._leading = bool(self._queue)
                flusher = self._flusher_here() if self._queue and heir is None else None
            if heir is not None:
                heir.wake()  # first: the next group's writes start while this one's threads reply
            elif flusher is not None:
                flusher.wake()
            for write in group:
                write.wake()

    def _flusher_here(self) -> _Flusher:
        """This process's flusher (a fork leaves the parent's thread behind: a child starts its own)."""
        if self._flusher is None or self._flusher.pid != os.getpid():
            self._flusher = _Flusher(self._lead)
        return self._flusher

    _transaction = staticmethod(write_transaction)

    def _one_by_one(self, group: list[_Write[W, R]]) -> None:
        try:
            with self._transaction():
                for write in group:
                    database.execute_sql("SAVEPOINT group_write")
                    try:
                        write.result = self.one(write.item)
                    except Exception as exc:  # kept, and raised in the thread that asked for this write
                        database.execute_sql("ROLLBACK TO SAVEPOINT group_write")
                        write.error = exc
                    database.execute_sql("RELEASE SAVEPOINT group_write")
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of this group is stored
            log.warning("a group of %d writes was not stored: %s", len(group), exc)
            for write in group:
                if write.error is None:
                    write.error = exc
            return
        for write in group:
            write.stored = write.error is None


class _Flusher:
    """A daemon thread that leads a group when the writes queued are all ones whose threads went on."""

    def __init__(self, lead: Callable[[], None]):
        self.pid = os.getpid()
        self._lead = lead
        self._woken = threading.Event()
        threading.Thread(target=self._run, name="group-commit-flusher", daemon=True).start()

    def wake(self) -> None:
        self._woken.set()

    def _run(self) -> None:
        while True:
            self._woken.wait()
            self._woken.clear()
            try:
                self._lead()  # woken only when the lead was handed to it; keeps its connection open
            except Exception:  # noqa: BLE001 - logged; the next wake leads again
                log.exception("the flusher's group failed")


#: every GroupCommit, for flush_all
_GROUPS: list[GroupCommit] = []


def flush_all(timeout: float = 10.0) -> None:
    """Wait until every queued write of every group is stored (before a server stops, or another
    database is opened)."""
    for group in _GROUPS:
        if not group.flush(timeout):
            log.warning("writes were still queued after %.0f s; they are not stored", timeout)


class Prepared:
    """A hot query whose SQL is built once per database kind, then run with new parameters.

    Building SQL with peewee costs more than running it on SQLite; the pages every student loads
    at 9:00 (who is signed in, which classes) use these instead. `build` makes the query with
    placeholder values, in the order the parameters will be given.
    """

    def __init__(self, build):
        self.build = build
        self.sql: dict[type, str] = {}
        self.model = None

    def _sql(self) -> str:
        kind = type(database.obj)
        sql = self.sql.get(kind)
        if sql is None:
            query = self.build()
            self.model = query.model
            sql = self.sql[kind] = query.sql()[0]
        return sql

    def scalar(self, *params):
        """The first column of the first row (for counts)."""
        row = database.obj.execute_sql(self._sql(), params).fetchone()  # not through the proxy: run_sql
        return row[0] if row else None

    def __call__(self, *params) -> list:
        # First: building the SQL names the model. Not through the proxy: run_sql.
        cursor = database.obj.execute_sql(self._sql(), params)
        return model_rows(self.model, cursor)


_readers: dict[tuple, list] = {}


def model_rows(model, cursor) -> list:
    """The rows of `cursor` (SQL over `model`'s table) as `model` objects, as peewee makes a row it
    read (no defaults, the values as read), minus its generality: what hot queries written in SQL or
    with Prepared give back."""
    description = tuple(d[0] for d in cursor.description)
    key = (model, type(database.obj), description)
    readers = _readers.get(key)
    if readers is None:
        columns = model._meta.columns
        readers = _readers[key] = [(index, field.name, field.python_value) for index, field in
                                   enumerate(columns.get(name) for name in description) if field is not None]
    return [model(__no_default__=1, **{name: (convert(values[index]) if values[index] is not None else None)
                                       for index, name, convert in readers})
            for values in cursor.fetchall()]


_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc`, or what caused it, says the disk is full (SQLite's SQLITE_FULL, ENOSPC,
    PostgreSQL's disk_full)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(exc, "pgcode", None) == "53100" or any(text in str(exc).lower() for text in _FULL_TEXTS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
