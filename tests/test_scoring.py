"""domain.scoring: every item type, typed numbers and texts, malformed responses, what the browser sees."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from classroom_server.domain.scoring import (ResponseError, Scored, explanation, hint, normalize_text,
                                             parse_number, public_item, score, shown_response)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "content_packs" / "samples").glob("*/pack.json"))
SECRET_KEYS = ("answer", "accepted", "tolerance", "explanation")

SINGLE = {
    "id": "source", "type": "single", "skills": ["s"],
    "prompt": {"kk": "Дыбыс неден пайда болады?", "ru": "Из-за чего возникает звук?"},
    "choices": [{"id": "a", "text": {"kk": "Тербеліс", "ru": "Колебания"}},
                {"id": "b", "text": {"kk": "Жылу", "ru": "Тепло"}},
                {"id": "c", "text": {"kk": "Түс", "ru": "Цвет"}}],
    "answer": "a",
    "hints": [{"kk": "Домбыра", "ru": "Домбра"}, {"ru": "Только по-русски"}],
    "explanation": {"kk": "Тербелістен.", "ru": "Из-за колебаний."},
}
MULTIPLE = {
    "id": "media", "type": "multiple", "skills": ["s"], "prompt": {"ru": "Отметь всё."},
    "choices": [{"id": key, "text": {"ru": key}} for key in ("air", "water", "steel", "vacuum")],
    "answer": ["air", "water", "steel"],
}
NUMERIC = {"id": "half", "type": "numeric", "skills": ["s"], "prompt": {"ru": "Сколько?"},
           "answer": 0.5, "tolerance": 0}
THUNDER = {"id": "thunder", "type": "numeric", "skills": ["s"], "prompt": {"ru": "Сколько км?"},
           "answer": 2.04, "tolerance": 0.1}
BIG = {"id": "big", "type": "numeric", "skills": ["s"], "prompt": {"ru": "?"}, "answer": 1234.5}
NEGATIVE = {"id": "neg", "type": "numeric", "skills": ["s"], "prompt": {"ru": "?"}, "answer": -3,
            "tolerance": 0}
MIXED = {"id": "mixed", "type": "numeric", "skills": ["s"], "prompt": {"ru": "?"}, "answer": 2.75}
TEXT = {"id": "num", "type": "text", "skills": ["s"], "prompt": {"kk": "?", "ru": "?"},
        "accepted": {"kk": ["алымы", "алым"], "ru": ["числитель"]}}
HEDGEHOG = {"id": "hedgehog", "type": "text", "skills": ["s"], "prompt": {"ru": "?"},
            "accepted": {"ru": ["ёжик в тумане"]}}
ONLY_RU = {"id": "only-ru", "type": "text", "skills": ["s"], "prompt": {"ru": "?"},
           "accepted": {"ru": ["пять"], "en": ["five"]}}
KAZAKH = {  # pairs of words that differ only in a Kazakh letter
    "id": "kazakh", "type": "text", "skills": ["s"], "prompt": {"kk": "?"},
    "accepted": {"kk": ["әке", "өл", "үй", "ұл", "қол", "ғалым", "таң", "іс", "һәм"]},
}
MIXED_TEXT = {"id": "mixed-text", "type": "text", "skills": ["s"], "prompt": {"ru": "?"},
              "accepted": {"ru": ["2 3/4"]}}
ORDERING = {
    "id": "steps", "type": "ordering", "skills": ["s"], "prompt": {"ru": "По порядку"},
    "choices": [{"id": key, "text": {"ru": f"шаг {key}"}} for key in ("a", "b", "c", "d")],
    "answer": ["a", "b", "c", "d"],  # listed in the answer order with ids in alphabetical order
}
MATCHING = {
    "id": "terms", "type": "matching", "skills": ["s"], "prompt": {"ru": "Соедини"},
    "pairs": [{"id": f"p{n}", "left": {"ru": f"понятие {n}"}, "right": {"ru": f"определение {n}"}}
              for n in (1, 2, 3, 4)],
    "explanation": {"ru": "Так."},
}


def items_of(nodes: list[dict]):
    for node in nodes:
        yield from node.get("items", [])
        yield from items_of(node.get("children", []))


def sample_items() -> list[tuple[str, dict, list[str]]]:
    found = []
    for path in SAMPLES:
        pack = json.loads(path.read_text("utf-8"))
        languages = pack.get("languages") or ["kk", "ru"]
        for item in items_of(pack["nodes"]):
            found.append((f"{path.parent.name}:{item['id']}", item, languages))
    return found


SAMPLE_ITEMS = sample_items()


def right_responses(item: dict, language: str) -> list[object]:
    """Every way the item's own right answer can be given."""
    kind = item["type"]
    if kind in ("single", "multiple", "ordering"):
        return [item["answer"]]
    if kind == "numeric":
        answer = item["answer"]
        return [answer, str(answer), str(answer).replace(".", ",")]
    if kind == "text":
        accepted = item["accepted"]
        return list(accepted.get(language) or [a for answers in accepted.values() for a in answers])
    pairs = [pair["id"] for pair in item["pairs"]]
    return [{key: key for key in pairs}, [[key, key] for key in pairs]]


