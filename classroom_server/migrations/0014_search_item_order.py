"""Search text of exercises made again with each item's choices and pair halves in a random order:
in the pack's order a search snippet showed an ordering item's right order, or which halves of a
matching item go together. Nodes with pages of their own (whose text is in the blob store, not
here) are left for their pack's next install."""
from __future__ import annotations

import json
import random

from peewee import SqliteDatabase

_SHUFFLE = random.SystemRandom()


def _texts(data: dict) -> dict[str, str]:
    """The searchable text of a node without pages, per language (as content.services made it then)."""
    texts: dict[str, list[str]] = {}
    for field in ("description", "transcript"):
        for language, text in (data.get(field) or {}).items():
            texts.setdefault(language, []).append(text)
    for item in data.get("items", []):
        for language, text in (item.get("prompt") or {}).items():
            texts.setdefault(language, []).append(text)
        parts: dict[str, list[str]] = {}
        for part in [c.get("text") for c in item.get("choices", [])] + \
                [half for p in item.get("pairs", []) for half in (p.get("left"), p.get("right"))]:
            for language, text in (part or {}).items():
                parts.setdefault(language, []).append(text)
        for language, found in parts.items():
            _SHUFFLE.shuffle(found)
            texts.setdefault(language, []).extend(found)
    return {language: " ".join(parts) for language, parts in texts.items()}


def up(db):
    marker = "?" if isinstance(db, SqliteDatabase) else "%s"
    rows = db.execute_sql("SELECT p.pack_id, n.node_id, n.data FROM content_node n "
                          "JOIN content_pack p ON p.id = n.pack_id WHERE n.kind = 'exercise'").fetchall()
    for pack_id, node_id, raw in rows:
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if data.get("content") or not data.get("items"):
            continue
        texts = _texts(data)
        languages = [language for (language,) in db.execute_sql(
            f"SELECT language FROM content_search WHERE pack_id = {marker} AND node_id = {marker}",
            (pack_id, node_id)).fetchall()]
        for language in languages:
            db.execute_sql(f"UPDATE content_search SET body = {marker} WHERE pack_id = {marker} AND node_id = {marker} "
                           f"AND language = {marker}", (texts.get(language, ""), pack_id, node_id, language))
