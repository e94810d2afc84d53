"""Adaptive practice: the tutor that picks a student's next item, their mastery per skill, the class
heatmap, and the nightly fit of the model's parameters (run by the sync agent).

The model is domain.adaptive (pure). Here: the school's data around it.
- Items and skills come from the installed packs (the library every student sees), read once per
  pack version (cached by the pack's manifest SHA-256), with the titles packs give their skill tags
  (pages show a skill by its title in the reader's language; stored decisions keep the tag).
- A student's state is rebuilt from their own answer records, newest first and bounded (at most
  `PER_SKILL` answers per skill, `READ_LIMIT` records in all), so a student with thousands of
  answers costs what one with a few hundred does. The answer path stays one insert.
- Parameters are the latest `adaptive_params` row (the nightly fit), cached per version; the
  built-in defaults while there is none, and for skills and items the fit never saw.
- Every choice is stored as a `practice_decision` row (item, predicted chance, kind, reason), with
  the same group commit as learning records. It is written when the item is shown, never while an
  answer is stored.
"""
from __future__ import annotations

import collections
import copy
import datetime
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from flask_babel import gettext

from ..db import GroupCommit, database, run_sql
from ..domain import adaptive
from ..i18n import localized
from ..models import AdaptiveParams, ContentNode, ContentPack, LearningRecord, PracticeDecision, User, utcnow
from .held import held_for, hidden_answers

log = logging.getLogger(__name__)

PER_SKILL = 50  # answers per skill replayed into a student's state: older ones change mastery very little
READ_LIMIT = 3000  # answer records read per student at most, newest first
FIT_BATCH = 5000  # records per read while fitting: each read is short, so nothing waits behind it
KEEP_FITS = 30  # adaptive_params rows kept (older fits are removed after a new one)
POLICY = adaptive.Policy(target=0.7)
HELP_BELOW = 0.5  # "needs help": practised at least HELP_MIN_ANSWERS times and mastery under this
HELP_MIN_ANSWERS = 4
HELP_PER_STUDENT = 3  # the weakest skills named per student in "who needs help" (the heatmap shows all)

_SKILL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class TutorError(Exception):
    """What the practice pages refuse."""


class UnknownScope(TutorError):
    """No installed item has this skill, or no such topic is installed."""


class DoneForNow(TutorError):
    """Every item of the scope was answered a moment ago: serving them again would only make the
    student go round the same few questions (a skill with two items, A B A B ...)."""


# --- the library: items, skills and topics of the installed packs ----------------------------------

@dataclass(frozen=True)
class Candidate:
    """An exercise item the tutor may choose."""
    item: adaptive.Item
    pack_id: str
    node_id: str
    item_id: str
    attempts: int | None  # tries the exercise allows per item; None: unlimited
    topic: tuple[str, str]  # (pack id, node id) of the topic it belongs to


@dataclass(frozen=True)
class Topic:
    pack_id: str
    node_id: str
    title: str  # JSON: texts by language
    pack_title: str  # JSON
    skills: tuple[str, ...]  # in the order its items bring them
    items: tuple[Candidate, ...]
    grades: tuple[int, ...] = ()  # the pack's grades (pack.json `grades`)

    @property
    def scope(self) -> str:
        return f"topic:{self.pack_id}/{self.node_id}"


@dataclass(frozen=True)
class PackItems:
    pack_id: str
    sha: str
    topics: tuple[Topic, ...]
    skill_titles: dict[str, dict]  # skill tag -> texts by language (pack.json `skills`)


_PACKS: dict[tuple[str, str], PackItems] = {}
_PACKS_LOCK = threading.Lock()


def _grades(stored: str | None) -> tuple[int, ...]:
    try:
        grades = json.loads(stored or "[]")
    except ValueError:
        return ()
    return tuple(g for g in grades if isinstance(g, int) and not isinstance(g, bool)) if isinstance(grades, list) else ()