def keys_in(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(v) for v in value))
    return set()


def strings_in(value: object) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(strings_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(strings_in(v) for v in value))
    return {value} if isinstance(value, str) else set()


def tokens(item: dict, language: str = "ru") -> dict[str, str]:
    """The ids public_item shows for ordering choices (by text) and matching rights (by text)."""
    shown = public_item(item, language)
    return {entry["text"]: entry["id"] for entry in shown.get("choices", shown.get("right", []))}


# --- single and multiple -------------------------------------------------------------------------

@pytest.mark.parametrize("item, response, correct, value, response_text, expected_text", [
    (SINGLE, "a", True, 1.0, "a", "a"),
    (SINGLE, "b", False, 0.0, "b", "a"),
    (MULTIPLE, ["air", "water", "steel"], True, 1.0, "air[,]water[,]steel", "air[,]water[,]steel"),
    (MULTIPLE, ["steel", "air", "water"], True, 1.0, "air[,]water[,]steel", "air[,]water[,]steel"),
    (MULTIPLE, ("water", "air"), False, 2 / 3, "air[,]water", "air[,]water[,]steel"),
    (MULTIPLE, ["air"], False, 1 / 3, "air", "air[,]water[,]steel"),
    (MULTIPLE, ["air", "water", "steel", "vacuum"], False, 2 / 3, "air[,]water[,]steel[,]vacuum",
     "air[,]water[,]steel"),
    (MULTIPLE, ["air", "vacuum"], False, 0.0, "air[,]vacuum", "air[,]water[,]steel"),
    (MULTIPLE, ["vacuum"], False, 0.0, "vacuum", "air[,]water[,]steel"),  # floored at 0
    (MULTIPLE, [], False, 0.0, "", "air[,]water[,]steel"),
])
def test_choices(item, response, correct, value, response_text, expected_text):
    result = score(item, response, "ru")
    assert result == Scored(correct, pytest.approx(value), response_text, expected_text)
    assert 0.0 <= result.score <= 1.0


# --- numeric -------------------------------------------------------------------------------------

