"""Adaptive practice, measured: prediction, teaching and cost of classroom_server.domain.adaptive.

Run from the repository root, with the project's venv:

    python benchmarks/adaptive/evaluate.py [--train 250 --test 250 --teach 100 --year-answers 1800 \
        --seed 8 --out docs/BENCHMARKS.md]

On simulated learners with known true parameters (benchmarks/adaptive/simulate.py: a BKT-like and
an IRT-like-with-learning generator, on the sample packs' items and skills) it measures:

- prediction: AUC and RMSE of next-answer prediction on held-out students, for our model fitted on
  the training students' records, the same model with its defaults (no fit), an Elo/IRT model
  with learning, a per-item average, and pyBKT 1.4.3 fitted on the same training records. pyBKT
  runs in a venv of its own (numpy<2, pandas<2.3, scikit-learn<1.6), made under ~/.cache on the
  first run; it is never a dependency of the server.
- teaching: items until every skill of a pack is truly mastered, and true mastery after a fixed
  number of items, for adaptive selection and for the pack's fixed order, on the same students.
- cost: time per recommendation for a 500-student school (p50/p99), and fit time for a year of
  a 500-student school's answers.

It prints the figures and replaces its section of docs/BENCHMARKS.md. It asserts nothing.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/: the shared harness
sys.path.insert(0, str(HERE.parent.parent))  # the repository, when the project is not installed

from harness import (machine_busy, machine_facts, markdown_table, measured_on, own_cpu, percentile,  # noqa: E402
                     replace_section, wait_until_quiet)

from candidates import Elo, ItemAverage  # noqa: E402
from classroom_server.domain.adaptive import (Item, Model, Params, Policy, Record, StudentState,  # noqa: E402
                                              fit)
from simulate import (ANSWER_SECONDS, DAY, GENERATORS, SESSION, all_items, practice_log,  # noqa: E402
                      sample_packs)

NAME = "adaptive"
REPO = HERE.parent.parent
PYBKT_PINS = ["numpy<2", "pandas<2.3", "scikit-learn<1.6", "pyBKT==1.4.3"]
DEFAULT_VENV = Path.home() / ".cache" / "classroom-bench" / "pybkt-venv"
TARGET_REDUCTION = 0.25
TARGET_P99_MS = 5.0


# --- metrics -------------------------------------------------------------------------------------

def auc(ps: Sequence[float], ys: Sequence[int]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pairs = sorted(zip(ps, ys))
    positives = sum(ys)
    negatives = len(ys) - positives
    if not positives or not negatives:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank_sum += (i + 1 + j) / 2 * sum(y for _, y in pairs[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def rmse(ps: Sequence[float], ys: Sequence[int]) -> float:
    return math.sqrt(sum((p - y) ** 2 for p, y in zip(ps, ys)) / len(ys))


def bootstrap_auc_difference(a: Sequence[float], b: Sequence[float], ys: Sequence[int], students: Sequence[str],
                             rounds: int, seed: int) -> tuple[float, float]:
    """95 % interval of AUC(a) - AUC(b), resampling test students (answers of one student stay together)."""
    by_student: dict[str, list[int]] = {}
    for index, student in enumerate(students):
        by_student.setdefault(student, []).append(index)
    groups = list(by_student.values())
    rng = random.Random(seed)
    diffs = []
    for _ in range(rounds):
        rows = [i for g in rng.choices(groups, k=len(groups)) for i in g]
        y = [ys[i] for i in rows]
        diffs.append(auc([a[i] for i in rows], y) - auc([b[i] for i in rows], y))
    diffs.sort()
    return diffs[int(0.025 * rounds)], diffs[min(rounds - 1, int(0.975 * rounds))]


# --- pyBKT in its own venv -----------------------------------------------------------------------

def pybkt_python(venv: Path) -> tuple[Path | None, str]:
    """The venv's python with pyBKT importable, making the venv if needed; else None and why."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import pyBKT.models, numpy, pandas, sklearn; print(numpy.__version__, "
             "pandas.__version__, sklearn.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, ""
    print(f"making the pyBKT venv in {venv} ({' '.join(PYBKT_PINS)}) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True,
                       timeout=300)
        done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PYBKT_PINS], capture_output=True,
                              text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not make the venv: {exc}"
    if done.returncode != 0:
        return None, f"pip install failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    checked = subprocess.run(check, capture_output=True, text=True)
    if checked.returncode != 0:
        return None, f"pyBKT does not import: {checked.stderr.strip().splitlines()[-1:]}"
    return python, ""


