"""The pilot evaluation: the pure estimator against hand-computed values, Student's t without scipy,
and `classroom-hub pilot evaluate` on the real hub's aggregates. Its coverage over simulated
programmes is measured by benchmarks/pilot_evaluation.py (docs/BENCHMARKS.md)."""
from __future__ import annotations

import json
import math
import subprocess

import pytest

from sync.hub.evaluation import EvaluationError, SchoolPeriods, estimate, t_cdf, t_quantile
from tests.hubprocess import console_script
from tests.hubtesting import hub_database_url  # noqa: F401  (fixtures)
from tests.hubworld import aggregates, hub, world  # noqa: F401  (fixtures)
from tests.hubworld import base_env, sign_in


@pytest.mark.parametrize("df, expected", [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (29.5, 2.0437),
                                          (1000, 1.9623)])
def test_t_quantiles_match_the_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)
    assert t_cdf(expected, df) == pytest.approx(0.975, abs=1e-5)


def test_the_estimate_by_hand():
    # growths: pilot 10 and 14, comparison 2 and 4; every school's baseline 50 and 60 (SD of the 8 values)
    schools = [SchoolPeriods("p1", True, [50, 60], [65, 65]), SchoolPeriods("p2", True, [50, 60], [69, 69]),
               SchoolPeriods("c1", False, [50, 60], [57, 57]), SchoolPeriods("c2", False, [50, 60], [59, 59])]
    result = estimate(schools)
    assert result.difference == pytest.approx(9.0)
    se = math.sqrt(8 / 2 + 2 / 2)  # Welch: var 8 over 2 schools, var 2 over 2 schools
    df = (4 + 1) ** 2 / (4 ** 2 / 1 + 1 ** 2 / 1)
    assert result.df == pytest.approx(df)
    sd = math.sqrt(sum((v - 55) ** 2 for v in [50, 60] * 4) / 7)
    j = 1 - 3 / (4 * 2 - 1)
    assert result.sd == pytest.approx(sd)
    assert result.g == pytest.approx(9 * j / sd)
    assert result.low == pytest.approx((9 - t_quantile(0.975, df) * se) * j / sd)
    assert (result.pilot_schools, result.comparison_schools, result.pilot_students) == (2, 2, 4)
    assert result.sentence().startswith(f"pilot schools grew {result.g:.2f} SD more than comparable schools, 95 % CI")


def test_too_little_data_is_explained():
    with pytest.raises(EvaluationError, match="at least 2 pilot and 2 comparison schools"):
        estimate([SchoolPeriods("p1", True, [1, 2], [3, 4]), SchoolPeriods("c1", False, [1, 2], [3, 4]),
                  SchoolPeriods("c2", False, [1, 2], [])])


def test_the_command_on_the_hubs_aggregates(hub, world, aggregates, tmp_path):
    ids = world["ids"]
    pilot_file = tmp_path / "pilot.csv"
    pilot_file.write_text("KZ-1\nKZ-3\n", encoding="utf-8")  # register ids
    done = subprocess.run([console_script("classroom-hub"), "pilot", "evaluate", "--pilot-file", str(pilot_file),
                           "--comparison", f"{ids['ind']},{ids['unreg']}", "--comparison", ids["kar2"],
                           "--start", "2026-03", "--subject", "mathematics", "--grade", "5", "--json"],
                          env={**base_env(), **hub.env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["left_out"] == [ids["kar2"]]
    assert (result["pilot_schools"], result["comparison_schools"]) == (2, 2)
    assert (result["pilot_students"], result["comparison_students"]) == (22, 21)
    assert result["difference"] == pytest.approx((17.5 + 19.5) / 2 - (-0.4166667 + 3.8888889) / 2)  # this seed's data
    assert result["g"] > 0 and result["low"] > 0 and result["significant"]
    assert result["sentence"].startswith("pilot schools grew") and "2 vs 2 schools" in result["sentence"]
    same = subprocess.run([console_script("classroom-hub"), "pilot", "evaluate", "--pilot", ids["kar1"],
                           "--comparison", ids["kar1"], "--start", "2026-03", "--subject", "mathematics",
                           "--grade", "5"], env={**base_env(), **hub.env}, capture_output=True, text=True, timeout=120)
    assert same.returncode == 2 and "both pilot and comparison" in same.stderr


def test_the_pilot_page_in_scope(hub, world, aggregates):
    ids = world["ids"]
    query = {"pilot": "KZ-1, KZ-3", "comparison": f"{ids['ind']} {ids['unreg']} {ids['kar2']}", "start": "2026-03",
             "subject": "mathematics", "grade": "5"}
    session = sign_in(hub, "minister")
    session.cookies.set("hub_lang", "en")
    page = session.get(hub.url + "/ops/pilot", params=query, timeout=30)
    assert page.status_code == 200 and "Pilot schools grew" in page.text and "2 vs 2 schools (22 vs 21 students)" in page.text
    assert ids["kar2"] in page.text.split("Left out")[1]
    aktobe = sign_in(hub, "aktobe")  # Inder is in Atyrau: outside the region's scope, as if unknown
    aktobe.cookies.set("hub_lang", "en")
    refused = aktobe.get(hub.url + "/ops/pilot", params=query, timeout=30)
    assert refused.status_code == 200 and f"no enrolled school {ids['ind']}" in refused.text
    assert "Pilot schools grew" not in refused.text
    assert sign_in(hub, "director").get(hub.url + "/ops/pilot", timeout=30).status_code == 403
