"""Practising an exercise: find its items, answer one (score, then one record), sum up a round.

Shared by the learn pages (HTML forms) and the JSON API (/api/v1/answers, the offline queue), so
both take the same path: item -> attempt count -> domain.scoring -> learn.records.record.
"""
from __future__ import annotations

import datetime
import functools
import json
import uuid
from dataclasses import dataclass

from babel.numbers import get_decimal_symbol
from flask import current_app, g, request
from peewee import fn

from ..content.services import pack_by_id
from ..db import Prepared, run_sql
from ..domain import scoring
from ..i18n import interface_language, localized_key
from ..models import ContentNode, ContentPack, LearningRecord, User, utcnow
from . import records
from .held import Held, held_for

DEVICE_COOKIE = "classroom_device"
DEVICE_COOKIE_SECONDS = 2 * 365 * 24 * 3600
MAX_DURATION_MS = 3600 * 1000
# Completion records get a name-based id made from the round's last answer, so a summary page
# shown twice (or on two devices) stores one completion.
_COMPLETION = uuid.UUID("6f0d5f3e-6a55-4c1b-9a51-5f8c0f1c2a77")


class PracticeError(Exception):
    """The base of what a practice view refuses."""


class NotAnExercise(PracticeError):
    """No installed exercise (or no such item in it): 404."""


class AttemptsUsed(PracticeError):
    """Every try the exercise allows for this item is used: 409."""

    def __init__(self, allowed: int):
        super().__init__(f"all {allowed} tries are used")
        self.allowed = allowed


class HeldForQuiz(PracticeError):
    """The item is in a quiz held for this student (learn/held.py): no feedback on it now: 409."""


class RecordClash(PracticeError):
    """A record id that names someone else's record, or another item: 409."""


@dataclass(frozen=True)
class Exercise:
    pack: ContentPack
    node: ContentNode
    items: list[dict]
    attempts: int | None  # tries per item; None: unlimited

    def item(self, item_id: str) -> dict:
        for item in self.items:
            if item["id"] == item_id:
                return item
        raise NotAnExercise(item_id)

    def index(self, item_id: str) -> int:
        return [item["id"] for item in self.items].index(item_id)


@dataclass(frozen=True)
class Answer:
    row: LearningRecord
    new: bool
    item: dict
    language: str
    #: right, but stored as not right: an earlier wrong answer's explanation had shown the answer
    right_after_explanation: bool = False

    @property
    def explanation(self) -> str | None:
        return scoring.explanation(self.item, self.language)


@dataclass(frozen=True)
class ItemState:
    tries: int  # answers stored so far
    right: bool  # the last answer was right
    ever_right: bool


# Every answer looks these up: their SQL is built once (db.Prepared).
_NODE = Prepared(lambda: ContentNode.select().where(ContentNode.pack == 0, ContentNode.node_id == ""))
_TRIES = Prepared(lambda: LearningRecord.select(fn.COUNT(LearningRecord.seq)).where(
    LearningRecord.user == 0, LearningRecord.pack_id == "", LearningRecord.node_id == "",
    LearningRecord.verb == "answered", LearningRecord.item_id == "", LearningRecord.assignment.is_null()))
_WRONG = Prepared(lambda: LearningRecord.select(fn.COUNT(LearningRecord.seq)).where(
    LearningRecord.user == 0, LearningRecord.pack_id == "", LearningRecord.node_id == "",
    LearningRecord.verb == "answered", LearningRecord.item_id == "", LearningRecord.assignment.is_null(),
    LearningRecord.correct == False, LearningRecord.created_at >= datetime.datetime(2000, 1, 1)))  # noqa: E712
#: how long an explanation seen after a wrong answer keeps a right answer to the item from counting
#: (a retry the same day copies it; a review days later is knowing it)
EXPLANATION_REMEMBERED = datetime.timedelta(hours=12)


def exercise(pack_id: str, node_id: str) -> Exercise:
    # The installed version's row, remembered per process like every pack page's (content.services).
    pack = pack_by_id(pack_id)
    found = _exercise_node(pack.id, pack.manifest_sha256, node_id) if pack is not None else None
    if found is None:
        raise NotAnExercise(f"{pack_id}/{node_id}")
    node, items, attempts = found
    return Exercise(pack, node, list(items), attempts)


