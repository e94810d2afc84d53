"""Synthetic activity for tests and benchmarks: a class of students working through the installed
packs, written as learning records through the same service the learn views use.

Each student opens lessons, media and e-textbook chapters, and does exercises: answers right and
wrong (wrong answers are tried again), with realistic durations, and a `completed` record when an
exercise is done. Times are spread over the last `days` school days, 08:00-15:00 UTC.

Records go through `learn.records.record` one by one, so they get the real sequence numbers,
device numbering and durability; only the transactions are batched (many records per commit
instead of one fsync per record), which is what makes a school-day of records take seconds.
"""
from __future__ import annotations

import datetime
import json
import random
from dataclasses import dataclass
from typing import Callable

from .accounts import services as accounts
from .db import database, is_sqlite
from .domain import scoring
from .learn.records import Interaction, new_device_id, record
from .models import Classroom, ContentNode, ContentPack, Membership, User

BATCH = 1000  # records per transaction
FIRST_NAMES = ["Айгерім", "Нұрсұлтан", "Дана", "Ерасыл", "Әсел", "Бауыржан", "Жансая", "Арман", "Анна", "Иван",
               "Мария", "Дмитрий", "Мөлдір", "Ілияс", "Аружан", "Дәулет", "София", "Максим", "Томирис", "Санжар"]


class SimulationError(Exception):
    """Nothing to simulate on (no exercises installed) or a bad request; the message says what to do."""


@dataclass(frozen=True)
class SimulationResult:
    classroom: str
    students: int
    students_created: int
    records: int
    first_seq: int | None
    last_seq: int | None


@dataclass(frozen=True)
class _Node:
    pack_id: str
    node_id: str
    kind: str
    languages: tuple[str, ...]
    items: tuple[dict, ...] = ()


def _library() -> tuple[list[_Node], list[_Node]]:
    """(exercises with items, other openable nodes) of the installed packs."""
    exercises, others = [], []
    rows = (ContentNode.select(ContentNode.node_id, ContentNode.kind, ContentNode.data, ContentPack.pack_id,
                               ContentPack.languages)
            .join(ContentPack).order_by(ContentPack.pack_id, ContentNode.position).objects())
    for row in rows:
        languages = tuple(lang for lang in json.loads(row.languages) if lang in ("kk", "ru", "en")) or ("kk",)
        if row.kind == "exercise":
            items = tuple(json.loads(row.data).get("items") or ())
            if items:
                exercises.append(_Node(row.pack_id, row.node_id, row.kind, languages, items))
        elif row.kind in ("lesson", "media", "chapter", "ebook"):
            others.append(_Node(row.pack_id, row.node_id, row.kind, languages))
    return exercises, others


def _response(item: dict, right: bool, rng: random.Random, language: str) -> object:
    """A response a student might give: the right one, or a plausible wrong one."""
    kind = item["type"]
    if kind == "single":
        ids = [c["id"] for c in item["choices"]]
        wrong = [i for i in ids if i != item["answer"]]
        return item["answer"] if right or not wrong else rng.choice(wrong)
    if kind == "multiple":
        answer = list(item["answer"])
        if right:
            return answer
        others = [c["id"] for c in item["choices"] if c["id"] not in answer]
        return answer[:-1] + others[:1] if others or len(answer) > 1 else answer
    if kind == "numeric":
        value = item["answer"]
        return str(value) if right else str(value + 1 + abs(item.get("tolerance", 0)) * 2)
    if kind == "text":
        accepted = item["accepted"].get(language) or next(iter(item["accepted"].values()))
        return accepted[0] if right else rng.choice(["не знаю", "білмеймін", "?", "x"])
    if kind == "ordering":
        answer = list(item["answer"])
        return answer if right else answer[1:] + answer[:1]
    if kind == "matching":
        ids = [p["id"] for p in item["pairs"]]
        rights = ids if right else ids[1:] + ids[:1]
        return [[left, right_id] for left, right_id in zip(ids, rights)]
    raise SimulationError(f"unknown item type {kind!r}")


