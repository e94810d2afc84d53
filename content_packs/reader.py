"""Opening a pack (a `.ckpack` zip or a folder) defensively, and checking every file against pack.json."""
from __future__ import annotations

import hashlib
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from .manifest import FileEntry, InvalidPack, Manifest, check_path, parse_manifest

CHUNK = 1024 * 1024
# What zipfile raises on a damaged or crafted archive besides BadZipFile: names that are not UTF-8,
# unknown compression, bad deflate data, truncation, flags that differ between the two headers, seeks
# before the start of the file. All mean the same thing to a school: this pack cannot be used.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError,
               OSError)


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile pack (a zip bomb, a million files) from hurting the school server."""
    max_files: int = 50_000
    max_total_bytes: int = 64 * 1024 ** 3
    max_ratio: int = 200  # uncompressed / compressed, per file, for entries over 1 MiB
    # Uncompressed / compressed for the whole pack, once it unpacks to more than `ratio_floor`: many
    # small entries that each pass max_ratio may still add up to a bomb (videos and pictures are
    # compressed already; text packs stay far below 100).
    max_pack_ratio: int = 100
    ratio_floor: int = 64 * 1024 ** 2


class PackReader:
    """Read access to a pack's entries by relative path."""

    source: Path

    def names(self) -> list[str]:
        raise NotImplementedError

    def read_small(self, name: str, limit: int) -> bytes | None:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "PackReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ZipPack(PackReader):
    def __init__(self, path: Path, limits: Limits):
        self.source = path
        try:
            self.zip = zipfile.ZipFile(path)
        except _ZIP_ERRORS as exc:
            raise InvalidPack("%(name)s is not a readable .ckpack (zip) file: %(error)s", name=path.name,
                              error=str(exc)) from None
        infos = self.zip.infolist()
        if len(infos) > limits.max_files + 2:
            raise InvalidPack("%(name)s holds %(count)d entries; the limit is %(limit)d", name=path.name,
                              count=len(infos), limit=limits.max_files)
        self.infos: dict[str, zipfile.ZipInfo] = {}
        folded: set[str] = set()
        total = 0
        for info in infos:
            name = info.filename
            if info.is_dir():
                check_path(name.rstrip("/"))
                continue
            check_path(name)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise InvalidPack("%(name)r is a symbolic link; packs hold plain files only", name=name)
            if name.casefold() in folded:
                raise InvalidPack("%(name)r appears twice in the zip (names differing only in case count "
                                  "as one)", name=name)
            folded.add(name.casefold())
            if info.flag_bits & 0x1:
                raise InvalidPack("%(name)r is encrypted; packs are not encrypted (they are signed)", name=name)
            total += info.file_size
            if total > limits.max_total_bytes:
                raise InvalidPack("%(name)s unpacks to more than %(limit)d bytes", name=path.name,
                                  limit=limits.max_total_bytes)
            if info.file_size > CHUNK and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise InvalidPack("%(name)r expands %(ratio)d times; that looks like a zip bomb", name=name,
                                  ratio=info.file_size // max(info.compress_size, 1))
            self.infos[name] = info
        packed = max(path.stat().st_size, 1)
        if total > limits.ratio_floor and total > limits.max_pack_ratio * packed:
            raise InvalidPack("%(name)s unpacks to %(size)d bytes from %(packed)d (%(ratio)d times); a pack may "
                              "unpack to at most %(limit)d times its size: that looks like a zip bomb",
                              name=path.name, size=total, packed=packed, ratio=total // packed,
                              limit=limits.max_pack_ratio)

    def names(self) -> list[str]:
        return list(self.infos)

    def read_small(self, name: str, limit: int) -> bytes | None:
        info = self.infos.get(name)
        if info is None:
            return None
        if info.file_size > limit:
            raise InvalidPack("%(name)s is %(size)d bytes; the limit is %(limit)d", name=name,
                              size=info.file_size, limit=limit)
        with self.open(name) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InvalidPack("%(name)s is larger than it says", name=name)
        return data

    def open(self, name: str) -> IO[bytes]:
        return _ZipEntry(self.zip, self.infos[name])  # type: ignore[return-value]

    def close(self) -> None:
        self.zip.close()


class _ZipEntry:
    """One entry being read, with zipfile's errors (bad CRC, header mismatch...) turned into InvalidPack."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        self.name = info.filename
        self.handle = self._guard(archive.open, info)

    def _guard(self, call, *args):
        try:
            return call(*args)
        except _ZIP_ERRORS as exc:
            raise InvalidPack("%(name)r cannot be read from the pack (%(error)s): the pack is damaged "
                              "or was made to attack the reader", name=self.name, error=str(exc)) from None

    def read(self, size: int = -1) -> bytes:
        return self._guard(self.handle.read, size)

    def __enter__(self) -> "_ZipEntry":
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


class FolderPack(PackReader):
    def __init__(self, path: Path, limits: Limits):
        self.source = path
        self.files: dict[str, Path] = {}
        total = 0
        root = path.resolve()
        for folder, dirs, files in os.walk(root, followlinks=False):
            for name in dirs + files:
                full = Path(folder) / name
                rel = full.relative_to(root).as_posix()
                if full.is_symlink():
                    raise InvalidPack("%(name)r is a symbolic link; packs hold plain files only", name=rel)
                check_path(rel)
                if name in files:
                    if not stat.S_ISREG(full.lstat().st_mode):
                        raise InvalidPack("%(name)r is not a plain file", name=rel)
                    self.files[rel] = full
                    if len(self.files) > limits.max_files + 2:
                        raise InvalidPack("%(folder)s holds more than %(limit)d files", folder=path,
                                          limit=limits.max_files)
                    total += full.lstat().st_size
                    if total > limits.max_total_bytes:
                        raise InvalidPack("%(folder)s holds more than %(limit)d bytes", folder=path,
                                          limit=limits.max_total_bytes)

    def names(self) -> list[str]:
        return list(self.files)

    def read_small(self, name: str, limit: int) -> bytes | None:
        path = self.files.get(name)
        if path is None:
            return None
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InvalidPack("%(name)s is larger than %(limit)d bytes", name=name, limit=limit)
        return data

    def open(self, name: str) -> IO[bytes]:
        return open(self.files[name], "rb")


def open_pack(path: str | os.PathLike, limits: Limits = Limits()) -> PackReader:
    path = Path(path)
    if path.is_symlink():
        raise InvalidPack("%(path)s is a symbolic link; give the pack itself", path=path)
    if path.is_dir():
        return FolderPack(path, limits)
    if path.is_file():
        return ZipPack(path, limits)
    raise InvalidPack("%(path)s does not exist", path=path)


def read_manifest(reader: PackReader) -> tuple[bytes, Manifest, bytes | None]:
    """(pack.json bytes, the validated manifest, pack.sig bytes or None); checks the file list."""
    from .manifest import MAX_MANIFEST_BYTES
    raw = reader.read_small("pack.json", MAX_MANIFEST_BYTES)
    if raw is None:
        raise InvalidPack("%(name)s has no pack.json at its top level", name=reader.source.name)
    manifest = parse_manifest(raw)
    signature = reader.read_small("pack.sig", 4096)
    listed = manifest.by_path()
    present = set(reader.names()) - {"pack.json", "pack.sig"}
    missing = sorted(set(listed) - present)
    if missing:
        raise InvalidPack("files listed in pack.json are missing from the pack: %(files)s",
                          files=", ".join(missing[:5]))
    extra = sorted(present - set(listed))
    if extra:
        raise InvalidPack("files in the pack are not listed in pack.json: %(files)s", files=", ".join(extra[:5]))
    return raw, manifest, signature


def copy_verified(reader: PackReader, entry: FileEntry, out: IO[bytes]) -> None:
    """Copy one entry to `out`, checking its size and SHA-256 as it streams."""
    digest = hashlib.sha256()
    seen = 0
    with reader.open(entry.path) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            seen += len(chunk)
            if seen > entry.size:
                raise InvalidPack("%(path)s is larger than the %(size)d bytes pack.json says", path=entry.path,
                                  size=entry.size)
            digest.update(chunk)
            out.write(chunk)
    if seen != entry.size:
        raise InvalidPack("%(path)s is %(seen)d bytes; pack.json says %(size)d", path=entry.path, seen=seen,
                          size=entry.size)
    if digest.hexdigest() != entry.sha256:
        raise InvalidPack("%(path)s does not match its SHA-256 in pack.json: the file is damaged or "
                          "was changed", path=entry.path)


class _Null:
    def write(self, data: bytes) -> None:
        pass


def verify_files(reader: PackReader, manifest: Manifest,
                 progress: Callable[[int], None] | None = None) -> None:
    """Check every listed file's size and hash without storing anything."""
    for entry in manifest.files:
        copy_verified(reader, entry, _Null())  # type: ignore[arg-type]
        if progress:
            progress(entry.size)


def iter_sources(paths: list[str | os.PathLike]) -> Iterator[Path]:
    """Packs named on a command line or found on a USB drive: `*.ckpack` files and folders with a pack.json."""
    for given in paths:
        path = Path(given)
        if path.is_file() or (path.is_dir() and (path / "pack.json").is_file()):
            yield path
        elif path.is_dir():
            found = False
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                here = Path(folder)
                if "pack.json" in files and here != path:
                    found = True
                    dirs[:] = []
                    yield here
                    continue
                for name in sorted(files):
                    if name.endswith(".ckpack"):
                        found = True
                        yield here / name
            if not found:
                raise InvalidPack("no packs (*.ckpack files or folders with a pack.json) under %(path)s",
                                  path=path)
        else:
            raise InvalidPack("%(path)s does not exist", path=path)
