"""Adaptive practice: what each student knows of each skill, the chance of a right answer, the next item.

Pure: plain data in, plain data out; no flask, peewee or requests, and no numpy (the server runs on
a Raspberry-Pi-class board), so everything here is plain Python.

The model: Bayesian Knowledge Tracing with item difficulty and student ability
-------------------------------------------------------------------------------
Each student either has or has not mastered each skill (a hidden state). A skill has four
parameters: `prior` (mastered before the first answer), `learn` (an answer turns "not yet" into
"mastered"), `guess` and `slip` (a right answer without mastery, a wrong one with it), and an
optional `forget`. An item has a `difficulty` in logits that shifts both its guess and its slip:

    P(right | mastered)     = sigmoid(logit(1 - slip) - difficulty + ability)
    P(right | not mastered) = sigmoid(logit(guess) - difficulty + ability)

An item with several skills is answered right "with mastery" only when every one of them is
mastered (a conjunctive item); its guess and slip come from the mean of its skills' logits.
So P(right) = guess_i + (1 - slip_i - guess_i) * product of P(mastered) over its skills, and an
answer updates each of its skills by Bayes' rule (with the other skills' current P(mastered)),
then by the learning (and forgetting) transition. With every difficulty 0 this is classic BKT
(Corbett & Anderson 1995); item-level guess and slip are Pardos & Heffernan's KT-IDEM, tied here
to one difficulty per item so that it needs few answers per item. A pack's `difficulty` (-4..4)
is the prior of an item's difficulty, times a scale that `fit` estimates from the school's data.
A student also has a general ability, a logit added to both chances, tracked online from every
answer (a Bayesian logistic step whose variance shrinks as answers come, as in Glicko); `fit`
chooses the population's spread of it (0 when students differ only in their skills), so a
strong student's first answers on a new skill are predicted better.
Why this model and not Elo/IRT or plain BKT: the figures are in docs/BENCHMARKS.md
(`benchmarks/adaptive/`).

`fit` estimates every parameter from the school's answers by expectation-maximisation
(forward-backward per student and skill, then a few Newton steps on the item difficulties and
the guess/slip logits), with weak priors so that skills and items with few answers stay close to
the defaults, then picks the ability spread that best predicts the answers replayed one by one.
A year of a 500-student school (900,000 answers) fits in under a minute here (see the benchmark).

API (for the web layer, which stores the JSON, and for the agent's nightly job)
-------------------------------------------------------------------------------
    items = pack_items(pack_json)              # [Item(key, skills, difficulty)] of a pack.json dict
    key = item_key(pack_id, node_id, item_id)  # "pack/node/item", the key records and Items use
    params = fit(records, items, prior=old)    # agent: records are Record(student, item, skills,
                                               # correct, when) or the same 5-tuples; -> Params
    params.to_dict() / Params.from_dict(d)     # JSON-ready
    model = Model(params, Policy(target=0.7))  # Model.from_dict(model.to_dict()) round-trips
    state = StudentState()                     # a new student; StudentState.from_dict(d) / to_dict()
    model.predict(state, item) -> float        # P(right answer) now
    model.update(state, item, correct, when)   # after an answer; changes `state` in place,
                                               # returns the prediction made before the answer
    model.recommend(state, candidates, now, recent=()) -> Decision | None
        # Decision(item, p, kind, skill, mastery, reason): reason is a Reason(msgid, params), an
        # English gettext msgid with %(name)s fields for the web layer to translate; Decision.to_dict()
        # is what to record. kind: "new", "learn", "review", "rest", "mastered", "repeat".
    model.mastery(state, skills=None) -> {skill: P(mastered)}   # the mastery bars and the heatmap
    model.needs_help(state) -> [(skill, P(mastered), Reason)]  # "who needs help on what"
    model.skill_reason(state, skill) -> Reason  # "3 of the last 4 fraction.compare items wrong"

`when` and `now` are POSIX seconds (float) or datetimes (naive ones are taken as UTC).

A StudentState is a cache of the student's answers: replaying them through `update` in order
rebuilds it at any time (under 5 us an answer here). So the answer path can stay one insert: keep
the state JSON with the seq of the last record applied, and bring it up to date (records after
that seq) when the student next asks for an item or a teacher opens a report. Reason msgids are
written as `Reason("msgid", {...})`: adding `Reason` to the keywords in babel.cfg extracts them.
Nothing here raises on odd data: unknown skills get the default parameters, items without skills
are predicted from the defaults and change no skill, a new student starts at each skill's prior,
and a student's state stays small however many answers they give.
"""
from __future__ import annotations

import calendar
import math
from array import array
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

__all__ = ["Decision", "Item", "Model", "Params", "Policy", "Reason", "Record", "SkillParams", "SkillState",
           "StudentState", "fit", "item_key", "pack_items"]

FORMAT = 1  # version of the dicts below
EPS = 1e-6
HISTORY = 8  # right/wrong outcomes kept per skill, for the reasons a teacher reads
RECENT = 64  # answered items kept per student, for "not too soon again"


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _logit(p: float) -> float:
    p = min(max(p, EPS), 1.0 - EPS)
    return math.log(p / (1.0 - p))


def _clamp(p: float, low: float = EPS, high: float = 1.0 - EPS) -> float:
    return low if p < low else high if p > high else p


def _seconds(when: float | datetime | None) -> float:
    if when is None:
        return 0.0
    if isinstance(when, datetime):
        if when.tzinfo is None:
            return calendar.timegm(when.timetuple()) + when.microsecond / 1e6
        return when.timestamp()
    return _number(when, 0.0, -1e12, 1e12)