@pytest.mark.parametrize("item, response, correct, response_text", [
    (NUMERIC, "0,5", True, "0.5"),
    (NUMERIC, "0.5", True, "0.5"),
    (NUMERIC, ",5", True, "0.5"),
    (NUMERIC, "  0,50 ", True, "0.5"),
    (NUMERIC, "1/2", True, "0.5"),
    (NUMERIC, "2/4", True, "0.5"),
    (NUMERIC, " 1 / 2 ", True, "0.5"),
    (NUMERIC, 0.5, True, "0.5"),
    (NUMERIC, "0,6", False, "0.6"),
    (NUMERIC, "5", False, "5"),
    (NUMERIC, "1/3", False, "1/3"),
    (BIG, " 1 234,5 ", True, "1234.5"),
    (BIG, "1\u00a0234,5", True, "1234.5"),     # no-break space
    (BIG, "1\u2009234.5", True, "1234.5"),     # thin space
    (BIG, "1\u202f234,5", True, "1234.5"),     # narrow no-break space
    (BIG, "1234,5", True, "1234.5"),
    (BIG, "１２３４,５", True, "1234.5"),       # full-width digits
    (BIG, "1 234", False, "1234"),
    (NEGATIVE, "-3", True, "-3"),
    (NEGATIVE, "\u22123", True, "-3"),          # a minus sign
    (NEGATIVE, -3, True, "-3"),
    (NEGATIVE, "3", False, "3"),
    (NEGATIVE, "-6/2", True, "-3"),
    (MIXED, "2 3/4", True, "2.75"),
    (MIXED, "11/4", True, "2.75"),
    (MIXED, "2,75", True, "2.75"),
    (MIXED, "-2 3/4", False, "-2.75"),
])
def test_numeric(item, response, correct, response_text):
    result = score(item, response, "ru")
    assert (result.correct, result.score, result.response_text) == (correct, float(correct), response_text)


@pytest.mark.parametrize("response, correct", [
    ("2,04", True), ("2,14", True), ("1,94", True),     # exactly at the tolerance is right
    (2.14, True), (1.94, True), ("2.14", True),
    ("2,1400001", False), ("1,9399999", False), (2.15, False), ("2", True), ("1,9", False),
])
def test_numeric_tolerance_edges(response, correct):
    result = score(THUNDER, response, "kk")
    assert result.correct is correct
    assert result.expected_text == "2.04"


@pytest.mark.parametrize("response", [
    "", "   ", "abc", "0,5 кг", "1e5", "inf", "nan", "1,2,3", "1.2.3", "12 34", "1 23,5", "--3", "1/0",
    "1/", "/2", "2 5/4", "0x10", "1" * 101, float("nan"), float("inf"), None, True, [0.5], {"value": 0.5},
])
def test_numeric_malformed(response):
    with pytest.raises(ResponseError):
        score(NUMERIC, response, "ru")


def test_parse_number_is_exact():
    assert parse_number("0,1") + parse_number("0,2") == parse_number("0.3")


# --- text ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("item, response, language, correct", [
    (TEXT, "числитель", "ru", True),
    (TEXT, "  ЧИСЛИТЕЛЬ  ", "ru", True),
    (TEXT, "Числитель.", "ru", True),           # a final period
    (TEXT, "числитель .", "ru", True),
    (TEXT, "числитель!", "ru", False),
    (TEXT, "знаменатель", "ru", False),
    (TEXT, "алымы", "kk", True),
    (TEXT, "Алым", "kk", True),
    (TEXT, "числитель", "kk", False),           # the language has its own answers
    (TEXT, "алым", "ru", False),
    (TEXT, "числитель", "en", True),            # no English answers: any language's
    (TEXT, "алым", "en", True),
    (ONLY_RU, "пять", "kk", True),
    (ONLY_RU, "five", "kk", True),
    (ONLY_RU, "five", "ru", False),
    (HEDGEHOG, "Ёжик в тумане", "ru", True),
    (HEDGEHOG, "ежик   в\tтумане", "ru", True),  # ё as е, inner spaces collapsed
    (HEDGEHOG, "ЕЖИК В ТУМАНЕ.", "ru", True),
    (HEDGEHOG, "е\u0308жик в тумане", "ru", True),  # decomposed ё (NFC)
    (HEDGEHOG, "ежик\u00a0в тумане", "ru", True),
    (HEDGEHOG, "ёжиквтумане", "ru", False),
    (MIXED_TEXT, "2 3/4", "ru", True),
    (MIXED_TEXT, " 2  3/4 ", "ru", True),
    (MIXED_TEXT, "23/4", "ru", False),
])
def test_text(item, response, language, correct):
    assert score(item, response, language).correct is correct


