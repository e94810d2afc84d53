"""Fit pyBKT on a training CSV and predict a test CSV; runs inside the benchmark's own pyBKT venv.

    python pybkt_run.py TRAIN.csv TEST.csv OUT.json [--seed 42] [--multigs] [--part 0/2]

CSVs: one row per (answer, skill) with columns row, order_id, user_id, skill_name, correct,
item_id: pyBKT has one skill per row, so an item with two skills is two rows (as its docs do it);
the benchmark averages the rows of one answer. `--part i/n` fits and predicts only every n-th
skill (pyBKT fits each skill on its own), so that n processes can share the work.
OUT.json: {"predictions": {row: correct_predictions}, "fit_seconds", "predict_seconds",
"params": {skill: {param: {class: value}}}, "versions": {...}}.
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fits", type=int, default=5, help="random restarts (pyBKT's num_fits; its default is 5)")
    parser.add_argument("--multigs", action="store_true", help="guess and slip per item (pyBKT's KT-IDEM)")
    parser.add_argument("--part", default="0/1", help="i/n: only the skills whose index modulo n is i")
    args = parser.parse_args()
    part, parts = (int(x) for x in args.part.split("/"))

    import numpy
    import pandas
    import pyBKT
    import sklearn
    from pyBKT.models import Model

    dtypes = {"user_id": str, "skill_name": str, "item_id": str}
    train = pandas.read_csv(args.train, dtype=dtypes)
    test = pandas.read_csv(args.test, dtype=dtypes)
    skills = sorted(train["skill_name"].unique())[part::parts]
    train = train[train["skill_name"].isin(skills)].reset_index(drop=True)
    test = test[test["skill_name"].isin(skills)].reset_index(drop=True)
    defaults = {"order_id": "order_id", "user_id": "user_id", "skill_name": "skill_name", "correct": "correct"}
    options = {}
    if args.multigs:
        defaults["multigs"] = "item_id"
        options["multigs"] = True
    result: dict = {"predictions": {}, "fit_seconds": 0.0, "predict_seconds": 0.0, "params": {},
                    "versions": {"pyBKT": getattr(pyBKT, "__version__", "?"), "numpy": numpy.__version__,
                                 "pandas": pandas.__version__, "scikit-learn": sklearn.__version__}}
    if skills:
        # parallel=False: pyBKT's own pool starts processes on every E-step, slower than none here.
        model = Model(seed=args.seed, num_fits=args.fits, parallel=False)
        started = time.perf_counter()
        model.fit(data=train, defaults=defaults, **options)
        result["fit_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        predicted = model.predict(data=test)
        result["predict_seconds"] = time.perf_counter() - started
        result["predictions"] = {str(row): float(p) for row, p in zip(predicted["row"], predicted["correct_predictions"])}
        for (skill, param, kind), value in model.params()["value"].items():
            result["params"].setdefault(str(skill), {}).setdefault(str(param), {})[str(kind)] = float(value)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
