"""A pilot programme's evaluation: each student's share of correct answers in the programme's subjects and
grades before and after the start, per school, from the hub's aggregates (learner_cell: pseudonyms only),
or on a national diagnostic sent before and after; handed to the pure estimator (evaluation.py)."""
from __future__ import annotations

import datetime
import json
from collections import defaultdict
from typing import Sequence

from . import analytics, operators
from .evaluation import Estimate, SchoolPeriods, estimate
from .models import LearnerCell, NationalAssignment, Record

MIN_STUDENTS = analytics.MIN_STUDENTS  # a school with fewer students measured in a period is left out


def _shift(month: datetime.date, months: int) -> datetime.date:
    year, index = divmod(month.year * 12 + month.month - 1 + months, 12)
    return datetime.date(year, index + 1, 1)


def outcomes(school_id: str, key: str | Sequence[str], first: datetime.date, last: datetime.date,
             min_answers: int) -> list[float]:
    """Each student's percent correct over the months first..last in one subject-and-grade key (or several,
    summed), those with at least min_answers answers."""
    keys = [key] if isinstance(key, str) else list(key)
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    query = (LearnerCell.select(LearnerCell.learner, LearnerCell.answers, LearnerCell.correct)
             .where((LearnerCell.school == school_id) & (LearnerCell.dim == "u") & LearnerCell.key.in_(keys)
                    & LearnerCell.month.between(first, last)).tuples())
    for learner, answers, correct in query:
        sums[learner][0] += answers
        sums[learner][1] += correct
    return [100 * correct / answers for answers, correct in sums.values() if answers >= min_answers]


def evaluate(pilot: Sequence[str], comparison: Sequence[str], start: datetime.date, subject: str, grade: int,
             months: int = 3, min_answers: int = 3) -> tuple[Estimate, list[str]]:
    """The estimate, and the schools left out (fewer than MIN_STUDENTS students measured before or after)."""
    return evaluate_keys(pilot, comparison, start, [f"{subject}\t{grade}"], months, min_answers)


def evaluate_keys(pilot: Sequence[str], comparison: Sequence[str], start: datetime.date, key: Sequence[str],
                  months: int = 3, min_answers: int = 3) -> tuple[Estimate, list[str]]:
    """As evaluate, each student's outcome over several subject-and-grade keys (a programme's subjects and grades)."""
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


DIAGNOSTIC_GRACE = datetime.timedelta(days=14)  # answers this long after the due date still count
DIAGNOSTIC_OPEN = datetime.timedelta(days=60)  # a diagnostic without a due date: its answers within this


def _window(assignment: NationalAssignment) -> tuple[datetime.datetime, datetime.datetime]:
    start = assignment.starts_at or assignment.created_at
    end = (assignment.due_at + DIAGNOSTIC_GRACE) if assignment.due_at else start + DIAGNOSTIC_OPEN
    return start, end


def diagnostic_outcomes(school_id: str, assignment: NationalAssignment, min_answers: int) -> list[float]:
    """Each student's percent correct on a national diagnostic's items: answers made on an assignment,
    to the diagnostic's items (or any item of its nodes), within its window. Read from the records the
    school sent since the diagnostic opened (the record table's months after it only)."""
    items = {(p["pack_id"], p["node_id"], p["item_id"]) for p in assignment.parts if p.get("item_id")}
    nodes = {(p["pack_id"], p["node_id"]) for p in assignment.parts if not p.get("item_id")}
    start, end = _window(assignment)
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    query = (Record.select(Record.statement)
             .where((Record.school == school_id) & (Record.received_at >= start)).tuples())
    for (statement,) in query:
        statement = json.loads(statement) if isinstance(statement, str) else statement
        fact = analytics.fact_of(statement) if isinstance(statement, dict) else None
        if fact is None or fact.item is None or fact.correct is None or not fact.assignment:
            continue
        if fact.item not in items and fact.item[:2] not in nodes:
            continue
        when = str(statement.get("timestamp", ""))[:19]
        if not (start.isoformat()[:19] <= when <= end.isoformat()[:19]):
            continue
        sums[fact.learner][0] += 1
        sums[fact.learner][1] += int(fact.correct)
    return [100 * correct / answers for answers, correct in sums.values() if answers >= min_answers]


def evaluate_diagnostic(pilot: Sequence[str], comparison: Sequence[str], before: NationalAssignment,
                        after: NationalAssignment, min_answers: int = 3) -> tuple[Estimate, list[str]]:
    """The estimate from a national diagnostic sent before the start and again after it."""
    schools, left_out = [], []
    for ids, is_pilot in ((pilot, True), (comparison, False)):
        for school_id in ids:
            periods = SchoolPeriods(school_id, is_pilot, diagnostic_outcomes(school_id, before, min_answers),
                                    diagnostic_outcomes(school_id, after, min_answers))
            if len(periods.before) < MIN_STUDENTS or len(periods.after) < MIN_STUDENTS:
                left_out.append(school_id)
                continue
            schools.append(periods)
    return estimate(schools), left_out
