"""Content downstream, hub side: the national signing key, publishing packs, the per-school catalog.

A published pack becomes blobs named by the SHA-256 of their bytes in `<data-dir>/blobs/` (every
file, the pack.json as published and the pack.sig made here with the national key) and one
`pack_release` row. Schools read the catalog (`catalog_for`), fetch the blobs they lack, verify
hashes and the signature, and report what they hold (`store_state`).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from peewee import IntegrityError
from werkzeug.security import safe_join

from content_packs import reader as pack_reader
from content_packs import signing
from content_packs.manifest import InvalidPack, Manifest, version_key

from . import analytics
from .db import database
from .models import PackRelease, School, SchoolState, utcnow

log = logging.getLogger(__name__)

KEYS_FOLDER = "keys"
SIGNING_KEY_NAME = "national-signing.pem"
RETIRED_KEYS_NAME = "national-retired-keys.txt"  # public keys of replaced signing keys, still trusted
ROTATIONS_NAME = "national-rotations.json"  # the rotation statements schools need to follow a new key
BLOBS_FOLDER = "blobs"
INCOMING_FOLDER = "blobs.incoming"  # beside blobs/, so a copy of blobs/ never holds half-written files
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_STATE_PACKS = 10_000


class ContentError(Exception):
    """A publishing or key operation refused; the message says why and what to do."""


class NoSigningKey(ContentError):
    pass


class StateError(ValueError):
    """A school's state report is malformed; the message names the field."""


# --- the national signing key ----------------------------------------------------------------------

def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEYS_FOLDER / SIGNING_KEY_NAME


def _retired_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEYS_FOLDER / RETIRED_KEYS_NAME


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only this user can read, atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def generate_key(data_dir: Path, force: bool = False, keep_old: bool = True) -> tuple[str, str | None]:
    """Make the national signing key; return (new public key, replaced public key or None).

    An existing key is replaced only with `force`; its public key then stays in the published list
    (`public_keys`) unless `keep_old` is False, so packs it signed still install at schools.
    """
    path = key_path(data_dir)
    old = None
    if path.exists():
        if not force:
            raise ContentError(f"a national signing key exists already ({path}); pass --force to replace it")
        old = signing.public_key_of(signing.load_private_key(path))
    pem, public = signing.generate_key()
    _write_private(path, pem)
    retired = [key for key in retired_keys(data_dir) if key != public]
    if old and keep_old and old not in retired:
        retired.append(old)
    if old and not keep_old:
        retired = [key for key in retired if key != old]
    _write_private(_retired_path(data_dir), "".join(key + "\n" for key in retired).encode("ascii"))
    return public, old


def rotate_key(data_dir: Path) -> tuple[str, str]:
    """Replace the national signing key with a new one that schools follow on their own: a rotation
    statement signed by the old key and the new one is published with the keys (GET /api/v1/keys), and
    the old key stays published so packs it signed keep installing. Returns (new, old) public keys."""
    old_key = load_key(data_dir)
    pem, public = signing.generate_key()
    new_key = signing.load_private_key_bytes(pem)
    made_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = signing.rotation_statement(old_key, new_key, made_at)
    old = statement["previous"]
    statements = rotations(data_dir) + [statement]
    # The statement first: a crash before the key is replaced leaves a statement about a key nobody
    # uses yet, which schools ignore (it is not published), never a new key without its statement.
    _write_private(_rotations_path(data_dir), (json.dumps(statements, indent=1) + "\n").encode("ascii"))
    _write_private(key_path(data_dir), pem)
    retired = [key for key in retired_keys(data_dir) if key != public]
    if old not in retired:
        retired.append(old)
    _write_private(_retired_path(data_dir), "".join(key + "\n" for key in retired).encode("ascii"))
    return public, old


