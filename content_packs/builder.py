"""`pack build`: a source folder (pack.json without `files`, plus the files) -> a signed `.ckpack`."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import epub, pdf
from .manifest import InvalidPack, Manifest, check_path, parse_manifest
from .signing import sign

# Already-compressed media gains nothing from deflate; store it so Range reads stay cheap.
STORED_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp3", ".mp4", ".webm", ".ogg", ".oga",
                   ".ogv", ".m4a", ".pdf", ".zip", ".epub", ".woff2"}
SKIPPED = {"pack.json", "pack.sig"}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_bytes(data: dict) -> bytes:
    """The canonical pack.json bytes (the signature covers exactly these)."""
    return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def build_pack(source: str | os.PathLike, output: str | os.PathLike,
               key: Ed25519PrivateKey | None = None) -> Manifest:
    """Build `output` (a .ckpack zip) from the folder `source`; sign it when `key` is given.

    `files` is computed from the folder: every file except pack.json, pack.sig, hidden files and
    EPUB sources (which become HTML chapters); PDF e-textbooks also get page pictures and text
    (pdf.py). Raises InvalidPack naming the problem.
    """
    source = Path(source)
    try:
        data = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidPack("%(folder)s has no pack.json", folder=source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidPack("%(path)s is not valid JSON: %(error)s", path=source / "pack.json",
                          error=str(exc)) from None
    data = copy.deepcopy(data)
    generated: dict[str, bytes] = {}
    consumed: set[str] = set()
    for node in data.get("nodes", []):
        epub.expand_nodes(node, source, generated, consumed)
        pdf.expand_pdf_nodes(node, source, generated)
    on_disk: dict[str, Path] = {}
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            full = Path(folder) / name
            rel = full.relative_to(source).as_posix()
            if name.startswith(".") or rel in SKIPPED or rel in consumed:
                continue
            if full.is_symlink():
                raise InvalidPack("%(path)s is a symbolic link; copy the file into the pack folder", path=rel)
            on_disk[check_path(rel)] = full
    clash = set(on_disk) & set(generated)
    if clash:
        raise InvalidPack("%(path)s exists and would also be made from an EPUB", path=sorted(clash)[0])
    entries = [{"path": rel, "sha256": _sha256(full), "size": full.stat().st_size}
               for rel, full in on_disk.items()]
    entries += [{"path": rel, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
                for rel, body in generated.items()]
    data["files"] = sorted(entries, key=lambda e: e["path"])
    raw = manifest_bytes(data)
    manifest = parse_manifest(raw)  # the same checks a school makes on import
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr("pack.json", raw)
        if key is not None:
            archive.writestr("pack.sig", sign(raw, key))
        for rel in sorted(on_disk):
            kind = zipfile.ZIP_STORED if Path(rel).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            archive.write(on_disk[rel], rel, compress_type=kind)
        for rel in sorted(generated):
            archive.writestr(rel, generated[rel])
    os.replace(partial, output)
    return manifest