@pytest.mark.parametrize("typed, accepted", [
    ("ӘКЕ", "әке"), ("Қол", "қол"), ("ІС", "іс"), ("Ұл", "ұл"), ("ҮЙ", "үй"), ("Өл", "өл"),
    ("Ғалым", "ғалым"), ("ТАҢ", "таң"), ("Һәм", "һәм"),
])
def test_kazakh_capitals_match(typed, accepted):
    assert score(KAZAKH, typed, "kk").correct


@pytest.mark.parametrize("typed", [
    "аке", "ол", "уй", "ул", "кол", "галым", "тан", "ис", "хәм", "ием",
])
def test_kazakh_letters_not_folded(typed):
    assert not score(KAZAKH, typed, "kk").correct
    assert normalize_text(typed) not in {normalize_text(a) for a in KAZAKH["accepted"]["kk"]}


def test_text_reports():
    result = score(TEXT, "  Числитель  дроби ", "ru")
    assert result == Scored(False, 0.0, "Числитель дроби", "числитель", "  Числитель  дроби ")
    assert score(TEXT, "алым", "kk").expected_text == "алымы"


@pytest.mark.parametrize("response", ["", "  \n ", "a" * 501, 5, None, ["числитель"], {"ru": "числитель"}])
def test_text_malformed(response):
    with pytest.raises(ResponseError):
        score(TEXT, response, "ru")


def test_text_at_the_length_limit_is_scored():
    assert score(TEXT, "a" * 500, "ru").correct is False


# --- ordering and matching -----------------------------------------------------------------------

@pytest.mark.parametrize("response, correct, value", [
    (["a", "b", "c", "d"], True, 1.0),
    (["b", "a", "c", "d"], False, 0.5),
    (["a", "b", "d", "c"], False, 0.5),
    (["d", "a", "b", "c"], False, 0.0),
    (["d", "c", "b", "a"], False, 0.0),
    (["a", "c", "b", "d"], False, 0.5),
    (("a", "b", "c", "d"), True, 1.0),
])
def test_ordering(response, correct, value):
    result = score(ORDERING, response, "ru")
    assert (result.correct, result.score) == (correct, value)
    assert result.response_text == "[,]".join(response)
    assert result.expected_text == "a[,]b[,]c[,]d"


def test_ordering_by_the_ids_shown():
    shown = tokens(ORDERING)
    response = [shown[f"шаг {key}"] for key in "abcd"]
    assert score(ORDERING, response, "ru") == Scored(True, 1.0, "a[,]b[,]c[,]d", "a[,]b[,]c[,]d")
    response[0], response[1] = response[1], response[0]
    assert score(ORDERING, response, "ru").score == 0.5


@pytest.mark.parametrize("response, correct, value, response_text", [
    ({"p1": "p1", "p2": "p2", "p3": "p3", "p4": "p4"}, True, 1.0, "p1[.]p1[,]p2[.]p2[,]p3[.]p3[,]p4[.]p4"),
    ([["p4", "p4"], ["p3", "p3"], ["p2", "p2"], ["p1", "p1"]], True, 1.0,
     "p1[.]p1[,]p2[.]p2[,]p3[.]p3[,]p4[.]p4"),
    ({"p1": "p2", "p2": "p1", "p3": "p3", "p4": "p4"}, False, 0.5, "p1[.]p2[,]p2[.]p1[,]p3[.]p3[,]p4[.]p4"),
    ({"p1": "p2", "p2": "p3", "p3": "p4", "p4": "p1"}, False, 0.0, "p1[.]p2[,]p2[.]p3[,]p3[.]p4[,]p4[.]p1"),
    ({"p1": "p1", "p2": "p2", "p3": "p3"}, False, 0.75, "p1[.]p1[,]p2[.]p2[,]p3[.]p3"),  # one left out
    ({}, False, 0.0, ""),
])
def test_matching(response, correct, value, response_text):
    result = score(MATCHING, response, "ru")
    assert result == Scored(correct, value, response_text, "p1[.]p1[,]p2[.]p2[,]p3[.]p3[,]p4[.]p4")