def _pack_items(pack_row_id: int, pack_id: str, sha: str, pack_title: str, grades: str | None = None) -> PackItems:
    """A pack's exercise items grouped by topic; cached per pack version (its manifest SHA-256)."""
    found = _PACKS.get((pack_id, sha))
    if found is not None:
        return found
    nodes = list(ContentNode.select(ContentNode.node_id, ContentNode.parent_id, ContentNode.kind,
                                    ContentNode.title, ContentNode.data)
                 .where(ContentNode.pack == pack_row_id).order_by(ContentNode.id).tuples())
    by_id = {node_id: (parent, kind, title) for node_id, parent, kind, title, _ in nodes}
    grouped: dict[str, list[Candidate]] = {}
    titles: dict[str, str] = {}
    skill_titles = _skill_titles(ContentPack.select(ContentPack.skill_titles)
                                 .where(ContentPack.id == pack_row_id).scalar())
    for node_id, parent, kind, title, data in nodes:
        if kind != "exercise":
            continue
        topic_id, topic_title = node_id, title  # an exercise outside any topic is its own topic
        seen = set()
        while parent and parent in by_id and parent not in seen:
            seen.add(parent)
            up, up_kind, up_title = by_id[parent]
            if up_kind == "topic":
                topic_id, topic_title = parent, up_title
                break
            parent = up
        try:
            body = json.loads(data)
        except ValueError:
            continue
        attempts = body.get("attempts")
        attempts = attempts if isinstance(attempts, int) and attempts > 0 else None
        for raw in body.get("items") or ():
            if not isinstance(raw, dict) or not raw.get("id"):
                continue
            skills = raw.get("skills")
            item = adaptive.Item(adaptive.item_key(pack_id, node_id, str(raw["id"])),
                                 tuple(skills) if isinstance(skills, list) else (), raw.get("difficulty"))
            grouped.setdefault(topic_id, []).append(
                Candidate(item, pack_id, node_id, str(raw["id"]), attempts, (pack_id, topic_id)))
            titles[topic_id] = topic_title
    topics = []
    for topic_id, items in grouped.items():
        skills = tuple(dict.fromkeys(s for c in items for s in c.item.skills))
        topics.append(Topic(pack_id, topic_id, titles[topic_id], pack_title, skills, tuple(items), _grades(grades)))
    found = PackItems(pack_id, sha, tuple(topics), skill_titles)
    with _PACKS_LOCK:
        for key in [key for key in _PACKS if key[0] == pack_id]:
            del _PACKS[key]  # an older version of the pack
        _PACKS[(pack_id, sha)] = found
    return found


def _skill_titles(stored: str | None) -> dict[str, dict]:
    """A pack's skill titles as stored (checked at install); only well-formed entries are kept."""
    try:
        titles = json.loads(stored or "{}")
    except ValueError:
        return {}
    if not isinstance(titles, dict):
        return {}
    return {tag: texts for tag, texts in titles.items()
            if isinstance(texts, dict) and texts and all(isinstance(t, str) for t in texts.values())}


@dataclass
class Library:
    """What students can practise: every installed pack's topics, skills and items."""
    topics: list[Topic] = field(default_factory=list)
    items: dict[str, Candidate] = field(default_factory=dict)
    skills: dict[str, list[Candidate]] = field(default_factory=dict)  # skill -> its items, in pack order
    skill_titles: dict[str, dict] = field(default_factory=dict)  # skill -> texts by language; the first pack's
    versions: tuple = ()  # (pack row, manifest sha) of every installed pack: what the library was built from

    def candidates(self, scope: str) -> list[Candidate]:
        """The items of a scope (`skill:<tag>` or `topic:<pack>/<node>`); UnknownScope if it has none."""
        kind, _, name = scope.partition(":")
        if kind == "skill" and name in self.skills:
            return self.skills[name]
        if kind == "topic":
            for topic in self.topics:
                if topic.scope == scope and topic.items:
                    return list(topic.items)
        raise UnknownScope(scope)

    def topic(self, scope: str) -> Topic | None:
        return next((t for t in self.topics if t.scope == scope), None)

    def skill_name(self, skill: str, language: str | None = None) -> str:
        """What a page calls a skill: its title in the reader's language, else its tag."""
        return localized(self.skill_titles.get(skill), language) or skill

    def skill_names(self, skills, language: str | None = None) -> dict[str, str]:
        return {skill: self.skill_name(skill, language) for skill in skills}