def _student_events(student: User, classroom_id: int, records: int, exercises: list[_Node],
                    others: list[_Node], days: int, rng: random.Random, now: datetime.datetime) -> list[tuple]:
    """`records` (time, student, interaction) for one student, in the order they happen."""
    skill = rng.uniform(0.45, 0.9)  # chance of a right first answer
    language = rng.choices(["kk", "ru", "en"], [70, 28, 2])[0]
    day = now.replace(hour=8, minute=0, second=0, microsecond=0) - datetime.timedelta(days=days)
    day_index, per_day = 0, -(-records // days)
    when = day + datetime.timedelta(minutes=rng.uniform(0, 60))
    events: list[tuple] = []

    def add(interaction: Interaction, seconds: float) -> None:
        nonlocal when
        when += datetime.timedelta(seconds=seconds)
        events.append((when, student, interaction))

    def lang(node: _Node) -> str:
        return language if language in node.languages else node.languages[0]

    while len(events) < records:
        if rng.random() < 0.25 and others:
            node = rng.choice(others)
            add(Interaction("opened", node.pack_id, node.node_id, node.kind, lang(node),
                                     classroom=classroom_id), rng.uniform(5, 60))
            if node.kind == "chapter":
                add(Interaction("read", node.pack_id, node.node_id, node.kind, lang(node),
                                         classroom=classroom_id, progress=1.0), rng.uniform(120, 600))
            elif node.kind in ("media", "lesson"):
                add(Interaction("completed", node.pack_id, node.node_id, node.kind, lang(node),
                                         classroom=classroom_id, progress=1.0), rng.uniform(60, 400))
            continue
        ex = rng.choice(exercises)
        add(Interaction("opened", ex.pack_id, ex.node_id, "exercise", lang(ex),
                                 classroom=classroom_id), rng.uniform(5, 40))
        right_items = 0
        for item in ex.items:
            for attempt in (1, 2, 3):
                right = rng.random() < (skill if attempt == 1 else 0.6)
                scored = scoring.score(item, _response(item, right, rng, lang(ex)), lang(ex))
                duration = int(rng.lognormvariate(9.8, 0.6))  # ~18 s, a long tail
                add(Interaction("answered", ex.pack_id, ex.node_id, "exercise", lang(ex),
                                         item_id=item["id"], classroom=classroom_id,
                                         response=scored.response_text, correct=scored.correct,
                                         score=scored.score, duration_ms=duration, attempt=attempt),
                    duration / 1000 + rng.uniform(1, 8))
                if scored.correct:
                    right_items += 1
                    break
                if rng.random() < 0.4:  # gives up on this item
                    break
            if len(events) >= records:
                break
        else:
            add(Interaction("completed", ex.pack_id, ex.node_id, "exercise", lang(ex),
                                     classroom=classroom_id, score=right_items / len(ex.items), progress=1.0),
                1)
        if when.hour >= 15 or len(events) >= per_day * (day_index + 1):  # the next school day
            day_index += 1
            day += datetime.timedelta(days=1)
            when = day + datetime.timedelta(minutes=rng.uniform(0, 60))
    return events[:records]


def _students(class_name: str, count: int) -> tuple[Classroom, list[User], int]:
    classroom = Classroom.get_or_none(Classroom.name == class_name)
    if classroom is None:
        classroom = accounts.create_classroom(class_name, 5, "name")
    students = list(User.select().join(Membership, on=(Membership.user == User.id))
                    .where(Membership.classroom == classroom.id, User.role == "student")
                    .order_by(User.id).limit(count))
    created = 0
    with database.atomic():
        while len(students) < count:
            number = len(students) + 1
            name = f"{FIRST_NAMES[number % len(FIRST_NAMES)]} {class_name}-{number:04d}"
            student = accounts.create_user(None, name, "student")
            accounts.enrol(student, classroom)
            students.append(student)
            created += 1
    return classroom, students, created


def simulate(students: int, records: int, days: int = 1, class_name: str = "Simulated",
             seed: int | None = None, progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Make (or reuse) a class of `students` and write `records` learning records for each."""
    if students < 1 or records < 1 or days < 1:
        raise SimulationError("students, records and days must each be at least 1")
    exercises, others = _library()
    if not exercises:
        raise SimulationError("no exercises are installed: import packs first (`classroom-server pack import` "
                              "or `classroom-server demo --no-serve` for the sample packs)")
    rng = random.Random(seed)
    classroom, members, created = _students(class_name, students)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    events = []
    for student in members:
        events += _student_events(student, classroom.id, records, exercises, others, days, rng, now)
    events.sort(key=lambda event: event[0])  # the school's order: by when it happened
    devices = {student.id: new_device_id() for student in members}
    first = last = None
    for start in range(0, len(events), BATCH):
        # One commit per BATCH records (each record() is a savepoint inside it): the same inserts,
        # without an fsync per record.
        with database.atomic(lock_type="IMMEDIATE") if is_sqlite() else database.atomic():
            for when, student, interaction in events[start:start + BATCH]:
                row, _ = record(student, devices[student.id], interaction, occurred_at=min(when, now))
                first = row.seq if first is None else first
                last = row.seq
        if progress:
            progress(min(BATCH, len(events) - start))
    return SimulationResult(classroom.name, len(members), created, len(events), first, last)
