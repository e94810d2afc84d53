"""The pilot evaluation checked on simulated programmes whose true effect is known.

Each simulated programme: 20 to 40 schools, half of them pilot schools (an odd one goes to the
comparison side), 15 to 60 students a school; a student's outcome is school level + student level
(intra-class correlation 0.15 to 0.25, total SD 1 before the start), each school grows by its own
amount (school-level growth SD 0.15 to 0.3, plus a common growth of 0.3), pilot schools grow by the
true effect more; 5 to 25 % of students are missing after the start (they left or were absent),
some new ones join, and a school in ten sends nothing after the start (left out). The estimate is
`sync.hub.evaluation.estimate`, the hub's own code. Reported per true effect: how often the 95 %
interval covers it (should be about 95 %), how often the effect is called significant (about 5 %
for a zero effect: the false-positive rate; the power otherwise), the mean estimate and the
interval's mean width. Prints the figures and replaces the `pilot_evaluation` section of
docs/BENCHMARKS.md.

    python benchmarks/pilot_evaluation.py [--programmes 2000 --seed 16]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import markdown_table, replace_section, text_table  # noqa: E402

from sync.hub.evaluation import EvaluationError, SchoolPeriods, estimate  # noqa: E402

NAME = "pilot_evaluation"
EFFECTS = (0.0, 0.1, 0.2, 0.4)


def programme(rng: random.Random, effect: float) -> list[SchoolPeriods]:
    schools = rng.randint(20, 40)
    icc = rng.uniform(0.15, 0.25)
    growth_sd = rng.uniform(0.15, 0.3)
    between, within = icc ** 0.5, (1 - icc) ** 0.5
    out = []
    for number in range(schools):
        pilot = number < schools // 2
        level = rng.gauss(0, between)
        growth = 0.3 + rng.gauss(0, growth_sd) + (effect if pilot else 0.0)
        students = [level + rng.gauss(0, within) for _ in range(rng.randint(15, 60))]
        before = [s + rng.gauss(0, 0.3) for s in students]  # a test's own noise
        if rng.random() < 0.1:
            out.append(SchoolPeriods(f"s{number}", pilot, before, []))  # sent nothing after the start
            continue
        missing = rng.uniform(0.05, 0.25)
        stayed = [s for s in students if rng.random() > missing]
        joined = [level + rng.gauss(0, within) for _ in range(rng.randint(0, 5))]
        after = [s + growth + rng.gauss(0, 0.3) for s in stayed + joined]
        out.append(SchoolPeriods(f"s{number}", pilot, before, after))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programmes", type=int, default=2000, help="simulated programmes per true effect")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    started = time.monotonic()
    for effect in EFFECTS:
        covered = significant = failed = 0
        estimates, widths = [], []
        for _ in range(args.programmes):
            try:
                result = estimate(programme(rng, effect))
            except EvaluationError:
                failed += 1
                continue
            # the true effect in the estimate's units: the effect over the baseline SD (1 by construction,
            # plus the test noise: sqrt(1 + 0.3^2))
            truth = effect / (1 + 0.3 ** 2) ** 0.5
            covered += result.low <= truth <= result.high
            significant += result.significant
            estimates.append(result.g - truth)
            widths.append(result.high - result.low)
        done = args.programmes - failed
        rows.append([f"{effect:.1f}", f"{effect / (1 + 0.09) ** 0.5:.3f}", done, f"{100 * covered / done:.1f} %",
                     f"{100 * significant / done:.1f} %", f"{sum(estimates) / done:+.3f}",
                     f"{sum(widths) / done:.2f}"])
    seconds = time.monotonic() - started
    header = ["effect (SD of true score)", "true g (SD of measured score)", "programmes", "95 % CI covers the truth",
              "called significant", "mean error of g", "mean CI width"]
    print(text_table(header, rows))
    print(f"{len(EFFECTS) * args.programmes} programmes in {seconds:.1f} s")
    body = "\n\n".join([
        "## Pilot evaluation on simulated programmes (`benchmarks/pilot_evaluation.py`)",
        f"{args.programmes} simulated programmes per true effect (seed {args.seed}): 20 to 40 schools, half of "
        "them pilot schools, 15 to 60 students each, intra-class correlation 0.15 to 0.25, each school's own "
        "growth (SD 0.15 to 0.3), 5 to 25 % of students missing after the start and a few joining, a school in "
        "ten sending nothing after the start. Estimated with `sync.hub.evaluation.estimate` (difference in "
        "differences of school means, Welch t interval at the school level, Hedges' g over the baseline SD). "
        "The truth in g's units is the effect over the measured score's SD (true score SD 1, test noise SD 0.3).",
        markdown_table(header, rows),
        "A zero effect is called significant in the \"called significant\" column's share of programmes (the "
        "false-positive rate, about 5 % wanted); for the other effects that column is the power. "
        f"{len(EFFECTS) * args.programmes} programmes took {seconds:.0f} s on one core."])
    replace_section(args.out, NAME, body)


if __name__ == "__main__":
    main()
