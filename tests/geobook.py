"""The geography e-textbook pack (`local.geo`) the notes tests write in: two HTML chapters and a PDF
textbook, built and installed in a version of the caller's choosing."""
from __future__ import annotations

import json
from pathlib import Path

from classroom_server.content.services import install_pack
from content_packs.builder import build_pack
from tests.pdfs import textbook

STYLE = ("<style>p { color: rgb(9, 8, 7); margin-left: 1em } p { background: url(http://evil.example/a.png) }"
         " body p:first-child { color: rgb(7, 7, 7) }</style>")  # the attribute must still win


def chapter(body: str) -> bytes:
    """A chapter with a style element and a style attribute of its own (kept, cleaned: test_browser_notes)."""
    body = body.replace("<p>", '<p style="color: rgb(200, 0, 0); font-size: 40px; position: fixed">', 1)
    return f'<!doctype html><html lang="en"><head><title>x</title>{STYLE}</head><body>{body}</body></html>'.encode()


CHAPTER_ONE = ("<p>The river Ili flows into Lake Balkhash.</p><p>Half of the lake is fresh water and "
               "half is salty: a rare thing among the lakes of the world.</p><p>Fresh water is rare.</p>"
               + "".join(f"<p>In season {n} the lakes of the steppe fill with melted snow and dry in the "
                         f"summer sun, leaving white salt on their shores.</p>" for n in range(1, 13)))
CHAPTER_TWO = "<p>Mountains of the Altai reach 4506 metres.</p>"


def book_source(folder: Path, version: str, one: str = CHAPTER_ONE, two: str = CHAPTER_TWO, pages: int = 3,
                swap: bool = False) -> Path:
    """A pack with an e-textbook of two HTML chapters and a PDF textbook; `swap` puts chapter two first."""
    (folder / "ebooks" / "geo" / "en").mkdir(parents=True, exist_ok=True)
    (folder / "books").mkdir(parents=True, exist_ok=True)
    (folder / "ebooks/geo/en/one.html").write_bytes(chapter(one))
    (folder / "ebooks/geo/en/two.html").write_bytes(chapter(two))
    (folder / "books/pdf.pdf").write_bytes(textbook(pages, "Lakes"))
    chapters = [{"id": "geo.ch01", "kind": "chapter", "title": {"en": "Lakes"},
                 "content": {"en": "ebooks/geo/en/one.html"}},
                {"id": "geo.ch02", "kind": "chapter", "title": {"en": "Mountains"},
                 "content": {"en": "ebooks/geo/en/two.html"}}]
    if swap:
        chapters = [dict(chapters[1], id="geo.ch01"), dict(chapters[0], id="geo.ch02")]
    (folder / "pack.json").write_text(json.dumps({
        "format_version": 1, "id": "local.geo", "version": version, "title": {"en": "Geography"},
        "subject": "geography", "grades": [7], "languages": ["en"], "license": "CC0-1.0", "authors": ["Us"],
        "review": {"status": "draft"},
        "nodes": [{"id": "geo", "kind": "ebook", "title": {"en": "Geography of Kazakhstan"}, "children": chapters},
                  {"id": "lakes", "kind": "ebook", "title": {"en": "Lakes (PDF)"},
                   "pdf": {"en": "books/pdf.pdf"}}]}), encoding="utf-8")
    return folder


def install(app, settings, tmp_path, version: str = "1.0.0", **changes) -> None:
    source = book_source(tmp_path / f"src-{version}", version, **changes)
    build_pack(source, tmp_path / f"geo-{version}.ckpack")
    with app.app_context():
        install_pack(tmp_path / f"geo-{version}.ckpack", settings.data_dir, (), allow_unreviewed=True)