def _number(value: Any, default: float, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number)) if math.isfinite(number) else default


class Reason(NamedTuple):
    """Why: an English gettext msgid with %(name)s fields, and the values of those fields."""
    msgid: str
    params: dict

    def text(self) -> str:
        """The English text (tests, logs); the web layer translates `msgid` instead."""
        return self.msgid % self.params if self.params else self.msgid


# --- content -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """What the model needs of an exercise item: its key, its skill tags, the pack's difficulty (-4..4)."""
    key: str
    skills: tuple[str, ...] = ()
    difficulty: float | None = None

    def __post_init__(self) -> None:
        raw = self.skills
        if raw is None:
            raw = ()
        elif isinstance(raw, str):
            raw = (raw,)
        # Order kept, duplicates and blanks dropped: a skill counted twice would be updated twice.
        clean = tuple(dict.fromkeys(s.strip() for s in raw if isinstance(s, str) and s.strip()))
        if clean != self.skills:
            object.__setattr__(self, "skills", clean)
        d = self.difficulty
        if d is not None and not (isinstance(d, (int, float)) and math.isfinite(d)):
            object.__setattr__(self, "difficulty", None)


def item_key(pack_id: str, node_id: str, item_id: str) -> str:
    """The key of an item across the school: ids are [a-z0-9._-], so '/' cannot be in them."""
    return f"{pack_id}/{node_id}/{item_id}"


def pack_items(pack: Mapping[str, Any]) -> list[Item]:
    """Every exercise item of a pack.json dict, in the pack's order."""
    found: list[Item] = []

    def walk(nodes: Iterable[Any]) -> None:
        for node in nodes or ():
            if not isinstance(node, Mapping):
                continue
            for raw in node.get("items") or ():
                if isinstance(raw, Mapping) and raw.get("id"):
                    found.append(Item(item_key(str(pack.get("id")), str(node.get("id")), str(raw["id"])),
                                      tuple(raw.get("skills") or ()), raw.get("difficulty")))
            walk(node.get("children") or ())

    walk(pack.get("nodes") or ())
    return found


@dataclass(frozen=True)
class Record:
    """One answer, as the agent reads it from the learning records."""
    student: str
    item: str
    skills: tuple[str, ...]
    correct: bool
    when: float | datetime | None = None


# --- parameters ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SkillParams:
    prior: float = 0.3
    learn: float = 0.15
    guess: float = 0.2
    slip: float = 0.1
    forget: float = 0.0
    answers: int = 0  # answers the fit saw on this skill (0: a default)

    def to_dict(self) -> dict:
        return {f.name: (round(getattr(self, f.name), 6) if f.name != "answers" else self.answers)
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, default: SkillParams | None = None) -> SkillParams:
        base = default or cls()
        if not isinstance(data, Mapping):
            return base
        values = {}
        for f in fields(cls):
            value = data.get(f.name, getattr(base, f.name))
            if f.name == "answers":
                values[f.name] = int(_number(value, base.answers, 0, 1e12))
            else:
                values[f.name] = _number(value, getattr(base, f.name), 0.0, 1.0)
        return cls(**values)


DEFAULT_SKILL = SkillParams()
DIFFICULTY_SCALE = 0.5  # logits per unit of a pack's difficulty, until a fit measures it
ABILITY_SD = 0.5  # students differ in general ability, until a fit measures by how much


