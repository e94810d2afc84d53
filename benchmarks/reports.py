"""Teachers' reports on a year of data: a class of 40 students with 100,000 learning records.

Run from the repository root:

    python benchmarks/reports.py [--students 40 --records 100000 --requests 100 --out docs/BENCHMARKS.md]

It makes the demo school in a temporary data folder (`classroom-server demo --no-serve`: the sample
packs and class 5А), gives 5А 40 students and a school year of assignments and quizzes, and writes a
year of their learning records with bulk inserts: lessons and chapters opened and read, practice
answers right and wrong on the sample packs' items (with plausible wrong answers), exercises
completed, quizzes answered and handed in (with their quiz_attempt rows). Then it starts the real
`classroom-server serve` on a free loopback port, signs the class's teacher in over HTTP, and times
each report page and export, one request at a time (a few warm-up requests first). Then it drops
the two indexes of migration 0007 and times the main reports again, to show what they buy. It
prints the tables and replaces its section of the report. It reports figures; it asserts none.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import random
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import (REPO, BenchmarkError, clean_env, console_script, http_session, machine_facts, markdown_table,
                     measured_on, percentile, replace_section, start_server, text_table, wait_until_quiet)
from load_home import make_demo

NAME = "reports"
CLASS_NAME = "5А"
TEACHER, PASSWORD = "aigul", "demo-pass-2026"
TARGET_P99_MS = 200.0
PACKS = ("kz.sample.math5-fractions", "kz.sample.science6-sound-light")
WORK_ASSIGNMENTS = 24
QUIZZES = 16
QUIZ_QUESTIONS = 6
# Measured a second time without the report indexes (migration 0007), fewer times.
WITHOUT_INDEXES = ("class overview", "item analysis, all year", "item analysis, last 30 days",
                   "engagement, last 30 days", "one student")
WITHOUT_RUNS = 20
EXTRA_NAMES = ["Әділет Сейітов", "Жанар Бекова", "Нұрлан Әлиев", "Ақбота Қасым", "Ерлан Жұмаш",
               "Сабина Мұқан", "Тимур Ермек", "Камила Әмір", "Даниял Серік", "Айым Нұрбек",
               "Олжас Қали", "Меруерт Оспан", "Рустем Асан", "Зарина Ким", "Алихан Бек",
               "Дильназ Тұрсын", "Мирас Әбіл", "Аяулым Ержан", "Ислам Сағат", "Әйгерім Болат"]


# --- the school year -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    pack_id: str
    node_id: str
    kind: str
    items: tuple[dict, ...]


@dataclass
class Student:
    id: int
    pseudonym: str
    language: str
    device: str
    ability: float  # the chance of a right answer, before an item's difficulty
    sequence: int = 0


class Year:
    """Makes the records of a school year in memory, then writes them in bulk."""

    def __init__(self, seed: int, class_id: int, students: list[Student], nodes: list[Node],
                 now: datetime.datetime):
        from classroom_server.domain import scoring
        self.scoring = scoring
        self.random = random.Random(seed)
        self.class_id = class_id
        self.students = students
        self.nodes = nodes
        self.exercises = [n for n in nodes if n.kind == "exercise"]
        self.now = now
        self.rows: list[dict] = []
        self.attempts: list[dict] = []
        self._answers: dict[tuple[str, str, str], list[tuple[str, bool, float, float]]] = {}
        self.difficulty = {(n.pack_id, n.node_id, item["id"]): self.random.uniform(-0.25, 0.1)
                           for n in self.exercises for item in n.items}
        # school days: weekdays of the last year, without the summer holidays
        first = (now - datetime.timedelta(days=364)).date()
        self.days = [day for day in (first + datetime.timedelta(days=n) for n in range(365))
                     if day.weekday() < 5 and day.month not in (6, 7, 8)]

    def moment(self, day: datetime.date, evening: bool = False) -> datetime.datetime:
        """A time in a school day (08:00-14:00 local, UTC+5) or in the evening's homework."""
        start = 12 if evening else 3
        when = datetime.datetime.combine(day, datetime.time(start)) + datetime.timedelta(
            seconds=self.random.randrange(6 * 3600 if not evening else 4 * 3600))
        return min(when, self.now - datetime.timedelta(minutes=1))

    def add(self, student: Student, when: datetime.datetime, verb: str, node: Node, **fields) -> None:
        student.sequence += 1
        row = {"uuid": str(uuid.UUID(int=self.random.getrandbits(128), version=4)), "device": student.device,
               "device_sequence": student.sequence, "created_at": when, "occurred_at": when, "user": student.id,
               "learner": student.pseudonym, "verb": verb, "pack_id": node.pack_id, "node_id": node.node_id,
               "node_kind": node.kind, "item_id": None, "language": student.language, "classroom": self.class_id,
               "assignment": None, "response": None, "correct": None, "score": None, "duration_ms": None,
               "progress": None, "attempt": None}
        row.update(fields)
        self.rows.append(row)

    def responses(self, node: Node, item: dict, language: str) -> list[tuple[str, bool, float, float]]:
        """(response text, right, score, weight): the right answer and a few plausible wrong ones."""
        key = (node.pack_id, node.node_id, item["id"])
        if key not in self._answers:
            found = []
            for weight, response in _candidates(item, language):
                try:
                    scored = self.scoring.score(item, response, language)
                except (self.scoring.ResponseError, ValueError, KeyError):
                    continue
                found.append((scored.response_text, scored.correct, scored.score, weight))
            self._answers[key] = found
        return self._answers[key]

    def answer(self, student: Student, when: datetime.datetime, node: Node, item: dict, progress: float,
               **fields) -> bool:
        chance = min(0.97, student.ability + self.difficulty[(node.pack_id, node.node_id, item["id"])]
                     + 0.15 * progress)
        options = self.responses(node, item, student.language)
        right = [o for o in options if o[1]]
        wrong = [o for o in options if not o[1]]
        if right and (not wrong or self.random.random() < chance):
            text, correct, score, _ = right[0]
        else:
            text, correct, score, _ = self.random.choices(wrong, weights=[o[3] for o in wrong])[0]
        self.add(student, when, "answered", node, item_id=item["id"], response=text, correct=correct,
                 score=score, duration_ms=self.random.randrange(6000, 120000), **fields)
        return correct

    def session(self, student: Student, day: datetime.date, node: Node, evening: bool = False,
                budget: int | None = None) -> None:
        """Open an exercise and answer some or all of its items; completed when all are answered."""
        when = self.moment(day, evening)
        progress = self.days.index(day) / len(self.days) if day in self.days else 0.5
        self.add(student, when, "opened", node)
        items = list(node.items)
        count = len(items) if self.random.random() < 0.6 else self.random.randrange(1, len(items) + 1)
        if budget is not None:
            count = max(0, min(count, budget - 1))
        right = 0
        for item in items[:count]:
            when += datetime.timedelta(seconds=self.random.randrange(10, 90))
            right += self.answer(student, when, node, item, progress)
        if count == len(items) and (budget is None or budget > count + 1):
            self.add(student, when + datetime.timedelta(seconds=5), "completed", node, score=right / len(items),
                     progress=1.0)

    def work(self, assignment_created: datetime.datetime, parts: list[Node]) -> None:
        """Students do assigned work in the days after it was given."""
        start = self.days.index(assignment_created.date()) if assignment_created.date() in self.days else 0
        for student in self.students:
            if self.random.random() > 0.88:
                continue
            day = self.days[min(len(self.days) - 1, start + self.random.randrange(0, 5))]
            for node in parts:
                if node.kind == "exercise":
                    self.session(student, day, node, evening=True)
                else:
                    when = self.moment(day, evening=True)
                    self.add(student, when, "opened", node)
                    if node.kind == "chapter" and self.random.random() < 0.8:
                        self.add(student, when + datetime.timedelta(minutes=7), "read", node, progress=1.0)

    def quiz(self, assignment_id: str, created: datetime.datetime, questions: list[tuple[Node, dict]]) -> None:
        start = self.days.index(created.date()) if created.date() in self.days else 0
        for student in self.students:
            if self.random.random() > 0.92:
                continue
            day = self.days[min(len(self.days) - 1, start + self.random.randrange(0, 3))]
            when = self.moment(day)
            progress = start / len(self.days)
            right = 0
            began = when
            for node, item in questions:
                when += datetime.timedelta(seconds=self.random.randrange(20, 120))
                right += self.answer(student, when, node, item, progress, assignment=assignment_id, attempt=1)
            score = right / len(questions)
            self.add(student, when + datetime.timedelta(seconds=3), "submitted",
                     Node("quiz", assignment_id, "exercise", ()), assignment=assignment_id, score=score,
                     progress=1.0, attempt=1)
            self.attempts.append({"assignment": assignment_id, "user": student.id, "number": 1, "started_at": began,
                                  "deadline": began + datetime.timedelta(minutes=20), "submitted_at": when,
                                  "right": right, "total": len(questions), "score": score})

    def practice(self, total: int) -> None:
        """Practice sessions on random school days (and evenings) until there are `total` records."""
        while len(self.rows) < total:
            student = self.random.choice(self.students)
            day = self.random.choice(self.days)
            self.session(student, day, self.random.choice(self.exercises), evening=self.random.random() < 0.4,
                         budget=total - len(self.rows))


