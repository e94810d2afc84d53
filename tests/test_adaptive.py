"""domain.adaptive: knowledge tracing, predictions, the next item and why, fitting, state as JSON, odd input."""
from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from classroom_server.domain.adaptive import (Decision, Item, Model, Params, Policy, Reason, Record, SkillParams,
                                              StudentState, fit, item_key, pack_items)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "content_packs" / "samples").glob("*/pack.json"))
T0 = 1_800_000_000.0
DAY = 86400.0

A1, A2, A3 = Item("p/n/a1", ("add",), -1), Item("p/n/a2", ("add",), 0), Item("p/n/a3", ("add",), 1)
B1, B2, B3 = Item("p/n/b1", ("sub",), -1), Item("p/n/b2", ("sub",), 0), Item("p/n/b3", ("sub",), 1)
AB = Item("p/n/ab", ("add", "sub"), 2)
PACK = [A1, A2, A3, B1, B2, B3, AB]


def answer_all(model: Model, state: StudentState, items, correct: bool, start: float, step: float = 60.0) -> float:
    when = start
    for item in items:
        model.update(state, item, correct, when)
        when += step
    return when


def practise(model: Model, state: StudentState, candidates, answers: int, right, start: float,
             step: float = 60.0) -> tuple[list[Decision], float]:
    """Follow the model's picks for `answers` answers; `right(decision)` says whether each is answered right."""
    decisions = []
    by_key = {item.key: item for item in candidates}
    when = start
    for _ in range(answers):
        decision = model.recommend(state, candidates, when)
        decisions.append(decision)
        model.update(state, by_key[decision.item], right(decision), when)
        when += step
    return decisions, when


# --- predictions and updates ---------------------------------------------------------------------

@pytest.mark.parametrize("correct, direction", [(True, 1), (False, -1)])
def test_an_answer_moves_mastery_and_predictions_its_way(correct, direction):
    model = Model()
    state = StudentState()
    before_p, before_m = model.predict(state, A2), model.p_mastered(state, "add")
    for n in range(3):
        model.update(state, A1, correct, T0 + 60 * n)
    after_p, after_m = model.predict(state, A2), model.p_mastered(state, "add")
    assert direction * (after_p - before_p) > 0.05
    assert direction * (after_m - before_m) > 0.05 or (not correct and after_m < before_m + 0.05)
    # Another skill is untouched, save for the student's general ability.
    assert model.p_mastered(state, "sub") == Params().skill("sub").prior


def test_harder_items_are_predicted_harder_and_update_returns_the_prediction_before():
    model = Model()
    state = StudentState()
    assert model.predict(state, A1) > model.predict(state, A2) > model.predict(state, A3)
    expected = model.predict(state, A2)
    assert model.update(state, A2, True, T0) == pytest.approx(expected)


def test_a_two_skill_item_needs_both():
    model = Model(Params(ability_sd=0.0))
    state = StudentState()
    answer_all(model, state, [A1, A2, A3] * 4, True, T0)
    assert model.p_mastered(state, "add") > 0.95
    # Knowing "add" alone does not make the add+sub item easy: "sub" is still unknown.
    assert model.predict(state, AB) < model.predict(state, A3)
    p_sub = model.p_mastered(state, "sub")
    model.update(state, AB, True, T0 + DAY)
    assert model.p_mastered(state, "sub") > p_sub


def test_ability_carries_to_unseen_skills():
    model = Model(Params(ability_sd=1.0))
    strong, weak = StudentState(), StudentState()
    answer_all(model, strong, [A1, A2, A3] * 3, True, T0)
    answer_all(model, weak, [A1, A2, A3] * 3, False, T0)
    assert strong.ability > 0 > weak.ability
    assert model.predict(strong, B2) > model.predict(StudentState(), B2) > model.predict(weak, B2)
    assert model.p_mastered(strong, "sub") == model.p_mastered(weak, "sub")  # mastery is per skill
    assert Model(Params(ability_sd=0.0)).predict(StudentState(), B2) == pytest.approx(
        Model(Params(ability_sd=0.0)).predict(StudentState(), B2))