@functools.lru_cache(maxsize=512)
def _exercise_node(pack_row: int, manifest_sha256: str, node_id: str) -> tuple[ContentNode, tuple, int | None] | None:
    """An exercise node with its items parsed, remembered per installed pack version.

    Every answer needs the node's items, and parsing its JSON each time cost about a tenth of an
    answer's CPU. An installed pack version never changes (a new version or a reinstall gets a
    new manifest hash or pack row), so the key (pack row, manifest hash, node) cannot go stale.
    """
    nodes = _NODE(pack_row, node_id)
    node = nodes[0] if nodes else None
    if node is None or node.kind != "exercise":
        return None
    data = json.loads(node.data)
    return node, tuple(data.get("items") or []), data.get("attempts")


def content_language(item: dict, interface: str | None = None) -> str:
    """The language an item is shown in: the `interface` language's (default: this request's) when
    the item has it, else a fallback."""
    return localized_key(item.get("prompt") or {}, interface) or "kk"


def shown_response(row: LearningRecord, item: dict) -> str:
    """A stored answer as the student saw and typed it: choice texts in the language it was given
    in, a typed number or text exactly as typed ("1/2" stays "1/2"); a number stored before the
    typed text was kept, with the interface's decimal mark ("0,5" in kk and ru)."""
    return scoring.shown_response(item, row.response or "", row.language, get_decimal_symbol(interface_language()),
                                  typed=row.typed)


def _answers(user: User, ex: Exercise):
    return (LearningRecord.select()
            .where(LearningRecord.user == user.id, LearningRecord.pack_id == ex.pack.pack_id,
                   LearningRecord.node_id == ex.node.node_id, LearningRecord.verb == "answered",
                   LearningRecord.assignment.is_null())  # quiz answers are the quiz's, not practice
            .order_by(LearningRecord.seq))


# Asked on every practice page: written here, and only the two columns it needs, read as they come
# (a model row for each answer cost more than the query).
_STATES = ("SELECT item_id, correct FROM learning_record WHERE user_id = ? AND pack_id = ? AND node_id = ?"
           " AND verb = 'answered' AND assignment IS NULL ORDER BY seq")


def states(user: User, ex: Exercise) -> dict[str, ItemState]:
    """Each item's tries and results so far (items never answered are left out)."""
    found: dict[str, ItemState] = {}
    for item_id, correct in run_sql(_STATES, (user.id, ex.pack.pack_id, ex.node.node_id)).fetchall():
        right = bool(correct)
        before = found.get(item_id)
        found[item_id] = (ItemState(before.tries + 1, right, before.ever_right or right) if before is not None
                          else ItemState(1, right, right))
    return found


def tries_used(user: User, ex: Exercise, item_id: str) -> int:
    return _TRIES.scalar(user.id, ex.pack.pack_id, ex.node.node_id, "answered", item_id)


def explanation_shown(user: User, ex: Exercise, item: dict, language: str) -> bool:
    """Whether the feedback to a wrong answer in the last EXPLANATION_REMEMBERED showed this item's
    explanation (and with it the answer): a right answer now does not count as right."""
    if scoring.explanation(item, language) is None:
        return False
    since = LearningRecord.created_at.db_value(utcnow() - EXPLANATION_REMEMBERED)
    return _WRONG.scalar(user.id, ex.pack.pack_id, ex.node.node_id, "answered", item["id"], False, since) > 0


def tries_left(ex: Exercise, used: int) -> int | None:
    return None if ex.attempts is None else max(0, ex.attempts - used)


def next_index(user: User, ex: Exercise, held: Held | None = None,
               known: dict[str, ItemState] | None = None) -> int | None:
    """The first item not yet answered right that has tries left, whose explanation was not just
    shown (a right answer to it would not count now) and that no quiz holds (learn/held.py); None
    when there is none. `held` and `known` (states) when the caller has them already."""
    known = known if known is not None else states(user, ex)
    held = held if held is not None else held_for(user)
    for index, item in enumerate(ex.items):
        state = known.get(item["id"], ItemState(0, False, False))
        if (not state.ever_right and tries_left(ex, state.tries) != 0
                and not held.holds(ex.pack.pack_id, ex.node.node_id, item["id"])
                and not (state.tries and explanation_shown(user, ex, item, content_language(item)))):
            return index
    return None


def stored_attempt(user: User, ex: Exercise, item_id: str, attempt: int) -> LearningRecord | None:
    return _answers(user, ex).where(LearningRecord.item_id == item_id,
                                    LearningRecord.attempt == attempt).first()


def clamp_duration(value: int | None) -> int | None:
    return None if value is None else max(0, min(MAX_DURATION_MS, value))


