"""Reports on one class for its teacher: derived from the learning records of the students now in the
class (and from quiz attempts for quiz scores). Nothing here is stored.

A student's progress on assigned work follows learn.assignments: a part is done once the student's
own records since the work was assigned carry one of `DONE_VERBS` for its kind; a quiz once handed
in. Times are stored in UTC; days are the school's days (the time zone the views pass in).
"""
from __future__ import annotations

import csv
import datetime
import io
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import quote

from peewee import Case, fn

from ..accounts.services import class_students
from ..domain import scoring
from ..domain.statements import InvalidRecord
from ..i18n import localized
from ..learn.assignments import DONE_VERBS, installed_nodes
from ..learn import tutor
from ..learn.quizzes import QUIZ_PACK
from ..learn.records import statement_for
from ..models import (Assignment, AssignmentItem, AssignmentStudent, Classroom, ContentNode, ContentPack,
                      LearningRecord, QuizAttempt, SyncState, User, utcnow)

log = logging.getLogger(__name__)

NOT_STARTED, IN_PROGRESS, DONE = "not_started", "in_progress", "done"
STATUSES = (NOT_STARTED, IN_PROGRESS, DONE)

#: mastery of a skill, one figure on every page (the heatmap, the student's report): the tutor's
#: estimate of the chance the student has mastered it (learn.tutor), in bins, best first:
#: (lowest percent, fill, state)
MASTERY_BINS = ((95, "#1e6b34", "mastered"), (70, "#6fbf73", "nearly"), (40, "#f2c14e", "learning"),
                (0, "#d9534f", "needs_practice"))

ENGAGEMENT_DAYS = 30
TIMELINE_RECORDS = 200
TOP_WRONG_RESPONSES = 3
ITEM_PERIODS = (7, 30, 90)  # days an item analysis may be limited to (else: all records)


def _students(classroom: Classroom) -> list[User]:
    return class_students(classroom)


def _local_day(moment: datetime.datetime, tz: datetime.tzinfo) -> datetime.date:
    return moment.replace(tzinfo=datetime.timezone.utc).astimezone(tz).date()