def write_pybkt_csv(path: Path, records: Sequence[Record]) -> dict[int, int]:
    """One row per (answer, skill); returns row -> answer index."""
    rows: dict[int, int] = {}
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "order_id", "user_id", "skill_name", "correct", "item_id"])
        for answer, r in enumerate(records):
            for skill in r.skills:
                row = len(rows)
                rows[row] = answer
                writer.writerow([row, row, r.student, skill, int(r.correct), r.item])
    return rows


@dataclass
class PyBKTRun:
    predictions: list[float] | None = None
    fit_seconds: float = 0.0
    wall_seconds: float = 0.0
    params: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    error: str = ""


def run_pybkt(python: Path, train: Sequence[Record], test: Sequence[Record], folder: Path, seed: int,
              multigs: bool, processes: int) -> PyBKTRun:
    """Fit pyBKT on `train`, predict `test`; skills split over `processes` processes; mean of an answer's rows."""
    write_pybkt_csv(folder / "train.csv", train)
    rows = write_pybkt_csv(folder / "test.csv", test)
    started = time.perf_counter()
    procs = []
    for part in range(processes):
        out = folder / f"out{part}.json"
        argv = [str(python), str(HERE / "pybkt_run.py"), str(folder / "train.csv"), str(folder / "test.csv"), str(out),
                "--seed", str(seed), "--part", f"{part}/{processes}"] + (["--multigs"] if multigs else [])
        procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out))
    result = PyBKTRun()
    sums = [0.0] * len(test)
    counts = [0] * len(test)
    for proc, out in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            result.error = f"pybkt_run.py failed (exit {proc.returncode}): {stderr.strip().splitlines()[-1:]}"
            continue
        data = json.loads(out.read_text(encoding="utf-8"))
        result.fit_seconds += data["fit_seconds"]
        result.params.update(data["params"])
        result.versions = data["versions"]
        for row, p in data["predictions"].items():
            answer = rows[int(row)]
            sums[answer] += p
            counts[answer] += 1
    result.wall_seconds = time.perf_counter() - started
    if not result.error:
        result.predictions = [s / n if n else 0.5 for s, n in zip(sums, counts)]
    return result


# --- prediction ----------------------------------------------------------------------------------

def our_predictions(model: Model, test: Sequence[Record], items: dict[str, Item]) -> list[float]:
    states: dict[str, StudentState] = {}
    out = []
    for r in test:
        state = states.setdefault(r.student, StudentState())
        out.append(model.update(state, items[r.item], r.correct, r.when))
    return out


@dataclass
class Prediction:
    generator: str
    title: str
    train_answers: int
    test_answers: int
    train_students: int
    test_students: int
    rows: list[tuple[str, float, float, str]]  # model, AUC, RMSE, note
    ours_vs_pybkt: list[tuple[str, tuple[float, float]]]
    recovery: list[tuple[str, str]]
    params: Params
    pybkt_error: str


