"""The models our choice was measured against: a per-item average and an Elo/IRT model with learning.

Both take the same training records as `classroom_server.domain.adaptive.fit` and predict each test
answer from the answers before it (the student's own, for Elo).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

from classroom_server.domain.adaptive import Item, Record


class ItemAverage:
    """P(right) = the item's share of right answers in training (Laplace-smoothed); the overall share for new items."""

    def __init__(self, train: Sequence[Record]):
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in train:
            counts[r.item][0] += bool(r.correct)
            counts[r.item][1] += 1
        right = sum(c[0] for c in counts.values())
        total = sum(c[1] for c in counts.values())
        self.overall = (right + 1) / (total + 2)
        self.p = {item: (c[0] + 1) / (c[1] + 2) for item, c in counts.items()}

    def predictions(self, test: Sequence[Record]) -> list[float]:
        return [self.p.get(r.item, self.overall) for r in test]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class Elo:
    """Elo with learning (Pelánek's student-skill Elo): P = sigmoid(ability + mean skill level - item difficulty).

    A student's ability moves by alpha / (1 + beta * answers) and each skill level by gamma (a constant,
    so it keeps tracking learning); item difficulties are learned from the training records (with the
    pack's difficulty as the start) and fixed for the test. alpha and gamma are chosen on a validation
    part of the training students.
    """

    GRID = [(alpha, gamma) for alpha in (0.4, 0.8, 1.6) for gamma in (0.1, 0.2, 0.4)]

    def __init__(self, train: Sequence[Record], items: Sequence[Item], beta: float = 0.05):
        self.pack = {item.key: 0.5 * item.difficulty if item.difficulty is not None else 0.0 for item in items}
        self.beta = beta
        students = list(dict.fromkeys(r.student for r in train))
        cut = set(students[int(0.8 * len(students)):])
        fit_part = [r for r in train if r.student not in cut]
        valid = [r for r in train if r.student in cut]
        best = None
        for alpha, gamma in self.GRID:
            difficulty = self._difficulties(fit_part, alpha, gamma)
            ps = self._run(valid, difficulty, alpha, gamma)
            loss = -sum(math.log(p if r.correct else 1.0 - p) for p, r in zip(ps, valid))
            if best is None or loss < best[0]:
                best = (loss, alpha, gamma)
        _, self.alpha, self.gamma = best
        self.difficulty = self._difficulties(train, self.alpha, self.gamma)

    def _difficulties(self, records: Sequence[Record], alpha: float, gamma: float) -> dict[str, float]:
        difficulty = dict(self.pack)
        seen: dict[str, int] = defaultdict(int)
        ability: dict[str, float] = defaultdict(float)
        answers: dict[str, int] = defaultdict(int)
        level: dict[tuple[str, str], float] = defaultdict(float)
        for r in records:
            d = difficulty.get(r.item, 0.0)
            skills = r.skills or ("",)
            p = _sigmoid(ability[r.student] + sum(level[r.student, s] for s in skills) / len(skills) - d)
            error = (1.0 if r.correct else 0.0) - p
            ability[r.student] += alpha / (1 + self.beta * answers[r.student]) * error
            answers[r.student] += 1
            for s in skills:
                level[r.student, s] += gamma * error
            difficulty[r.item] = d - 1.0 / (1 + 0.05 * seen[r.item]) * error
            seen[r.item] += 1
        return difficulty

    def _run(self, records: Sequence[Record], difficulty: dict[str, float], alpha: float, gamma: float) -> list[float]:
        ability: dict[str, float] = defaultdict(float)
        answers: dict[str, int] = defaultdict(int)
        level: dict[tuple[str, str], float] = defaultdict(float)
        out = []
        for r in records:
            skills = r.skills or ("",)
            p = _sigmoid(ability[r.student] + sum(level[r.student, s] for s in skills) / len(skills)
                         - difficulty.get(r.item, 0.0))
            p = min(max(p, 1e-6), 1 - 1e-6)
            out.append(p)
            error = (1.0 if r.correct else 0.0) - p
            ability[r.student] += alpha / (1 + self.beta * answers[r.student]) * error
            answers[r.student] += 1
            for s in skills:
                level[r.student, s] += gamma * error
        return out

    def predictions(self, test: Sequence[Record]) -> list[float]:
        return self._run(test, self.difficulty, self.alpha, self.gamma)