def _day_start_utc(day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    """The UTC moment (naive, as stored) at which this school day starts."""
    midnight = datetime.datetime.combine(day, datetime.time())
    # pytz zones (Babel's) must localize; zoneinfo zones are simply attached.
    start = tz.localize(midnight) if hasattr(tz, "localize") else midnight.replace(tzinfo=tz)
    return start.astimezone(datetime.timezone.utc).replace(tzinfo=None)


# --- the class overview ------------------------------------------------------------------------

@dataclass(frozen=True)
class StudentProgress:
    student: User
    status: str
    done: int
    total: int
    score: float | None  # quiz: the best go handed in; work: the mean of its exercises' best results


@dataclass(frozen=True)
class AssignmentReport:
    assignment: Assignment
    progress: list[StudentProgress]  # the students it is for, by name
    _by_student: dict[int, StudentProgress] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_student", {p.student.id: p for p in self.progress})

    @property
    def is_quiz(self) -> bool:
        return self.assignment.kind == "quiz"

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(p.status for p in self.progress)
        return {status: found.get(status, 0) for status in STATUSES}

    def who(self, status: str) -> list[StudentProgress]:
        return [p for p in self.progress if p.status == status]

    @property
    def average(self) -> float | None:
        scores = [p.score for p in self.progress if p.score is not None]
        return sum(scores) / len(scores) if scores else None

    def of(self, student: User) -> StudentProgress | None:
        return self._by_student.get(student.id)


@dataclass(frozen=True)
class Overview:
    classroom: Classroom
    students: list[User]
    assignments: list[AssignmentReport]

    def student_summary(self, student: User) -> tuple[int, int, float | None]:
        """(assignments done, assignments for this student, mean score over those with a score)."""
        mine = [a.of(student) for a in self.assignments]
        mine = [p for p in mine if p is not None]
        scores = [p.score for p in mine if p.score is not None]
        return (sum(1 for p in mine if p.status == DONE), len(mine),
                sum(scores) / len(scores) if scores else None)


def class_overview(classroom: Classroom, only: Assignment | None = None) -> Overview:
    """Every assignment of the class (or `only` this one) with each of its students' progress on it."""
    students = _students(classroom)
    assignments = [only] if only is not None else list(
        Assignment.select().where(Assignment.classroom == classroom.id)
        .order_by(Assignment.position, Assignment.created_at))
    ids = [a.id for a in assignments]
    parts: dict[str, list[AssignmentItem]] = {a.id: [] for a in assignments}
    targeted: dict[str, set[int]] = defaultdict(set)
    if ids:
        for part in AssignmentItem.select().where(AssignmentItem.assignment.in_(ids)).order_by(
                AssignmentItem.position):
            parts[part.assignment_id].append(part)
        for assignment_id, user_id in AssignmentStudent.select(
                AssignmentStudent.assignment, AssignmentStudent.user).where(
                AssignmentStudent.assignment.in_(ids)).tuples():
            targeted[assignment_id].add(user_id)
    work = [a for a in assignments if a.kind != "quiz"]
    quizzes = [a for a in assignments if a.kind == "quiz"]
    student_ids = [s.id for s in students]
    kinds = {key: kind for key, (kind, _title) in installed_nodes(
        {(p.pack_id, p.node_id) for a in work for p in parts[a.id]}).items()}
    last_seen, results = _work_records(student_ids, work, parts, kinds)
    attempts = _quiz_attempts(student_ids, [a.id for a in quizzes])

    reports = []
    for assignment in assignments:
        wanted = targeted.get(assignment.id)
        progress = []
        for student in students:
            if wanted and student.id not in wanted:
                continue
            if assignment.kind == "quiz":
                progress.append(_quiz_progress(student, attempts.get((assignment.id, student.id), [])))
            else:
                progress.append(_work_progress(student, assignment, parts[assignment.id], kinds, last_seen,
                                               results))
        reports.append(AssignmentReport(assignment, progress))
    return Overview(classroom, students, reports)


def _work_records(student_ids: list[int], work: list[Assignment], parts: dict[str, list[AssignmentItem]],
                  kinds: dict[tuple[str, str], str]):
    """(user, pack, node) -> {verb: the latest time a record of it was stored}, and
    (user, pack, node) -> [(a result of completing the exercise, the latest time it was got)]: from
    practice records only (quiz answers belong to their quiz), since the oldest of this work was
    assigned."""
    nodes = {p.node_id for a in work for p in parts[a.id]}
    if not (student_ids and nodes):
        return {}, {}
    since = min(a.created_at for a in work)
    packs = {p.pack_id for a in work for p in parts[a.id]}
    where = (LearningRecord.user.in_(student_ids), LearningRecord.node_id.in_(nodes),
             LearningRecord.assignment.is_null(), LearningRecord.created_at >= since)
    last_seen: dict[tuple[int, str, str], dict[str, datetime.datetime]] = defaultdict(dict)

    def latest(query) -> None:
        # Grouped in the order of the report index (migration 0007): read from the index alone.
        for user, verb, pack, node, when in query.group_by(
                LearningRecord.user, LearningRecord.verb, LearningRecord.pack_id, LearningRecord.node_id).tuples():
            last_seen[(user, pack, node)][verb] = when

    select = LearningRecord.select(LearningRecord.user, LearningRecord.verb, LearningRecord.pack_id,
                                   LearningRecord.node_id, fn.MAX(LearningRecord.created_at))
    latest(select.where(*where, LearningRecord.pack_id.in_(packs),
                        LearningRecord.verb.in_(("opened", "read", "completed", "progressed"))))
    # Answers only show an exercise is under way: most records are answers, so they are read only
    # for the exercises a student has not finished since they were assigned.
    never = datetime.datetime.min
    unfinished = {(student, part.pack_id, part.node_id) for a in work for part in parts[a.id]
                  if kinds.get((part.pack_id, part.node_id)) == "exercise" for student in student_ids
                  if last_seen.get((student, part.pack_id, part.node_id), {}).get("completed", never) < a.created_at}
    if unfinished:
        latest(select.where(LearningRecord.user.in_({k[0] for k in unfinished}), LearningRecord.verb == "answered",
                            LearningRecord.node_id.in_({k[2] for k in unfinished}),
                            LearningRecord.assignment.is_null(), LearningRecord.created_at >= since))
    # Each result a student got on each exercise, and when they last got it: a part's best result
    # since its assignment is then the best one whose time is after the assignment's.
    results: dict[tuple[int, str, str], list[tuple[float, datetime.datetime]]] = defaultdict(list)
    for user, pack, node, score, when in (
            LearningRecord.select(LearningRecord.user, LearningRecord.pack_id, LearningRecord.node_id,
                                  LearningRecord.score, fn.MAX(LearningRecord.created_at))
            .where(*where, LearningRecord.verb == "completed", LearningRecord.score.is_null(False))
            .group_by(LearningRecord.user, LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.score)
            .tuples()):
        results[(user, pack, node)].append((score, when))
    return last_seen, results


def _work_progress(student: User, assignment: Assignment, parts: list[AssignmentItem],
                   kinds: dict[tuple[str, str], str], last_seen: dict, results: dict) -> StudentProgress:
    since = assignment.created_at
    done = 0
    touched = False
    scores = []
    for part in parts:
        key = (student.id, part.pack_id, part.node_id)
        seen = {verb for verb, when in last_seen.get(key, {}).items() if when >= since}
        touched = touched or bool(seen)
        kind = kinds.get((part.pack_id, part.node_id))
        if kind is not None and any(verb in seen for verb in DONE_VERBS.get(kind, ())):
            done += 1
        best = max((score for score, when in results.get(key, ()) if when >= since), default=None)
        if kind == "exercise" and best is not None:
            scores.append(best)
    total = len(parts)
    if total and done == total:
        status = DONE
    elif done or touched:
        status = IN_PROGRESS
    else:
        status = NOT_STARTED
    return StudentProgress(student, status, done, total, sum(scores) / len(scores) if scores else None)


def _quiz_attempts(student_ids: list[int], quiz_ids: list[str]) -> dict[tuple[str, int], list[QuizAttempt]]:
    found: dict[tuple[str, int], list[QuizAttempt]] = defaultdict(list)
    if student_ids and quiz_ids:
        for attempt in QuizAttempt.select().where(QuizAttempt.assignment.in_(quiz_ids),
                                                  QuizAttempt.user.in_(student_ids)).order_by(QuizAttempt.number):
            found[(attempt.assignment_id, attempt.user_id)].append(attempt)
    return found


def _quiz_progress(student: User, attempts: list[QuizAttempt]) -> StudentProgress:
    handed_in = [a for a in attempts if a.submitted_at is not None]
    if handed_in:
        best = max((a.score for a in handed_in if a.score is not None), default=None)
        return StudentProgress(student, DONE, 1, 1, best)
    return StudentProgress(student, IN_PROGRESS if attempts else NOT_STARTED, 0, 1, None)


# --- one student -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Activity:
    when: datetime.datetime  # local time
    verb: str
    pack_id: str
    node_id: str
    item_id: str | None
    title: str | None  # the node's title JSON; None when it is not in the library
    correct: bool | None
    score: float | None
    duration_ms: int | None
    quiz: str | None  # the quiz's title, for quiz answers and hand-ins
    question: str | None = None  # an answer's question, in the teacher's language (None: not installed)
    work: str | None = None  # the title of the assigned work this was for; None (and no quiz): practice
    answer: str | None = None  # what the student answered: choice texts, or exactly what she typed

    @property
    def practice(self) -> bool:
        return self.quiz is None and self.work is None


@dataclass(frozen=True)
class Day:
    day: datetime.date
    activities: list[Activity]

    @property
    def seconds(self) -> int:
        return sum(a.duration_ms or 0 for a in self.activities) // 1000


@dataclass(frozen=True)
class ExerciseScore:
    pack_id: str
    node_id: str
    title: str | None
    items: int | None  # items in the exercise; None when it is not in the library
    answered: int  # items answered at least once
    right: int  # items whose latest answer is right
    answers: int
    right_answers: int
    last_score: float | None  # the latest completion's result
    seconds: int
    last: datetime.datetime  # UTC, as stored
    work: str | None = None  # the title of the assigned work it is part of; None: the student's own practice

    @property
    def share_right(self) -> float | None:
        return self.right_answers / self.answers if self.answers else None


@dataclass(frozen=True)
class QuizScore:
    assignment: Assignment
    tries: int
    handed_in: int
    best: float | None
    last: datetime.datetime | None


@dataclass(frozen=True)
class Skill:
    """A skill the student has answered questions on, with the tutor's mastery estimate (the heatmap's)."""
    tag: str
    name: str  # its title in the reader's language (pack.json `skills`); the tag only if the pack has none
    p: float
    answers: int  # the answers the estimate is made from

    @property
    def percent(self) -> int:
        return int(round(100 * self.p))

    @property
    def state(self) -> str:
        return next(state for lowest, _fill, state in MASTERY_BINS if self.percent >= lowest)


@dataclass(frozen=True)
class StudentReport:
    student: User
    days: list[Day]
    exercises: list[ExerciseScore]
    quizzes: list[QuizScore]
    skills: list[Skill]
    seconds_total: int
    seconds_week: int
    seconds_month: int
    records: int

    @property
    def shown(self) -> int:
        """How many records the timeline shows."""
        return sum(len(d.activities) for d in self.days)

    @property
    def mastered(self) -> list[Skill]:
        return [s for s in self.skills if s.state == "mastered"]

    @property
    def struggling(self) -> list[Skill]:
        return [s for s in self.skills if s.state == "needs_practice"]


def student_report(classroom: Classroom, student: User, tz: datetime.tzinfo,
                   now: datetime.datetime | None = None, timeline: int = TIMELINE_RECORDS,
                   language: str = "kk") -> StudentReport:
    """A student's recent activity by day, scores per exercise and quiz, time spent and skills; questions
    and skills named in `language`."""
    now = now or utcnow()
    recent = list(LearningRecord.select(
        LearningRecord.occurred_at, LearningRecord.verb, LearningRecord.pack_id, LearningRecord.node_id,
        LearningRecord.item_id, LearningRecord.correct, LearningRecord.score, LearningRecord.duration_ms,
        LearningRecord.assignment, LearningRecord.response, LearningRecord.typed)
        .where(LearningRecord.user == student.id)
        .order_by(LearningRecord.occurred_at.desc(), LearningRecord.seq.desc()).limit(timeline).tuples())
    answers = list(LearningRecord.select(
        LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.item_id, LearningRecord.correct,
        LearningRecord.duration_ms, LearningRecord.occurred_at, LearningRecord.assignment)
        .where(LearningRecord.user == student.id, LearningRecord.verb == "answered")
        .order_by(LearningRecord.seq).tuples())
    completions: dict[tuple[str, str], float] = {}
    for pack_id, node_id, score in (LearningRecord.select(LearningRecord.pack_id, LearningRecord.node_id,
                                                          LearningRecord.score)
                                    .where(LearningRecord.user == student.id, LearningRecord.verb == "completed",
                                           LearningRecord.assignment.is_null())
                                    .order_by(LearningRecord.seq).tuples()):
        if score is not None:
            completions[(pack_id, node_id)] = score
    today = _local_day(now, tz)
    week_start = _day_start_utc(today - datetime.timedelta(days=6), tz)
    month_start = _day_start_utc(today - datetime.timedelta(days=ENGAGEMENT_DAYS - 1), tz)
    totals = {}
    for name, since in (("total", None), ("week", week_start), ("month", month_start)):
        query = LearningRecord.select(fn.COALESCE(fn.SUM(LearningRecord.duration_ms), 0),
                                      fn.COUNT(LearningRecord.seq)).where(LearningRecord.user == student.id)
        if since is not None:
            query = query.where(LearningRecord.occurred_at >= since)
        totals[name] = query.tuples().first()

    quiz_titles = {a.id: a for a in Assignment.select().where(Assignment.classroom == classroom.id,
                                                              Assignment.kind == "quiz")}
    pairs = {(row[2], row[3]) for row in recent} | {(row[0], row[1]) for row in answers}
    titles = {key: title for key, (_kind, title) in installed_nodes(pairs).items()}

    work = _work_for(classroom, student)
    questions = item_lookup({(row[2], row[3], row[4]) for row in recent if row[4] is not None})
    days: dict[datetime.date, list[Activity]] = {}
    for (when, verb, pack_id, node_id, item_id, correct, score, duration, assignment, response,
         typed) in _visits(recent):
        local = when.replace(tzinfo=datetime.timezone.utc).astimezone(tz)
        quiz = quiz_titles.get(assignment) if assignment else None
        item = questions.get((pack_id, node_id, item_id))
        days.setdefault(local.date(), []).append(Activity(
            local, verb, pack_id, node_id, item_id, titles.get((pack_id, node_id)), correct, score, duration,
            quiz.title if quiz else None,
            localized(item.get("prompt"), language) if item and item.get("prompt") else None,
            None if assignment else _work_title(work, pack_id, node_id, when),
            answer_text(item, response, typed, language) if verb == "answered" else None))

    exercises = _exercise_scores(answers, titles, completions, work)
    skills = student_skills(student, language)
    quizzes = []
    by_quiz: dict[str, list[QuizAttempt]] = defaultdict(list)
    for attempt in QuizAttempt.select().where(QuizAttempt.user == student.id,
                                              QuizAttempt.assignment.in_(list(quiz_titles))).order_by(
            QuizAttempt.number):
        by_quiz[attempt.assignment_id].append(attempt)
    for quiz_id, attempts in by_quiz.items():
        handed = [a for a in attempts if a.submitted_at is not None]
        quizzes.append(QuizScore(quiz_titles[quiz_id], len(attempts), len(handed),
                                 max((a.score for a in handed if a.score is not None), default=None),
                                 max((a.submitted_at for a in handed), default=None)))
    quizzes.sort(key=lambda q: (q.assignment.position, q.assignment.created_at))
    return StudentReport(student, [Day(day, items) for day, items in days.items()], exercises, quizzes, skills,
                         totals["total"][0] // 1000, totals["week"][0] // 1000, totals["month"][0] // 1000,
                         totals["total"][1])


#: records on the same page with nothing else in between, less than this apart, are one visit: the
#: page opened again (a text-size tap, a reload) is not shown as another "Opened"
VISIT_GAP = datetime.timedelta(minutes=30)


def _visits(recent: list[tuple]) -> list[tuple]:
    """The records newest first, without an `opened` that repeats one of the same visit."""
    kept = []
    previous = None  # (pack, node, when) of the record before, in time order
    for row in reversed(recent):
        when, verb, pack_id, node_id = row[0], row[1], row[2], row[3]
        if not (verb == "opened" and previous is not None and previous[:2] == (pack_id, node_id)
                and when - previous[2] < VISIT_GAP):
            kept.append(row)
        previous = (pack_id, node_id, when)
    kept.reverse()
    return kept


def _work_for(classroom: Classroom, student: User) -> dict[tuple[str, str], list[tuple[datetime.datetime, str]]]:
    """(pack, node) -> [(given at, title)] of the class's work (not quizzes) given to this student."""
    found: dict[tuple[str, str], list[tuple[datetime.datetime, str]]] = defaultdict(list)
    mine = AssignmentStudent.select(AssignmentStudent.assignment).where(AssignmentStudent.user == student.id)
    anyone = AssignmentStudent.select(AssignmentStudent.assignment)
    for pack_id, node_id, created, title in (
            AssignmentItem.select(AssignmentItem.pack_id, AssignmentItem.node_id, Assignment.created_at,
                                  Assignment.title).join(Assignment)
            .where(Assignment.classroom == classroom.id, Assignment.kind != "quiz",
                   Assignment.id.in_(mine) | Assignment.id.not_in(anyone))
            .order_by(Assignment.created_at).tuples()):
        found[(pack_id, node_id)].append((created, title))
    return found


def _work_title(work: dict, pack_id: str, node_id: str, when: datetime.datetime | None = None) -> str | None:
    """The latest work with this page given before `when` (any time when None)."""
    given = [title for created, title in work.get((pack_id, node_id), ()) if when is None or created <= when]
    return given[-1] if given else None


def _exercise_scores(answers: list[tuple], titles: dict, completions: dict,
                     work: dict | None = None) -> list[ExerciseScore]:
    """Practice answers (not quiz answers) by exercise, most recent first."""
    groups: dict[tuple[str, str], dict] = {}
    for pack_id, node_id, item_id, correct, duration, when, assignment in answers:
        if assignment is not None:
            continue
        group = groups.setdefault((pack_id, node_id), {"latest": {}, "answers": 0, "right": 0, "ms": 0,
                                                       "last": when})
        group["latest"][item_id] = bool(correct)
        group["answers"] += 1
        group["right"] += bool(correct)
        group["ms"] += duration or 0
        group["last"] = max(group["last"], when)
    sizes = _item_counts(set(groups))
    result = [ExerciseScore(pack_id, node_id, titles.get((pack_id, node_id)), sizes.get((pack_id, node_id)),
                            len(g["latest"]), sum(g["latest"].values()), g["answers"], g["right"],
                            completions.get((pack_id, node_id)), g["ms"] // 1000, g["last"],
                            _work_title(work or {}, pack_id, node_id))
              for (pack_id, node_id), g in groups.items()]
    return sorted(result, key=lambda e: e.last, reverse=True)


def _item_counts(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    return {key: len(items) for key, items in exercise_items(pairs).items()}


def student_skills(student: User, language: str | None = None) -> list[Skill]:
    """The student's mastery of each skill they have answered on, weakest first: the same estimate,
    from the same answers, as the class's heatmap (learn.tutor.class_mastery)."""
    lib = tutor.library()
    _version, model = tutor.current_model()
    state = tutor.student_progress(student.id, lib, model).state
    found = []
    for tag in state.skills:
        mastery = tutor.skill_mastery(model, state, tag)
        if mastery.p is not None:
            found.append(Skill(tag, lib.skill_name(tag, language), mastery.p, mastery.answers))
    return sorted(found, key=lambda s: (s.p, s.name))


# --- items of packs and of quizzes -------------------------------------------------------------

def exercise_items(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], list[dict]]:
    """(pack id, node id) -> the exercise's items, for exercises that are installed, and for a quiz's
    own items (pack `quiz`, node = the quiz's id)."""
    found: dict[tuple[str, str], list[dict]] = {}
    packs = {pack for pack, _ in pairs if pack != QUIZ_PACK}
    nodes = {node for pack, node in pairs if pack != QUIZ_PACK}
    if packs:
        for pack_id, node_id, data in (ContentNode.select(ContentPack.pack_id, ContentNode.node_id, ContentNode.data)
                                       .join(ContentPack)
                                       .where(ContentPack.pack_id.in_(packs), ContentNode.node_id.in_(nodes),
                                              ContentNode.kind == "exercise").tuples()):
            if (pack_id, node_id) in pairs:
                found[(pack_id, node_id)] = list(json.loads(data).get("items") or [])
    quizzes = {node for pack, node in pairs if pack == QUIZ_PACK}
    if quizzes:
        for quiz_id, data in (AssignmentItem.select(AssignmentItem.assignment, AssignmentItem.item_data)
                              .where(AssignmentItem.assignment.in_(quizzes), AssignmentItem.item_data.is_null(False))
                              .order_by(AssignmentItem.position).tuples()):
            found.setdefault((QUIZ_PACK, quiz_id), []).append(json.loads(data))
    return found


def item_lookup(keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict]:
    """(pack id, node id, item id) -> the item, for those still installed."""
    found = {}
    for (pack_id, node_id), items in exercise_items({(k[0], k[1]) for k in keys}).items():
        for item in items:
            key = (pack_id, node_id, item.get("id"))
            if key in keys:
                found[key] = item
    return found


def response_text(item: dict | None, response: str | None, language: str) -> str:
    """A stored response as a teacher reads it: the choices' texts rather than their ids."""
    if response is None:
        return ""
    if not item:
        return response
    kind = item.get("type")

    def text(texts) -> str:
        return localized(texts, language) if texts else ""

    if kind in ("single", "multiple", "ordering"):
        choices = {c["id"]: text(c.get("text")) for c in item.get("choices") or []}
        ids = response.split(scoring.LIST_SEP) if response else []
        shown = [choices.get(key, key) for key in ids]
        return (" → " if kind == "ordering" else ", ").join(shown)
    if kind == "matching":
        pairs = {p["id"]: p for p in item.get("pairs") or []}
        shown = []
        for pair in response.split(scoring.LIST_SEP) if response else []:
            left, _, right = pair.partition(scoring.PAIR_SEP)
            shown.append(f"{text(pairs[left].get('left')) if left in pairs else left} → "
                         f"{text(pairs[right].get('right')) if right in pairs else right}")
        return "; ".join(shown)
    return response


def answer_text(item: dict | None, response: str | None, typed: str | None, language: str) -> str:
    """An answer as the student gave it: what she typed, exactly ("1/2", not "0.5"), when it was
    kept (LearningRecord.typed), else the stored response with choices' texts."""
    if typed is not None and typed.strip():
        return " ".join(typed.split())  # as a page shows it: a run of spaces is one
    return response_text(item, response, language)


# --- item analysis ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemReport:
    pack_id: str
    node_id: str
    item_id: str
    exercise: str | None  # the exercise's title JSON (or the quiz's title)
    prompt: str | None  # in the teacher's language; None when the item is not installed any more
    answers: int
    wrong: int
    wrong_responses: list[tuple[str, int]] = field(default_factory=list)  # (as a teacher reads it, how often)

    @property
    def share_wrong(self) -> float:
        return self.wrong / self.answers if self.answers else 0.0


def item_analysis(classroom: Classroom, language: str, days: int | None = None, limit: int = 20,
                  now: datetime.datetime | None = None) -> tuple[list[ItemReport], int]:
    """The most-missed questions of the class's students (most often wrong first) with their most
    common wrong answers; and how many questions were answered in all."""
    students = [s.id for s in _students(classroom)]
    if not students:
        return [], 0
    where = [LearningRecord.user.in_(students), LearningRecord.verb == "answered"]
    if days is not None:
        where.append(LearningRecord.occurred_at >= (now or utcnow()) - datetime.timedelta(days=days))
    answers: Counter = Counter()
    wrong: Counter = Counter()
    # Counted in the order of the report index (migration 0007), from the index alone.
    for _user, pack_id, node_id, item_id, correct, count in (
            LearningRecord.select(LearningRecord.user, LearningRecord.pack_id, LearningRecord.node_id,
                                  LearningRecord.item_id, LearningRecord.correct, fn.COUNT(LearningRecord.seq))
            .where(*where)
            .group_by(LearningRecord.user, LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.item_id,
                      LearningRecord.correct).tuples()):
        key = (pack_id, node_id, item_id)
        answers[key] += count
        if not correct:
            wrong[key] += count
    missed = sorted(wrong, key=lambda k: (-wrong[k] / answers[k], -wrong[k], k))[:limit]
    if not missed:
        return [], len(answers)
    # Each wrong answer as typed ("1/2" and "0,5" are two answers here, as the students wrote them).
    responses: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for pack_id, node_id, item_id, response, typed, count in (
            LearningRecord.select(LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.item_id,
                                  LearningRecord.response, LearningRecord.typed, fn.COUNT(LearningRecord.seq))
            .where(*where, LearningRecord.correct == False,  # noqa: E712
                   LearningRecord.node_id.in_({k[1] for k in missed}),
                   LearningRecord.item_id.in_({k[2] for k in missed}))
            .group_by(LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.item_id,
                      LearningRecord.response, LearningRecord.typed).tuples()):
        responses[(pack_id, node_id, item_id)][(response, typed)] += count
    keys = set(missed)
    items = item_lookup(keys)
    titles = {key: title for key, (_kind, title) in installed_nodes({(k[0], k[1]) for k in keys}).items()}
    quizzes = {k[1] for k in keys if k[0] == QUIZ_PACK}
    if quizzes:
        for quiz in Assignment.select(Assignment.id, Assignment.title).where(Assignment.id.in_(quizzes)):
            titles[(QUIZ_PACK, quiz.id)] = json.dumps({language: quiz.title})
    reports = []
    for key in missed:
        pack_id, node_id, item_id = key
        item = items.get(key)
        prompt = localized(item.get("prompt"), language) if item and item.get("prompt") else None
        shown: Counter = Counter()
        for (response, typed), times in responses[key].items():
            shown[answer_text(item, response, typed, language)] += times
        top = shown.most_common(TOP_WRONG_RESPONSES)
        reports.append(ItemReport(pack_id, node_id, item_id, titles.get((pack_id, node_id)), prompt, answers[key],
                                  wrong[key], top))
    return reports, len(answers)


# --- engagement ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngagementDay:
    day: datetime.date
    active: int  # students with at least one record that day
    seconds: int  # time on task: the durations the records carry


@dataclass(frozen=True)
class StudentEngagement:
    student: User
    active_days: int
    records: int
    seconds: int
    last: datetime.datetime | None  # local time of the latest record ever


@dataclass(frozen=True)
class Engagement:
    days: list[EngagementDay]  # oldest first, every day of the period
    students: list[StudentEngagement]
    student_count: int

    @property
    def seconds(self) -> int:
        return sum(d.seconds for d in self.days)


def engagement(classroom: Classroom, tz: datetime.tzinfo, now: datetime.datetime | None = None,
               days: int = ENGAGEMENT_DAYS) -> Engagement:
    """Active students and time on task per school day over the last `days` days, and per student."""
    now = now or utcnow()
    students = _students(classroom)
    ids = [s.id for s in students]
    today = _local_day(now, tz)
    period = [today - datetime.timedelta(days=n) for n in range(days - 1, -1, -1)]
    starts = [_day_start_utc(day, tz) for day in period]
    active: dict[int, set[int]] = defaultdict(set)
    seconds: Counter = Counter()
    per_student: dict[int, dict] = {i: {"days": set(), "records": 0, "ms": 0} for i in ids}
    last: dict[int, datetime.datetime] = {}
    if ids:
        # Records are put in their school day by the database (a CASE over the days' first moments),
        # so only a row per student and day comes back.
        day = Case(None, [(LearningRecord.occurred_at < start, index - 1)
                          for index, start in enumerate(starts[1:], start=1)], len(starts) - 1)
        for user_id, index, count, duration in (
                LearningRecord.select(LearningRecord.user, day, fn.COUNT(LearningRecord.seq),
                                      fn.SUM(LearningRecord.duration_ms))
                .where(LearningRecord.user.in_(ids), LearningRecord.occurred_at >= starts[0])
                .group_by(LearningRecord.user, day).tuples()):
            active[index].add(user_id)
            seconds[index] += duration or 0
            mine = per_student[user_id]
            mine["days"].add(index)
            mine["records"] += count
            mine["ms"] += duration or 0
        latest = (LearningRecord.select(fn.MAX(LearningRecord.occurred_at))
                  .where(LearningRecord.user == User.id))
        for user_id, when in User.select(User.id, latest).where(User.id.in_(ids)).tuples():
            if when is not None:
                moment = LearningRecord.occurred_at.python_value(when)
                last[user_id] = moment.replace(tzinfo=datetime.timezone.utc).astimezone(tz)
    return Engagement(
        [EngagementDay(day, len(active.get(index, ())), seconds[index] // 1000) for index, day in enumerate(period)],
        [StudentEngagement(s, len(per_student[s.id]["days"]), per_student[s.id]["records"],
                           per_student[s.id]["ms"] // 1000, last.get(s.id)) for s in students],
        len(students))


# --- exports -------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def gradebook_rows(overview: Overview, labels: dict[str, str]) -> list[list[str]]:
    """The header and one row per student: a quiz's best score in percent, work as done of total.

    `labels`: the words for the header's first cell (`student`), for a quiz column (`quiz`, with
    %(title)s), for work done (`done`, with %(done)d and %(total)d), for a quiz not handed in
    (`not_handed_in`) and for work not given to this student (`not_assigned`).
    """
    header = [labels["student"]] + [labels["quiz"] % {"title": a.assignment.title} if a.is_quiz
                                    else a.assignment.title for a in overview.assignments]
    rows = [header]
    for student in overview.students:
        row = [student.display_name]
        for report in overview.assignments:
            progress = report.of(student)
            if progress is None:
                row.append(labels["not_assigned"])
            elif report.is_quiz:
                row.append(str(round(progress.score * 100)) if progress.score is not None
                           else labels["not_handed_in"])
            else:
                row.append(labels["done"] % {"done": progress.done, "total": progress.total})
        rows.append(row)
    return rows


def csv_bytes(rows: list[list[str]], delimiter: str = ";") -> bytes:
    """UTF-8 with a byte order mark and CRLF line ends: Excel and LibreOffice then read Kazakh and
    Russian letters right."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def attachment(filename: str, fallback: str) -> str:
    """A Content-Disposition value: an ASCII name for old clients, the real one as RFC 5987 UTF-8."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in fallback)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


#: the platform statements name before enrolment when `[sync] platform_iri` is empty (.invalid never resolves)
LOCAL_PLATFORM = "http://classroom-server.invalid"


def xapi_identity(platform_iri: str = "") -> tuple[str, str]:
    """(school id, platform IRI) as the sync agent sends statements; until the school is enrolled,
    the school id `local` and `[sync] platform_iri` (given here). Never the request's Host: the same
    record is the same statement whatever address a browser used."""
    state = SyncState.get_or_none(SyncState.id == 1)
    if state is not None and state.hub_url and state.school_id:
        return state.school_id, state.hub_url
    return "local", platform_iri or LOCAL_PLATFORM


def statements(classroom: Classroom, school_id: str, platform_iri: str, batch: int = 500) -> Iterator[dict]:
    """The xAPI statements of the class's students' records, in the school's order, read in batches."""
    students = [s.id for s in _students(classroom)]
    if not students:
        return
    after = 0
    while True:
        rows = list(LearningRecord.select().where(LearningRecord.user.in_(students), LearningRecord.seq > after)
                    .order_by(LearningRecord.seq).limit(batch))
        for row in rows:
            try:
                yield statement_for(row, school_id, platform_iri)
            except InvalidRecord as exc:
                log.warning("record %s (%s) is left out of the xAPI export: %s", row.seq, row.uuid, exc)
        if len(rows) < batch:
            return
        after = rows[-1].seq