def answer(user: User, device: str, ex: Exercise, item_id: str, response: object,
           duration_ms: int | None = None, record_uuid: str | None = None,
           occurred_at: datetime.datetime | None = None) -> Answer:
    """Score a response and store it as one `answered` record.

    A right answer given soon after the feedback to a wrong one showed the item's explanation is
    stored as not right (score 0): the explanation gave the answer away (right_after_explanation).
    Raises NotAnExercise (unknown item), RecordClash, AttemptsUsed, HeldForQuiz, scoring.ResponseError (the
    response does not fit the item) or records.RecordError; then nothing is stored. A
    `record_uuid` already stored for this user and item returns that record (new=False).
    """
    item = ex.item(item_id)
    language = content_language(item)
    if record_uuid is not None:
        existing = LearningRecord.get_or_none(LearningRecord.uuid == record_uuid)
        if existing is not None:
            if (existing.user_id != user.id or existing.pack_id != ex.pack.pack_id
                    or existing.node_id != ex.node.node_id or existing.item_id != item_id):
                raise RecordClash(record_uuid)
            return Answer(existing, False, item, existing.language)
    if held_for(user).holds(ex.pack.pack_id, ex.node.node_id, item_id):
        raise HeldForQuiz(item_id)
    # Refused before scoring when the tries are used up; the number itself is counted again inside
    # the write (records.record), which also catches two answers at once.
    if ex.attempts is not None and tries_left(ex, tries_used(user, ex, item_id)) == 0:
        raise AttemptsUsed(ex.attempts)
    scored = scoring.score(item, response, language)
    # After the explanation showed the answer, copying it is not knowing it: stored as not right.
    told = scored.score > 0 and explanation_shown(user, ex, item, language)
    interaction = records.Interaction(
        verb="answered", pack_id=ex.pack.pack_id, node_id=ex.node.node_id, node_kind="exercise",
        language=language, item_id=item_id, classroom=records.FIRST_CLASS, response=scored.response_text,
        typed=scored.typed,
        correct=scored.correct and not told, score=0.0 if told else scored.score,
        duration_ms=clamp_duration(duration_ms), attempt=1)  # numbered in the write
    try:
        row, new = records.record(user, device, interaction, record_uuid=record_uuid, occurred_at=occurred_at,
                                   tries_allowed=ex.attempts)
    except records.NoTriesLeft:  # another answer to this item was stored meanwhile
        raise AttemptsUsed(ex.attempts) from None
    return Answer(row, new, item, row.language, right_after_explanation=told and new and scored.correct)


@dataclass(frozen=True)
class Summary:
    total: int
    answered: int
    right: int
    record: LearningRecord | None  # the completion, once every item is answered

    @property
    def complete(self) -> bool:
        return self.answered == self.total


def summary(user: User, device: str, ex: Exercise) -> Summary:
    """How the exercise went; once every item is answered, its one `completed` record."""
    known = states(user, ex)
    ids = [item["id"] for item in ex.items]
    answered = sum(1 for key in ids if key in known)
    right = sum(1 for key in ids if key in known and known[key].right)
    result = Summary(len(ids), answered, right, None)
    if not ids or not result.complete:
        return result
    last = _answers(user, ex).order_by(LearningRecord.seq.desc()).first()
    language = content_language(ex.items[0])
    # Completed when the last answer was made (offline answers arrive later, in any order), not
    # when the result page was opened.
    finished = _answers(user, ex).order_by(LearningRecord.occurred_at.desc()).first().occurred_at
    row, _ = records.record(
        user, device,
        records.Interaction(verb="completed", pack_id=ex.pack.pack_id, node_id=ex.node.node_id,
                             node_kind="exercise", language=language, classroom=records.FIRST_CLASS,
                             score=right / len(ids), progress=1.0),
        record_uuid=str(uuid.uuid5(_COMPLETION, last.uuid)), occurred_at=finished)
    return Summary(len(ids), answered, right, row)


# --- the device cookie ---------------------------------------------------------------------------

def device_id() -> str:
    """This browser's device id: from its cookie, else a new one (set on the response)."""
    state = g._get_current_object()  # not the proxy (security.load_user says why)
    found = state.get("device_id")
    if found is None:
        sent = request.cookies.get(DEVICE_COOKIE)
        found = state.device_id = sent if records.valid_device_id(sent) else records.new_device_id()
    return found


def remember_device(response):
    """An `after_request` hook: give a student's browser its long-lived device id cookie."""
    user = g._get_current_object().get("user")  # not the proxy (security.load_user says why)
    if user is None or user.role != "student" or records.valid_device_id(request.cookies.get(DEVICE_COOKIE)):
        return response
    response.set_cookie(DEVICE_COOKIE, device_id(), max_age=DEVICE_COOKIE_SECONDS, httponly=True,
                        samesite="Lax", secure=current_app.config["CLASSROOM_SETTINGS"].server_secure_cookies)
    return response


