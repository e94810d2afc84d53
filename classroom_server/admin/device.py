"""The school computer's state for the admin page: version, uptime, disk, memory, students online,
database size. Reads only, and only cheap things: the page is opened often."""
from __future__ import annotations

import datetime
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from peewee import fn

from .. import __version__
from ..db import database, is_sqlite
from ..models import ContentPack, LearningRecord, User, utcnow
from ..settings import Settings

log = logging.getLogger(__name__)

GiB, MiB = 2 ** 30, 2 ** 20
# Warn while there is still room: below 1 GiB free, or 5 % on a disk smaller than 20 GiB.
RESERVE_BYTES = GiB
RESERVE_SHARE = 0.05
# Below this a new answer may be refused at any moment.
FULL_BYTES = 16 * MiB
ONLINE_WINDOW = datetime.timedelta(minutes=5)
_IMPORTED_AT = time.time()


@dataclass(frozen=True)
class Disk:
    path: Path
    free: int
    total: int

    @property
    def reserve(self) -> int:
        return min(RESERVE_BYTES, int(self.total * RESERVE_SHARE))

    @property
    def level(self) -> str:
        """"ok", "low" (below the reserve) or "full" (new work may be refused now)."""
        if self.free < FULL_BYTES:
            return "full"
        if self.free < self.reserve:
            return "low"
        return "ok"


@dataclass(frozen=True)
class Memory:
    total: int
    available: int


@dataclass(frozen=True)
class Device:
    version: str
    server_uptime: datetime.timedelta | None
    computer_uptime: datetime.timedelta | None
    disk: Disk | None
    memory: Memory | None
    students_online: int
    database_kind: str  # "SQLite" or "PostgreSQL"
    database_size: int | None
    packs: int
    packs_size: int


def disk(folder: Path) -> Disk | None:
    try:
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        log.warning("cannot read the disk space of %s: %s", folder, exc)
        return None
    return Disk(folder, usage.free, usage.total)


def memory(meminfo: Path = Path("/proc/meminfo")) -> Memory | None:
    """Total and available memory (Linux); None elsewhere."""
    values = {}
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[name] = int(parts[0]) * 1024  # kB
    except OSError:
        return None
    if "MemTotal" not in values:
        return None
    available = values.get("MemAvailable", values.get("MemFree", 0) + values.get("Cached", 0))
    return Memory(values["MemTotal"], available)


def _computer_uptime() -> float | None:
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            return float(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _process_started() -> float:
    """When this process started (seconds since the epoch), from /proc when it can tell."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            # The command name may hold spaces: fields count from after its closing parenthesis.
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime, in clock ticks after boot
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


def students_online(now: datetime.datetime | None = None) -> int:
    """Students with a learning record stored in the last five minutes.

    Session cookies are signed by the browser's side, so records are what the server can see.
    learning_record has no index on its time, but its sequence grows with it: find the first
    record of the window by bisecting the sequence (a few lookups by primary key), then count.
    """
    since = (now or utcnow()) - ONLINE_WINDOW
    newest = LearningRecord.select(fn.MAX(LearningRecord.seq)).scalar()
    if not newest:
        return 0

    def stored_at(seq: int) -> datetime.datetime | None:
        return (LearningRecord.select(LearningRecord.created_at).where(LearningRecord.seq >= seq)
                .order_by(LearningRecord.seq).limit(1).scalar())

    # Records stored together may be a moment out of order: start the search a minute early.
    early = since - datetime.timedelta(minutes=1)
    low, high = 1, newest
    while low < high:
        middle = (low + high) // 2
        moment = stored_at(middle)
        if moment is not None and moment >= early:
            high = middle
        else:
            low = middle + 1
    return (User.select(fn.COUNT(User.id.distinct()))
            .join(LearningRecord, on=(LearningRecord.user == User.id))
            .where(LearningRecord.seq >= low, LearningRecord.created_at >= since, User.role == "student")
            .scalar()) or 0


def database_size(settings: Settings) -> int | None:
    """Bytes the database takes: the SQLite file and its write-ahead log, or PostgreSQL's figure."""
    if is_sqlite():
        url = settings.effective_database_url
        if not url.startswith("sqlite:///"):
            return None
        path = Path(url[len("sqlite:///"):])
        size = 0
        for name in (path, Path(f"{path}-wal")):
            try:
                size += name.stat().st_size
            except FileNotFoundError:
                pass
        return size
    return database.execute_sql("SELECT pg_database_size(current_database())").fetchone()[0]


def device(settings: Settings) -> Device:
    started = _process_started()
    computer = _computer_uptime()
    packs = ContentPack.select(fn.COUNT(ContentPack.id), fn.SUM(ContentPack.total_size)).tuples().first()
    return Device(
        version=__version__,
        server_uptime=datetime.timedelta(seconds=max(0, int(time.time() - started))),
        computer_uptime=datetime.timedelta(seconds=int(computer)) if computer is not None else None,
        disk=disk(settings.data_dir), memory=memory(), students_online=students_online(),
        database_kind="SQLite" if is_sqlite() else "PostgreSQL", database_size=database_size(settings),
        packs=packs[0] or 0, packs_size=packs[1] or 0)