def test_matching_by_the_ids_shown():
    shown = tokens(MATCHING)
    response = {f"p{n}": shown[f"определение {n}"] for n in (1, 2, 3, 4)}
    assert score(MATCHING, response, "ru").correct
    response["p1"], response["p2"] = response["p2"], response["p1"]
    assert score(MATCHING, response, "ru").score == 0.5


# --- malformed responses -------------------------------------------------------------------------

@pytest.mark.parametrize("item, response", [
    (SINGLE, ["a"]),
    (SINGLE, "z"),
    (SINGLE, ""),
    (SINGLE, None),
    (SINGLE, 1),
    (SINGLE, {"id": "a"}),
    (MULTIPLE, "air"),
    (MULTIPLE, ["air", "air"]),
    (MULTIPLE, ["air", "mud"]),
    (MULTIPLE, ["air", 1]),
    (MULTIPLE, None),
    (MULTIPLE, {"air": True}),
    (MULTIPLE, ["air"] * 1001),
    (ORDERING, ["a", "b", "c"]),
    (ORDERING, ["a", "b", "c", "d", "d"]),
    (ORDERING, ["a", "b", "c", "c"]),
    (ORDERING, ["a", "b", "c", "e"]),
    (ORDERING, "abcd"),
    (ORDERING, None),
    (ORDERING, [["a"], "b", "c", "d"]),
    (MATCHING, {"p1": "p9"}),
    (MATCHING, {"p9": "p1"}),
    (MATCHING, {"p1": "p1", "p2": "p1"}),
    (MATCHING, [["p1", "p1"], ["p1", "p2"]]),
    (MATCHING, [["p1", "p1", "p1"]]),
    (MATCHING, [["p1"]]),
    (MATCHING, ["p1", "p1"]),
    (MATCHING, {"p1": 1}),
    (MATCHING, "p1[.]p1"),
    (MATCHING, None),
])
def test_malformed(item, response):
    with pytest.raises(ResponseError) as caught:
        score(item, response, "ru")
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)
    assert caught.value.message  # a gettext msgid for i18n.error_text


def test_error_message_says_what_is_wrong():
    with pytest.raises(ResponseError, match="'z' is not one of this question's choices"):
        score(SINGLE, "z", "ru")
    with pytest.raises(ResponseError, match="'0,5 кг' is not a number"):
        score(NUMERIC, "0,5 кг", "ru")
    with pytest.raises(ResponseError, match="longer than 500 characters"):
        score(TEXT, "я" * 501, "ru")


def test_unknown_item_type_is_no_response_error():
    with pytest.raises(ValueError) as caught:
        score({"id": "x", "type": "essay"}, "text", "ru")
    assert not isinstance(caught.value, ResponseError)


# --- what the browser sees -----------------------------------------------------------------------

ALL_ITEMS = [SINGLE, MULTIPLE, NUMERIC, THUNDER, TEXT, KAZAKH, ORDERING, MATCHING]


@pytest.mark.parametrize("item", ALL_ITEMS + [item for _, item, _ in SAMPLE_ITEMS],
                         ids=[item["id"] for item in ALL_ITEMS] + [name for name, _, _ in SAMPLE_ITEMS])