def prediction(name: str, packs: dict[str, list[Item]], args: argparse.Namespace,
               python: Path | None, pybkt_error: str, folder: Path) -> tuple[Prediction, object]:
    items = all_items(packs)
    by_key = {item.key: item for item in items}
    world = GENERATORS[name](items, args.seed)
    train = practice_log(world, packs, args.train, args.seed + 1)
    test = practice_log(world, packs, args.test, args.seed + 2, prefix="t")
    ys = [int(r.correct) for r in test]
    students = [r.student for r in test]
    rows = []

    started = time.perf_counter()
    params = fit(train, items)
    fit_seconds = time.perf_counter() - started
    ours = our_predictions(Model(params), test, by_key)
    rows.append(("**ours**: BKT + item difficulty + student ability, fitted", auc(ours, ys), rmse(ours, ys),
                 f"fit {fit_seconds:.1f} s, {params.info.get('iterations')} EM iterations, "
                 f"ability sd {params.ability_sd:.2f}"))
    if params.ability_sd:
        flat = our_predictions(Model(replace(params, ability_sd=0.0)), test, by_key)
        rows.append(("ours without the student ability (ability sd 0)", auc(flat, ys), rmse(flat, ys), "ablation"))
    defaults = our_predictions(Model(Params()), test, by_key)
    rows.append(("ours with default parameters (no fit; pack difficulty x 0.5)", auc(defaults, ys),
                 rmse(defaults, ys), "what new content gets"))
    started = time.perf_counter()
    elo = Elo(train, items)
    elo_p = elo.predictions(test)
    rows.append(("Elo/IRT with learning (student ability, skill levels, item difficulty)", auc(elo_p, ys),
                 rmse(elo_p, ys), f"alpha {elo.alpha}, gamma {elo.gamma}; {time.perf_counter() - started:.1f} s"))
    average = ItemAverage(train).predictions(test)
    rows.append(("per-item average (baseline)", auc(average, ys), rmse(average, ys), ""))

    ours_vs_pybkt: list[tuple[str, tuple[float, float]]] = []
    pybkt_runs = {}
    if python is not None:
        for multigs in ([False, True] if args.pybkt_multigs else [False]):
            print(f"  pyBKT{' multigs' if multigs else ''} on {len(train):,} answers ...", flush=True)
            run = run_pybkt(python, train, test, folder, args.seed, multigs, args.pybkt_processes)
            pybkt_runs[multigs] = run
            label = "pyBKT 1.4.3, item-level guess/slip (multigs)" if multigs else "pyBKT 1.4.3 (defaults, 5 fits)"
            if run.predictions is None:
                rows.append((label, float("nan"), float("nan"), f"not run: {run.error}"))
                pybkt_error = pybkt_error or run.error
                continue
            rows.append((label, auc(run.predictions, ys), rmse(run.predictions, ys),
                         f"fit {run.fit_seconds:.0f} s CPU in {args.pybkt_processes} processes"))
            interval = bootstrap_auc_difference(ours, run.predictions, ys, students, args.bootstrap, args.seed)
            ours_vs_pybkt.append(("pyBKT multigs" if multigs else "pyBKT", interval))
    else:
        rows.append(("pyBKT 1.4.3", float("nan"), float("nan"), f"not run: {pybkt_error}"))

    recovery = []
    if name.startswith("bkt"):
        for param in ("prior", "learn", "guess", "slip"):
            truth = {s: getattr(p, param) for s, p in world.skills.items()}
            ours_err = statistics.mean(abs(getattr(params.skills[s], param) - t) for s, t in truth.items())
            line = f"ours {ours_err:.3f}"
            run = pybkt_runs.get(False)
            if run is not None and run.params:
                key = {"prior": "prior", "learn": "learns", "guess": "guesses", "slip": "slips"}[param]
                errs = [abs(statistics.mean(run.params[s][key].values()) - t) for s, t in truth.items()
                        if s in run.params]
                line += f", pyBKT {statistics.mean(errs):.3f}"
            recovery.append((f"mean absolute error of {param} over {len(truth)} skills", line))
    if hasattr(world, "difficulty") and any(world.difficulty.values()):
        keys = list(world.difficulty)
        r = statistics.correlation([params.items.get(k, 0.0) for k in keys], [world.difficulty[k] for k in keys])
        recovery.append((f"correlation of fitted item difficulty with the true one ({len(keys)} items)", f"{r:.3f}"))
        recovery.append(("fitted logits per unit of pack difficulty", f"{params.difficulty_scale:.2f}"))
    return Prediction(name, world.title, len(train), len(test), args.train, args.test, rows, ours_vs_pybkt,
                      recovery, params, pybkt_error), world


# --- teaching ------------------------------------------------------------------------------------

@dataclass
class Teaching:
    generator: str
    students: int
    max_items: int
    horizon: int
    fixed: list[int]
    adaptive: list[int]
    fixed_at: list[float]
    adaptive_at: list[float]
    kinds: Counter
    variants: dict[str, tuple[list[int], list[float]]]