def _candidates(item: dict, language: str) -> list[tuple[float, object]]:
    """Responses to try on an item: the right one first (weight unused), then wrong ones, weighted."""
    kind = item["type"]
    if kind == "single":
        others = [c["id"] for c in item["choices"] if c["id"] != item["answer"]]
        return [(1, item["answer"])] + [(3 if i == 0 else 1, key) for i, key in enumerate(others)]
    if kind == "multiple":
        answer = list(item["answer"])
        others = [c["id"] for c in item["choices"] if c["id"] not in answer]
        found = [(1, answer)]
        if len(answer) > 1:
            found.append((3, answer[:-1]))
        if others:
            found.append((2, answer + others[:1]))
            found.append((1, others[:1]))
        return found
    if kind == "numeric":
        value = item["answer"]
        return [(1, str(value).replace(".", ",")), (3, str(value * 10)), (2, str(value + 1)), (1, "0")]
    if kind == "text":
        accepted = item["accepted"].get(language) or next(iter(item["accepted"].values()))
        return [(1, accepted[0]), (3, accepted[0][:-1] or "?"), (1, "білмеймін" if language == "kk" else "не знаю")]
    if kind == "ordering":
        answer = list(item["answer"])
        return [(1, answer), (3, answer[::-1]), (2, answer[1:] + answer[:1])]
    if kind == "matching":
        ids = [p["id"] for p in item["pairs"]]
        rotated = ids[1:] + ids[:1]
        swapped = ids[:]
        if len(swapped) > 1:
            swapped[0], swapped[1] = swapped[1], swapped[0]
        return [(1, [[i, i] for i in ids]), (3, [[i, j] for i, j in zip(ids, swapped)]),
                (1, [[i, j] for i, j in zip(ids, rotated)])]
    return []