@dataclass(frozen=True)
class ExerciseProgress:
    pack_id: str
    node_id: str
    title: str | None  # None when the pack is no longer installed
    items: int | None
    answered: int  # items answered at least once
    right: int  # items answered right at least once
    answers: int
    seconds: int
    last: datetime.datetime


def my_progress(user: User) -> list[ExerciseProgress]:
    """Every exercise this student answered in, newest first: derived from their records only."""
    groups: dict[tuple[str, str], dict] = {}
    for pack_id, node_id, item_id, correct, ms, when in (
            LearningRecord.select(LearningRecord.pack_id, LearningRecord.node_id, LearningRecord.item_id,
                                  LearningRecord.correct, LearningRecord.duration_ms, LearningRecord.occurred_at)
            .where(LearningRecord.user == user.id, LearningRecord.verb == "answered",
                   LearningRecord.assignment.is_null()).tuples()):
        group = groups.setdefault((pack_id, node_id), {"items": set(), "right": set(), "answers": 0, "ms": 0,
                                                       "last": when})
        group["items"].add(item_id)
        if correct:
            group["right"].add(item_id)
        group["answers"] += 1
        group["ms"] += ms or 0
        group["last"] = max(group["last"], when)
    result = []
    for (pack_id, node_id), group in groups.items():
        node = (ContentNode.select(ContentNode.title, ContentNode.data).join(ContentPack)
                .where(ContentPack.pack_id == pack_id, ContentNode.node_id == node_id).first())
        result.append(ExerciseProgress(
            pack_id, node_id, node.title if node else None,
            len(json.loads(node.data).get("items") or []) if node else None,
            len(group["items"]), len(group["right"]), group["answers"], group["ms"] // 1000, group["last"]))
    return sorted(result, key=lambda row: row.last, reverse=True)


def record_read_book(user: User, pack_id: str, book: ContentNode, record_uuid: str) -> None:
    """The student scrolled to the end of a PDF textbook: one `read` record, like a chapter's."""
    languages = list(json.loads(book.data).get("pdf") or {})
    records.store(user, device_id(), records.Interaction(
        verb="read", pack_id=pack_id, node_id=book.node_id, node_kind="ebook",
        language=languages[0] if len(languages) == 1 else localized_key(json.loads(book.title)) or "kk",
        classroom=records.FIRST_CLASS, progress=1.0), record_uuid=record_uuid)


def record_opened(user: User, pack_id: str, node_id: str, node_kind: str, language: str) -> None:
    """A student opened a lesson, chapter, media, e-textbook or exercise page: one `opened` record,
    stored as the page is sent (records.store_soon): nobody waits for it to be saved."""
    records.store_soon(user, device_id(), records.Interaction(
        verb="opened", pack_id=pack_id, node_id=node_id, node_kind=node_kind, language=language,
        classroom=records.FIRST_CLASS))


# On every home page: one query (each query a page makes hands the GIL to another request thread).
_LAST_OPENED = ("SELECT r.pack_id, r.node_id, n.title FROM"
                " (SELECT pack_id, node_id FROM learning_record WHERE user_id = ? AND verb = 'opened'"
                " ORDER BY seq DESC LIMIT 1) AS r"
                " JOIN content_pack AS p ON p.pack_id = r.pack_id"
                " JOIN content_node AS n ON n.pack_id = p.id AND n.node_id = r.node_id")


def last_opened(user: User) -> tuple[str, str, str] | None:
    """(pack id, node id, title JSON) of what this student opened last, if it is still in the library."""
    found = run_sql(_LAST_OPENED, [user.id]).fetchone()
    return tuple(found) if found else None


def chapter(pack_id: str, node_id: str) -> ContentNode | None:
    """An installed e-textbook chapter (with its book as parent), or None."""
    return (ContentNode.select(ContentNode.node_id, ContentNode.parent_id, ContentNode.title, ContentNode.data)
            .join(ContentPack).where(ContentPack.pack_id == pack_id, ContentNode.node_id == node_id,
                                     ContentNode.kind == "chapter", ContentNode.parent_id.is_null(False))
            .first())


def record_read(user: User, pack_id: str, node_id: str, record_uuid: str) -> None:
    """The student reached the end of a chapter: one `read` record (the id makes it one per chapter)."""
    node = chapter(pack_id, node_id)
    languages = list((json.loads(node.data).get("content") or {}) if node else {})
    records.store(user, device_id(), records.Interaction(
        verb="read", pack_id=pack_id, node_id=node_id, node_kind="chapter",
        language=languages[0] if len(languages) == 1 else localized_key(json.loads(node.title)) or "kk",
        classroom=records.FIRST_CLASS, progress=1.0), record_uuid=record_uuid)