# --- picking the next item -----------------------------------------------------------------------

def test_recent_items_are_not_repeated_too_soon():
    policy = Policy(min_gap_items=3, min_gap_seconds=100)
    model = Model(policy=policy)
    state = StudentState()
    decisions, _ = practise(model, state, PACK, 60, lambda d: random.Random(d.item).random() < 0.6, T0, step=20)
    keys = [d.item for d in decisions]
    assert "repeat" not in {d.kind for d in decisions}
    for n, key in enumerate(keys):
        # Not within the last 3 answers, nor less than 100 s ago (4 answers of 20 s).
        assert key not in keys[max(0, n - 4):n], (n, key, keys[max(0, n - 4):n + 1])


def test_recent_argument_and_everything_recent():
    model = Model(policy=Policy(min_gap_items=10, min_gap_seconds=0))
    state = StudentState()
    picked = model.recommend(state, PACK, T0, recent=[A1.key, A2.key])
    assert picked.item not in (A1.key, A2.key)
    when = answer_all(model, state, [A1, A2], True, T0)
    decision = model.recommend(state, [A1, A2], when)
    assert decision.kind == "repeat" and decision.item == A1.key  # the one seen longest ago
    assert model.recommend(state, [], when) is None


def test_moves_on_when_a_skill_is_mastered():
    model = Model(Params(ability_sd=0.0), Policy(min_gap_items=1, min_gap_seconds=0))
    state = StudentState()
    by_key = {item.key: item for item in PACK}
    when = T0
    for n in range(30):
        decision = model.recommend(state, PACK, when)
        if n == 0:
            assert decision.skill == "add" and decision.kind == "new"  # the pack's order: "add" comes first
        if decision.skill != "add":
            break
        assert model.p_mastered(state, "add") < model.policy.mastery
        model.update(state, by_key[decision.item], True, when)
        when += 60
    assert 2 <= n < 30
    assert decision.skill == "sub" and decision.kind == "new"
    assert model.p_mastered(state, "add") >= model.policy.mastery


def test_picks_aim_at_the_target_chance():
    items = [Item(f"p/n/i{d}", ("s",), d) for d in (-4, -2, 0, 2, 4)]
    for target in (0.3, 0.7, 0.9):
        model = Model(Params(ability_sd=0.0), Policy(target=target, order_weight=0.0))
        decision = model.recommend(StudentState(), items, T0)
        best = min(items, key=lambda item: abs(model.predict(StudentState(), item) - target))
        assert decision.item == best.key
        assert decision.p == pytest.approx(model.predict(StudentState(), best))


def test_spaced_review_brings_back_a_mastered_skill():
    policy = Policy(min_gap_items=0, min_gap_seconds=0, review_after=DAY, review_every=2)
    model = Model(Params(ability_sd=0.0), policy)
    state = StudentState()
    when = answer_all(model, state, [A1, A2, A3] * 4, True, T0)
    assert model.p_mastered(state, "add") >= policy.mastery
    # The same day: "sub" is what there is to learn.
    assert model.recommend(state, PACK, when).skill == "sub"
    # Two days later, after a few "sub" answers, "add" is due for review.
    when = answer_all(model, state, [B1, B2], False, when + 2 * DAY)
    decision = model.recommend(state, PACK, when)
    assert decision.kind == "review" and decision.skill == "add"
    assert decision.reason.msgid.startswith("Review:") and decision.reason.params["days"] == 2
    # Right review answers push the next review further out; never every time.
    model.update(state, {i.key: i for i in PACK}[decision.item], True, when)
    assert state.skills["add"].reviews == 1
    assert model.recommend(state, PACK, when + 60).kind != "review"


def test_when_everything_is_mastered_it_still_picks_and_says_so():
    model = Model(Params(ability_sd=0.0), Policy(min_gap_items=0, min_gap_seconds=0, review_every=10 ** 6))
    state = StudentState()
    when = answer_all(model, state, [A1, A2, A3, B1, B2, B3] * 5, True, T0)
    decision = model.recommend(state, PACK, when)
    assert decision.kind == "mastered" and decision.skill in ("add", "sub")
    assert "mastered" in decision.reason.text()


