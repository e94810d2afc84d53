"""A pilot programme's evaluation from the hub's aggregates: each student's share of correct answers in
one subject and grade before and after the start, per school (learner_cell: pseudonyms only), handed to
the pure estimator (evaluation.py)."""
from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Sequence

from . import analytics, operators
from .evaluation import Estimate, SchoolPeriods, estimate
from .models import LearnerCell

MIN_STUDENTS = analytics.MIN_STUDENTS  # a school with fewer students measured in a period is left out


def _shift(month: datetime.date, months: int) -> datetime.date:
    year, index = divmod(month.year * 12 + month.month - 1 + months, 12)
    return datetime.date(year, index + 1, 1)


def outcomes(school_id: str, key: str, first: datetime.date, last: datetime.date, min_answers: int) -> list[float]:
    """Each student's percent correct over the months first..last (those with at least min_answers answers)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    query = (LearnerCell.select(LearnerCell.learner, LearnerCell.answers, LearnerCell.correct)
             .where((LearnerCell.school == school_id) & (LearnerCell.dim == "u") & (LearnerCell.key == key)
                    & LearnerCell.month.between(first, last)).tuples())
    for learner, answers, correct in query:
        sums[learner][0] += answers
        sums[learner][1] += correct
    return [100 * correct / answers for answers, correct in sums.values() if answers >= min_answers]


def evaluate(pilot: Sequence[str], comparison: Sequence[str], start: datetime.date, subject: str, grade: int,
             months: int = 3, min_answers: int = 3) -> tuple[Estimate, list[str]]:
    """The estimate, and the schools left out (fewer than MIN_STUDENTS students measured before or after)."""
    key = f"{subject}\t{grade}"
    start = start.replace(day=1)
    before = (_shift(start, -months), _shift(start, -1))
    after = (start, _shift(start, months - 1))
    schools, left_out = [], []
    for ids, is_pilot in ((pilot, True), (comparison, False)):
        for given in ids:
            school_id = operators.resolve_school(given)
            periods = SchoolPeriods(school_id, is_pilot, outcomes(school_id, key, *before, min_answers),
                                    outcomes(school_id, key, *after, min_answers))
            if len(periods.before) < MIN_STUDENTS or len(periods.after) < MIN_STUDENTS:
                left_out.append(school_id)
                continue
            schools.append(periods)
    return estimate(schools), left_out