@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_public_item_has_no_answer(item, language):
    shown = public_item(item, language)
    assert not keys_in(shown) & set(SECRET_KEYS)
    assert shown["id"] == item["id"] and shown["type"] == item["type"]
    assert shown["prompt"] and shown["hint_count"] == len(item.get("hints", []))
    texts = strings_in({**shown, "id": None})  # an item id is the author's name for it, not shown as text
    for answers in item.get("accepted", {}).values():
        assert not texts & set(answers)
    assert not texts & strings_in(item.get("explanation", {}))
    assert json.loads(json.dumps(shown)) == shown
    if item["type"] == "ordering":
        shown_ids = [choice["id"] for choice in shown["choices"]]
        assert not set(shown_ids) & {choice["id"] for choice in item["choices"]}  # ids could tell the order
        assert not score(item, shown_ids, language).correct  # the shown order is never the answer
    if item["type"] == "matching":
        assert [entry["id"] for entry in shown["left"]] == [pair["id"] for pair in item["pairs"]]
        right_ids = [entry["id"] for entry in shown["right"]]
        assert not set(right_ids) & {pair["id"] for pair in item["pairs"]}  # the pair ids would pair them
        in_shown_order = dict(zip([pair["id"] for pair in item["pairs"]], right_ids))
        assert not score(item, in_shown_order, language).correct  # rights are not listed in left order


@pytest.mark.parametrize("item", [ORDERING, MATCHING], ids=["ordering", "matching"])
def test_public_item_is_stable(item):
    assert public_item(item, "ru") == public_item(json.loads(json.dumps(item)), "ru")
    shown = public_item(item, "ru")
    listed = shown.get("choices", shown.get("right"))
    assert sorted(entry["text"] for entry in listed) == sorted(
        [f"шаг {key}" for key in "abcd"] if item is ORDERING else [f"определение {n}" for n in (1, 2, 3, 4)])


@pytest.mark.parametrize("n", range(2, 7))
def test_ordering_shown_order_differs_for_any_size(n):
    keys = [f"c{k}" for k in range(n)]
    for seed in range(20):  # many items, so the shuffle meets the answer order and rotates
        item = {"id": f"o{seed}", "type": "ordering", "prompt": {"ru": "?"},
                "choices": [{"id": key, "text": {"ru": key}} for key in keys], "answer": keys}
        shown = [choice["text"] for choice in public_item(item, "ru")["choices"]]
        assert shown != keys and sorted(shown) == keys


def test_public_item_texts_in_the_language():
    shown = public_item(SINGLE, "kk")
    assert shown == {
        "id": "source", "type": "single", "prompt": "Дыбыс неден пайда болады?", "hint_count": 2,
        "choices": [{"id": "a", "text": "Тербеліс"}, {"id": "b", "text": "Жылу"}, {"id": "c", "text": "Түс"}],
    }
    assert public_item(SINGLE, "en")["prompt"] == "Дыбыс неден пайда болады?"  # falls back
    assert public_item(MULTIPLE, "kk")["prompt"] == "Отметь всё."


@pytest.mark.parametrize("index, language, text", [
    (0, "kk", "Домбыра"), (0, "ru", "Домбра"), (0, "en", "Домбыра"),
    (1, "kk", "Только по-русски"), (2, "ru", None), (-1, "ru", None),
])
def test_hint(index, language, text):
    assert hint(SINGLE, index, language) == text


@pytest.mark.parametrize("item, language, text", [
    (SINGLE, "ru", "Из-за колебаний."), (SINGLE, "en", "Тербелістен."), (MULTIPLE, "ru", None),
])
def test_explanation(item, language, text):
    assert explanation(item, language) == text


# --- the sample packs ----------------------------------------------------------------------------

def test_samples_have_every_type():
    assert len(SAMPLES) == 3
    assert {item["type"] for _, item, _ in SAMPLE_ITEMS} == {
        "single", "multiple", "numeric", "text", "ordering", "matching"}


@pytest.mark.parametrize("name, item, languages", SAMPLE_ITEMS, ids=[name for name, _, _ in SAMPLE_ITEMS])
def test_sample_items_right_answers_score_right(name, item, languages):
    for language in languages:
        for response in right_responses(item, language):
            result = score(item, response, language)
            assert result.correct and result.score == 1.0, (language, response)
            assert result.response_text == result.expected_text or item["type"] == "text"


# --- purity --------------------------------------------------------------------------------------