# --- explanations --------------------------------------------------------------------------------

def test_every_decision_has_a_reason_a_teacher_can_read():
    model = Model()
    state = StudentState()
    rng = random.Random(3)
    decisions, _ = practise(model, state, PACK + [Item("p/n/free", ())], 80, lambda d: rng.random() < 0.5, T0)
    assert {d.kind for d in decisions} <= {"new", "learn", "review", "rest", "mastered", "repeat"}
    for d in decisions:
        assert isinstance(d.reason, Reason) and d.reason.msgid
        text = d.reason.text()  # every %(name)s has its value
        assert "%(" not in text
        assert 0.0 < d.p < 1.0
        record = json.loads(json.dumps(d.to_dict()))
        assert record["item"] == d.item and record["reason"] == d.reason.msgid


def test_the_reason_counts_recent_wrong_answers():
    model = Model()
    state = StudentState()
    for n, correct in enumerate([True, False, False, True, False]):
        model.update(state, [A1, A2, A3][n % 3], correct, T0 + 60 * n)
    reason = model.skill_reason(state, "add")
    assert reason.text() == "3 of the last 4 add items wrong"
    assert reason.params == {"wrong": 3, "count": 4, "skill": "add"}
    assert model.skill_reason(state, "sub").text() == "sub not practised yet"
    decision = model.recommend(state, PACK, T0 + DAY)
    if decision.skill == "add":
        assert decision.reason == reason
    help_rows = model.needs_help(state, below=0.9, min_answers=4)
    assert [row[0] for row in help_rows] == ["add"] and help_rows[0][2] == reason


# --- fitting -------------------------------------------------------------------------------------

def simulate_bkt(truth: dict[str, SkillParams], items: list[Item], students: int, answers: int,
                 seed: int) -> list[Record]:
    rng = random.Random(seed)
    records = []
    for s in range(students):
        known = {k: rng.random() < p.prior for k, p in truth.items()}
        for n in range(answers):
            item = items[n % len(items)] if rng.random() < 0.5 else rng.choice(items)
            p = truth[item.skills[0]]
            right = rng.random() < ((1 - p.slip) if known[item.skills[0]] else p.guess)
            records.append(Record(f"s{s}", item.key, item.skills, right, T0 + 60 * n))
            if not known[item.skills[0]] and rng.random() < p.learn:
                known[item.skills[0]] = True
    return records


def test_fit_recovers_known_parameters():
    truth = {"easy": SkillParams(prior=0.4, learn=0.2, guess=0.25, slip=0.08),
             "hard": SkillParams(prior=0.1, learn=0.08, guess=0.1, slip=0.15)}
    items = [Item(f"p/n/{k}{n}", (k,)) for k in truth for n in range(3)]
    records = simulate_bkt(truth, items, students=300, answers=24, seed=11)
    params = fit(records, items)
    for name, true in truth.items():
        got = params.skills[name]
        assert got.prior == pytest.approx(true.prior, abs=0.1), (name, got)
        assert got.learn == pytest.approx(true.learn, abs=0.06), (name, got)
        assert got.guess == pytest.approx(true.guess, abs=0.08), (name, got)
        assert got.slip == pytest.approx(true.slip, abs=0.08), (name, got)
        assert got.answers == sum(r.skills == (name,) for r in records)
    assert all(abs(d) < 0.5 for d in params.items.values())  # items of a skill are alike here
    assert params.ability_sd <= 0.25  # these students differ in nothing but their skills
    assert params.info["records"] == len(records) and params.info["students"] == 300
    # Predictions with the fitted parameters beat the defaults on new students of the same kind.
    test = simulate_bkt(truth, items, students=100, answers=24, seed=12)
    by_key = {item.key: item for item in items}

    def loss(model: Model) -> float:
        states: dict[str, StudentState] = {}
        return -sum(math.log(p if r.correct else 1 - p) for r in test
                    for p in [model.update(states.setdefault(r.student, StudentState()), by_key[r.item],
                                           r.correct, r.when)])

    assert loss(Model(params)) < loss(Model())


