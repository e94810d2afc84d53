"""What a teacher picks when assigning: the library as a tree to tick, quiz items by hand or drawn
by skill and difficulty, and their own quiz questions written in a simple form."""
from __future__ import annotations

import datetime
import json
import random
import re
import secrets
from dataclasses import dataclass

import pytz
from flask import current_app

from content_packs.manifest import InvalidPack, check_item
from ..i18n import Problem, localized
from ..models import ContentNode, ContentPack

#: node kinds a teacher can give as work (a topic is given by ticking what is in it)
WORK_KINDS = ("lesson", "ebook", "chapter", "media", "exercise")
MAX_DRAW = 50


class PickError(Problem):
    """What the teacher ticked or wrote cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Entry:
    """One line of the picker: a node (with its depth in the tree), or one item of an exercise."""
    pack_id: str
    node_id: str
    item_id: str | None
    kind: str
    title: str
    depth: int
    skills: tuple[str, ...] = ()
    difficulty: float = 0.0

    @property
    def value(self) -> str:
        return "|".join(part for part in (self.pack_id, self.node_id, self.item_id) if part is not None)

    @property
    def pickable(self) -> bool:
        return self.item_id is not None or self.kind in WORK_KINDS


@dataclass(frozen=True)
class PackTree:
    pack: ContentPack
    entries: list[Entry]


def library(for_quiz: bool, only: set[tuple[str, str]] | None = None) -> list[PackTree]:
    """Every installed pack as a tree to tick: nodes for work, exercise items for a quiz.
    `only`: keep just these (pack id, node id) and what leads to them (a search's hits)."""
    trees = []
    for pack in ContentPack.select().order_by(ContentPack.subject, ContentPack.pack_id):
        nodes = list(ContentNode.select().where(ContentNode.pack == pack).order_by(ContentNode.position))
        children: dict[str | None, list[ContentNode]] = {}
        for node in nodes:
            children.setdefault(node.parent_id, []).append(node)
        entries: list[Entry] = []

        def walk(parent: str | None, depth: int) -> None:
            for node in children.get(parent, []):
                if for_quiz and node.kind not in ("topic", "exercise") and not children.get(node.node_id):
                    continue
                keep = only is None or (pack.pack_id, node.node_id) in only
                start = len(entries)
                entries.append(Entry(pack.pack_id, node.node_id, None, node.kind, localized(json.loads(node.title)),
                                     depth))
                if for_quiz and node.kind == "exercise" and keep:
                    for item in json.loads(node.data).get("items") or []:
                        entries.append(Entry(pack.pack_id, node.node_id, item["id"], item["type"],
                                             localized(item.get("prompt")), depth + 1,
                                             tuple(item.get("skills") or ()), float(item.get("difficulty", 0))))
                walk(node.node_id, depth + 1)
                if not keep and len(entries) == start + 1:
                    entries.pop()  # neither it nor anything under it was asked for
        walk(None, 0)
        if entries:
            trees.append(PackTree(pack, entries))
    return trees


def parse_parts(values: list[str], for_quiz: bool) -> list[tuple[str, str, str | None]]:
    """The ticked boxes ("pack|node" or "pack|node|item") as parts, checked against the library."""
    parts: list[tuple[str, str, str | None]] = []
    for value in values:
        pieces = value.split("|")
        if len(pieces) not in (2, 3) or (for_quiz and len(pieces) != 3):
            raise PickError("something ticked is not in the library any more: reload the page")
        pack_id, node_id, item_id = pieces[0], pieces[1], pieces[2] if len(pieces) == 3 else None
        node = (ContentNode.select(ContentNode.kind, ContentNode.data).join(ContentPack)
                .where(ContentPack.pack_id == pack_id, ContentNode.node_id == node_id).first())
        if node is None or (item_id is None and node.kind not in WORK_KINDS) or (
                item_id is not None and item_id not in {i["id"] for i in json.loads(node.data).get("items") or []}):
            raise PickError("something ticked is not in the library any more: reload the page")
        if (pack_id, node_id, item_id) not in parts:
            parts.append((pack_id, node_id, item_id))
    return parts


def skills() -> list[str]:
    """Every skill tag the installed exercises use, for the "draw by skill" choice."""
    found: set[str] = set()
    for (data,) in ContentNode.select(ContentNode.data).where(ContentNode.kind == "exercise").tuples():
        for item in json.loads(data).get("items") or []:
            found.update(item.get("skills") or ())
    return sorted(found)


def draw(skill: str, count: int, easiest: float = -4, hardest: float = 4,
         rng: random.Random | None = None) -> list[tuple[str, str, str]]:
    """`count` items of this skill within the difficulty range, chosen at random."""
    if not 1 <= count <= MAX_DRAW:
        raise PickError("draw from 1 to %(count)d questions", count=MAX_DRAW)
    if easiest > hardest:
        raise PickError("the easiest difficulty is above the hardest")
    pool = []
    for pack_id, node_id, data in (ContentNode.select(ContentPack.pack_id, ContentNode.node_id, ContentNode.data)
                                   .join(ContentPack).where(ContentNode.kind == "exercise").tuples()):
        for item in json.loads(data).get("items") or []:
            if skill in (item.get("skills") or ()) and easiest <= float(item.get("difficulty", 0)) <= hardest:
                pool.append((pack_id, node_id, item["id"]))
    if len(pool) < count:
        raise PickError("only %(found)d questions have skill %(skill)s at that difficulty", found=len(pool),
                        skill=skill)
    return sorted((rng or random.SystemRandom()).sample(sorted(pool), count))


def own_item(form, language: str) -> dict:
    """A teacher's own question from the form: checked by the same rules as pack items.

    Lines: choices one per line with * before the right ones (single, multiple); accepted answers
    (text); the lines in the right order (ordering); "left = right" (matching)."""
    kind = form.get("type", "")
    prompt = form.get("prompt", "").strip()
    lines = [line.strip() for line in form.get("lines", "").splitlines() if line.strip()]
    skill = form.get("skill", "").strip().lower() or "own"
    item: dict = {"id": "own-" + secrets.token_hex(4), "type": kind, "prompt": {language: prompt},
                  "skills": [skill]}
    explanation = form.get("explanation", "").strip()
    if explanation:
        item["explanation"] = {language: explanation}
    if kind in ("single", "multiple", "ordering"):
        choices = [{"id": f"c{index}", "text": {language: line.lstrip("*").strip()}}
                   for index, line in enumerate(lines, start=1)]
        item["choices"] = choices
        right = [choice["id"] for choice, line in zip(choices, lines) if line.startswith("*")]
        if kind == "single":
            if len(right) != 1:
                raise PickError("mark exactly one right choice with * at the start of its line")
            item["answer"] = right[0]
        elif kind == "multiple":
            if not right:
                raise PickError("mark the right choices with * at the start of their lines")
            item["answer"] = right
        else:
            item["answer"] = [choice["id"] for choice in choices]
    elif kind == "text":
        item["accepted"] = {language: lines}
    elif kind == "matching":
        pairs = [re.split(r"\s*=\s*", line, maxsplit=1) for line in lines]
        if any(len(pair) != 2 or not all(pair) for pair in pairs):
            raise PickError("write each pair on its own line as: left = right")
        item["pairs"] = [{"id": f"p{index}", "left": {language: left}, "right": {language: right}}
                         for index, (left, right) in enumerate(pairs, start=1)]
    elif kind == "numeric":
        try:
            item["answer"] = float(form.get("answer", "").replace(",", ".").strip())
            item["tolerance"] = float((form.get("tolerance") or "0").replace(",", ".").strip())
        except ValueError:
            raise PickError("the answer and the tolerance are numbers, such as 0.5") from None
    try:
        check_item(item)
    except InvalidPack as exc:
        raise PickError("%(problem)s", problem=exc) from None
    return item


def school_time(value: str | None) -> datetime.datetime | None:
    """A date and time the teacher typed (in the school's time zone) as naive UTC; None if empty."""
    if not value or not value.strip():
        return None
    try:
        local = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise PickError("write dates as YYYY-MM-DD HH:MM") from None
    zone = pytz.timezone(current_app.config["CLASSROOM_SETTINGS"].i18n_timezone)
    if local.tzinfo is None:
        local = zone.localize(local)
    return local.astimezone(pytz.utc).replace(tzinfo=None)


def local_input(value: datetime.datetime | None) -> str:
    """A stored UTC time as a datetime-local input's value in the school's time zone."""
    if value is None:
        return ""
    zone = pytz.timezone(current_app.config["CLASSROOM_SETTINGS"].i18n_timezone)
    return pytz.utc.localize(value).astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def part_titles(rows) -> dict[int, tuple[str, str]]:
    """assignment_item id -> (what it is, its title or question) for the teacher's list."""
    wanted = {(row.pack_id, row.node_id) for row in rows if not row.item_data}
    nodes = {}
    if wanted:
        for pack_id, node_id, kind, title, data in (
                ContentNode.select(ContentPack.pack_id, ContentNode.node_id, ContentNode.kind, ContentNode.title,
                                   ContentNode.data).join(ContentPack)
                .where(ContentNode.node_id.in_({node_id for _, node_id in wanted})).tuples()):
            if (pack_id, node_id) in wanted:
                nodes[(pack_id, node_id)] = (kind, title, data)
    found = {}
    for row in rows:
        if row.item_data:
            item = json.loads(row.item_data)
            found[row.id] = ("own", localized(item.get("prompt")))
            continue
        node = nodes.get((row.pack_id, row.node_id))
        if node is None:
            found[row.id] = ("missing", f"{row.pack_id}/{row.node_id}")
        elif row.item_id is None:
            found[row.id] = (node[0], localized(json.loads(node[1])))
        else:
            item = next((i for i in json.loads(node[2]).get("items") or [] if i["id"] == row.item_id), None)
            found[row.id] = ("item", f"{localized(json.loads(node[1]))}: {localized(item.get('prompt'))}"
                             if item else f"{row.node_id}/{row.item_id}")
    return found


def tomorrow_input(now: datetime.datetime | None = None) -> str:
    """Tomorrow at 23:59 in the school's time zone, as a datetime-local value (the "Tomorrow" button)."""
    zone = pytz.timezone(current_app.config["CLASSROOM_SETTINGS"].i18n_timezone)
    today = pytz.utc.localize(now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)).astimezone(zone)
    return (today.date() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT23:59")
