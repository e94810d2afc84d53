"""Content downstream, the school's side: bring down the packs the national platform publishes.

One content step (after the records step of a sync, or `classroom-sync content`):

1. fetch the national keys (`GET /api/v1/keys`: followed only through rotation statements signed by a
   key the school trusts, trust.py) and the school's catalog (`GET /api/v1/catalog`), both
   authenticated answers, and keep the catalog in the database so the admin page can show the updates
   waiting;
2. plan (sync.protocol.plan): packs that are new or newer than what is installed;
3. per pack, fetch its pack.json and pack.sig first (small) and check the signature against the
   trusted keys ([content] trusted_keys and the national keys) before a single file comes down;
4. fetch each file the school does not hold yet (the library is content-addressed, so an update
   brings only the files that changed) into `<data-dir>/downloads/<sha256>.part` with HTTP Range,
   resuming after a cut from the bytes already on disk, hashing as it goes; a blob whose size or
   SHA-256 is wrong is deleted and fetched again once, then the pack stops with an error. Up to
   WORKERS files come at once, each worker thread on its own kept-alive connection, so the round trip
   before each file's first byte is hidden behind the other files' bytes (on a satellite link that
   round trip is 600 ms a file);
5. within `[sync] download_hours` only, paced to `[sync] bandwidth_bytes_per_second`, and never
   leaving less than `[content] disk_reserve_mb` free;
6. assemble a folder pack from hard links and install it with the function USB import uses
   (classroom_server.content.services.install_pack: verified, atomic), then clean up.

A pack the agent installed from the hub and the hub then withdraws is removed (learning records
stay). Progress is kept in `content_download` rows, written about once a second by the thread that
runs the step (the download workers never touch the database).
"""
from __future__ import annotations

import collections
import copy
import datetime
import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests
import urllib3
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.admin.sync import (CATALOG_SETTING, KEYS_SETTING, national_keys, next_window_start,
                                         state_row)
from classroom_server.content.services import BlobStore, InstallResult, install_pack, remove_pack
from classroom_server.db import database
from classroom_server.models import ContentDownload, ContentPack, SchoolSetting, utcnow
from content_packs.manifest import InvalidPack, Manifest, parse_manifest
from content_packs.signing import SignatureError, verify
from sync import __version__, protocol

from . import trust
from .client import HubClient, SyncFailure, read_secret, reason
from .school import school_now, within_hours

log = logging.getLogger(__name__)

CATALOG_PATH = "/api/v1/catalog"
STATE_PATH = "/api/v1/state"
DOWNLOADS = "downloads"
CHUNK = 64 * 1024
PROGRESS_SECONDS = 1.0  # how often a download's row is written
SAY_SECONDS = 5.0  # how often `classroom-sync content` prints a progress line
MAX_BLOB_FAILURES = 2  # a blob wrong this many times stops its pack
FAILED_RETRY = datetime.timedelta(hours=6)  # a pack refused for a bad blob or signature is tried again after this
LINK_RETRIES = 4  # quick retries within one step after a cut, while bytes keep arriving
WORKERS = 4  # blob requests in flight at once: enough to keep a 600 ms round trip link busy
POLL_SECONDS = 0.1  # how soon the download workers hear that the agent stops
ACTIVE = ("waiting_window", "downloading", "verifying", "failed")