@dataclass(frozen=True)
class Params:
    """Fitted parameters: per skill, per item difficulty (logits), and what new content gets."""
    skills: dict[str, SkillParams] = field(default_factory=dict)
    items: dict[str, float] = field(default_factory=dict)
    item_answers: dict[str, int] = field(default_factory=dict)
    default: SkillParams = DEFAULT_SKILL
    difficulty_scale: float = DIFFICULTY_SCALE
    ability_sd: float = ABILITY_SD  # spread of students' general ability (logits); 0: none tracked
    info: dict = field(default_factory=dict)  # what the fit saw: records, students, iterations, log-likelihood

    def skill(self, name: str) -> SkillParams:
        return self.skills.get(name) or self.default

    def difficulty(self, item: Item) -> float:
        found = self.items.get(item.key)
        if found is not None:
            return found
        return self.difficulty_scale * item.difficulty if item.difficulty is not None else 0.0

    def to_dict(self) -> dict:
        return {"format": FORMAT, "default": self.default.to_dict(),
                "difficulty_scale": round(self.difficulty_scale, 6), "ability_sd": round(self.ability_sd, 6),
                "skills": {name: p.to_dict() for name, p in sorted(self.skills.items())},
                "items": {key: {"difficulty": round(d, 6), "answers": self.item_answers.get(key, 0)}
                          for key, d in sorted(self.items.items())},
                "info": dict(self.info)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Params:
        """Parameters from `to_dict`; anything missing or malformed falls back to the defaults."""
        if not isinstance(data, Mapping):
            return cls()
        default = SkillParams.from_dict(data.get("default"))
        skills = {str(k): SkillParams.from_dict(v, default) for k, v in (data.get("skills") or {}).items()}
        items: dict[str, float] = {}
        answers: dict[str, int] = {}
        for key, value in (data.get("items") or {}).items():
            try:
                d = float(value["difficulty"] if isinstance(value, Mapping) else value)
                n = int(value.get("answers", 0)) if isinstance(value, Mapping) else 0
            except (TypeError, ValueError, KeyError):
                continue
            if math.isfinite(d):
                items[str(key)] = max(-8.0, min(8.0, d))
                answers[str(key)] = n
        scale = _number(data.get("difficulty_scale"), DIFFICULTY_SCALE, 0.0, 4.0)
        ability_sd = _number(data.get("ability_sd"), ABILITY_SD, 0.0, 3.0)
        info = data.get("info")
        return cls(skills, items, answers, default, scale, ability_sd, dict(info) if isinstance(info, Mapping) else {})


@dataclass(frozen=True)
class Policy:
    """How the next item is picked."""
    target: float = 0.7  # the chance of a right answer aimed at: likely, not sure (the proximal zone)
    mastery: float = 0.95  # P(mastered) from which a skill counts as mastered: move on
    min_gap_items: int = 4  # an item comes back only after this many other answers...
    min_gap_seconds: float = 120.0  # ...and this many seconds
    review_after: float = 86400.0  # a mastered skill is due for review this long after its last answer
    review_growth: float = 2.0  # each right review multiplies that interval (spaced repetition)
    review_every: int = 4  # at most one review in this many answers
    order_weight: float = 0.1  # how much the candidates' order (the pack's) weighs against the target

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy:
        base = cls()
        if not isinstance(data, Mapping):
            return base
        values = {}
        for f in fields(cls):
            kind = type(getattr(base, f.name))
            try:
                value = kind(data.get(f.name, getattr(base, f.name)))
            except (TypeError, ValueError):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            values[f.name] = value
        policy = replace(base, **values)
        return replace(policy, target=_clamp(policy.target, 0.05, 0.95), mastery=_clamp(policy.mastery, 0.5, 0.999),
                       min_gap_items=max(0, policy.min_gap_items), review_every=max(1, policy.review_every))


# --- a student's state ---------------------------------------------------------------------------

@dataclass
class SkillState:
    p: float  # P(mastered) now, i.e. before the next answer
    answers: int = 0
    last: float = 0.0  # when the latest answer was given
    history: str = ""  # the latest outcomes, oldest first: "1" right, "0" wrong
    reviews: int = 0  # spaced right answers in a row while mastered: the review interval grows with them

    def to_dict(self) -> dict:
        return {"p": round(self.p, 6), "n": self.answers, "last": self.last, "h": self.history, "r": self.reviews}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SkillState:
        history = str(data.get("h", ""))
        return cls(_number(data.get("p"), 0.0, 0.0, 1.0), max(0, int(data.get("n", 0))),
                   _seconds(data.get("last", 0.0)),
                   "".join(c for c in history if c in "01")[-HISTORY:], max(0, int(data.get("r", 0))))


@dataclass
class StudentState:
    """One student's knowledge: a few numbers per skill seen, and the latest items answered."""
    skills: dict[str, SkillState] = field(default_factory=dict)
    recent: list[tuple[str, float]] = field(default_factory=list)  # (item key, when), oldest first
    answers: int = 0
    since_review: int = 0  # answers since the latest answer on an already mastered skill
    ability: float = 0.0  # general ability in logits, above or below the average student
    ability_var: float | None = None  # how unsure that is; None: not estimated yet (the population's spread)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "answers": self.answers, "since_review": self.since_review,
                "ability": round(self.ability, 6),
                "ability_var": None if self.ability_var is None else round(self.ability_var, 6),
                "skills": {name: s.to_dict() for name, s in self.skills.items()},
                "recent": [[key, when] for key, when in self.recent]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StudentState:
        """A state from `to_dict`; a missing, malformed or foreign dict gives a new student."""
        if not isinstance(data, Mapping):
            return cls()
        try:
            skills = {str(k): SkillState.from_dict(v) for k, v in (data.get("skills") or {}).items()}
            recent = [(str(k), _seconds(w)) for k, w in (data.get("recent") or [])][-RECENT:]
            var = data.get("ability_var")
            return cls(skills, recent, max(0, int(data.get("answers", 0))), max(0, int(data.get("since_review", 0))),
                       _number(data.get("ability"), 0.0, -6.0, 6.0),
                       None if var is None else _number(var, 0.0, 0.0, 9.0))
        except (TypeError, ValueError, AttributeError):
            return cls()


@dataclass(frozen=True)
class Decision:
    """The item picked, the predicted chance of a right answer, and why (for the record and the teacher)."""
    item: str
    p: float
    kind: str  # new, learn, review, rest, mastered, repeat
    skill: str | None
    mastery: float | None  # P(mastered) of `skill` when picked
    reason: Reason

    def to_dict(self) -> dict:
        return {"item": self.item, "p": round(self.p, 4), "kind": self.kind, "skill": self.skill,
                "mastery": None if self.mastery is None else round(self.mastery, 4),
                "reason": self.reason.msgid, "reason_params": dict(self.reason.params)}


# --- the model -----------------------------------------------------------------------------------

class Model:
    """Predictions, updates and picks for fitted `Params` under a `Policy`. Safe to share between threads."""

    def __init__(self, params: Params | None = None, policy: Policy | None = None):
        self.params = params or Params()
        self.policy = policy or Policy()
        self._emission: dict[Item, tuple[float, float]] = {}

    def to_dict(self) -> dict:
        return {"params": self.params.to_dict(), "policy": self.policy.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Model:
        data = data if isinstance(data, Mapping) else {}
        return cls(Params.from_dict(data.get("params")), Policy.from_dict(data.get("policy")))

    # -- knowledge --

    def _logits(self, item: Item) -> tuple[float, float]:
        found = self._emission.get(item)
        if found is None:
            skills = [self.params.skill(s) for s in item.skills] or [self.params.default]
            d = self.params.difficulty(item)
            known = sum(_logit(1.0 - s.slip) for s in skills) / len(skills)
            unknown = sum(_logit(s.guess) for s in skills) / len(skills)
            found = self._emission[item] = (known - d, unknown - d)
        return found

    def emission(self, item: Item, ability: float = 0.0) -> tuple[float, float]:
        """(P(right | every skill mastered), P(right | not)) for an item, for a student of this ability."""
        known, unknown = self._logits(item)
        return _sigmoid(known + ability), _sigmoid(unknown + ability)

    def p_mastered(self, state: StudentState, skill: str) -> float:
        known = state.skills.get(skill)
        return known.p if known is not None else self.params.skill(skill).prior

    def _p_all(self, state: StudentState, item: Item) -> float:
        if not item.skills:
            return self.params.default.prior
        mastered = 1.0
        for skill in item.skills:
            mastered *= self.p_mastered(state, skill)
        return mastered

    def predict(self, state: StudentState, item: Item) -> float:
        """The chance that this student answers this item right now."""
        known, unknown = self.emission(item, state.ability)
        return unknown + (known - unknown) * self._p_all(state, item)

    def update(self, state: StudentState, item: Item, correct: bool, when: float | datetime | None = None) -> float:
        """Take in one answer: changes `state` in place; returns the prediction made before it."""
        when = _seconds(when)
        correct = bool(correct)
        known, unknown = self.emission(item, state.ability)
        mastered = self._p_all(state, item)
        predicted = _clamp(unknown + (known - unknown) * mastered)
        e_known, e_unknown = (known, unknown) if correct else (1.0 - known, 1.0 - unknown)
        before = [self.p_mastered(state, s) for s in item.skills]
        review = False
        for index, skill in enumerate(item.skills):
            others = 1.0
            for j, p in enumerate(before):
                if j != index:
                    others *= p
            p = before[index]
            e1 = others * e_known + (1.0 - others) * e_unknown
            num = p * e1
            total = num + (1.0 - p) * e_unknown
            post = num / total if total > 0.0 else p
            sp = self.params.skill(skill)
            after = _clamp(post * (1.0 - sp.forget) + (1.0 - post) * sp.learn, 0.0, 1.0)
            s = state.skills.get(skill)
            if s is None:
                s = state.skills[skill] = SkillState(p)
            if p >= self.policy.mastery:
                review = True
                if not correct:
                    s.reviews = 0
                elif when - s.last >= 0.5 * self._review_interval(s):
                    s.reviews += 1  # a right answer after a spacing, not one more in the same sitting
            else:
                s.reviews = 0
            s.p = after
            s.answers += 1
            s.last = max(s.last, when)
            s.history = (s.history + ("1" if correct else "0"))[-HISTORY:]
        self._update_ability(state, correct, predicted, known, unknown, mastered)
        state.recent.append((item.key, when))
        if len(state.recent) > RECENT:
            del state.recent[:-RECENT]
        state.answers += 1
        state.since_review = 0 if review else state.since_review + 1
        return predicted

    def _update_ability(self, state: StudentState, correct: bool, predicted: float, known: float, unknown: float,
                        mastered: float) -> None:
        # One step of online Bayesian logistic regression (a Laplace approximation, as Glicko does for
        # Elo): the ability moves by its variance times the gradient, and the variance shrinks by the
        # answer's information, so a student's first answers move it most.
        variance = self.params.ability_sd ** 2 if state.ability_var is None else state.ability_var
        if variance <= 0.0:
            state.ability_var = 0.0
            return
        slope = mastered * known * (1.0 - known) + (1.0 - mastered) * unknown * (1.0 - unknown)  # dP/d ability
        spread = predicted * (1.0 - predicted)
        variance = 1.0 / (1.0 / variance + slope * slope / spread)
        state.ability = max(-6.0, min(6.0, state.ability + variance * ((1.0 if correct else 0.0) - predicted) * slope / spread))
        state.ability_var = variance

    def mastery(self, state: StudentState, skills: Iterable[str] | None = None) -> dict[str, float]:
        """P(mastered) per skill: those given (a prior for the ones never practised), else those seen."""
        names = state.skills.keys() if skills is None else skills
        return {name: self.p_mastered(state, name) for name in names}

    # -- explanations --

    def skill_reason(self, state: StudentState, skill: str) -> Reason:
        """What a teacher can check about a skill: the latest answers, or that it was never practised."""
        s = state.skills.get(skill)
        if s is None or not s.history:
            return Reason("%(skill)s not practised yet", {"skill": skill})
        last = s.history[-4:]
        wrong = last.count("0")
        if wrong:
            return Reason("%(wrong)d of the last %(count)d %(skill)s items wrong",
                          {"wrong": wrong, "count": len(last), "skill": skill})
        return Reason("%(right)d of the last %(count)d %(skill)s items right, mastery %(percent)d%%",
                      {"right": len(last), "count": len(last), "skill": skill, "percent": int(100 * s.p)})

    def needs_help(self, state: StudentState, below: float = 0.5, min_answers: int = 4) -> list[tuple[str, float, Reason]]:
        """Skills practised at least `min_answers` times and still under `below`, weakest first."""
        found = [(name, s.p, self.skill_reason(state, name)) for name, s in state.skills.items()
                 if s.answers >= min_answers and s.p < below]
        return sorted(found, key=lambda row: (row[1], row[0]))

    # -- picking the next item --

    def _review_interval(self, s: SkillState) -> float:
        return self.policy.review_after * self.policy.review_growth ** min(s.reviews, 8)

    def recommend(self, state: StudentState, candidates: Sequence[Item], now: float | datetime | None,
                  recent: Iterable[str] = ()) -> Decision | None:
        """The next item among `candidates` (in the pack's order), or None when there are none.

        `recent`: item keys to keep away from besides those in the state (say, shown but not answered).
        """
        if not candidates:
            return None
        policy = self.policy
        now = _seconds(now)
        blocked = set(recent)
        last_seen: dict[str, int] = {}
        answered = state.recent
        for position, (key, when) in enumerate(answered):
            last_seen[key] = position
            if position >= len(answered) - policy.min_gap_items or now - when < policy.min_gap_seconds:
                blocked.add(key)
        eligible = [item for item in candidates if item.key not in blocked]
        if not eligible:
            # Every item was seen just now: the one seen longest ago, rather than nothing.
            item = min(candidates, key=lambda c: last_seen.get(c.key, -1))
            return self._decision(state, item, "repeat", None, Reason(
                "Every item here was answered a moment ago; this one the longest ago", {}))

        mastery = policy.mastery
        order: dict[str, int] = {}  # the curriculum: skills in the order the candidates bring them
        for item in candidates:
            for skill in item.skills:
                order.setdefault(skill, len(order))
        level = {skill: self.p_mastered(state, skill) for skill in order}
        open_skills = [skill for skill in order if level[skill] < mastery]
        rank = {skill: r for r, skill in enumerate(open_skills)}

        review = self._pick_review(state, eligible, level, now) if state.since_review + 1 >= policy.review_every else None
        if review is not None:
            return review

        best: tuple[float, int] | None = None
        best_item = None
        best_skill = None
        for index, item in enumerate(eligible):
            if item.skills:
                open_here = [rank[s] for s in item.skills if s in rank]
                if not open_here:
                    continue  # every skill mastered: only reviews bring it back
                first = min(open_here)
                skill = open_skills[first]
            else:
                first, skill = len(open_skills), None
            p = self.predict(state, item)
            score = (abs(p - policy.target) + policy.order_weight * first, index)
            if best is None or score < best:
                best, best_item, best_skill = score, item, skill
        if best_item is not None:
            if best_skill is None:
                return self._decision(state, best_item, "learn", None, Reason("This item has no skill tag", {}))
            seen = best_skill in state.skills
            return self._decision(state, best_item, "learn" if seen else "new", best_skill,
                                  self.skill_reason(state, best_skill))

        # Nothing left to learn among the eligible items: practise a mastered skill, the least sure one first
        # (then the longest unpractised): the model's "mastered" can be early, and this is where it shows.
        def weakest(item: Item) -> tuple[float, float, int]:
            lasts = [state.skills[s].last if s in state.skills else 0.0 for s in item.skills]
            return (min((level[s] for s in item.skills), default=1.0), min(lasts, default=now),
                    last_seen.get(item.key, -1))

        item = min(eligible, key=weakest)
        skill = min(item.skills, key=lambda s: level[s]) if item.skills else None
        if open_skills:
            return self._decision(state, item, "rest", skill, Reason(
                "%(skill)s is mastered; practised again while the items of unmastered skills wait their turn",
                {"skill": skill}))
        return self._decision(state, item, "mastered", skill, Reason(
            "Every skill here is mastered; %(skill)s is the least sure of them (%(percent)d%%)",
            {"skill": skill, "percent": int(100 * level[skill]) if skill else 100}))

    def _pick_review(self, state: StudentState, eligible: Sequence[Item], level: Mapping[str, float],
                     now: float) -> Decision | None:
        due: list[tuple[float, str]] = []
        for skill, p in level.items():
            s = state.skills.get(skill)
            if s is None or p < self.policy.mastery:
                continue
            overdue = (now - s.last) / self._review_interval(s)
            if overdue >= 1.0:
                due.append((-overdue, skill))
        for _, skill in sorted(due):
            items = [item for item in eligible if skill in item.skills]
            if not items:
                continue
            item = min(items, key=lambda c: abs(self.predict(state, c) - self.policy.target))
            days = int((now - state.skills[skill].last) // 86400)
            return self._decision(state, item, "review", skill, Reason(
                "Review: %(skill)s was mastered and last practised %(days)d days ago", {"skill": skill, "days": days}))
        return None

    def _decision(self, state: StudentState, item: Item, kind: str, skill: str | None, reason: Reason) -> Decision:
        return Decision(item.key, self.predict(state, item), kind, skill,
                        None if skill is None else self.p_mastered(state, skill), reason)


# --- fitting -------------------------------------------------------------------------------------

# Weak priors of the fit (pseudo-answers): they keep skills and items with few answers near the defaults
# and keep "mastered" meaning better than "not mastered".
PRIOR_STRENGTH = 4.0  # Beta pseudo-counts for prior and learn
FORGET_PRIOR = (0.5, 50.0)  # Beta pseudo-counts (forgot, kept) when forgetting is fitted
LOGIT_SD = 1.0  # sd of the guess/slip logits around their defaults
DIFFICULTY_SD = 1.0  # sd of an item's difficulty around scale * pack difficulty
SCALE_STRENGTH = 5.0  # pseudo-items pulling the difficulty scale toward its default
MIN_SEPARATION = 1.0  # logits between P(right | mastered) and P(right | not), at least


def _records(rows: Iterable[Record | Sequence[Any]]) -> Iterator[Record]:
    for row in rows:
        if isinstance(row, Record):
            yield row
        else:
            student, item, skills, correct, when = row
            yield Record(student, item, skills, correct, when)


class _Data:
    """Answers in compact arrays, per student in time order."""

    def __init__(self, records: Iterable[Record | Sequence[Any]], items: Iterable[Item]):
        self.item_index: dict[str, int] = {}
        self.item_keys: list[str] = []
        self.item_skills: list[tuple[int, ...]] = []
        self.item_pack: list[float | None] = []
        self.skill_index: dict[str, int] = {}
        self.skill_names: list[str] = []
        self.skipped = 0
        for item in items:
            self._item(item.key, item.skills, item.difficulty)
        students: dict[Any, tuple[array, array, bytearray]] = {}
        for record in _records(records):
            index = self.item_index.get(str(record.item))
            if index is None:
                skills = record.skills
                if isinstance(skills, str):
                    skills = (skills,)
                index = self._item(str(record.item), tuple(skills or ()), None)
            if not self.item_skills[index]:
                self.skipped += 1  # an item without skills teaches the model nothing
                continue
            rows = students.get(record.student)
            if rows is None:
                rows = students[record.student] = (array("d"), array("l"), bytearray())
            rows[0].append(_seconds(record.when))
            rows[1].append(index)
            rows[2].append(1 if record.correct else 0)
        self.students: list[tuple[array, bytearray]] = []
        self.records = 0
        for times, seq, ys in students.values():
            order = sorted(range(len(seq)), key=times.__getitem__)  # stable: equal times keep their order
            self.students.append((array("l", (seq[i] for i in order)), bytearray(ys[i] for i in order)))
            self.records += len(seq)

    def _item(self, key: str, skills: Sequence[str], difficulty: float | None) -> int:
        index = self.item_index.get(key)
        if index is not None:
            return index
        index = self.item_index[key] = len(self.item_keys)
        self.item_keys.append(key)
        clean = Item(key, tuple(skills), difficulty)
        ids = []
        for skill in clean.skills:
            if skill not in self.skill_index:
                self.skill_index[skill] = len(self.skill_names)
                self.skill_names.append(skill)
            ids.append(self.skill_index[skill])
        self.item_skills.append(tuple(ids))
        self.item_pack.append(clean.difficulty)
        return index


def fit(records: Iterable[Record | Sequence[Any]], items: Iterable[Item] = (), *, prior: Params | None = None,
        iterations: int = 30, tolerance: float = 1e-5, forgets: bool = False) -> Params:
    """Estimate every parameter from answers: `records` are Record or (student, item, skills, correct, when).

    `items` (e.g. `pack_items` of every installed pack) gives each item its skills and the pack's
    difficulty; items in records but not in `items` take the skills of their records. Give it the
    whole history to learn from, not only the records since the last fit: `prior` (the previous
    fit's Params) is only where the search starts, and what skills and items absent from `records`
    keep. `forgets`: also fit a chance of forgetting per answer (off by default: classic BKT).
    Records are read once, in one pass, so they may come from a generator over database rows.
    """
    data = _Data(records, items)
    base = prior or Params()
    default = base.default
    K, I = len(data.skill_names), len(data.item_keys)
    start = [base.skill(name) for name in data.skill_names]
    prior0 = [s.prior for s in start]
    learn = [s.learn for s in start]
    forget = [s.forget if forgets else 0.0 for s in start]
    a = [_logit(1.0 - s.slip) for s in start]
    c = [_logit(s.guess) for s in start]
    scale = base.difficulty_scale
    pack = data.item_pack
    d = [base.items.get(key, scale * pack[i] if pack[i] is not None else 0.0) for i, key in enumerate(data.item_keys)]
    a_mean, c_mean = _logit(1.0 - default.slip), _logit(default.guess)

    loglik = -math.inf
    done = 0
    stats = None
    for done in range(1, max(1, iterations) + 1):
        stats = _e_step(data, prior0, learn, forget, a, c, d)
        _m_step(data, stats, prior0, learn, forget, a, c, d, default, forgets, a_mean, c_mean, scale)
        scale = _fit_scale(data, stats.item_answers, d, scale, base.difficulty_scale)
        change = stats.loglik - loglik
        loglik = stats.loglik
        if abs(change) <= tolerance * max(1.0, abs(loglik)):
            break

    answers_per_skill = stats.answers if stats else [0] * K
    skills = {name: SkillParams(prior0[k], learn[k], _sigmoid(c[k]), 1.0 - _sigmoid(a[k]), forget[k],
                                answers_per_skill[k])
              for k, name in enumerate(data.skill_names) if answers_per_skill[k]}
    item_answers = stats.item_answers if stats else [0] * I
    fitted_items = {key: d[i] for i, key in enumerate(data.item_keys) if item_answers[i]}
    merged_skills = dict(base.skills)
    merged_skills.update(skills)
    merged_items = dict(base.items)
    merged_items.update(fitted_items)
    merged_answers = dict(base.item_answers)
    merged_answers.update({key: item_answers[i] for i, key in enumerate(data.item_keys) if item_answers[i]})
    fitted = Params(merged_skills, merged_items, merged_answers, _population_default(skills.values(), default),
                    scale, base.ability_sd)
    ability_sd, online = _choose_ability_sd(data, fitted)
    info = {"records": data.records, "students": len(data.students), "skipped": data.skipped,
            "iterations": done, "loglik": round(loglik, 3) if math.isfinite(loglik) else None,
            "online_loglik": online}
    return replace(fitted, ability_sd=ability_sd, info=info)


ABILITY_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
ABILITY_SAMPLE = 100_000  # answers replayed per candidate spread


def _choose_ability_sd(data: _Data, params: Params) -> tuple[float, dict]:
    """The spread of students' ability that predicts the training answers best, replayed as the server
    would (each student from a new state, answer by answer); on a sample of students when there are many."""
    if not data.students:
        return params.ability_sd, {}
    items = [Item(key, tuple(data.skill_names[k] for k in skills), pack)
             for key, skills, pack in zip(data.item_keys, data.item_skills, data.item_pack)]
    step = max(1, math.ceil(data.records / ABILITY_SAMPLE))
    sample = data.students[::step]
    scores = {}
    for sd in ABILITY_GRID:
        model = Model(replace(params, ability_sd=sd))
        total = 0.0
        log = math.log
        for seq, ys in sample:
            state = StudentState()
            for i, y in zip(seq, ys):
                p = model.update(state, items[i], y)
                total += log(p if y else 1.0 - p)
        scores[sd] = total
    best = max(ABILITY_GRID, key=lambda sd: (scores[sd], -sd))
    answers = sum(len(seq) for seq, _ in sample)
    return best, {str(sd): round(score / max(1, answers), 5) for sd, score in scores.items()}


def _population_default(skills: Iterable[SkillParams], default: SkillParams) -> SkillParams:
    """What a new skill starts from: the fitted skills' mean, with the built-in default as one more skill."""
    rows = [s for s in skills if s.answers >= 50]
    if not rows:
        return default
    weight = 1.0 / (len(rows) + 1)
    mean = {name: weight * (getattr(default, name) + sum(getattr(s, name) for s in rows))
            for name in ("prior", "learn", "guess", "slip", "forget")}
    return SkillParams(**mean)


class _Stats:
    def __init__(self, skills: int, items: int):
        self.first = [0.0] * skills  # sum of P(mastered) at a student's first answer on the skill
        self.chains = [0] * skills  # students who answered the skill
        self.learned = [0.0] * skills  # expected "not yet" -> "mastered" transitions
        self.unlearned = [0.0] * skills  # expected time spent "not yet" before another answer
        self.forgot = [0.0] * skills
        self.kept = [0.0] * skills
        self.answers = [0] * skills
        self.item_answers = [0] * items
        # Per item: expected answers (w) and right answers (y) in the "all mastered" (1) and "not" (0) states.
        self.w1 = [0.0] * items
        self.y1 = [0.0] * items
        self.w0 = [0.0] * items
        self.y0 = [0.0] * items
        self.loglik = 0.0


def _e_step(data: _Data, prior0: list[float], learn: list[float], forget: list[float], a: list[float],
            c: list[float], d: list[float]) -> _Stats:
    """Forward-backward per student and skill, accumulating what the M-step needs."""
    item_skills = data.item_skills
    known = [0.0] * len(d)
    unknown = [0.0] * len(d)
    for i, skills in enumerate(item_skills):
        if skills:
            known[i] = _sigmoid(sum(a[k] for k in skills) / len(skills) - d[i])
            unknown[i] = _sigmoid(sum(c[k] for k in skills) / len(skills) - d[i])
    st = _Stats(len(prior0), len(d))
    w1, y1, w0, y0 = st.w1, st.y1, st.w0, st.y0
    log = math.log
    loglik = 0.0
    for seq, ys in data.students:
        chains: dict[int, tuple[list, list, list, list, list]] = {}
        current: dict[int, float] = {}
        multi: dict[int, list] = {}  # answer position -> [item, y, product of P(mastered | all)]
        for t in range(len(seq)):
            i = seq[t]
            y = ys[t]
            skills = item_skills[i]
            kp, up = known[i], unknown[i]
            if y:
                ek, eu = kp, up
            else:
                ek, eu = 1.0 - kp, 1.0 - up
            st.item_answers[i] += 1
            if len(skills) == 1:
                k = skills[0]
                p = current.get(k)
                chain = chains.get(k)
                if chain is None:
                    p = prior0[k]
                    chain = chains[k] = ([], [], [], [], [])
                pred = up + (kp - up) * p
                loglik += log(pred if y else 1.0 - pred)
                num = p * ek
                post = num / (num + (1.0 - p) * eu)
                chain[0].append(p)
                chain[1].append(post)
                chain[2].append(i)
                chain[3].append(y)
                chain[4].append(-1)
                current[k] = post * (1.0 - forget[k]) + (1.0 - post) * learn[k]
            else:
                before = []
                for k in skills:
                    p = current.get(k)
                    if p is None or k not in chains:
                        p = prior0[k]
                        chains[k] = ([], [], [], [], [])
                    before.append(p)
                both = 1.0
                for p in before:
                    both *= p
                pred = up + (kp - up) * both
                loglik += log(pred if y else 1.0 - pred)
                multi[t] = [i, y, 1.0]
                for index, k in enumerate(skills):
                    p = before[index]
                    others = both / p if p > EPS else _product(before, index)
                    e1 = others * ek + (1.0 - others) * eu
                    num = p * e1
                    post = num / (num + (1.0 - p) * eu)
                    chain = chains[k]
                    chain[0].append(p)
                    chain[1].append(post)
                    chain[2].append(i)
                    chain[3].append(y)
                    chain[4].append(t)
                    current[k] = post * (1.0 - forget[k]) + (1.0 - post) * learn[k]
        for k, (preds, posts, its, outs, where) in chains.items():
            T, F = learn[k], forget[k]
            n = len(preds)
            st.chains[k] += 1
            st.answers[k] += n
            g = posts[-1]
            learned = unlearned = forgot = kept = 0.0
            t = n - 1
            while True:
                # g = P(mastered at answer t | all the student's answers)
                pos = where[t]
                if pos < 0:
                    i = its[t]
                    if outs[t]:
                        w1[i] += g
                        y1[i] += g
                        w0[i] += 1.0 - g
                        y0[i] += 1.0 - g
                    else:
                        w1[i] += g
                        w0[i] += 1.0 - g
                else:
                    multi[pos][2] *= g
                if t == 0:
                    break
                t -= 1
                f = posts[t]
                nxt = preds[t + 1]
                r1 = g / nxt if nxt > 1e-12 else 0.0
                r0 = (1.0 - g) / (1.0 - nxt) if nxt < 1.0 - 1e-12 else 0.0
                x11 = f * (1.0 - F) * r1
                x10 = f * F * r0
                x01 = (1.0 - f) * T * r1
                x00 = (1.0 - f) * (1.0 - T) * r0
                learned += x01
                forgot += x10
                unlearned += x01 + x00
                kept += x11 + x10
                total = x11 + x10 + x01 + x00
                g = (x11 + x10) / total if total > 0 else f
            st.first[k] += g
            st.learned[k] += learned
            st.unlearned[k] += unlearned
            st.forgot[k] += forgot
            st.kept[k] += kept
        for i, y, g in multi.values():
            w1[i] += g
            w0[i] += 1.0 - g
            if y:
                y1[i] += g
                y0[i] += 1.0 - g
    st.loglik = loglik
    return st


def _product(values: Sequence[float], skip: int) -> float:
    out = 1.0
    for j, v in enumerate(values):
        if j != skip:
            out *= v
    return out


def _m_step(data: _Data, st: _Stats, prior0: list[float], learn: list[float], forget: list[float],
            a: list[float], c: list[float], d: list[float], default: SkillParams, forgets: bool,
            a_mean: float, c_mean: float, scale: float) -> None:
    """Maximise the expected log-likelihood plus the priors; changes the lists in place."""
    m = PRIOR_STRENGTH
    for k in range(len(prior0)):
        if not st.chains[k]:
            continue
        prior0[k] = _clamp((st.first[k] + m * default.prior) / (st.chains[k] + m), 1e-3, 0.999)
        learn[k] = _clamp((st.learned[k] + m * default.learn) / (st.unlearned[k] + m), 1e-4, 0.999)
        if forgets:
            f_prior, k_prior = FORGET_PRIOR
            forget[k] = _clamp((st.forgot[k] + f_prior) / (st.kept[k] + f_prior + k_prior), 0.0, 0.5)
    # Guess/slip logits per skill and difficulty per item: weighted logistic regressions sharing
    # the difficulties; a few Newton sweeps, one coordinate at a time (the Hessian is nearly diagonal).
    item_skills = data.item_skills
    pack = data.item_pack
    skill_items: list[list[tuple[int, float]]] = [[] for _ in prior0]
    for i, skills in enumerate(item_skills):
        for k in skills:
            skill_items[k].append((i, 1.0 / len(skills)))
    w1, y1, w0, y0 = st.w1, st.y1, st.w0, st.y0
    tau_logit = 1.0 / LOGIT_SD ** 2
    tau_d = 1.0 / DIFFICULTY_SD ** 2
    for _ in range(4):
        mean_a = [sum(a[k] for k in s) / len(s) if s else 0.0 for s in item_skills]
        mean_c = [sum(c[k] for k in s) / len(s) if s else 0.0 for s in item_skills]
        for k, rows in enumerate(skill_items):
            if not st.chains[k]:
                continue
            ga = -(a[k] - a_mean) * tau_logit
            ha = tau_logit
            gc = -(c[k] - c_mean) * tau_logit
            hc = tau_logit
            for i, share in rows:
                s1 = _sigmoid(mean_a[i] - d[i])
                s0 = _sigmoid(mean_c[i] - d[i])
                ga += share * (y1[i] - w1[i] * s1)
                ha += share * share * w1[i] * s1 * (1.0 - s1)
                gc += share * (y0[i] - w0[i] * s0)
                hc += share * share * w0[i] * s0 * (1.0 - s0)
            a[k] += max(-2.0, min(2.0, ga / ha))
            c[k] += max(-2.0, min(2.0, gc / hc))
            if a[k] - c[k] < MIN_SEPARATION:
                middle = (a[k] + c[k]) / 2
                a[k], c[k] = middle + MIN_SEPARATION / 2, middle - MIN_SEPARATION / 2
        for i, skills in enumerate(item_skills):
            if not skills or not st.item_answers[i]:
                continue
            ka = sum(a[k] for k in skills) / len(skills)
            kc = sum(c[k] for k in skills) / len(skills)
            s1 = _sigmoid(ka - d[i])
            s0 = _sigmoid(kc - d[i])
            centre = scale * pack[i] if pack[i] is not None else 0.0
            g = -(y1[i] - w1[i] * s1) - (y0[i] - w0[i] * s0) - (d[i] - centre) * tau_d
            h = w1[i] * s1 * (1.0 - s1) + w0[i] * s0 * (1.0 - s0) + tau_d
            d[i] = max(-8.0, min(8.0, d[i] + max(-2.0, min(2.0, g / h))))


def _fit_scale(data: _Data, answers: list[int], d: list[float], scale: float, default_scale: float) -> float:
    """Logits per unit of pack difficulty: least squares of fitted difficulties on the pack's, shrunk."""
    num = SCALE_STRENGTH * default_scale
    den = SCALE_STRENGTH
    for i, p in enumerate(data.item_pack):
        if p is not None and answers[i]:
            num += d[i] * p
            den += p * p
    return max(0.0, min(2.0, num / den)) if den > SCALE_STRENGTH else scale
