"""Fit pyBKT on a training CSV and predict a test CSV; runs inside the benchmark's own pyBKT venv.

    python pybkt_run.py TRAIN.csv TEST.csv OUT.json [--seed 42] [--multigs]

CSVs: one row per (answer, skill) with columns order_id, user_id, skill_name, correct, answer,
item_id (pyBKT has one skill per row: an item with two skills is two rows, as its docs do it).
OUT.json: {"predictions": {answer: mean of the rows' correct_predictions}, "fit_seconds": ...,
"params": {skill: {prior, learn, guess, slip}}, "versions": {...}}.
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
    parser.add_argument("--multigs", action="store_true", help="guess and slip per item (pyBKT's KT-IDEM)")
    args = parser.parse_args()

    import numpy
    import pandas
    import pyBKT
    import sklearn
    from pyBKT.models import Model

    train = pandas.read_csv(args.train, dtype={"user_id": str, "skill_name": str, "item_id": str})
    test = pandas.read_csv(args.test, dtype={"user_id": str, "skill_name": str, "item_id": str})
    defaults = {"order_id": "order_id", "user_id": "user_id", "skill_name": "skill_name", "correct": "correct"}
    options = {}
    if args.multigs:
        defaults["multigs"] = "item_id"
        options["multigs"] = True
    model = Model(seed=args.seed, num_fits=5, parallel=False)
    started = time.perf_counter()
    model.fit(data=train, defaults=defaults, **options)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(data=test)
    predict_seconds = time.perf_counter() - started
    means = predicted.groupby("answer")["correct_predictions"].mean()
    table: dict = {}
    for (skill, param, kind), value in model.params()["value"].items():
        table.setdefault(str(skill), {}).setdefault(str(param), {})[str(kind)] = float(value)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"predictions": {str(k): float(v) for k, v in means.items()},
                   "fit_seconds": fit_seconds, "predict_seconds": predict_seconds, "params": table,
                   "versions": {"pyBKT": getattr(pyBKT, "__version__", "1.4.3"), "numpy": numpy.__version__,
                                "pandas": pandas.__version__, "scikit-learn": sklearn.__version__}}, out)


if __name__ == "__main__":
    main()
