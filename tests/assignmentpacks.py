"""The practice pack and a book pack installed together (`packs`), a student signed in over them
(`student`), and homework or a quiz made from their parts; a module imports the fixtures by name:
`from tests.assignmentpacks import packs, student  # noqa: F401  (fixtures)`.
"""
from __future__ import annotations

import json
import re

import pytest

from classroom_server.coach import services as coach
from tests.helpers import sign_in_as
from tests.packs import install_signed
from tests.practicepack import practice_source

BOOK_PACK = "test.book"
CHAPTER_HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Chapter one</title>
<style>body{color:red}</style><script>window.stolen = document.cookie</script></head>
<body><main><h1>Chapter one</h1>
<p id="start" onclick="alert(1)">Plants need light. <a href="https://example.org/track">far away</a>
<a href="#end">to the end</a> <a href="ch2.html">next</a></p>
<img src="pictures/leaf.svg" alt="A leaf"><img src="https://example.org/pixel.gif" alt="pixel">
<iframe src="https://example.org/"></iframe><form action="/learn/"><input name="x"></form>
<p id="end">The end.</p></main></body></html>"""


def book_source(folder):
    (folder / "pictures").mkdir(parents=True, exist_ok=True)
    (folder / "ch1.html").write_text(CHAPTER_HTML, encoding="utf-8")
    (folder / "ch2.html").write_text("<!doctype html><html lang='en'><title>Two</title><p>Second.</p></html>")
    (folder / "pictures" / "leaf.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>')
    manifest = {
        "format_version": 1, "id": BOOK_PACK, "version": "1.0.0", "title": {"en": "Book pack"},
        "subject": "science", "grades": [5], "languages": ["en"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [{"id": "book", "kind": "ebook", "title": {"en": "Plants"}, "children": [
            {"id": "ch1", "kind": "chapter", "title": {"en": "Chapter one"}, "content": {"en": "ch1.html"}},
            {"id": "ch2", "kind": "chapter", "title": {"en": "Chapter two"}, "content": {"en": "ch2.html"}}]}],
    }
    (folder / "pack.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture
def packs(app, settings, tmp_path):
    with app.app_context():
        for name, source in (("p", practice_source), ("b", book_source)):
            install_signed(source(tmp_path / f"src-{name}"), settings.data_dir)


@pytest.fixture
def student(client, school, packs):
    sign_in_as(client, school, "student")
    return client


def make(app, school, parts, **options):
    with app.app_context():
        return coach.create_assignment(school.pin_class, school.teacher, options.pop("title", "Homework"), parts,
                                       **options)


def quiz_form(student, quiz_id: str, index: int) -> dict:
    page = student.get(f"/learn/quiz/{quiz_id}/{index}").get_data(as_text=True)
    return dict(re.findall(r'<input type="hidden" name="(shown_at|attempt)" value="([^"]*)"', page))