class ContentFailure(Exception):
    """A content step or one pack that could not go on; `code`: link_down, hub_error, signature,
    bad_blob, disk, install."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class ContentOutcome:
    ok: bool
    installed: list[str] = field(default_factory=list)  # "id version"
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # for the download hours
    bytes: int = 0  # blob bytes that came over the link in this step
    error: str | None = None
    code: str | None = None
    skipped: str | None = None


def trusted_keys(settings) -> tuple[str, ...]:
    """[content] trusted_keys and the national keys pinned at enrolment (and followed through rotations)."""
    return tuple(dict.fromkeys(tuple(settings.content_trusted_keys) + national_keys()))


def fetch_catalog(client: HubClient, hub: str, school: str, secret: str) -> tuple[protocol.Catalog, dict]:
    status, data, what = client.request("GET", hub, CATALOG_PATH, signed=(school, secret))
    client.check_signed(status, data, what, hub)
    if status != 200 or data is None:
        raise ContentFailure("hub_error", f"{hub}{CATALOG_PATH} answered {what}, not a catalog")
    try:
        return protocol.parse_catalog(data), data
    except protocol.ProtocolError as exc:
        raise ContentFailure("hub_error", f"the hub's catalog is malformed: {exc}") from None


def disk_free(path: Path) -> tuple[int, int]:
    """(free bytes for this user, total bytes) of the disk holding `path`."""
    path.mkdir(parents=True, exist_ok=True)
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize


class Downloader:
    """One content step for the agent's school. `force_hours` downloads outside [sync] download_hours;
    `retry_failed` tries packs refused before at once. `before_install` runs just before each install
    (tests stop there, as a power cut would)."""

    def __init__(self, client: HubClient, say: Callable[[str], None] | None = None,
                 keep_going: Callable[[], bool] | None = None, force_hours: bool = False,
                 retry_failed: bool = False, session: requests.Session | None = None):
        self.client = client
        self.settings = client.settings
        self.say = say or (lambda line: None)
        self.keep_going = keep_going or (lambda: True)
        self.force_hours = force_hours
        self.retry_failed = retry_failed
        self.session = session or client.session
        self.store = BlobStore(self.settings.data_dir)
        self.folder = self.settings.data_dir / DOWNLOADS
        self.before_install: Callable[[], None] | None = None
        self.bucket: protocol.TokenBucket | None = None
        cap = self.settings.sync_bandwidth_bytes_per_second
        if cap > 0:
            self.bucket = protocol.TokenBucket(cap, burst=max(cap, 16 * 1024))
        self.chunk = CHUNK if cap <= 0 else max(4096, min(CHUNK, cap // 4))
        self.workers = WORKERS
        self._sessions: list[requests.Session] = []  # the workers' own, beyond the first
        self._said = time.monotonic()

    # --- where blobs are -------------------------------------------------------------------------

    def part(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.part"

    def done(self, sha256: str) -> Path:
        return self.folder / sha256

    def held(self, sha256: str, size: int) -> bool:
        """In the library already, or downloaded and verified."""
        if self.store.has(sha256, size):
            return True
        try:
            return self.done(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def partial(self, sha256: str) -> int:
        try:
            return self.part(sha256).stat().st_size
        except FileNotFoundError:
            return 0

    def in_window(self) -> bool:
        spec = self.settings.sync_download_hours or self.settings.sync_hours
        return self.force_hours or within_hours(spec, school_now(self.settings))

    # --- the step ----------------------------------------------------------------------------------

    def run(self) -> ContentOutcome:
        outcome = ContentOutcome(ok=False)
        try:
            self._run(outcome)
            outcome.ok = True
        except ContentFailure as exc:
            outcome.error, outcome.code = str(exc), exc.code
            self.say(f"content: stopped ({exc.code}): {exc}")
        except PeeweeDatabaseError as exc:
            outcome.error, outcome.code = f"cannot write the school database: {exc}", "disk"
            self.say(f"content: stopped (disk): {outcome.error}")
        try:
            self.post_state()
        except ContentFailure as exc:
            log.info("could not report the school's content state to the hub: %s", exc)
        finally:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        return outcome

    def _hub(self) -> tuple[str, str, str]:
        state = state_row()
        if not (state.hub_url and state.school_id):
            raise ContentFailure("not_enrolled", "this school is not enrolled: run `classroom-sync enroll`")
        try:
            return state.hub_url, state.school_id, read_secret(self.settings)
        except SyncFailure as exc:
            raise ContentFailure(exc.code, str(exc)) from None

    def _signed(self, call, *args):
        try:
            return call(self.client, *args)
        except SyncFailure as exc:
            raise ContentFailure(exc.code, str(exc)) from None

    def _run(self, outcome: ContentOutcome) -> None:
        hub, school, secret = self._hub()
        try:
            self._signed(trust.refresh, hub, school, secret, self.say)
        except trust.TrustFailure as exc:
            log.warning("keeping the national keys trusted before: %s", exc)
        except ContentFailure as exc:
            if exc.code in ("link_down", "unauthenticated", "insecure"):
                raise
            log.warning("keeping the national keys trusted before: %s", exc)
        catalog, raw = self._signed(fetch_catalog, hub, school, secret)
        self._keep_catalog(raw)
        installed = [protocol.Installed(p.pack_id, p.version, p.manifest_sha256) for p in ContentPack.select()]
        plan = protocol.plan(catalog, installed, self.held)
        self.say(f"content: catalog of {len(catalog.packs)} pack(s); {len(plan.fetch)} to fetch, "
                 f"{len(plan.withdraw)} withdrawn")
        self._settle_rows(catalog, installed)
        for pack in plan.withdraw:
            self._withdraw(pack, outcome)
        if outcome.removed:  # an older version still published comes back
            installed = [protocol.Installed(p.pack_id, p.version, p.manifest_sha256) for p in ContentPack.select()]
            plan = protocol.plan(catalog, installed, self.held)
        for held, pack in plan.conflicts:
            log.warning("%s %s is installed with a different pack.json than the hub's; not fetched", pack.id,
                        pack.version)
        for item in plan.fetch:
            if not self.keep_going() or self.client.stopping.is_set():
                break
            self._fetch_pack(catalog, item, outcome)

    def _keep_catalog(self, raw: dict) -> None:
        value = json.dumps({"fetched_at": utcnow().isoformat() + "Z", "catalog": raw}, ensure_ascii=False)
        with database.atomic():
            SchoolSetting.insert(key=CATALOG_SETTING, value=value).on_conflict(
                conflict_target=[SchoolSetting.key], update={SchoolSetting.value: value}).execute()

    def _settle_rows(self, catalog: protocol.Catalog, installed: list[protocol.Installed]) -> None:
        """Rows of versions the catalog no longer offers go; a version installed meanwhile (by a step
        cut during the install, or from a USB drive) counts as installed."""
        have = {(p.id, p.version) for p in installed}
        offered = {(p.id, p.version) for p in catalog.packs}
        for row in ContentDownload.select().where(ContentDownload.state.in_(ACTIVE)):
            if (row.pack_id, row.version) in have:
                self._update(row, state="installed", error=None, finished_at=row.finished_at or utcnow(),
                             bytes_received=row.bytes_total)
            elif (row.pack_id, row.version) not in offered:
                row.delete_instance()
                shutil.rmtree(self.folder / f"pack-{row.pack_id}-{row.version}", ignore_errors=True)

    def _withdraw(self, pack: protocol.Installed, outcome: ContentOutcome) -> None:
        row = ContentDownload.get_or_none(ContentDownload.pack_id == pack.id, ContentDownload.version == pack.version,
                                          ContentDownload.state == "installed")
        if row is None:
            self.say(f"content: {pack.id} {pack.version} was withdrawn by the national platform; it was not "
                     f"installed from the hub, so it stays (remove it on the admin page if you wish)")
            return
        try:
            remove_pack(pack.id, self.settings.data_dir)
        except InvalidPack as exc:
            log.warning("cannot remove withdrawn %s: %s", pack.id, exc)
        self._update(row, state="withdrawn", finished_at=utcnow(),
                     error="withdrawn by the national platform: removed; learning records are kept")
        outcome.removed.append(f"{pack.id} {pack.version}")
        self.say(f"content: removed {pack.id} {pack.version}: the national platform withdrew it")

    # --- one pack ----------------------------------------------------------------------------------

    def _row(self, item: protocol.PackFetch) -> ContentDownload:
        pack = item.pack
        row = ContentDownload.get_or_none(ContentDownload.pack_id == pack.id, ContentDownload.version == pack.version)
        if row is None or row.manifest_sha256 != pack.manifest.sha256:
            if row is not None:
                row.delete_instance()
            row = ContentDownload.create(pack_id=pack.id, version=pack.version, manifest_sha256=pack.manifest.sha256,
                                         title=json.dumps(pack.title, ensure_ascii=False),
                                         previous_version=item.previous_version, state="waiting_window",
                                         bytes_total=pack.size, updated_at=utcnow())
        return row

    def _update(self, row: ContentDownload, **changes) -> None:
        changes.setdefault("updated_at", utcnow())
        for name, value in changes.items():
            setattr(row, name, value)
        ContentDownload.update(**changes).where(ContentDownload.id == row.id).execute()

    def _fetch_pack(self, catalog: protocol.Catalog, item: protocol.PackFetch, outcome: ContentOutcome) -> None:
        pack = item.pack
        name = f"{pack.id} {pack.version}"
        row = self._row(item)
        if (row.state == "failed" and row.failures >= MAX_BLOB_FAILURES and not self.retry_failed
                and utcnow() - row.updated_at < FAILED_RETRY):
            outcome.failed.append(name)
            return
        manifest = None
        try:
            manifest, raw, signature = self._manifest(catalog, pack, row, outcome)
            files = protocol.missing_blobs((protocol.Blob(f.sha256, f.size) for f in manifest.files), self.held)
            left = sum(b.size for b in files)
            self._update(row, bytes_received=pack.size - left + sum(self.partial(b.sha256) for b in files))
            if files and not self.in_window():
                spec = self.settings.sync_download_hours or self.settings.sync_hours
                start = next_window_start(spec, school_now(self.settings))
                self._update(row, state="waiting_window", error=None, speed=0.0)
                outcome.waiting.append(name)
                self.say(f"content: {name} ({_mib(left)} to fetch) waits for the download hours {spec}"
                         f" (from {start})")
                return
            need = self._check_disk(name, files)
            if row.started_at is None:
                self._update(row, started_at=utcnow())
            self._update(row, state="downloading", error=None)

            def before_each(written: int) -> str | None:
                if not self.keep_going() or self.client.stopping.is_set():
                    return "stop"
                if not self.in_window():
                    return "window"
                self._check_disk(name, files, need - written)
                return None
            stopped = self._download(catalog, files, row, outcome, before_each)
            if stopped == "window":
                self._update(row, state="waiting_window", speed=0.0)
                outcome.waiting.append(name)
                return
            if stopped:
                self._update(row, speed=0.0)
                return
            self._update(row, state="verifying", speed=0.0, bytes_received=pack.size)
            result = self._install(pack, manifest, raw, signature)
        except ContentFailure as exc:
            if exc.code in ("link_down", "hub_error", "not_enrolled"):
                self._update(row, error=str(exc), speed=0.0)
                raise
            refused = exc.code in ("signature", "bad_blob", "install")
            if refused:
                self._discard(pack, manifest)
            self._update(row, state="failed", error=str(exc), speed=0.0,
                         failures=MAX_BLOB_FAILURES if refused else 0)
            outcome.failed.append(name)
            self.say(f"content: {name} refused ({exc.code}): {exc}")
            return
        self._update(row, state="installed", error=None, finished_at=utcnow(), failures=0)
        if not result.unchanged:
            outcome.installed.append(name)
        # The files came into the school's file store as they were verified, so install_pack finds
        # them there: what this pack brought is what was missing when it started.
        self.say(f"content: installed {name} ({len(files)} file(s) fetched, {_mib(left)}; "
                 f"{len(manifest.files) - len(files)} already held)")

    def _manifest(self, catalog: protocol.Catalog, pack: protocol.CatalogPack, row: ContentDownload,
                  outcome: ContentOutcome) -> tuple[Manifest, bytes, bytes]:
        """pack.json and pack.sig, fetched (small, both at once) and checked before any file comes down."""
        if self._download(catalog, protocol.missing_blobs((pack.manifest, pack.signature), self.held), row, outcome):
            raise ContentFailure("link_down", "stopping")
        raw = self._read_held(pack.manifest)
        signature = self._read_held(pack.signature)
        try:
            verify(raw, signature, trusted_keys(self.settings))
        except SignatureError as exc:
            for blob in (pack.manifest, pack.signature):
                self.done(blob.sha256).unlink(missing_ok=True)
            raise ContentFailure("signature", f"{pack.id} {pack.version} is not signed by a key this school trusts "
                                              f"({exc}); nothing else was downloaded. Enrol again to fetch the "
                                              f"national keys, or tell the national platform") from None
        try:
            manifest = parse_manifest(raw)
        except InvalidPack as exc:
            raise ContentFailure("signature", f"{pack.id} {pack.version}: pack.json is not valid: {exc}") from None
        if (manifest.id, manifest.version) != (pack.id, pack.version):
            raise ContentFailure("signature", f"the catalog says {pack.id} {pack.version} but its pack.json is "
                                              f"{manifest.id} {manifest.version}")
        return manifest, raw, signature

    def _discard(self, pack: protocol.CatalogPack, manifest: Manifest | None) -> None:
        """A refused pack leaves nothing in downloads/: its pack.json, pack.sig and every file of it there,
        whole or partial (a verified file shared with another pack comes down again for that one)."""
        blobs = [pack.manifest.sha256, pack.signature.sha256] + [f.sha256 for f in (manifest.files if manifest else ())]
        for sha in dict.fromkeys(blobs):
            self.done(sha).unlink(missing_ok=True)
            self.part(sha).unlink(missing_ok=True)
        shutil.rmtree(self.folder / f"pack-{pack.id}-{pack.version}", ignore_errors=True)

    def _read_held(self, blob: protocol.Blob) -> bytes:
        path = self.done(blob.sha256)
        return (path if path.exists() else self.store.path(blob.sha256)).read_bytes()

    def _check_disk(self, name: str, files: tuple[protocol.Blob, ...], need: int | None = None) -> int:
        """The bytes still to download (`need`, when known, saves a look at every file), or
        ContentFailure("disk") when they would leave less than the reserve free."""
        if need is None:
            need = sum(max(0, b.size - self.partial(b.sha256)) for b in files if not self.held(b.sha256, b.size))
        need = max(0, need)
        free, _total = disk_free(self.folder)
        reserve = self.settings.content_disk_reserve_mb * 1024 * 1024
        if free - need < reserve:
            raise ContentFailure("disk", f"not enough disk space for {name}: {_mib(need)} still to download, "
                                         f"{_mib(free)} free, and {_mib(reserve)} must stay free ([content] "
                                         f"disk_reserve_mb). Free at least {_mib(need + reserve - free)} where "
                                         f"{self.settings.data_dir} is (old backups in backups/, packs no longer "
                                         f"used on the admin page), or lower the reserve")
        return need

    # --- blobs, several at once ------------------------------------------------------------------------

    def _worker_session(self, index: int) -> requests.Session:
        """Worker `index`'s session, so each keeps its own connection alive. The first is the step's
        own (its connection is open from the catalog request); the others copy its settings."""
        if index == 0:
            return self.session
        while len(self._sessions) < index:
            session = requests.Session()
            session.headers.update(self.session.headers)
            for name in ("trust_env", "verify", "cert", "proxies", "auth"):
                setattr(session, name, copy.copy(getattr(self.session, name)))
            self._sessions.append(session)
        return self._sessions[index - 1]

    def _download(self, catalog: protocol.Catalog, blobs: tuple[protocol.Blob, ...], row: ContentDownload,
                  outcome: ContentOutcome | None,
                  before_each: Callable[[int], str | None] | None = None) -> str | None:
        """Bring `blobs` into downloads/, verified, up to `self.workers` at once.

        Each worker thread takes the next blob from a shared queue and fetches it on its own kept-alive
        connection, so one file's round trip overlaps the others' bytes. Blobs begun before (a .part
        on disk) go first, then the largest, so no big file is left to come alone at the end. Only this
        thread writes the database: the workers report the bytes they write through a queue, and this
        thread writes the row about once a second.

        `before_each(bytes written so far)` runs here before each blob is handed out: None to go on,
        or why to hand out no more ("stop", "window"; the blobs in flight finish), which is returned.
        The first blob that fails stops the others at their next chunk (their bytes stay on disk for
        the next try) and its ContentFailure is raised once every worker has ended.
        """
        pending = collections.deque(sorted(blobs, key=lambda b: (self.partial(b.sha256) == 0, -b.size)))
        count = min(self.workers, len(pending))
        if not count:
            return None
        tasks: queue.SimpleQueue = queue.SimpleQueue()
        events: queue.SimpleQueue = queue.SimpleQueue()
        halt = threading.Event()
        failures: dict[str, int] = {}  # per blob; each blob is in one worker's hands at a time
        threads = [threading.Thread(target=self._worker, name=f"content-download-{n}", daemon=True,
                                    args=(self._worker_session(n), catalog, tasks, events, halt, failures))
                   for n in range(count)]
        for thread in threads:
            thread.start()
        alive, active, closing = count, 0, False
        written, moved, last = 0, 0, time.monotonic()
        stopped: str | None = None
        error: BaseException | None = None
        try:
            while alive:
                if not closing and pending and active < count and error is None and not halt.is_set():
                    try:
                        stopped = before_each(written) if before_each is not None else None
                    except ContentFailure as exc:
                        error = exc
                        halt.set()
                    if stopped is None and error is None:
                        tasks.put(pending.popleft())
                        active += 1
                        continue
                if not closing and (not pending or stopped or error is not None or halt.is_set()):
                    closing = True  # no more blobs: each worker ends after its current one
                    for _ in threads:
                        tasks.put(None)
                try:
                    kind, value = events.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    kind, value = None, None
                if self.client.stopping.is_set():
                    halt.set()
                if kind == "bytes":
                    written += value
                    moved += value
                    if outcome is not None:
                        outcome.bytes += value
                elif kind == "done":
                    active -= 1
                elif kind == "failed":
                    active -= 1
                    if error is None:
                        error = value
                    halt.set()
                elif kind == "exit":
                    alive -= 1
                now = time.monotonic()
                if moved and now - last >= PROGRESS_SECONDS:
                    self._progress(row, moved, now - last)
                    moved, last = 0, now
                    if now - self._said >= SAY_SECONDS:
                        self._said = now
                        self.say(_progress_line(row))
        except BaseException:
            halt.set()  # this thread was interrupted: the workers stop at their next chunk
            for _ in threads:
                tasks.put(None)
            for thread in threads:
                thread.join()
            raise
        finally:
            while True:  # after an interruption, the bytes the workers wrote meanwhile
                try:
                    kind, value = events.get_nowait()
                except queue.Empty:
                    break
                if kind == "bytes":
                    moved += value
                    if outcome is not None:
                        outcome.bytes += value
            if moved:
                self._progress(row, moved, max(time.monotonic() - last, 1e-3))
        for thread in threads:
            thread.join()
        if error is not None:
            raise error
        if pending and stopped is None:  # the agent stopped between two blobs
            stopped = "stop"
        return stopped

    def _worker(self, session: requests.Session, catalog: protocol.Catalog, tasks: queue.SimpleQueue,
                events: queue.SimpleQueue, halt: threading.Event, failures: dict[str, int]) -> None:
        """One download thread: blobs from `tasks` until None. It reports ("bytes", n), ("done", blob)
        or ("failed", exception) and, at its end, ("exit", None) to `events`; no database access."""
        try:
            while (blob := tasks.get()) is not None:
                try:
                    self._blob(session, catalog, blob, failures, halt, lambda n: events.put(("bytes", n)))
                except BaseException as exc:  # noqa: BLE001 - the step's thread raises it
                    events.put(("failed", exc))
                else:
                    events.put(("done", blob))
        finally:
            if not database.is_closed():  # peewee keeps a connection per thread; none is left open
                database.close()
            events.put(("exit", None))

    # --- one blob -----------------------------------------------------------------------------------

    def _blob(self, session: requests.Session, catalog: protocol.Catalog, blob: protocol.Blob,
              failures: dict[str, int], halt: threading.Event, report: Callable[[int], None]) -> None:
        """Bring one blob into downloads/<sha256>, verified; resumes a .part and retries after cuts.
        `report(n)` is told of each n bytes written."""
        url = catalog.blob_base_url + blob.sha256
        retries = moved = 0

        def counted(count: int) -> None:
            nonlocal moved
            moved += count
            report(count)
        while True:
            if halt.is_set() or self.client.stopping.is_set():
                raise ContentFailure("link_down", "stopping")
            moved = 0
            try:
                got = self._get(session, url, blob, halt, counted)
            except ContentFailure as exc:
                if exc.code != "link_down":
                    raise
                retries = 0 if moved else retries + 1
                if retries > LINK_RETRIES or halt.is_set() or self.client.stopping.is_set() or not self.keep_going():
                    raise
                log.info("retrying %s after a cut (%s)", blob.sha256[:12], exc)
                halt.wait(min(8.0, 0.5 * 2 ** retries))
                continue
            if got:
                return
            failures[blob.sha256] = failures.get(blob.sha256, 0) + 1
            if failures[blob.sha256] >= MAX_BLOB_FAILURES:
                raise ContentFailure("bad_blob", f"the file {blob.sha256} ({blob.size} bytes) came down wrong "
                                                 f"{failures[blob.sha256]} times (its SHA-256 or size does not "
                                                 f"match pack.json): the copy at {catalog.blob_base_url} is "
                                                 f"damaged. Nothing was installed; tell the national platform")

    def _get(self, session: requests.Session, url: str, blob: protocol.Blob, halt: threading.Event,
             report: Callable[[int], None]) -> bool:
        """One request: True when the blob is complete and verified, False when it was wrong (deleted)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.part(blob.sha256)
        have = self.partial(blob.sha256)
        digest = hashlib.sha256()
        if have > blob.size:
            part.unlink()
            have = 0
        if have:
            with open(part, "rb") as handle:
                for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(chunk)
        if have == blob.size:
            return self._finish(blob, part, digest)
        headers = {"Range": f"bytes={have}-"} if have else {}
        timeout = float(self.settings.sync_timeout_seconds)
        try:
            response = session.get(url, headers=headers, stream=True, timeout=(min(timeout, 30.0), timeout),
                                   allow_redirects=False)
        except requests.RequestException as exc:
            raise ContentFailure("link_down", f"cannot fetch {url}: {reason(exc)}") from None
        with response:
            if response.status_code == 416:
                part.unlink(missing_ok=True)
                return False
            if response.status_code == 200 and have:
                have, digest = 0, hashlib.sha256()  # the server sent the whole file: start again
            elif response.status_code == 206:
                start = _range_start(response.headers.get("Content-Range"))
                if start != have:
                    raise ContentFailure("hub_error", f"{url} answered bytes from {start}, not {have}")
            elif response.status_code != 200:
                code = "link_down" if response.status_code in (502, 503, 504) else "hub_error"
                raise ContentFailure(code, f"{url} answered HTTP {response.status_code}")
            with open(part, "r+b" if have else "wb") as out:
                out.seek(have)
                out.truncate()
                try:
                    for chunk in _chunks(response, self.chunk):
                        if not chunk:
                            continue
                        if have + len(chunk) > blob.size:
                            out.close()
                            part.unlink(missing_ok=True)
                            return False
                        out.write(chunk)
                        digest.update(chunk)
                        have += len(chunk)
                        report(len(chunk))
                        if self.bucket is not None:  # shared by the workers: their sum keeps to the cap
                            pause = self.bucket.spend(len(chunk))
                            if pause > 0:
                                halt.wait(pause)
                        if halt.is_set() or self.client.stopping.is_set():
                            break
                except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                    out.flush()
                    raise ContentFailure("link_down", f"the download of {blob.sha256[:12]} was cut at "
                                                      f"{have} of {blob.size} bytes: {reason(exc)}") from None
                out.flush()
                os.fsync(out.fileno())
        if have < blob.size:
            if halt.is_set() or self.client.stopping.is_set():
                raise ContentFailure("link_down", "stopping")
            raise ContentFailure("link_down", f"the download of {blob.sha256[:12]} ended at {have} of {blob.size} "
                                              f"bytes")
        return self._finish(blob, part, digest)

    def _finish(self, blob: protocol.Blob, part: Path, digest) -> bool:
        if digest.hexdigest() != blob.sha256 or part.stat().st_size != blob.size:
            log.warning("blob %s came down wrong (sha256 %s); deleted", blob.sha256, digest.hexdigest())
            part.unlink(missing_ok=True)
            return False
        os.replace(part, self.done(blob.sha256))
        return True

    def _progress(self, row: ContentDownload, moved: int, seconds: float) -> None:
        speed = row.speed
        if seconds >= 0.5 or not speed:  # a short tail after the last full second says little
            speed = moved / seconds if not speed else 0.5 * (moved / seconds) + 0.5 * speed
        self._update(row, bytes_received=min(row.bytes_total, row.bytes_received + moved),
                     bytes_downloaded=row.bytes_downloaded + moved, speed=speed)

    # --- install ------------------------------------------------------------------------------------

    def _install(self, pack: protocol.CatalogPack, manifest: Manifest, raw: bytes, signature: bytes) -> InstallResult:
        """A folder pack of hard links (to downloads/ and the library), installed as a USB pack is."""
        folder = self.folder / f"pack-{pack.id}-{pack.version}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            (folder / "pack.json").write_bytes(raw)
            (folder / "pack.sig").write_bytes(signature)
            moved = []
            for entry in manifest.files:
                target = folder / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                source = self.done(entry.sha256)
                if not source.exists():
                    source = self.store.path(entry.sha256)
                _link_or_copy(source, target)
                if source.parent == self.folder:
                    moved.append(entry.sha256)
            # The verified downloads go straight into the library (a rename), so installing copies
            # nothing: were they collected meanwhile, the links above still hold the bytes.
            for sha in dict.fromkeys(moved):
                destination = self.store.path(sha)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(self.done(sha), 0o644)
                os.replace(self.done(sha), destination)
            if self.before_install is not None:
                self.before_install()
            try:
                result = install_pack(folder, self.settings.data_dir, trusted_keys(self.settings))
            except InvalidPack as exc:
                raise ContentFailure("install", f"{pack.id} {pack.version} could not be installed: {exc}") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for blob in (pack.manifest, pack.signature):
            self.done(blob.sha256).unlink(missing_ok=True)
        return result

    # --- the school's state to the hub -----------------------------------------------------------------

    def state_body(self) -> dict:
        free, total = disk_free(self.settings.data_dir)
        waiting = list(ContentDownload.select().where(ContentDownload.state.in_(("waiting_window", "downloading",
                                                                                 "verifying"))))
        return {"agent_version": __version__,
                "packs": [{"id": p.pack_id, "version": p.version} for p in ContentPack.select().order_by(
                    ContentPack.pack_id)],
                "disk_free_bytes": free, "disk_total_bytes": total,
                "downloads": {"waiting": len(waiting),
                              "bytes_left": sum(max(0, r.bytes_total - r.bytes_received) for r in waiting)}}

    def post_state(self) -> None:
        hub, school, secret = self._hub()
        body = json.dumps(self.state_body()).encode("utf-8")

        def post(client, *args):
            return client.request("POST", hub, STATE_PATH, body, {"Content-Type": "application/json"},
                                  signed=(school, secret))
        status, data, what = self._signed(post)
        if status != 200 or not (data or {}).get("ok"):
            raise ContentFailure("hub_error", f"{hub}{STATE_PATH} answered {what}")


# --- helpers ---------------------------------------------------------------------------------------

def _chunks(response: requests.Response, size: int):
    """The body as it arrives (read1: whatever is there, up to `size`), so a cut loses nothing that
    already reached this computer; iter_content would drop a partly filled chunk."""
    raw = response.raw
    while True:
        chunk = raw.read1(size)
        if not chunk:
            return
        yield chunk


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _range_start(value: str | None) -> int | None:
    try:
        return int(value.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _progress_line(row: ContentDownload) -> str:
    left = max(0, row.bytes_total - row.bytes_received)
    eta = f", about {left / row.speed:.0f} s left" if row.speed else ""
    percent = 100 * row.bytes_received // row.bytes_total if row.bytes_total else 0
    return (f"content: {row.pack_id} {row.version}: {_mib(row.bytes_received)} of {_mib(row.bytes_total)} "
            f"({percent}%), {row.speed / 1024:.0f} KiB/s{eta}")


def _mib(count: int) -> str:
    return f"{count / 2 ** 20:.1f} MiB"