def test_fit_finds_item_difficulty_and_the_packs_scale():
    rng = random.Random(5)
    true_d = {-2: -1.5, 0: 0.0, 2: 1.5}  # pack difficulty -> true logits: a scale of 0.75
    items = [Item(f"p/n/i{k}", (f"s{k % 2}",), d) for k, d in enumerate([-2, 0, 2, -2, 0, 2])]
    records = []
    for s in range(300):
        ability = rng.gauss(0, 1)
        for n in range(12):
            item = rng.choice(items)
            p = 1 / (1 + math.exp(-(ability + 0.5 - true_d[item.difficulty])))
            records.append(Record(f"s{s}", item.key, item.skills, rng.random() < p, T0 + n))
    params = fit(records, items)
    d = [params.items[item.key] for item in items]
    assert d[0] < d[1] < d[2] and d[3] < d[4] < d[5]
    assert 0.3 < params.difficulty_scale < 1.2
    assert params.ability_sd >= 0.5  # these students do differ in general ability
    new = Item("p/n/new", ("s0",), 2)
    assert params.difficulty(new) == pytest.approx(2 * params.difficulty_scale)


def test_fit_takes_tuples_datetimes_and_odd_records():
    when = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.utc)
    records = [("ann", "p/n/x", ["x"], True, when), ("ann", "p/n/x", ["x"], False, when),  # contradictory
               ("ann", "p/n/none", [], True, when),  # no skill: teaches the model nothing
               ("bob", "p/n/y", ("y", "x"), 1, None), ("bob", "p/n/y", ("y", "x"), 0, float("nan"))]
    params = fit(records)
    assert params.info["records"] == 4 and params.info["skipped"] == 1
    assert set(params.skills) == {"x", "y"}
    for p in params.skills.values():
        for value in (p.prior, p.learn, p.guess, p.slip):
            assert 0.0 <= value <= 1.0 and math.isfinite(value)
    json.dumps(params.to_dict(), allow_nan=False)


def test_fit_of_nothing_gives_the_defaults_and_keeps_a_previous_fit():
    empty = fit([])
    assert empty.skills == {} and empty.default == Params().default
    earlier = Params(skills={"old": SkillParams(prior=0.6, answers=100)}, items={"p/n/o": 1.0})
    again = fit([], prior=earlier)
    assert again.skills["old"].prior == 0.6 and again.items["p/n/o"] == 1.0


# --- state and parameters as JSON ----------------------------------------------------------------

def test_state_params_and_model_round_trip_through_json():
    model = Model(fit(simulate_bkt({"add": SkillParams(), "sub": SkillParams()}, PACK[:6], 40, 10, seed=2), PACK),
                  Policy(target=0.6, min_gap_items=2))
    state = StudentState()
    rng = random.Random(1)
    practise(model, state, PACK, 25, lambda d: rng.random() < 0.6, T0)
    state2 = StudentState.from_dict(json.loads(json.dumps(state.to_dict(), allow_nan=False)))
    model2 = Model.from_dict(json.loads(json.dumps(model.to_dict(), allow_nan=False)))
    assert model2.policy == model.policy
    assert state2.to_dict() == state.to_dict()
    for item in PACK:
        assert model2.predict(state2, item) == pytest.approx(model.predict(state, item), abs=1e-5)
    picked, picked2 = model.recommend(state, PACK, T0 + DAY), model2.recommend(state2, PACK, T0 + DAY)
    assert (picked2.item, picked2.kind, picked2.skill, picked2.reason) == (picked.item, picked.kind, picked.skill,
                                                                          picked.reason)
    assert picked2.p == pytest.approx(picked.p, abs=1e-5)
    assert Params.from_dict(model.params.to_dict()).to_dict() == model.params.to_dict()