def library() -> Library:
    lib = Library()
    rows = list(ContentPack.select(ContentPack.id, ContentPack.pack_id, ContentPack.manifest_sha256,
                                   ContentPack.title, ContentPack.grades)
                .order_by(ContentPack.subject, ContentPack.pack_id).tuples())
    lib.versions = tuple((row_id, sha) for row_id, _, sha, _, _ in rows)
    for row_id, pack_id, sha, title, grades in rows:
        pack = _pack_items(row_id, pack_id, sha, title, grades)
        for skill, texts in pack.skill_titles.items():
            lib.skill_titles.setdefault(skill, texts)
        for topic in pack.topics:
            lib.topics.append(topic)
            for candidate in topic.items:
                lib.items[candidate.item.key] = candidate
                for skill in candidate.item.skills:
                    lib.skills.setdefault(skill, []).append(candidate)
    return lib


def skill_scope(skill: str) -> str:
    if not _SKILL.match(skill):
        raise UnknownScope(skill)
    return f"skill:{skill}"


def topic_scope(pack_id: str, node_id: str) -> str:
    return f"topic:{pack_id}/{node_id}"


# --- parameters ----------------------------------------------------------------------------------

_DEFAULT_MODEL = adaptive.Model(adaptive.Params(), POLICY)
_MODELS: dict[int, adaptive.Model] = {}