def vouch_for_replaced(data_dir: Path) -> list[str]:
    """Have the current key vouch for every replaced key no statement links to it yet (keys replaced by
    `keys generate --force`, or before rotation statements existed), so that schools pinned to the current
    key still install the packs those signed. Returns the keys vouched for."""
    current_key = load_key(data_dir)
    current = signing.public_key_of(current_key)
    statements = rotations(data_dir)
    linked = {current}
    grew = True
    while grew:  # the keys the current one already reaches, as a school pinned to it would
        grew = False
        for statement in statements:
            try:
                previous, key, _both = signing.verify_rotation(statement)
            except signing.RotationError:
                continue
            if key in linked and previous not in linked:
                linked.add(previous)
                grew = True
    made_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = [key for key in retired_keys(data_dir) if key not in linked]
    if new:
        statements += [signing.vouch_statement(current_key, key, made_at) for key in new]
        _write_private(_rotations_path(data_dir), (json.dumps(statements, indent=1) + "\n").encode("ascii"))
    return new


def _rotations_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEYS_FOLDER / ROTATIONS_NAME


def rotations(data_dir: Path) -> list[dict]:
    """The rotation statements made by `rotate_key`, oldest first."""
    try:
        statements = json.loads(_rotations_path(data_dir).read_text(encoding="ascii"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ContentError(f"cannot read {_rotations_path(data_dir)}: {exc}") from None
    return [s for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []


def load_key(data_dir: Path):
    path = key_path(data_dir)
    if not path.exists():
        raise NoSigningKey(f"the hub has no national signing key yet ({path}): make one with "
                           f"`classroom-hub keys generate`")
    try:
        return signing.load_private_key(path)
    except signing.SignatureError as exc:
        raise ContentError(str(exc)) from None


def retired_keys(data_dir: Path) -> list[str]:
    try:
        text = _retired_path(data_dir).read_text(encoding="ascii")
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def current_public_key(data_dir: Path) -> str | None:
    if not key_path(data_dir).exists():
        return None
    return signing.public_key_of(load_key(data_dir))


def public_keys(data_dir: Path) -> list[str]:
    """The keys schools should trust: the current signing key first, then replaced ones kept."""
    current = current_public_key(data_dir)
    keys = [current] if current else []
    return keys + [key for key in retired_keys(data_dir) if key not in keys]


# --- blobs ---------------------------------------------------------------------------------------

def blob_folder(data_dir: Path) -> Path:
    return Path(data_dir) / BLOBS_FOLDER


def blob_path(data_dir: Path, sha256: str) -> Path | None:
    """The blob's file, or None for anything that is not a lowercase SHA-256 (never a path elsewhere)."""
    if not isinstance(sha256, str) or not SHA256.fullmatch(sha256):
        return None
    joined = safe_join(str(blob_folder(data_dir)), sha256)
    return None if joined is None else Path(joined)


class _BlobWriter:
    """Blobs written to temp files (fsynced), moved into place only when the whole pack checked out."""

    def __init__(self, data_dir: Path):
        self.folder = blob_folder(data_dir)
        self.incoming = Path(data_dir) / INCOMING_FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.pending: list[tuple[Path, Path]] = []
        self.written = 0

    def held(self, sha256: str, size: int) -> bool:
        try:
            return (self.folder / sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    def new(self):
        descriptor, temp = tempfile.mkstemp(dir=self.incoming, prefix="blob-")
        return os.fdopen(descriptor, "wb"), Path(temp)

    def keep(self, handle, temp: Path, sha256: str) -> None:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(temp, 0o644)  # public reviewed content: a web server may serve the folder
        self.pending.append((temp, self.folder / sha256))

    def add_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.held(sha256, len(data)):
            handle, temp = self.new()
            handle.write(data)
            self.keep(handle, temp, sha256)
        return sha256

    def commit(self) -> None:
        for temp, final in self.pending:
            os.replace(temp, final)
            self.written += 1
        if self.pending:
            _fsync_folder(self.folder)
        self.pending = []

    def discard(self) -> None:
        for temp, _ in self.pending:
            temp.unlink(missing_ok=True)
        self.pending = []


# --- publishing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Targeting:
    all_schools: bool = False
    regions: tuple[str, ...] = ()
    schools: tuple[str, ...] = ()

    @property
    def given(self) -> bool:
        return self.all_schools or bool(self.regions) or bool(self.schools)

    def as_dict(self) -> dict[str, Any]:
        return {"all_schools": self.all_schools, "regions": list(self.regions), "schools": list(self.schools)}

    def describe(self) -> str:
        if self.all_schools:
            return "all schools"
        parts = [f"region {r}" for r in self.regions] + list(self.schools)
        return ", ".join(parts) or "no school"


def targeting_of(row: PackRelease) -> Targeting:
    return Targeting(bool(row.target_all), tuple(row.target_regions or ()), tuple(row.target_schools or ()))


@dataclass(frozen=True)
class Published:
    row: PackRelease
    created: bool  # False: the same content was published already (targeting may have changed)
    blobs_written: int
    retargeted: bool = False


def _check_targeting(targeting: Targeting) -> Targeting:
    if targeting.all_schools and (targeting.regions or targeting.schools):
        raise ContentError("choose either --all-schools, or --region/--school (not both)")
    regions = tuple(dict.fromkeys(r.strip() for r in targeting.regions if r.strip()))
    schools = tuple(dict.fromkeys(s.strip() for s in targeting.schools if s.strip()))
    if schools:
        known = {s for (s,) in School.select(School.id).where(School.id.in_(list(schools))).tuples()}
        unknown = [s for s in schools if s not in known]
        if unknown:
            raise ContentError(f"no enrolled school {', '.join(map(repr, unknown))}: see "
                               f"`classroom-hub school list` for the ids")
    return Targeting(targeting.all_schools, regions, schools)


def check_pack(path: str | os.PathLike) -> tuple[pack_reader.PackReader, bytes, Manifest]:
    """Open a pack and check that it is well formed and approved (its files are checked on publish)."""
    try:
        source = pack_reader.open_pack(path)
    except InvalidPack as exc:
        raise ContentError(f"{path}: {exc}") from None
    try:
        raw, manifest, _signature = pack_reader.read_manifest(source)
    except InvalidPack as exc:
        source.close()
        raise ContentError(f"{path} is not a well-formed pack: {exc}") from None
    review = manifest.data.get("review") or {}
    if manifest.review_status != "approved":
        source.close()
        raise ContentError(f"{manifest.id} {manifest.version} is not reviewed (review.status is "
                           f"{review.get('status')!r}): only packs whose pack.json says review.status "
                           f"\"approved\", with the reviewing body and date, can be published to schools")
    return source, raw, manifest


def _refuse_conflicts(manifest: Manifest, manifest_sha256: str) -> PackRelease | None:
    """The release already published with these exact bytes, or None; refuse downgrades and clashes."""
    rows = list(PackRelease.select().where(PackRelease.pack_id == manifest.id))
    same = next((r for r in rows if r.version == manifest.version), None)
    if same is not None:
        if same.manifest_sha256 != manifest_sha256:
            raise ContentError(f"{manifest.id} {manifest.version} was published already with different content "
                               f"(pack.json sha256 {same.manifest_sha256[:12]}..., this one "
                               f"{manifest_sha256[:12]}...): give the changed pack a new, higher version")
        if same.withdrawn_at is not None:
            raise ContentError(f"{manifest.id} {manifest.version} was withdrawn on {_iso(same.withdrawn_at)}: "
                               f"publish it again under a new, higher version")
        return same
    newer = [r.version for r in rows if version_key(r.version) > version_key(manifest.version)]
    if newer:
        highest = max(newer, key=version_key)
        raise ContentError(f"{manifest.id} {highest} is published already and is newer than {manifest.version}: "
                           f"schools never go back to an older version. To undo a release, withdraw it "
                           f"(`classroom-hub pack withdraw {manifest.id} --version {highest}`), or publish "
                           f"the old content under a version above {highest}")
    return None


def publish(data_dir: Path, path: str | os.PathLike, targeting: Targeting,
            progress: Callable[[int], None] | None = None) -> Published:
    """Check, sign and store a pack, and list it in the catalog for the targeted schools.

    Every file is checked against pack.json while it is copied; blobs already held are read (to
    check the pack) but not written again. Nothing reaches the catalog unless all of it checked out.
    """
    data_dir = Path(data_dir)
    key = load_key(data_dir)
    source, raw, manifest = check_pack(path)
    try:
        manifest_sha256 = hashlib.sha256(raw).hexdigest()
        existing = _refuse_conflicts(manifest, manifest_sha256)
        if existing is not None:
            return _retarget(existing, targeting)
        if not targeting.given:
            raise ContentError("say which schools get the pack: --all-schools, --region R or --school ID "
                               "(the last two can be repeated)")
        targeting = _check_targeting(targeting)
        writer = _BlobWriter(data_dir)
        try:
            for entry in manifest.files:
                if writer.held(entry.sha256, entry.size):
                    pack_reader.copy_verified(source, entry, _Null())  # type: ignore[arg-type]
                else:
                    handle, temp = writer.new()
                    try:
                        pack_reader.copy_verified(source, entry, handle)
                    except BaseException:
                        handle.close()
                        temp.unlink(missing_ok=True)
                        raise
                    writer.keep(handle, temp, entry.sha256)
                if progress:
                    progress(entry.size)
            signature = signing.sign(raw, key)
            writer.add_bytes(raw)
            signature_sha256 = writer.add_bytes(signature)
            writer.commit()
        except InvalidPack as exc:
            writer.discard()
            raise ContentError(f"{path} cannot be published: {exc}") from None
        except BaseException:
            writer.discard()
            raise
        row = PackRelease(pack_id=manifest.id, version=manifest.version, title=manifest.data["title"],
                          manifest_sha256=manifest_sha256, manifest_size=len(raw),
                          signature_sha256=signature_sha256, signature_size=len(signature),
                          size=len(raw) + len(signature) + manifest.total_size,
                          target_all=targeting.all_schools, target_regions=list(targeting.regions),
                          target_schools=list(targeting.schools), published_at=utcnow())
        try:
            with database.atomic():
                _refuse_conflicts(manifest, manifest_sha256)  # again: another publish may have won meanwhile
                row.save(force_insert=True)
                analytics.index_pack(manifest.data)  # the items' subjects and skills, for the analytics
        except IntegrityError:
            raise ContentError(f"{manifest.id} {manifest.version} was published by another command at the same "
                               f"time: see `classroom-hub pack list`") from None
        log.info("published %s %s to %s (%d new blobs)", manifest.id, manifest.version, targeting.describe(),
                 writer.written)
        return Published(row, True, writer.written)
    finally:
        source.close()


class _Null:
    def write(self, data: bytes) -> None:
        pass


def _retarget(row: PackRelease, targeting: Targeting) -> Published:
    if not targeting.given or targeting == targeting_of(row):
        return Published(row, False, 0)
    targeting = _check_targeting(targeting)
    if targeting == targeting_of(row):
        return Published(row, False, 0)
    row.target_all = targeting.all_schools
    row.target_regions = list(targeting.regions)
    row.target_schools = list(targeting.schools)
    row.save(only=[PackRelease.target_all, PackRelease.target_regions, PackRelease.target_schools])
    return Published(row, False, 0, retargeted=True)


def releases() -> list[PackRelease]:
    rows = list(PackRelease.select())
    return sorted(rows, key=lambda r: (r.pack_id, version_key(r.version)))


def withdraw(pack_id: str, version: str | None = None) -> list[PackRelease]:
    """Withdraw one version, or every version, of a pack; return the releases newly withdrawn."""
    query = PackRelease.select().where(PackRelease.pack_id == pack_id)
    if version:
        query = query.where(PackRelease.version == version)
    rows = list(query)
    if not rows:
        what = f"{pack_id} {version}" if version else pack_id
        raise ContentError(f"no published pack {what}: see `classroom-hub pack list`")
    now = utcnow()
    changed = [r for r in rows if r.withdrawn_at is None]
    with database.atomic():
        for row in changed:
            row.withdrawn_at = now
            row.save(only=[PackRelease.withdrawn_at])
    return changed


# --- the catalog -----------------------------------------------------------------------------------

def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def targets(row: PackRelease, school_id: str, region: str | None) -> bool:
    return bool(row.target_all) or (region is not None and region in (row.target_regions or ())) \
        or school_id in (row.target_schools or ())


def current_for(rows: Iterable[PackRelease], school_id: str, region: str | None) -> dict[str, PackRelease]:
    """Per pack id, the newest version targeted to the school and not withdrawn."""
    newest: dict[str, PackRelease] = {}
    for row in rows:
        if row.withdrawn_at is None and targets(row, school_id, region):
            held = newest.get(row.pack_id)
            if held is None or version_key(row.version) > version_key(held.version):
                newest[row.pack_id] = row
    return newest


def catalog_for(school: School, blob_base_url: str, now: datetime.datetime | None = None) -> dict[str, Any]:
    rows = list(PackRelease.select())
    newest = current_for(rows, school.id, school.region)
    packs = [{"id": r.pack_id, "version": r.version, "title": r.title,
              "manifest_sha256": r.manifest_sha256, "manifest_size": r.manifest_size,
              "signature_sha256": r.signature_sha256, "signature_size": r.signature_size,
              "size": r.size, "published_at": _iso(r.published_at)}
             for r in sorted(newest.values(), key=lambda r: r.pack_id)]
    withdrawn = [{"id": r.pack_id, "version": r.version, "withdrawn_at": _iso(r.withdrawn_at)}
                 for r in sorted(rows, key=lambda r: (r.pack_id, version_key(r.version)))
                 if r.withdrawn_at is not None and targets(r, school.id, school.region)]
    return {"protocol": 1, "generated_at": _iso(now or utcnow()), "blob_base_url": blob_base_url,
            "packs": packs, "withdrawn": withdrawn}


# --- school state ----------------------------------------------------------------------------------

def _count(value: Any, where: str, required: bool = True) -> int | None:
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 63:
        raise StateError(f"{where} must be a whole number of at least 0")
    return value


def _short_text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise StateError(f"{where} must be a text of 1 to {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database stores it
        raise StateError(f"{where} holds a lone surrogate") from None
    return value


def parse_state(body: Any) -> dict[str, Any]:
    """Check a state report (the JSON of POST /api/v1/state); return the columns to store."""
    if not isinstance(body, dict):
        raise StateError("the body must be a JSON object")
    packs = body.get("packs", [])
    if not isinstance(packs, list) or len(packs) > MAX_STATE_PACKS:
        raise StateError(f"packs must be a list of at most {MAX_STATE_PACKS} {{\"id\", \"version\"}} objects")
    clean: dict[str, str] = {}  # kept as {pack id: version}: a third smaller to store, read and show
    for index, pack in enumerate(packs):
        if not isinstance(pack, dict):
            raise StateError(f"packs[{index}] must be an object with id and version")
        clean[_short_text(pack.get("id"), f"packs[{index}].id", 128)] = \
            _short_text(pack.get("version"), f"packs[{index}].version", 64)
    downloads = body.get("downloads") or {}
    if not isinstance(downloads, dict):
        raise StateError("downloads must be an object with waiting and bytes_left")
    agent_version = body.get("agent_version")
    free = _count(body.get("disk_free_bytes"), "disk_free_bytes", required=False)
    total = _count(body.get("disk_total_bytes"), "disk_total_bytes", required=False)
    if free is not None and total is not None and free > total:
        raise StateError("disk_free_bytes is more than disk_total_bytes")
    return {"agent_version": None if agent_version is None else _short_text(agent_version, "agent_version", 200),
            "packs": clean, "disk_free_bytes": free, "disk_total_bytes": total,
            "downloads_waiting": _count(downloads.get("waiting", 0), "downloads.waiting"),
            "downloads_bytes_left": _count(downloads.get("bytes_left", 0), "downloads.bytes_left")}


def store_state(school_id: str, state: dict[str, Any]) -> None:
    """Keep the school's latest state (one row per school, replaced)."""
    values = dict(state, school=school_id, state_at=utcnow())
    update = {getattr(SchoolState, name): value for name, value in values.items() if name != "school"}
    SchoolState.insert(**values).on_conflict(conflict_target=[SchoolState.school], update=update).execute()
