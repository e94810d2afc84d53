"""Sample content packs written by the project: their source folders, and `build_samples` to build them.

Each folder here is a pack source (pack.json without `files`, plus the files). The science pack's
pictures and sounds are made by `media.py` at build time, so no binary file is kept in the repository.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..builder import build_pack
from . import media

HERE = Path(__file__).resolve().parent
SAMPLES = ("math5-fractions", "informatics7-ai", "science6-sound-light")
# Extra files each sample needs, made at build time into the copy of its folder.
GENERATORS = {"science6-sound-light": lambda folder: media.write_science_media(folder / "media")}


def source_dirs() -> list[Path]:
    """The sample packs' source folders, in build order."""
    return [HERE / name for name in SAMPLES]


def _ignore(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name.startswith(".") or name == "__pycache__"]


def build_samples(output_dir: Path, key: Ed25519PrivateKey | None = None) -> list[Path]:
    """Build every sample pack into `output_dir` as `<pack id>-<version>.ckpack`; return the paths.

    Each source folder is copied to a temporary folder first, its generated media are written there,
    and the copy is built (and signed when `key` is given). Raises InvalidPack naming a problem.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    built: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ckpack-samples-") as scratch:
        for source in source_dirs():
            work = Path(scratch) / source.name
            shutil.copytree(source, work, ignore=_ignore)
            generate = GENERATORS.get(source.name)
            if generate is not None:
                generate(work)
            data = json.loads((work / "pack.json").read_text(encoding="utf-8"))
            output = output_dir / f"{data['id']}-{data['version']}.ckpack"
            build_pack(work, output, key)
            built.append(output)
    return built