def current_model() -> tuple[int | None, adaptive.Model]:
    """(version, model) of the latest fit; (None, the defaults) before the first one."""
    row = database.execute_sql("SELECT id FROM adaptive_params ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None, _DEFAULT_MODEL
    version = row[0]
    model = _MODELS.get(version)
    if model is None:
        stored = AdaptiveParams.get_or_none(AdaptiveParams.id == version)
        try:
            data = json.loads(stored.params) if stored else None
        except ValueError:
            log.warning("adaptive_params %s is not JSON: using the defaults", version)
            data = None
        model = adaptive.Model(adaptive.Params.from_dict(data), POLICY)
        if len(_MODELS) > 4:
            _MODELS.clear()
        _MODELS[version] = model
    return version, model


# --- a student's state ---------------------------------------------------------------------------

@dataclass
class Progress:
    state: adaptive.StudentState
    tries: collections.Counter  # practice answers per item key (the records read)


def _as_seconds(when) -> float:
    if isinstance(when, datetime.datetime):
        return when.replace(tzinfo=datetime.timezone.utc).timestamp()
    if isinstance(when, str):  # SQLite hands back text when a row was written by plain SQL
        try:
            return datetime.datetime.fromisoformat(when).replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return 0.0
    return 0.0


# Replayed states, remembered per process: a teacher's class page or a student's next question
# replays only when the student has answered since (records are only ever added, so the newest
# answer's seq tells). Keyed by database, student, model and installed packs; least recently used
# dropped.
_STATES: collections.OrderedDict = collections.OrderedDict()
_STATES_LOCK = threading.Lock()
STATES_KEPT = 2000


def student_progress(user_id: int, lib: Library, model: adaptive.Model,
                     hidden: frozenset[str] = frozenset()) -> Progress:
    """The student's state: their latest answers (bounded per skill) replayed through the model,
    leaving out answers to the `hidden` quizzes (what the student is shown: learn/held.py)."""
    newest = run_sql("SELECT MAX(seq) FROM learning_record WHERE user_id = ? AND verb = 'answered'",
                     (user_id,)).fetchone()[0] or 0
    key = (getattr(database.obj, "database", None), user_id, id(model), lib.versions, hidden)
    with _STATES_LOCK:
        kept = _STATES.get(key)
        if kept is not None and kept[0] == newest and kept[1] is model:
            _STATES.move_to_end(key)
            # A copy: callers may go on to update their state; the remembered one stays as replayed.
            return Progress(copy.deepcopy(kept[2].state), collections.Counter(kept[2].tries))
    progress = _replay(user_id, lib, model, hidden)
    with _STATES_LOCK:
        _STATES[key] = (newest, model, progress)
        _STATES.move_to_end(key)
        while len(_STATES) > STATES_KEPT:
            _STATES.popitem(last=False)
    return Progress(copy.deepcopy(progress.state), collections.Counter(progress.tries))


def _replay(user_id: int, lib: Library, model: adaptive.Model, hidden: frozenset[str] = frozenset()) -> Progress:
    # Plain SQL: turning thousands of rows into Python values through peewee cost a third of the
    # class mastery page; the times are read as they come (_as_seconds takes text or datetime).
    rows = run_sql("SELECT pack_id, node_id, item_id, correct, occurred_at, assignment FROM learning_record"
                   " WHERE user_id = ? AND verb = 'answered' ORDER BY seq DESC LIMIT ?", (user_id, READ_LIMIT))
    counts: collections.Counter = collections.Counter()
    tries: collections.Counter = collections.Counter()
    kept = []
    for pack_id, node_id, item_id, correct, when, assignment in rows:
        candidate = lib.items.get(adaptive.item_key(pack_id, node_id, item_id or ""))
        if candidate is None or assignment in hidden:
            continue  # a teacher's own quiz item, content no longer installed, or a quiz answer held back
        if assignment is None:
            tries[candidate.item.key] += 1
        skills = candidate.item.skills
        if skills and all(counts[s] >= PER_SKILL for s in skills):
            continue
        counts.update(skills)
        kept.append((candidate.item, bool(correct), when))
    state = adaptive.StudentState()
    for item, correct, when in reversed(kept):
        model.update(state, item, correct, _as_seconds(when))
    return Progress(state, tries)


@dataclass(frozen=True)
class SkillMastery:
    skill: str
    p: float | None  # None: never practised
    answers: int
    title: str | None = None  # the skill's title in the reader's language (Library.skill_name); None: the tag

    @property
    def name(self) -> str:
        """What pages call the skill: its title, else its tag."""
        return self.title or self.skill

    @property
    def percent(self) -> int:
        return int(round(100 * (self.p or 0.0)))


def skill_mastery(model: adaptive.Model, state: adaptive.StudentState, skill: str,
                  title: str | None = None) -> SkillMastery:
    known = state.skills.get(skill)
    if known is None or not known.answers:
        return SkillMastery(skill, None, 0, title)
    return SkillMastery(skill, model.p_mastered(state, skill), known.answers, title)


@dataclass(frozen=True)
class TopicMastery:
    topic: Topic
    skills: list[SkillMastery]
    untagged: int  # items of the topic without a skill tag


def my_mastery(user: User, topics: list[Topic] | None = None) -> list[TopicMastery]:
    """The practice page: these topics (every topic of the library by default) with the student's
    mastery of their skills."""
    lib = library()
    _, model = current_model()
    state = student_progress(user.id, lib, model, hidden_answers(user)).state
    return [TopicMastery(topic, [skill_mastery(model, state, s, lib.skill_name(s)) for s in topic.skills],
                         sum(1 for c in topic.items if not c.item.skills))
            for topic in (lib.topics if topics is None else topics)]


@dataclass(frozen=True)
class PracticeTopics:
    assigned: list[Topic]  # topics holding an exercise the student's teacher assigned, in that order
    grade: list[Topic]  # the other topics of packs for the student's grades
    hidden: int  # topics of other grades, shown on asking


def practice_topics(lib: Library, grades: set[int], assigned: list[tuple[str, str]]) -> PracticeTopics:
    """What the practice page opens on: the assigned topics first, then those of the student's
    grades; every topic when the student's classes say no grade, or no pack is for it."""
    assigned_topics: list[Topic] = []
    for pack_id, node_id in assigned:
        for topic in lib.topics:
            if topic not in assigned_topics and any((c.pack_id, c.node_id) == (pack_id, node_id) or
                                                    (topic.pack_id, topic.node_id) == (pack_id, node_id)
                                                    for c in topic.items):
                assigned_topics.append(topic)
    rest = [t for t in lib.topics if t not in assigned_topics]
    mine = [t for t in rest if not t.grades or set(t.grades) & grades] if grades else rest
    if not mine and not assigned_topics:
        mine = rest
    return PracticeTopics(assigned_topics, mine, len(rest) - len(mine))


def next_skills(user: User, topics: list[Topic], leave_out: str, count: int = 3) -> list[SkillMastery]:
    """Skills to practise next (after DoneForNow): the least mastered of these topics, not yet
    mastered, other than the scope just done."""
    lib = library()
    _, model = current_model()
    state = student_progress(user.id, lib, model).state
    seen: dict[str, SkillMastery] = {}
    for topic in topics:
        for skill in topic.skills:
            if f"skill:{skill}" != leave_out and skill not in seen:
                seen[skill] = skill_mastery(model, state, skill, lib.skill_name(skill))
    open_skills = [m for m in seen.values() if (m.p or 0.0) < POLICY.mastery]
    return sorted(open_skills, key=lambda m: (m.p or 0.0))[:count]


# --- choosing the next item ----------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    decision: adaptive.Decision
    decision_id: int
    params_version: int | None
    skill_names: dict[str, str] = field(default_factory=dict)  # the decision's skill -> its shown name

    @property
    def why(self) -> str:
        """The reason for this item in the reader's language, naming the skill by its title."""
        return reason_text(self.decision.reason.msgid, self.decision.reason.params, self.skill_names)


def recommend(user: User, scope: str, now: float | None = None) -> Choice | None:
    """The next item for this student in this scope, recorded; None when every item's tries are used.

    Raises UnknownScope when the scope has no installed items, DoneForNow when each of its items
    was answered a moment ago (the model would repeat one).
    """
    lib = library()
    candidates = lib.candidates(scope)
    version, model = current_model()
    held = held_for(user)
    progress = student_progress(user.id, lib, model, hidden_answers(user, held))
    open_items = [c for c in candidates if (c.attempts is None or progress.tries[c.item.key] < c.attempts)
                  and not held.holds(c.pack_id, c.node_id, c.item_id)]
    if not open_items:
        return None
    now = time.time() if now is None else now
    decision = model.recommend(progress.state, [c.item for c in open_items], now)
    if decision is None:
        return None
    if decision.kind == "repeat":
        raise DoneForNow(scope)
    candidate = lib.items[decision.item]
    decision_id = _DECISIONS.run(dict(
        user=user.id, scope=scope[:300], skill=decision.skill, pack_id=candidate.pack_id,
        node_id=candidate.node_id, item_id=candidate.item_id, p=round(decision.p, 4),
        mastery=None if decision.mastery is None else round(decision.mastery, 4), kind=decision.kind,
        reason=decision.reason.msgid[:255], reason_params=json.dumps(decision.reason.params, ensure_ascii=False),
        params_version=version, created_at=utcnow()))
    names = lib.skill_names([decision.skill]) if decision.skill else {}
    return Choice(candidate, decision, decision_id, version, names)


def _store_decisions(group: list[dict]) -> list[int]:
    return [PracticeDecision.insert(**fields).execute() for fields in group]


def _store_decision(fields: dict) -> int:
    return PracticeDecision.insert(**fields).execute()


# Decisions of students who press "Next" together share one commit, as their answers do.
_DECISIONS: GroupCommit[dict, int] = GroupCommit(_store_decisions, _store_decision)


def reason_text(msgid: str, params: dict | None, skill_names: Mapping[str, str] | None = None) -> str:
    """A Reason in the reader's language (the msgids are in the catalog: babel.cfg's `Reason` keyword).

    Reasons are stored with the skill's tag; `skill_names` (tag -> title) names it for the reader.
    """
    params = dict(params or {})
    skill = params.get("skill")
    if skill_names and isinstance(skill, str) and skill in skill_names:
        params["skill"] = skill_names[skill]
    try:
        return gettext(msgid, **params)
    except (KeyError, ValueError, TypeError):  # a stored reason whose fields do not fit its msgid
        return msgid


def scope_mastery(user: User, scope: str) -> list[SkillMastery]:
    """The student's mastery of the skills of a scope (the feedback page's bars)."""
    lib = library()
    _, model = current_model()
    state = student_progress(user.id, lib, model, hidden_answers(user)).state
    if scope.startswith("skill:"):
        skills: tuple[str, ...] = (scope[len("skill:"):],)
    else:
        topic = lib.topic(scope)
        skills = topic.skills if topic else ()
    return [skill_mastery(model, state, s, lib.skill_name(s)) for s in skills]


# --- a class: the teacher's heatmap and who needs help ----------------------------------------------

@dataclass(frozen=True)
class Help:
    student: User
    skill: str
    p: float
    reason: adaptive.Reason  # params name the skill by its tag; show it with reason_text(..., names)


@dataclass(frozen=True)
class ClassMastery:
    skills: list[str]  # practised by someone in the class, in the library's order
    rows: list[tuple[User, dict[str, SkillMastery]]]
    help: list[Help]  # weakest first
    names: dict[str, str] = field(default_factory=dict)  # skill tag -> its title in the reader's language


def class_mastery(students: list[User]) -> ClassMastery:
    lib = library()
    _, model = current_model()
    rows = []
    practised: set[str] = set()
    helps = []
    for student in students:
        state = student_progress(student.id, lib, model).state
        cells = {skill: skill_mastery(model, state, skill) for skill in state.skills}
        practised.update(s for s, cell in cells.items() if cell.answers)
        rows.append((student, cells))
        for skill, p, reason in model.needs_help(state, below=HELP_BELOW, min_answers=HELP_MIN_ANSWERS)[:HELP_PER_STUDENT]:
            helps.append(Help(student, skill, p, reason))
    ordered = [s for s in lib.skills if s in practised]
    names = lib.skill_names(dict.fromkeys([*ordered, *(h.skill for h in helps)]))
    return ClassMastery(ordered, rows, sorted(helps, key=lambda h: (h.p, h.student.display_name, h.skill)), names)


# --- the nightly fit (the sync agent's job; `classroom-server adaptive fit`) -------------------------

@dataclass(frozen=True)
class FitResult:
    version: int
    records: int
    students: int
    skills: int
    seconds: float


def _answer_records(lib: Library, batch: int = FIT_BATCH) -> Iterator[adaptive.Record]:
    """Every answer of the school, in record order, read in short batches (keyset on seq)."""
    last = 0
    while True:
        rows = list(LearningRecord.select(LearningRecord.seq, LearningRecord.user, LearningRecord.pack_id,
                                          LearningRecord.node_id, LearningRecord.item_id, LearningRecord.correct,
                                          LearningRecord.occurred_at)
                    .where(LearningRecord.seq > last, LearningRecord.verb == "answered")
                    .order_by(LearningRecord.seq).limit(batch).tuples())
        if not rows:
            return
        for seq, user_id, pack_id, node_id, item_id, correct, when in rows:
            key = adaptive.item_key(pack_id, node_id, item_id or "")
            candidate = lib.items.get(key)
            yield adaptive.Record(user_id, key, candidate.item.skills if candidate else (), bool(correct),
                                  _as_seconds(when))
        last = rows[-1][0]


def fit_job(settings=None) -> FitResult:
    """Fit the model to every answer of the school and store it as the newest `adaptive_params` row.

    Reads in short batches and writes one row in one short transaction: student requests never wait
    for it; they use the previous fit until this one is stored. `settings` is unused (the database is
    the one open), and accepted so that the agent and the CLI call it the same way.
    """
    started = time.monotonic()
    lib = library()
    latest = AdaptiveParams.select().order_by(AdaptiveParams.id.desc()).first()
    prior = None
    if latest is not None:
        try:
            prior = adaptive.Params.from_dict(json.loads(latest.params))
        except ValueError:
            prior = None
    items = [c.item for c in lib.items.values()]
    params = adaptive.fit(_answer_records(lib), items, prior=prior)
    seconds = time.monotonic() - started
    records = int(params.info.get("records", 0))
    with database.atomic():
        row = AdaptiveParams.create(fitted_at=utcnow(), records=records, fit_seconds=round(seconds, 3),
                                    params=json.dumps(params.to_dict(), ensure_ascii=False))
        old = [r.id for r in AdaptiveParams.select(AdaptiveParams.id).order_by(AdaptiveParams.id.desc())
               .offset(KEEP_FITS)]
        if old:
            AdaptiveParams.delete().where(AdaptiveParams.id.in_(old)).execute()
    log.info("adaptive fit %d: %d answers of %s students, %d skills, %.1f s", row.id, records,
             params.info.get("students", 0), len(params.skills), seconds)
    return FitResult(row.id, records, int(params.info.get("students", 0)), len(params.skills), seconds)


def fit_status() -> AdaptiveParams | None:
    """The latest fit, for `classroom-server adaptive status`."""
    return AdaptiveParams.select().order_by(AdaptiveParams.id.desc()).first()
