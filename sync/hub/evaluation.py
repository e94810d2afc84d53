"""Pilot evaluation: growth in pilot schools against comparison schools (difference in differences),
as Hedges' g with a 95 % confidence interval that respects that students are clustered in schools.
Pure: plain numbers in and out (no database, no web).

The design, and why: each school's growth is the mean of its students' outcomes after the start
minus the mean before; the estimate is the mean growth of pilot schools minus that of comparison
schools, every school weighing the same. Inference is at the school level (the cluster): the
standard error is Welch's, from the spread of the schools' growths in each group, and the interval
uses Student's t with Welch-Satterthwaite degrees of freedom. This is the cluster-level analysis
recommended when clusters are few (20 to 40 schools): it is exact under normal school growths, needs
no library (numpy, scipy and statsmodels are not in the hub's footprint), and its coverage is
checked by simulation in benchmarks/pilot_evaluation.py (docs/BENCHMARKS.md).

The effect size divides by the students' pooled standard deviation before the start (within and
between schools), with Hedges' small-sample correction J = 1 - 3 / (4 df - 1), df the schools' degrees
of freedom; the interval is divided the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


class EvaluationError(ValueError):
    """Too little data to estimate; `message` is an English msgid with %(name)s fields (pages translate it)."""

    def __init__(self, message: str, **params: object):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class SchoolPeriods:
    """One school's student outcomes before and after the start (any students; missing ones left out)."""
    school: str
    pilot: bool
    before: Sequence[float]
    after: Sequence[float]


@dataclass(frozen=True)
class Estimate:
    difference: float  # in outcome units (e.g. percentage points)
    g: float
    low: float
    high: float
    p_value: float
    df: float
    pilot_schools: int
    comparison_schools: int
    pilot_students: int
    comparison_students: int
    sd: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def sentence(self) -> str:
        more = "more" if self.g >= 0 else "less"
        return (f"pilot schools grew {abs(self.g):.2f} SD {more} than comparable schools, 95 % CI "
                f"{self.low:.2f} to {self.high:.2f}, {self.pilot_schools} vs {self.comparison_schools} schools "
                f"({self.pilot_students} vs {self.comparison_students} students)")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _var(values: Sequence[float]) -> float:
    m = _mean(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def estimate(schools: Sequence[SchoolPeriods], min_students: int = 1) -> Estimate:
    usable = [s for s in schools if len(s.before) >= min_students and len(s.after) >= min_students]
    pilot = [_mean(s.after) - _mean(s.before) for s in usable if s.pilot]
    comparison = [_mean(s.after) - _mean(s.before) for s in usable if not s.pilot]
    if len(pilot) < 2 or len(comparison) < 2:
        raise EvaluationError("need at least 2 pilot and 2 comparison schools with students measured before and "
                              "after the start; have %(pilot)d and %(comparison)d", pilot=len(pilot),
                              comparison=len(comparison))
    difference = _mean(pilot) - _mean(comparison)
    vp, vc = _var(pilot) / len(pilot), _var(comparison) / len(comparison)
    se = math.sqrt(vp + vc)
    if se == 0:
        raise EvaluationError("every school grew by exactly the same amount: no spread to estimate from")
    df = (vp + vc) ** 2 / (vp ** 2 / (len(pilot) - 1) + vc ** 2 / (len(comparison) - 1))
    baseline = [v for s in usable for v in s.before]
    sd = math.sqrt(_var(baseline)) if len(baseline) > 1 else 0.0
    if sd == 0:
        raise EvaluationError("every student had the same outcome before the start: no spread to scale by")
    j = 1 - 3 / (4 * (len(pilot) + len(comparison) - 2) - 1)
    t = t_quantile(0.975, df)
    scale = j / sd
    p_value = 2 * (1 - t_cdf(abs(difference / se), df))
    return Estimate(difference=difference, g=difference * scale, low=(difference - t * se) * scale,
                    high=(difference + t * se) * scale, p_value=p_value, df=df, pilot_schools=len(pilot),
                    comparison_schools=len(comparison),
                    pilot_students=sum(len(s.after) for s in usable if s.pilot),
                    comparison_students=sum(len(s.after) for s in usable if not s.pilot), sd=sd)


# --- Student's t without scipy: the regularized incomplete beta function (continued fraction) ---

def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value below which a share p of Student's t(df) lies (bisection on t_cdf)."""
    low, high = -1e3, 1e3
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2
