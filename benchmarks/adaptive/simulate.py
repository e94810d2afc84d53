"""Simulated learners with known true parameters, on the sample packs' items and skills.

Two generators:

- `BKTLearners`: Bayesian Knowledge Tracing as pyBKT assumes it. Every skill has a true prior,
  learn, guess and slip; a student has or has not mastered each skill; an item with several
  skills is answered "with mastery" only when all are mastered (conjunctive); every answer is a
  chance to learn each of its skills. With `item_effects=True` an item's difficulty (the pack's,
  plus noise) also shifts its guess and slip; the default is off, i.e. pyBKT's own model.
- `IRTLearners`: a logistic (Rasch) model with learning. A student has a general ability and a
  level per skill; an item has a difficulty (0.6 x the pack's, plus noise); P(right) =
  sigmoid(ability + mean level of the item's skills - difficulty); every answer raises the level
  of each skill it touches by the skill's rate times the student's speed, a little more after a
  wrong answer (the feedback). A skill is "truly mastered" when the student would answer an item
  of difficulty 0 right with probability >= 0.9.

Everything is seeded; nothing here reads the clock.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from classroom_server.domain.adaptive import Item, Record, pack_items

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "content_packs" / "samples"
ANSWER_SECONDS = 40.0  # between two answers of a session
SESSION = 20  # answers in a session; sessions are a day apart
DAY = 86400.0
MASTERY_LOGIT = math.log(0.9 / 0.1)  # IRT: mastered when P(right on difficulty 0) >= 0.9


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def sample_packs() -> dict[str, list[Item]]:
    """The sample packs' exercise items, pack id -> items in the pack's order."""
    packs: dict[str, list[Item]] = {}
    for path in sorted(SAMPLES.glob("*/pack.json")):
        pack = json.loads(path.read_text(encoding="utf-8"))
        packs[pack["id"]] = pack_items(pack)
    return packs


def all_items(packs: dict[str, list[Item]]) -> list[Item]:
    return [item for items in packs.values() for item in items]


def all_skills(items: Sequence[Item]) -> list[str]:
    return list(dict.fromkeys(skill for item in items for skill in item.skills))


class Learner:
    """One simulated student: answers an item (and learns from it), knows which skills are truly mastered."""

    def answer(self, item: Item) -> bool:
        raise NotImplementedError

    def mastered(self, skill: str) -> bool:
        raise NotImplementedError


# --- BKT -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrueBKT:
    prior: float
    learn: float
    guess: float
    slip: float


class BKTLearners:
    name = "bkt"
    title = "BKT-like (pyBKT's model: skill-level prior/learn/guess/slip, conjunctive multi-skill items)"

    def __init__(self, items: Sequence[Item], seed: int, item_effects: bool = False):
        rng = random.Random(seed)
        self.items = list(items)
        self.skills = {skill: TrueBKT(prior=rng.uniform(0.05, 0.5), learn=rng.uniform(0.05, 0.3),
                                      guess=rng.uniform(0.05, 0.3), slip=rng.uniform(0.03, 0.2))
                       for skill in all_skills(items)}
        self.difficulty = {item.key: (0.6 * (item.difficulty or 0.0) + rng.gauss(0.0, 0.4)) if item_effects else 0.0
                           for item in self.items}
        if item_effects:
            self.name, self.title = "bkt-items", "BKT-like with item difficulty shifting guess and slip"

    def emission(self, item: Item) -> tuple[float, float]:
        """P(right | all skills mastered), P(right | not), as the generator answers."""
        params = [self.skills[s] for s in item.skills]
        d = self.difficulty[item.key]
        known = sum(math.log((1 - p.slip) / p.slip) for p in params) / len(params)
        unknown = sum(math.log(p.guess / (1 - p.guess)) for p in params) / len(params)
        return sigmoid(known - d), sigmoid(unknown - d)

    def learner(self, seed: int) -> BKTLearner:
        return BKTLearner(self, random.Random(seed))


class BKTLearner(Learner):
    def __init__(self, world: BKTLearners, rng: random.Random):
        self.world = world
        self.rng = rng
        self.known = {skill: rng.random() < p.prior for skill, p in world.skills.items()}

    def answer(self, item: Item) -> bool:
        known, unknown = self.world.emission(item)
        right = self.rng.random() < (known if all(self.known[s] for s in item.skills) else unknown)
        for skill in item.skills:
            if not self.known[skill] and self.rng.random() < self.world.skills[skill].learn:
                self.known[skill] = True
        return right

    def mastered(self, skill: str) -> bool:
        return self.known[skill]


# --- IRT with learning ---------------------------------------------------------------------------

class IRTLearners:
    name = "irt"
    title = "IRT-like with learning (student ability, item difficulty, per-skill growth per answer)"

    def __init__(self, items: Sequence[Item], seed: int):
        rng = random.Random(seed)
        self.items = list(items)
        self.base = {skill: rng.gauss(-1.0, 0.6) for skill in all_skills(items)}  # a skill's level before practice
        self.rate = {skill: rng.uniform(0.15, 0.45) for skill in self.base}  # logits gained per answer
        self.difficulty = {item.key: 0.6 * item.difficulty + rng.gauss(0.0, 0.4) if item.difficulty is not None
                           else rng.gauss(0.0, 0.8) for item in self.items}

    def learner(self, seed: int) -> IRTLearner:
        return IRTLearner(self, random.Random(seed))


class IRTLearner(Learner):
    def __init__(self, world: IRTLearners, rng: random.Random):
        self.world = world
        self.rng = rng
        self.ability = rng.gauss(0.0, 0.8)
        self.speed = math.exp(rng.gauss(0.0, 0.3))
        self.level = {skill: base + rng.gauss(0.0, 0.5) for skill, base in world.base.items()}

    def p_right(self, item: Item) -> float:
        level = sum(self.level[s] for s in item.skills) / len(item.skills)
        return sigmoid(self.ability + level - self.world.difficulty[item.key])

    def answer(self, item: Item) -> bool:
        right = self.rng.random() < self.p_right(item)
        for skill in item.skills:
            self.level[skill] += self.world.rate[skill] * self.speed * (1.0 if right else 1.3)
        return right

    def mastered(self, skill: str) -> bool:
        return self.ability + self.level[skill] >= MASTERY_LOGIT


GENERATORS = {"bkt": lambda items, seed: BKTLearners(items, seed),
              "irt": lambda items, seed: IRTLearners(items, seed),
              "bkt-items": lambda items, seed: BKTLearners(items, seed, item_effects=True)}


# --- the school's records ------------------------------------------------------------------------

def practice_log(world: BKTLearners | IRTLearners, packs: dict[str, list[Item]], students: int, seed: int,
                 answers: tuple[int, int] = (15, 45), start: float = 1.7e9, prefix: str = "s") -> list[Record]:
    """What a school's records look like before adaptive practice: per student and pack, a run of
    answers, each the next item in the pack's order (60 %) or a random item of the pack (40 %)."""
    rng = random.Random(seed)
    records: list[Record] = []
    for n in range(students):
        learner = world.learner(rng.randrange(2 ** 31))
        student = f"{prefix}{n}"
        when = start + rng.uniform(0, DAY)
        count = 0
        for pack_id in rng.sample(list(packs), len(packs)):
            items = [item for item in packs[pack_id] if item.skills]
            position = 0
            for _ in range(rng.randint(*answers)):
                if rng.random() < 0.6:
                    item = items[position % len(items)]
                    position += 1
                else:
                    item = rng.choice(items)
                records.append(Record(student, item.key, item.skills, learner.answer(item), when))
                count += 1
                when += DAY if count % SESSION == 0 else ANSWER_SECONDS * rng.uniform(0.5, 1.5)
    return records