def teach_one(world, items: Sequence[Item], seed: int, model: Model | None, max_items: int,
              horizon: int, kinds: Counter | None = None) -> tuple[int, float]:
    """One simulated student: items until all skills truly mastered (max_items + 1 if never) and mastery at horizon."""
    learner = world.learner(seed)
    skills = list(dict.fromkeys(s for item in items for s in item.skills))
    state = StudentState()
    now = 1.8e9
    reached = 0 if all(learner.mastered(s) for s in skills) else None
    at_horizon = sum(learner.mastered(s) for s in skills) / len(skills) if horizon == 0 else None
    for n in range(1, max_items + 1):
        if model is None:
            item = items[(n - 1) % len(items)]
        else:
            decision = model.recommend(state, items, now)
            item = next(i for i in items if i.key == decision.item)
            if kinds is not None:
                kinds[decision.kind] += 1
        correct = learner.answer(item)
        if model is not None:
            model.update(state, item, correct, now)
        now += DAY if n % SESSION == 0 else ANSWER_SECONDS
        if reached is None and all(learner.mastered(s) for s in skills):
            reached = n
        if n == horizon:
            at_horizon = sum(learner.mastered(s) for s in skills) / len(skills)
        if reached is not None and n >= horizon:
            break
    if at_horizon is None:  # stopped early: mastery stays (no forgetting in the generators)
        at_horizon = sum(learner.mastered(s) for s in skills) / len(skills)
    return (reached if reached is not None else max_items + 1), at_horizon


def teaching(name: str, world, packs: dict[str, list[Item]], params: Params, args: argparse.Namespace) -> Teaching:
    model = Model(params)
    variants_models = {"adaptive, default parameters (no fit)": Model(Params()),
                       "adaptive without spaced review": Model(params, Policy(review_every=10 ** 9))}
    result = Teaching(name, 0, args.max_items, args.horizon, [], [], [], [], Counter(),
                      {label: ([], []) for label in variants_models})
    rng = random.Random(args.seed + 7)
    for pack_id, pack in packs.items():
        items = [item for item in pack if item.skills]
        for _ in range(args.teach):
            seed = rng.randrange(2 ** 31)
            n, m = teach_one(world, items, seed, None, args.max_items, args.horizon)
            result.fixed.append(n)
            result.fixed_at.append(m)
            n, m = teach_one(world, items, seed, model, args.max_items, args.horizon, result.kinds)
            result.adaptive.append(n)
            result.adaptive_at.append(m)
            for label, variant in variants_models.items():
                n, m = teach_one(world, items, seed, variant, args.max_items, args.horizon)
                result.variants[label][0].append(n)
                result.variants[label][1].append(m)
            result.students += 1
    return result


# --- cost ----------------------------------------------------------------------------------------

@dataclass
class Cost:
    rows: list[Timing]
    state_bytes: float
    fit_records: int
    fit_students: int
    fit_seconds: float
    fit_iterations: int
    fit_rss_mib: float
    records_mib: float
    gen_seconds: float
    p99_pack: float
    generator: str = ""
    ability_sd: float = 0.0
    quiet: float = 0.0  # % of a core the rest of the machine used just before
    others: float = 0.0  # ... and during the timings


def peak_rss_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class Timing:
    what: str
    count: int
    p50: float  # wall, ms
    p99: float
    max: float
    cpu_p99: float  # this thread's CPU time, ms: what others' work on the machine does not inflate


def timed(what: str, fn, count: int) -> Timing:
    wall, cpu = [], []
    for _ in range(count):
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - started) / 1e6)
    return Timing(what, count, statistics.median(wall), percentile(wall, 99), max(wall), percentile(cpu, 99))