FRAMEWORKS = ("flask", "peewee", "requests", "werkzeug")
CHECK = ("import sys; {load}; "
         f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))")


def loaded_frameworks(load: str) -> list[str]:
    run = subprocess.run([sys.executable, "-c", CHECK.format(load=load)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.replace("'", '"'))


def test_scoring_module_imports_no_framework():
    load = ("import importlib.util as u; "
            f"s = u.spec_from_file_location('scoring', {str(ROOT / 'classroom_server/domain/scoring.py')!r}); "
            "m = sys.modules['scoring'] = u.module_from_spec(s); s.loader.exec_module(m)")
    assert loaded_frameworks(load) == []


def test_importing_scoring_pulls_in_no_framework():
    assert loaded_frameworks("import classroom_server.domain.scoring") == []


# --- a stored response as the student saw it -------------------------------------------------------

COMPARE = {"id": "cmp", "type": "single", "skills": ["s"], "prompt": {"kk": "Салыстыр"},
           "choices": [{"id": "gt", "text": {"kk": "1/4 > 1/6"}}, {"id": "lt", "text": {"kk": "1/4 < 1/6"}}],
           "answer": "gt"}


@pytest.mark.parametrize("item, response, language, mark, shown", [
    (COMPARE, "gt", "kk", ",", "1/4 > 1/6"),
    (SINGLE, "b", "kk", ",", "Жылу"),
    (SINGLE, "b", "en", ".", "Жылу"),  # no English text: the fallback order, as for the question
    (MULTIPLE, ["air", "water"], "ru", ",", "air, water"),
    (NUMERIC, "0,5", "kk", ",", "0,5"),
    (NUMERIC, "1/2", "ru", ",", "0,5"),
    (NUMERIC, "0.5", "en", ".", "0.5"),
    (BIG, "1 234,5", "ru", ",", "1234,5"),
    (NUMERIC, "1/3", "ru", ",", "1/3"),
    (TEXT, "  Сан  ", "kk", ",", "Сан"),
    (ORDERING, ["b", "a", "c", "d"], "ru", ",", "шаг b → шаг a → шаг c → шаг d"),
    (MATCHING, {"p1": "p2", "p2": "p1"}, "ru", ",", "понятие 1 — определение 2; понятие 2 — определение 1"),
])
def test_shown_response_is_what_the_student_saw(item, response, language, mark, shown):
    assert shown_response(item, score(item, response, language).response_text, language, mark) == shown


@pytest.mark.parametrize("item, response, language, mark, shown", [
    (NUMERIC, "1/2", "kk", ",", "1/2"),  # not "0,5": she wrote a fraction
    (NUMERIC, "0,5", "en", ".", "0,5"),  # not "0.5": her decimal comma, whatever the interface's
    (NUMERIC, "0.5", "kk", ",", "0.5"),
    (NUMERIC, " 2/4 ", "ru", ",", "2/4"),
    (BIG, "1 234,5", "ru", ",", "1 234,5"),
    (MIXED, "2 3/4", "kk", ",", "2 3/4"),
    (TEXT, "  Числитель  ", "ru", ",", "Числитель"),
])
def test_a_typed_answer_is_shown_as_typed(item, response, language, mark, shown):
    scored = score(item, response, language)
    assert scored.typed == response
    assert shown_response(item, scored.response_text, language, mark, typed=scored.typed) == shown


@pytest.mark.parametrize("item, response", [(NUMERIC, 0.5), (SINGLE, "b"), (MULTIPLE, ["air", "water"]),
                                            (ORDERING, ["b", "a", "c", "d"])])
def test_only_what_was_typed_is_kept_as_typed(item, response):
    assert score(item, response, "ru").typed is None


def test_shown_response_of_an_id_the_item_no_longer_has():
    assert shown_response(SINGLE, "z", "ru") == "z"
    assert shown_response(MATCHING, "p9[.]p1", "ru") == "p9 — определение 1"
