"""EPUB 3 books made by others (tests/data/epub3, see its README) zipped as e-readers get them."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

BOOKS = Path(__file__).parent / "data" / "epub3"


def zip_book(name: str, target: Path, change=None) -> Path:
    """`tests/data/epub3/<name>` as an .epub (mimetype first, stored); `change(path, bytes)` may edit files."""
    folder = BOOKS / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            if rel == "mimetype" or rel.startswith("LICENSE"):
                continue
            data = path.read_bytes()
            book.writestr(rel, change(rel, data) if change else data)
    return target


def without_audio(rel: str, data: bytes) -> bytes:
    """kusamakura-preview without its audio (the samples repository does not hold the mp3)."""
    if rel.endswith("package.opf"):
        text = data.decode("utf-8")
        return text.replace('<item id="一_audio" href="audio/fmse004b.mp3" media-type="audio/mpeg"/>', "") \
            .encode("utf-8")
    return data


def book_pack(source: Path, books: dict[str, tuple[str, str]], languages=("en",)) -> Path:
    """A pack source folder with one e-textbook node per book: {node id: (book folder, language)}."""
    nodes = []
    for node_id, (name, language) in books.items():
        zip_book(name, source / "src" / f"{name}.epub", without_audio if name == "kusamakura-preview" else None)
        nodes.append({"id": node_id, "kind": "ebook", "title": {language: name},
                      "epub": {language: f"src/{name}.epub"}})
    (source / "pack.json").write_text(json.dumps({
        "format_version": 1, "id": "org.w3.epub3-samples", "version": "1.0.0",
        "title": {"en": "EPUB 3 samples"}, "subject": "literature", "grades": [9],
        "languages": sorted({language for _, language in books.values()} | set(languages)),
        "license": "CC-BY-SA-3.0", "authors": ["W3C EPUB 3 Community Group"],
        "review": {"status": "draft"}, "nodes": nodes}, ensure_ascii=False), encoding="utf-8")
    return source


SAMPLES = {"children": ("childrens-literature", "en"), "arabic": ("regime-anticancer-arabic", "ar"),
           "kusamakura": ("kusamakura-preview", "ja"), "georgia": ("georgia-cfi", "en"),
           "algebra": ("linear-algebra-part", "en")}
