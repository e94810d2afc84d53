"""The practice pack (`test.practice`) many tests answer: one exercise with an item of each of the six
kinds (MIX), one with two tries (LIMITED), the form fields that answer each item right and wrong, and
the `pack` fixture that installs it; a module imports the fixture by name:
`from tests.practicepack import pack  # noqa: F401  (fixture)`.
"""
from __future__ import annotations

import json

import pytest

from classroom_server.domain.scoring import public_item
from tests.packs import install_signed

PACK = "test.practice"
MIX = "mix"
LIMITED = "limited"
SINGLE = {"id": "s1", "type": "single", "skills": ["x"],
          "prompt": {"kk": "Қай түс?", "ru": "Какой цвет?", "en": "Which colour is the sky?"},
          "choices": [{"id": "a", "text": {"en": "Green", "kk": "Жасыл"}},
                      {"id": "b", "text": {"en": "Blue", "kk": "Көк"}},
                      {"id": "c", "text": {"en": "Red", "kk": "Қызыл"}}],
          "answer": "b", "explanation": {"en": "SECRET-EXPLANATION the sky scatters blue light",
                                         "kk": "SECRET-EXPLANATION көк"},
          "hints": [{"en": "Look up on a clear day", "kk": "Жоғары қара"}, {"en": "Not green", "kk": "Жасыл емес"}]}
MULTIPLE = {"id": "m1", "type": "multiple", "skills": ["x"], "prompt": {"en": "Which are even?", "kk": "Жұп сандар?"},
            "choices": [{"id": "a", "text": {"en": "two"}}, {"id": "b", "text": {"en": "three"}},
                        {"id": "c", "text": {"en": "four"}}, {"id": "d", "text": {"en": "five"}}],
            "answer": ["a", "c"]}
NUMERIC = {"id": "n1", "type": "numeric", "skills": ["x"], "prompt": {"en": "Half as a decimal?", "kk": "Жарты?"},
           "answer": 0.5, "tolerance": 0}
TEXT = {"id": "t1", "type": "text", "skills": ["x"], "prompt": {"en": "Name the field", "kk": "Атау"},
        "accepted": {"en": ["machine learning"], "kk": ["машиналық оқыту"], "ru": ["машинное обучение"]}}
ORDERING = {"id": "o1", "type": "ordering", "skills": ["x"], "prompt": {"en": "Smallest first", "kk": "Кішіден"},
            "choices": [{"id": "a", "text": {"en": "ten"}}, {"id": "b", "text": {"en": "one"}},
                        {"id": "c", "text": {"en": "five"}}],
            "answer": ["b", "c", "a"]}
MATCHING = {"id": "p1", "type": "matching", "skills": ["x"],
            "prompt": {"en": "Match the numbers", "kk": "Сәйкестендір"},
            "pairs": [{"id": "p1", "left": {"en": "1"}, "right": {"en": "one"}},
                      {"id": "p2", "left": {"en": "2"}, "right": {"en": "two"}},
                      {"id": "p3", "left": {"en": "3"}, "right": {"en": "three"}}]}
ITEMS = [SINGLE, MULTIPLE, NUMERIC, TEXT, ORDERING, MATCHING]
LIMITED_ITEM = {"id": "only", "type": "single", "skills": ["x"], "prompt": {"en": "Pick yes", "kk": "Иә"},
                "choices": [{"id": "y", "text": {"en": "yes"}}, {"id": "n", "text": {"en": "no"}}], "answer": "y"}


def practice_source(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intro.html").write_text("<!doctype html><html lang='en'><title>Intro</title><p>Hi</p></html>")
    manifest = {
        "format_version": 1, "id": PACK, "version": "1.0.0", "title": {"en": "Practice pack", "kk": "Жаттығу"},
        "subject": "mathematics", "grades": [5], "languages": ["kk", "ru", "en"], "license": "CC-BY-4.0",
        "authors": ["Test"], "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [{"id": "topic", "kind": "topic", "title": {"en": "Topic"}, "children": [
            {"id": "intro", "kind": "lesson", "title": {"en": "Intro"}, "content": {"en": "intro.html"}},
            {"id": MIX, "kind": "exercise", "title": {"en": "All six kinds"}, "items": ITEMS},
            {"id": LIMITED, "kind": "exercise", "title": {"en": "Two tries"}, "attempts": 2,
             "items": [LIMITED_ITEM]},
        ]}],
    }
    (folder / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def pack(app, settings, tmp_path):
    with app.app_context():
        install_signed(practice_source(tmp_path / "src"), settings.data_dir)


def tokens(item: dict, field: str) -> dict[str, str]:
    """The opaque ids the page shows for ordering choices / matching rights, by English text."""
    return {entry["text"]: entry["id"] for entry in public_item(item, "en")[field]}


def right_and_wrong(item: dict) -> tuple[dict, dict]:
    """Form fields answering `item` right, and wrong."""
    kind = item["type"]
    if kind == "single":
        return {"answer": "b"}, {"answer": "a"}
    if kind == "multiple":
        return {"answer": ["a", "c"]}, {"answer": ["a", "b"]}
    if kind == "numeric":
        return {"answer": "0,5"}, {"answer": "0,6"}
    if kind == "text":
        return {"answer": "  Machine   Learning "}, {"answer": "deep learning"}
    if kind == "ordering":
        ids = tokens(item, "choices")
        right = {f"order-{ids['one']}": "1", f"order-{ids['five']}": "2", f"order-{ids['ten']}": "3"}
        wrong = {f"order-{ids['one']}": "3", f"order-{ids['five']}": "2", f"order-{ids['ten']}": "1"}
        return right, wrong
    ids = tokens(item, "right")
    right = {"match-p1": ids["one"], "match-p2": ids["two"], "match-p3": ids["three"]}
    wrong = {"match-p1": ids["two"], "match-p2": ids["one"], "match-p3": ids["three"]}
    return right, wrong


def answer_url(item_id: str, node: str = MIX) -> str:
    return f"/learn/practice/{PACK}/{node}/{item_id}"