@pytest.mark.parametrize("garbage", [None, {}, [], "x", {"skills": {"add": {"p": "nan?"}}}, {"recent": [[1]]},
                                     {"skills": "no"}, {"ability": "high"}, {"skills": {"add": {"p": float("nan")}}},
                                     {"ability": float("inf"), "ability_var": -1}])
def test_malformed_state_gives_a_usable_student(garbage):
    model = Model()
    state = StudentState.from_dict(garbage)
    assert 0 < model.predict(state, A1) < 1
    model.update(state, A1, True, "not a time")
    assert 0 < model.predict(state, A1) < 1 and math.isfinite(state.ability)
    json.dumps(state.to_dict(), allow_nan=False)


@pytest.mark.parametrize("garbage", [None, {}, {"params": {"skills": {"a": {"guess": "x"}}, "items": {"i": "hard"},
                                                           "difficulty_scale": float("inf")},
                                                "policy": {"target": 7, "min_gap_items": "many"}}])
def test_malformed_model_dicts_fall_back_to_defaults(garbage):
    model = Model.from_dict(garbage)
    assert 0.05 <= model.policy.target <= 0.95
    assert model.params.difficulty_scale == 0.5
    assert model.recommend(StudentState(), PACK, T0) is not None


# --- odd input -----------------------------------------------------------------------------------

def test_unknown_skills_items_without_skills_and_skills_without_items():
    model = Model(Params(skills={"add": SkillParams(prior=0.8)}))
    state = StudentState()
    strange = Item("p/n/strange", ("never.seen",))
    assert model.predict(state, strange) == pytest.approx(model.predict(state, Item("p/n/other", ("other",))))
    bare = Item("p/n/bare", [])
    assert 0 < model.predict(state, bare) < 1
    model.update(state, bare, True, T0)
    assert state.skills == {} and state.answers == 1
    decision = model.recommend(state, [bare], T0 + 600)
    assert decision.item == bare.key and decision.skill is None and decision.reason.text()
    # A skill with no items: its bar shows the prior.
    assert model.mastery(state, ["add", "lonely"]) == {"add": 0.8, "lonely": Params().default.prior}
    assert model.mastery(StudentState()) == {}


def test_odd_item_fields_are_cleaned():
    item = Item("k", ("a", "a", " ", "b", 3), float("nan"))
    assert item.skills == ("a", "b") and item.difficulty is None
    assert Item("k", "a").skills == ("a",) and Item("k", None).skills == ()


def test_a_student_with_thousands_of_answers_stays_small_and_fast():
    model = Model()
    state = StudentState()
    rng = random.Random(9)
    for n in range(5000):
        model.update(state, rng.choice(PACK), rng.random() < 0.7, T0 + 30 * n)
    assert state.answers == 5000 and len(state.recent) <= 64
    assert all(len(s.history) <= 8 for s in state.skills.values())
    assert len(json.dumps(state.to_dict())) < 10_000
    assert 0 < model.predict(state, AB) < 1


def test_a_new_student_gets_the_first_skill_of_the_pack():
    decision = Model().recommend(StudentState(), PACK, datetime(2026, 9, 1, 9, 0))
    assert decision.kind == "new" and decision.skill == "add"
    assert decision.reason.text() == "add not practised yet"


def test_pack_items_of_the_sample_packs():
    assert SAMPLES
    for path in SAMPLES:
        pack = json.loads(path.read_text(encoding="utf-8"))
        items = pack_items(pack)
        assert items and len({i.key for i in items}) == len(items)
        assert all(i.key.startswith(pack["id"] + "/") and i.skills for i in items)
        model = Model()
        decision = model.recommend(StudentState(), items, T0)
        assert decision.item in {i.key for i in items}
    assert item_key("kz.pack", "ex.1", "q-2") == "kz.pack/ex.1/q-2"
    assert pack_items({"id": "x", "nodes": [{"id": "t", "children": [{"id": "e", "items": [{"id": "i"}, "junk"]}]}]}) \
        == [Item("x/e/i", ())]