def make_year(data_dir: Path, students_wanted: int, records: int, seed: int) -> dict:
    """Fill class 5А of the demo school with students, a year of assignments and `records` records."""
    from classroom_server.accounts import services as accounts
    from classroom_server.coach import services as coach
    from classroom_server.db import database, open_database
    from classroom_server.models import (Classroom, ContentNode, ContentPack, Device, LearningRecord, Membership,
                                         QuizAttempt, User, utcnow)
    from classroom_server.settings import load_settings
    from peewee import fn

    settings = load_settings(data_dir, environ={})
    open_database(settings.effective_database_url)
    database.connect(reuse_if_open=True)
    database.execute_sql("PRAGMA synchronous=OFF")  # the benchmark's own bulk load; the server uses FULL
    rng = random.Random(seed)
    now = utcnow()
    room = Classroom.get(Classroom.name == CLASS_NAME)
    teacher = User.get(User.username == TEACHER)
    with database.atomic():
        have = accounts.class_students(room)
        for name in EXTRA_NAMES[:max(0, students_wanted - len(have))]:
            accounts.enrol(accounts.create_user(None, name, "student"), room)
    members = accounts.class_students(room)[:students_wanted]
    if len(members) < students_wanted:
        raise BenchmarkError(f"class {CLASS_NAME} has only {len(members)} students")
    students = [Student(s.id, s.pseudonym, "kk", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        rng.uniform(0.45, 0.9))
                for s in members]
    nodes = [Node(pack_id, node_id, kind, tuple(json.loads(data).get("items") or ()))
             for pack_id, node_id, kind, data in
             ContentNode.select(ContentPack.pack_id, ContentNode.node_id, ContentNode.kind, ContentNode.data)
             .join(ContentPack).where(ContentPack.pack_id.in_(PACKS)).order_by(ContentNode.id).tuples()]
    if not nodes:
        raise BenchmarkError(f"the demo school has none of the sample packs {PACKS}")
    year = Year(seed, room.id, students, nodes, now)
    by_kind = {kind: [n for n in nodes if n.kind == kind] for kind in ("lesson", "chapter", "exercise", "media")}

    started = time.perf_counter()
    count = {"work": 0, "quiz": 0}
    spacing = len(year.days) // (WORK_ASSIGNMENTS + QUIZZES)
    for index in range(WORK_ASSIGNMENTS + QUIZZES):
        day = year.days[index * spacing]
        created = datetime.datetime.combine(day, datetime.time(2))
        if index % 5 in (1, 3) and count["quiz"] < QUIZZES or count["work"] >= WORK_ASSIGNMENTS:
            exercise = rng.choice(by_kind["exercise"])
            items = rng.sample(list(exercise.items), min(QUIZ_QUESTIONS, len(exercise.items)))
            questions = [(exercise.pack_id, exercise.node_id, item["id"]) for item in items]
            assignment = coach.create_assignment(
                room, teacher, f"Тест {count['quiz'] + 1}", questions, kind="quiz",
                due_at=created + datetime.timedelta(days=7), time_limit_minutes=20, now=created)
            year.quiz(assignment.id, created, [(exercise, item) for item in items])
            count["quiz"] += 1
        else:
            parts = [rng.choice(by_kind["lesson"]), rng.choice(by_kind["chapter"]), rng.choice(by_kind["exercise"])]
            coach.create_assignment(room, teacher, f"Үй жұмысы {count['work'] + 1}",
                                    [(p.pack_id, p.node_id, None) for p in parts],
                                    due_at=created + datetime.timedelta(days=7), now=created)
            year.work(created, parts)
            count["work"] += 1
    # Media and lessons opened outside assignments, then practice up to the wanted number of records.
    for _ in range(records // 50):
        student, day = rng.choice(students), rng.choice(year.days)
        year.add(student, year.moment(day), "opened", rng.choice(by_kind["media"] + by_kind["lesson"]))
    year.practice(records)
    rows = year.rows[:records]
    made = time.perf_counter() - started

    started = time.perf_counter()
    fields = list(rows[0])
    # SQLite allows 32,766 variables per statement: a few hundred rows at a time.
    chunk = 32000 // len(fields)
    with database.atomic():
        Device.insert_many([{"id": s.device, "created_at": now, "last_sequence": s.sequence}
                            for s in students]).execute()
        for start in range(0, len(rows), chunk):
            LearningRecord.insert_many(rows[start:start + chunk]).execute()
        QuizAttempt.insert_many(year.attempts).execute()
    written = time.perf_counter() - started
    verbs = {verb: n for verb, n in LearningRecord.select(LearningRecord.verb, fn.COUNT(LearningRecord.seq))
             .where(LearningRecord.classroom == room.id).group_by(LearningRecord.verb).tuples()}
    facts = {"class_id": room.id, "students": len(students),
             "records": LearningRecord.select().where(LearningRecord.classroom == room.id).count(),
             "verbs": verbs, "work": count["work"], "quizzes": count["quiz"], "attempts": len(year.attempts),
             "members": Membership.select().where(Membership.classroom == room.id,
                                                  Membership.role == "student").count(),
             "student_id": students[0].id, "made_s": made, "written_s": written,
             "first_day": year.days[0].isoformat(), "last_day": year.days[-1].isoformat(),
             "school_days": len(year.days)}
    database.close()
    return facts


# --- the measurements -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    name: str
    path: str
    runs: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    bytes: int


def sign_in_teacher(client, base_url: str) -> None:
    page = client.get(base_url + "signin", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise BenchmarkError("no CSRF token on the sign-in page")
    answer = client.post(base_url + "signin/staff", data={"username": TEACHER, "password": PASSWORD,
                                                          "csrf_token": token.group(1)},
                         allow_redirects=False, timeout=60)
    if answer.status_code != 302:
        raise BenchmarkError(f"teacher sign-in answered {answer.status_code}")


def time_page(client, base_url: str, name: str, path: str, runs: int, warmup: int = 3,
              check: str | None = None) -> Timing:
    """GET `path` `warmup` times, then `runs` times one after another; each must answer 200."""
    times, size = [], 0
    for index in range(warmup + runs):
        started = time.perf_counter()
        response = client.get(base_url + path.lstrip("/"), timeout=600)
        body = response.content  # read it all: the time includes the whole body
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise BenchmarkError(f"GET {path}: {response.status_code}")
        if check is not None and check not in response.text:
            raise BenchmarkError(f"GET {path}: {check!r} is not in the page")
        size = len(body)
        if index >= warmup:
            times.append(elapsed)
    return Timing(name, path, runs, percentile(times, 50), percentile(times, 99), max(times), size)


def report_pages(facts: dict, runs: int) -> list[tuple[str, str, int, str | None]]:
    """(name, path, requests, a piece of markup the answer must hold) for each report and export."""
    class_id, student_id = facts["class_id"], facts["student_id"]
    base = f"/coach/class/{class_id}"
    # The teacher's pages are in her own language (Kazakh): the checks look for markup, not words.
    return [("class overview", f"{base}/report", runs, 'role="img"'),
            ("class overview, names for every assignment", f"{base}/report?all=1", runs, 'role="img"'),
            ("item analysis, all year", f"{base}/items", runs, "<table"),
            ("item analysis, last 30 days", f"{base}/items?days=30", runs, "<table"),
            ("engagement, last 30 days", f"{base}/engagement", runs, 'role="img"'),
            ("one student", f"{base}/student/{student_id}/report", runs, "<table"),
            ("printable class report", f"{base}/report/print", runs, 'role="img"'),
            ("gradebook CSV", f"{base}/gradebook.csv", runs, None),
            ("class page (with the report links)", f"/coach/class/{class_id}", runs, "gradebook.csv"),
            ("xAPI export of all the class's records", f"{base}/records.json", 3, '"statements"')]


def measure(data_dir: Path, pages: list[tuple[str, str, int, str | None]], threads: int) -> tuple[list[Timing], float]:
    argv = [console_script("classroom-server"), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
            "--port", "0", "--threads", str(threads)]
    with start_server(argv, env={**clean_env(), "LANG": "C.UTF-8"}) as server:
        with http_session() as client:
            sign_in_teacher(client, server.url)
            busy = wait_until_quiet(max_wait=60)
            timings = [time_page(client, server.url, name, path, count, warmup=1 if count < 10 else 3, check=check)
                       for name, path, count, check in pages]
    return timings, busy


def drop_report_indexes(data_dir: Path) -> None:
    """Take away the indexes of migration 0007, to show what they buy (the server is stopped)."""
    from peewee import SqliteDatabase
    from playhouse.migrate import SqliteMigrator, migrate

    from classroom_server.settings import load_settings
    report_indexes = importlib.import_module("classroom_server.migrations.0007_report_indexes")
    url = load_settings(data_dir, environ={}).effective_database_url
    db = SqliteDatabase(url[len("sqlite:///"):])
    migrator = SqliteMigrator(db)
    migrate(*(migrator.drop_index(report_indexes.TABLE, name)
              for name, _columns in (report_indexes.REPORT, report_indexes.ACTIVITY)))
    db.close()


# --- the report -------------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _size(value: int) -> str:
    return f"{value / 1024:,.0f} KiB" if value < 10 * 1024 ** 2 else f"{value / 1024 ** 2:,.1f} MiB"


def report(args: argparse.Namespace, facts: dict, timings: list[Timing], without: list[Timing], busy: float,
           loadavg: str) -> tuple[str, str]:
    header = ["report", "path", "requests", "p50", "p99", "max", "body"]
    rows = [[t.name, f"`{t.path}`", t.runs, _ms(t.p50_ms), _ms(t.p99_ms), _ms(t.max_ms), _size(t.bytes)]
            for t in timings]
    with_index = {t.name: t for t in timings}
    without_header = ["report", "p50 with the indexes", "p50 without", "p99 without", "requests without"]
    without_rows = [[t.name, _ms(with_index[t.name].p50_ms), _ms(t.p50_ms), _ms(t.p99_ms), t.runs]
                    for t in without]
    targeted = [t for t in timings if t.name in ("class overview", "item analysis, all year")]
    target_header = ["target", "measured", "met"]
    target_rows = [[f"{t.name} p99 < {TARGET_P99_MS:.0f} ms", _ms(t.p99_ms),
                    "yes" if t.p99_ms < TARGET_P99_MS else "**no**"] for t in targeted]
    verbs = ", ".join(f"{verb} {n:,}" for verb, n in sorted(facts["verbs"].items(), key=lambda kv: -kv[1]))
    facts_line = (f"{facts['students']} students, {facts['records']:,} learning records ({verbs}), "
                  f"{facts['work']} assignments and {facts['quizzes']} quizzes ({facts['attempts']:,} quiz "
                  f"attempts handed in) over {facts['school_days']} school days from {facts['first_day']} to "
                  f"{facts['last_day']}")
    machine = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    console = "\n\n".join([f"reports: {facts_line}; made in {facts['made_s']:.1f} s, written in "
                           f"{facts['written_s']:.1f} s",
                           text_table(header, [[str(c).replace("`", "") for c in r] for r in rows]),
                           text_table(without_header, without_rows),
                           text_table(target_header, [[str(c).replace("**", "") for c in r] for r in target_rows])])
    markdown = "\n".join([
        "## Teachers' reports on a year of data (`benchmarks/reports.py`)",
        "",
        f"How to run: `python benchmarks/reports.py [--students {args.students} --records {args.records} "
        f"--requests {args.requests} --out docs/BENCHMARKS.md]`.",
        "",
        measured_on(when, machine, memory=True)
        + f" (load average before the run: {loadavg}; the rest of the machine used "
        f"{busy:.0f} % of a core just before the requests): the demo school's class {CLASS_NAME} with "
        f"{facts_line}, written with bulk inserts (seed {args.seed}). `classroom-server serve --threads "
        f"{args.threads}` on SQLite, the class's teacher signed in over HTTP; each report requested one at a "
        f"time, {args.requests} times after 3 warm-up requests (the xAPI export 3 times after one), the "
        "time is until the last byte of the body. No `ANALYZE` was run: SQLite plans with the schema's "
        "indexes alone, as on a school's server.",
        "",
        markdown_table(header, rows),
        "",
        markdown_table(target_header, target_rows),
        "",
        "The same server and data without the two indexes of migration `0007_report_indexes` (dropped "
        f"after the run above; {WITHOUT_RUNS} requests each):",
        "",
        markdown_table(without_header, without_rows),
    ])
    return console, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="students in the class")
    parser.add_argument("--records", type=int, default=100_000, help="learning records of the class")
    parser.add_argument("--requests", type=int, default=100, help="requests per report (p99 of 50 is their maximum)")
    parser.add_argument("--threads", type=int, default=8, help="worker threads of the server")
    parser.add_argument("--seed", type=int, default=5, help="random seed of the generated year")
    parser.add_argument("--keep", type=Path,
                        help="make the school in this new folder and keep it (without the report indexes)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md",
                        help="the report whose reports section is replaced")
    args = parser.parse_args(argv)
    if min(args.students, args.records, args.requests) < 1 or args.students > 40:
        parser.error("--students from 1 to 40; --records and --requests at least 1")
    loadavg = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    try:
        with tempfile.TemporaryDirectory(prefix="reports-") as folder:
            data_dir = args.keep or Path(folder) / "school"
            print("making the demo school ...", file=sys.stderr)
            make_demo(data_dir)
            print(f"writing a year of records: {args.students} students, {args.records:,} records ...",
                  file=sys.stderr)
            facts = make_year(data_dir, args.students, args.records, args.seed)
            print(f"timing the reports, {args.requests} requests each ...", file=sys.stderr)
            timings, busy = measure(data_dir, report_pages(facts, args.requests), args.threads)
            print("again without the indexes of migration 0007 ...", file=sys.stderr)
            drop_report_indexes(data_dir)
            without, _busy = measure(data_dir, [page[:2] + (WITHOUT_RUNS,) + page[3:]
                                                for page in report_pages(facts, args.requests)
                                                if page[0] in WITHOUT_INDEXES], args.threads)
    except BenchmarkError as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reports: interrupted; server stopped", file=sys.stderr)
        return 130
    console, markdown = report(args, facts, timings, without, busy, loadavg)
    print(console)
    replace_section(args.out, NAME, markdown)
    print(f"\nwrote the {NAME} section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
