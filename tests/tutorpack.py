"""The tutor's pack (`test.tutor`): fraction exercises whose items carry skills and difficulties, and
two untagged ones, installed by the `tutor_pack` fixture; a module imports it by name:
`from tests.tutorpack import tutor_pack  # noqa: F401  (fixture)`.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.packs import install_signed

PACK = "test.tutor"


def single_item(item_id: str, skills, difficulty=None, answer="a") -> dict:
    item = {"id": item_id, "type": "single", "prompt": {"en": f"Question {item_id}?", "kk": f"Сұрақ {item_id}?"},
            "choices": [{"id": "a", "text": {"en": "Alpha"}}, {"id": "b", "text": {"en": "Beta"}}],
            "answer": answer, "explanation": {"en": f"SECRET-{item_id}"}}
    if skills is not None:
        item["skills"] = skills
    if difficulty is not None:
        item["difficulty"] = difficulty
    return item


COMPARE = [single_item(f"c{i}", ["fractions.compare"], difficulty=i - 2) for i in range(5)]
ADD = [single_item(f"a{i}", ["fractions.add"]) for i in range(4)]
BOTH = [single_item("both", ["fractions.add", "fractions.compare"], difficulty=1)]
UNTAGGED = [single_item("loose1", ["misc.placeholder"]), single_item("loose2", ["misc.placeholder"])]


def tutor_source(folder, skills=None):
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": 1, "id": PACK, "version": "1.0.0", "title": {"en": "Tutor pack", "kk": "Жаттығу"},
        "subject": "mathematics", "grades": [5], "languages": ["kk", "en"], "license": "CC-BY-4.0",
        "authors": ["Test"], "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [
            {"id": "fractions", "kind": "topic", "title": {"en": "Fractions", "kk": "Бөлшектер"}, "children": [
                {"id": "ex.compare", "kind": "exercise", "title": {"en": "Comparing"}, "items": COMPARE + BOTH},
                {"id": "ex.add", "kind": "exercise", "title": {"en": "Adding"}, "items": ADD},
            ]},
            {"id": "misc", "kind": "exercise", "title": {"en": "Odds and ends"}, "items": UNTAGGED},
        ],
    }
    if skills is not None:
        manifest["skills"] = skills
    (folder / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return folder


def install_tutor_pack(app, settings, tmp_path, skills=None):
    with app.app_context():
        install_signed(tutor_source(tmp_path / "tutor-src", skills), settings.data_dir)
        strip_skills()


@pytest.fixture
def tutor_pack(app, settings, tmp_path):
    """The tutor pack without skill titles: pages show the tags."""
    install_tutor_pack(app, settings, tmp_path)


def strip_skills():
    """Items with no skill: packs must tag every item, but rows installed by older versions, or edited
    by hand, may not. Take the tags off the `misc` items (and mark the pack as another version)."""
    from classroom_server.models import ContentNode, ContentPack
    pack = ContentPack.get(ContentPack.pack_id == PACK)
    node = ContentNode.get(ContentNode.pack == pack, ContentNode.node_id == "misc")
    data = json.loads(node.data)
    for item in data["items"]:
        item.pop("skills")
    ContentNode.update(data=json.dumps(data)).where(ContentNode.id == node.id).execute()
    ContentPack.update(manifest_sha256=hashlib.sha256(b"untagged" + pack.manifest_sha256.encode()).hexdigest()) \
        .where(ContentPack.id == pack.id).execute()