def cost(world, packs: dict[str, list[Item]], params: Params, args: argparse.Namespace) -> Cost:
    items = all_items(packs)
    by_key = {item.key: item for item in items}
    model = Model(params)
    rng = random.Random(args.seed + 11)
    # A 500-student school: each student with a few hundred answers over the three packs.
    print(f"  cost: {args.school} students' states ...", flush=True)
    log = practice_log(world, packs, args.school, args.seed + 12, answers=(60, 140), prefix="c")
    states: dict[str, StudentState] = {}
    for r in log:
        model.update(states.setdefault(r.student, StudentState()), by_key[r.item], r.correct, r.when)
    stored = {student: json.dumps(state.to_dict()) for student, state in states.items()}
    students = list(states)
    pack_lists = [[i for i in pack if i.skills] for pack in packs.values()]
    now = 1.9e9
    rows = []

    def pick_pack():
        state = states[rng.choice(students)]
        model.recommend(state, rng.choice(pack_lists), now)

    def pick_all():
        model.recommend(states[rng.choice(students)], items, now)

    def request():
        # What a practice request does with the model: load the state, pick, take the answer, store the state.
        student = rng.choice(students)
        state = StudentState.from_dict(json.loads(stored[student]))
        candidates = rng.choice(pack_lists)
        decision = model.recommend(state, candidates, now)
        model.update(state, by_key[decision.item], rng.random() < decision.p, now)
        stored[student] = json.dumps(state.to_dict())

    gc.collect()
    quiet = wait_until_quiet(max_wait=60)
    busy0, own0, wall0 = machine_busy(), own_cpu(), time.perf_counter()
    for label, fn in ((f"recommend: one pack's items (9-18), {args.school} students' states in memory", pick_pack),
                      (f"recommend: all {len(items)} sample items", pick_all),
                      ("practice request: state from JSON, recommend, update, state to JSON", request)):
        timed(label, fn, 200)  # warm the caches
        rows.append(timed(label, fn, args.requests))
    p99_pack = rows[0].p99

    # A big library: 2,000 items of 400 skills, a student with 5,000 answers over all of them.
    lib_rng = random.Random(args.seed + 13)
    library = [Item(f"lib/n{k // 20}/i{k}", tuple(f"skill{(k // 5 + j) % 400}" for j in range(1 + (k % 7 == 0))),
                    lib_rng.choice([None, -2, -1, 0, 1, 2])) for k in range(2000)]
    big = StudentState()
    for n in range(5000):
        item = lib_rng.choice(library)
        model.update(big, item, lib_rng.random() < 0.7, now - 5000 * 60 + n * 60)
    rows.append(timed("recommend: 2,000-item library, 400 skills, a student with 5,000 answers",
                      lambda: model.recommend(big, library, now), max(50, args.requests // 20)))
    pack20 = library[:20]
    rows.append(timed("recommend: 20 items of that library, same student", lambda: model.recommend(big, pack20, now),
                      args.requests))
    others = max(0.0, machine_busy() - busy0 - (own_cpu() - own0)) / (time.perf_counter() - wall0)
    state_bytes = statistics.mean(len(s) for s in stored.values())

    # A year of a school's answers: students x answers each, then one fit.
    print(f"  cost: a year of {args.school} x {args.year_answers} answers ...", flush=True)
    del log
    gc.collect()
    empty = vm_rss_mib()
    started = time.perf_counter()
    year = practice_log(world, packs, args.school, args.seed + 14,
                        answers=(args.year_answers // 3 - 50, args.year_answers // 3 + 50), prefix="y")
    gen_seconds = time.perf_counter() - started
    gc.collect()
    before = vm_rss_mib()
    peak_rss_reset()
    started = time.perf_counter()
    fitted = fit(year, items)
    fit_seconds = time.perf_counter() - started
    fit_rss = vm_hwm_mib() - before
    return Cost(rows, state_bytes, len(year), args.school, fit_seconds, fitted.info.get("iterations", 0), fit_rss,
                before - empty, gen_seconds, p99_pack, quiet=quiet, others=100 * others)


# --- the report ----------------------------------------------------------------------------------

def f3(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def items_summary(values: Sequence[int], cap: int) -> str:
    reached = sum(v <= cap for v in values)
    return (f"{statistics.mean(values):.1f} / {statistics.median(values):.0f} / {percentile(values, 90):.0f} "
            f"({100 * reached / len(values):.0f} %)")


def report(args: argparse.Namespace, packs: dict[str, list[Item]], predictions: list[Prediction],
           teachings: list[Teaching], spent: Cost, pybkt_versions: dict,
           total_seconds: float) -> tuple[str, list[tuple[str, str, str]]]:
    facts = machine_facts()
    items = all_items(packs)
    skills = {s for item in items for s in item.skills}
    multi = sum(len(item.skills) > 1 for item in items)
    when = datetime.datetime.now(datetime.timezone.utc)
    command = (f"python benchmarks/adaptive/evaluate.py --train {args.train} --test {args.test} --teach {args.teach} "
               f"--year-answers {args.year_answers} --seed {args.seed}"
               + (" --pybkt-multigs" if args.pybkt_multigs else ""))
    versions = ", ".join(f"{k} {v}" for k, v in pybkt_versions.items()) if pybkt_versions else "not installed"
    lines = [
        "## Adaptive practice: prediction, teaching, cost (`benchmarks/adaptive/evaluate.py`)", "",
        "How to run: `python benchmarks/adaptive/evaluate.py [--train 250 --test 250 --teach 100 "
        "--year-answers 1800 --seed 8 --pybkt-multigs]` (pyBKT is installed on the first run into a venv of its own, "
        f"`{DEFAULT_VENV.relative_to(Path.home())}` under the home folder: {', '.join(PYBKT_PINS)}; the server never "
        "depends on it). What the simulated learners are: `benchmarks/adaptive/README.md`.", "",
        measured_on(when, facts, command=command, cpu=True)
        + f" (load average before the run: {args.load}; others' work on the machine "
        f"slows the timings, not the other figures); pyBKT venv: {versions}. The whole run took "
        f"{total_seconds / 60:.1f} min.",
        "",
        "The model (`classroom_server/domain/adaptive.py`): Bayesian Knowledge Tracing per student and skill, with one "
        "difficulty per item shifting its guess and slip (KT-IDEM tied to one number; the pack's `difficulty` is its "
        "prior), conjunctive multi-skill items, and a general ability per student (a logit offset tracked online, "
        "whose population spread the fit chooses: 0 when students differ in nothing but their skills), fitted by EM "
        "from the school's records. Candidates measured: plain BKT (pyBKT), an Elo/IRT model with learning, and ours; "
        "best AUC per generator: " + "; ".join(
            f"{p.generator}: {best[0].replace('**', '')} ({best[1]:.3f})"
            for p in predictions for best in [max((r for r in p.rows if r[1] == r[1]), key=lambda r: r[1])]) + ". "
        "Its P(mastered) also gives the \"move on\" rule and the mastery bars directly.", "",
        "### Prediction of the next answer", "",
        "Each generator draws its true parameters once (seeded), then simulates the school's records before adaptive "
        f"practice: every student works through the {len(packs)} sample packs ({len(items)} items, {len(skills)} "
        f"skills; {multi} items have two or three skills), each answer the next item in the pack's order (60 %) or a "
        "random item of the pack (40 %), "
        "15-45 answers per pack. Models are fitted on the training students and predict every answer of the held-out "
        "students from that student's earlier answers (AUC and RMSE over all held-out answers). pyBKT has one skill "
        "per row, so an item with k skills is k rows for it and its prediction is the mean of them.", "",
    ]
    for pred in predictions:
        lines += [f"**{pred.title}** (`{pred.generator}`): {pred.train_students} training students "
                  f"({pred.train_answers:,} answers), {pred.test_students} held-out students "
                  f"({pred.test_answers:,} answers).", "",
                  markdown_table(["model", "AUC", "RMSE", "notes"],
                                 [(m, f3(a), f3(r), note) for m, a, r, note in pred.rows]), ""]
        if pred.ours_vs_pybkt:
            lines += [f"95 % bootstrap intervals over held-out students ({args.bootstrap} resamples): "
                      + "; ".join(f"AUC(ours) - AUC({who}) in [{low:+.4f}, {high:+.4f}]"
                                  for who, (low, high) in pred.ours_vs_pybkt) + ".", ""]
        if pred.recovery:
            lines += ["Parameter recovery (fit vs the generator's truth): "
                      + "; ".join(f"{what}: {value}" for what, value in pred.recovery) + ".", ""]

    lines += [
        "### Teaching: adaptive selection vs the pack's fixed order", "",
        f"For each generator, {args.teach} simulated students per sample pack ({3 * args.teach} in all), each taught "
        f"twice from the same starting knowledge: once with the pack's items in the pack's order (repeated), once "
        f"with `Model.recommend` (the parameters fitted above, `Policy()` defaults: target P = 0.7, mastery at "
        f"P(mastered) >= 0.95, an item comes back after 4 other answers and 2 minutes, spaced review from one day), "
        f"answering every {ANSWER_SECONDS:.0f} s in sessions of {SESSION} a day. \"Items to mastery\": answers until "
        f"every skill of the pack is truly mastered in the generator (at most {args.max_items:,}; students who never "
        f"got there count as {args.max_items + 1:,}): mean / median / 90th percentile (share of students who got "
        f"there). \"Mastery after {args.horizon}\": the share of the pack's skills truly mastered after "
        f"{args.horizon} items.", "",
    ]
    table = []
    targets: list[tuple[str, str, str]] = []
    for t in teachings:
        mf, ma = statistics.mean(t.fixed), statistics.mean(t.adaptive)
        reduction = 1 - ma / mf
        table.append((t.generator, "pack's fixed order", items_summary(t.fixed, t.max_items), "",
                      f"{100 * statistics.mean(t.fixed_at):.1f} %"))
        table.append((t.generator, "**adaptive** (fitted)", items_summary(t.adaptive, t.max_items),
                      f"**{100 * reduction:.0f} %**", f"{100 * statistics.mean(t.adaptive_at):.1f} %"))
        for label, (ns, ms) in t.variants.items():
            table.append((t.generator, label, items_summary(ns, t.max_items),
                          f"{100 * (1 - statistics.mean(ns) / mf):.0f} %", f"{100 * statistics.mean(ms):.1f} %"))
        targets.append((f"items to mastery, adaptive vs fixed order ({t.generator}): >= 25 % fewer (means)",
                        f"{100 * reduction:.0f} % fewer", "yes" if reduction >= TARGET_REDUCTION else "**no**"))
    lines += [markdown_table(["generator", "selection", "items to mastery: mean / median / p90 (reached)",
                              "fewer items than fixed order", f"mastery after {args.horizon}"], table), ""]
    kinds = "; ".join(f"{t.generator}: " + ", ".join(f"{k} {100 * v / sum(t.kinds.values()):.0f} %"
                                                     for k, v in t.kinds.most_common()) for t in teachings)
    lines += [f"What the adaptive picks were (`Decision.kind`): {kinds}. \"rest\": an item of a mastered skill while "
              "every item of the unmastered ones waits out the minimum gap (the sample packs have 1 to 4 items per "
              "skill); \"mastered\": the model believes every skill of the pack mastered, the generator does not yet "
              "(it practises the least sure skill). The generators never forget, so spaced reviews only cost items "
              "here; their benefit, like that of the gap between repeats, is not measured.", ""]

    lines += [
        "### Cost", "",
        f"Per recommendation, in this process on one core, with the parameters fitted on the `{spent.generator}` "
        f"generator (ability sd {spent.ability_sd:.2f}): {args.school} students' "
        f"states made by {args.school} simulated students answering 60-140 items each over the three packs "
        f"(a stored state is {spent.state_bytes:,.0f} bytes of JSON on average); each request picks a random student. "
        f"Times in ms: wall clock, and the p99 of this thread's CPU time, which others' work on the machine does not "
        f"inflate (the rest of the machine used {spent.quiet:.0f} % of a core just before the timings and "
        f"{spent.others:.0f} % during them).", "",
        markdown_table(["what", "requests", "p50", "p99", "max", "p99 CPU"],
                       [(t.what, f"{t.count:,}", f"{t.p50:.3f}", f"{t.p99:.3f}", f"{t.max:.3f}", f"{t.cpu_p99:.3f}")
                        for t in spent.rows]), "",
        f"Fit for a year: {spent.fit_students} students x about {args.year_answers:,} answers = "
        f"**{spent.fit_records:,} records** ({len(items)} items, {len(skills)} skills) in one `fit()` call: **{spent.fit_seconds:.1f} s** "
        f"({spent.fit_iterations} EM iterations, then the ability spread chosen on a sample of 100,000 answers); "
        f"peak memory {spent.fit_rss_mib:.0f} MiB above the {spent.records_mib:.0f} MiB that the records themselves "
        "took as a list of `Record` objects (`fit` takes any iterable: the agent can stream rows from the database "
        "instead). Not measured on a Raspberry-Pi-class board, which is several times slower per core than this "
        "machine: the agent fits at night, in its own process, and a fit never blocks a student request.", "",
    ]
    for index, pred in enumerate(predictions):
        pyrow = next((row for row in pred.rows if row[0].startswith("pyBKT 1.4.3 (")), None)
        ours = pred.rows[0]
        if pyrow is None or pyrow[1] != pyrow[1]:
            targets.insert(index, (f"prediction AUC >= pyBKT's ({pred.generator})",
                                   f"ours {f3(ours[1])}, pyBKT not run: {pred.pybkt_error}", "**not measured**"))
        else:
            targets.insert(index, (f"prediction AUC >= pyBKT's ({pred.generator})", f"ours {f3(ours[1])}, pyBKT "
                                   f"{f3(pyrow[1])}", "yes" if ours[1] >= pyrow[1] else "**no**"))
    targets.append(("p99 per recommendation < 5 ms (a pack's items, 500-student school)",
                    f"{spent.p99_pack:.3f} ms", "yes" if spent.p99_pack < TARGET_P99_MS else "**no**"))
    lines += [markdown_table(["target", "measured", "met"], targets)]
    return "\n".join(lines), targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=250, help="training students per generator")
    parser.add_argument("--test", type=int, default=250, help="held-out students per generator")
    parser.add_argument("--teach", type=int, default=100, help="simulated students per pack in the teaching runs")
    parser.add_argument("--max-items", type=int, default=1000, help="items a teaching run gives at most")
    parser.add_argument("--horizon", type=int, default=40, help="items after which true mastery is measured")
    parser.add_argument("--school", type=int, default=500, help="students of the school in the cost runs")
    parser.add_argument("--requests", type=int, default=5000, help="timed recommendations per cost row")
    parser.add_argument("--year-answers", type=int, default=1800, help="answers per student in a year")
    parser.add_argument("--generators", default="bkt,irt", help=f"of {', '.join(GENERATORS)}")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the AUC difference")
    parser.add_argument("--pybkt-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--pybkt-processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pybkt-multigs", action="store_true", help="also pyBKT with guess/slip per item")
    parser.add_argument("--no-pybkt", action="store_true", help="skip pyBKT (the report says it was not run)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    args.load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()

    packs = sample_packs()
    python, why = (None, "skipped with --no-pybkt") if args.no_pybkt else pybkt_python(args.pybkt_venv)
    if python is None:
        print(f"pyBKT: {why}", flush=True)
    predictions, teachings, worlds = [], [], {}
    versions: dict = {}
    with tempfile.TemporaryDirectory(prefix="adaptive-bench-") as folder:
        for name in args.generators.split(","):
            print(f"{name}: prediction ...", flush=True)
            pred, world = prediction(name, packs, args, python, why, Path(folder))
            predictions.append(pred)
            worlds[name] = (world, pred.params)
            for row in pred.rows:
                print(f"  {row[0]}: AUC {f3(row[1])} RMSE {f3(row[2])} {row[3]}", flush=True)
            print(f"{name}: teaching ...", flush=True)
            teachings.append(teaching(name, world, packs, pred.params, args))
    if python is not None:
        versions = json.loads(subprocess.run(
            [str(python), "-c", "import json, numpy, pandas, sklearn, importlib.metadata as m; print(json.dumps("
             "{'pyBKT': m.version('pyBKT'), 'numpy': numpy.__version__, 'pandas': pandas.__version__, "
             "'scikit-learn': sklearn.__version__}))"], capture_output=True, text=True).stdout or "{}")
    # The IRT generator's parameters track each student's ability too: the dearer case.
    world, params = worlds.get("irt") or next(iter(worlds.values()))
    print("cost ...", flush=True)
    spent = cost(world, packs, params, args)
    spent.generator, spent.ability_sd = world.name, params.ability_sd
    body, targets = report(args, packs, predictions, teachings, spent, versions, time.perf_counter() - started)
    print(body)
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")


if __name__ == "__main__":
    main()
