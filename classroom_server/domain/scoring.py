"""Scoring a student's response to an exercise item, and what of an item a browser may see.

Items are the dicts of `pack.json` (content_packs/FORMAT.md "Exercise items"), already checked by
content_packs.manifest. Pure: plain data in, plain data out; no flask, peewee or requests.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any, Callable

__all__ = ["MAX_TEXT", "ResponseError", "Scored", "explanation", "hint", "normalize_text", "number_text",
           "parse_number", "public_item", "score"]

LANGUAGES = ("kk", "ru", "en")  # fallback order, as in content_packs.manifest
MAX_TEXT = 500  # characters of a typed text answer
MAX_NUMBER = 100  # characters of a typed number
# xAPI interaction response separators: list items, and the two ids of a matching pair.
LIST_SEP = "[,]"
PAIR_SEP = "[.]"

# Spaces a student (or a keyboard layout, or a copy from a textbook) puts between digit groups:
# space, no-break space, figure space, thin space, narrow no-break space.
_GROUP_SPACES = " \u00a0\u2007\u2009\u202f"
_MINUS = "\u2212\u2013"  # minus sign and en dash, typed for "-" on many keyboards
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,3}(?: [0-9]{3})+|[0-9]+)?(?:[.,][0-9]*)?")
_FRACTION = re.compile(r"([+-]?)(?:([0-9]+) +)?([0-9]+) */ *([0-9]+)")


class ResponseError(ValueError):
    """A response of the wrong shape or type for its item; the web layer answers 400.

    `message` is an English gettext msgid with %(name)s fields filled from `params` (like
    AccountError), so a view can show it in the student's language with i18n.error_text.
    """

    def __init__(self, message: str, **params: object):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Scored:
    """The outcome of one response.

    `response_text` and `expected_text` are short canonical texts for reports and xAPI
    `result.response`: a choice id ("b"), ids joined by "[,]" ("a[,]c"), matching pairs as
    "left[.]right" joined by "[,]", a number with a decimal point, or the typed text.
    `typed` is what the student typed for a number or a text, exactly ("1/2", " 0,5"), to show
    back to her and her teacher; None for choices and for numbers sent as JSON numbers.
    """

    correct: bool
    score: float
    response_text: str
    expected_text: str
    typed: str | None = None


# --- texts by language -------------------------------------------------------------------------

def _localized(texts: Any, language: str) -> str | None:
    """The text in `language`, else in the first language there is."""
    if not isinstance(texts, dict):
        return None
    for choice in (language, *LANGUAGES, *texts):
        text = texts.get(choice)
        if isinstance(text, str) and text.strip():
            return text
    return None


def hint(item: dict, index: int, language: str) -> str | None:
    """The `index`-th hint (from 0) in the language, or None when there is no such hint."""
    hints = item.get("hints") or []
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(hints):
        return None
    return _localized(hints[index], language)


def explanation(item: dict, language: str) -> str | None:
    """The explanation shown after answering, or None."""
    return _localized(item.get("explanation"), language)


# --- what the browser sees ---------------------------------------------------------------------

def _seed(item: dict) -> bytes:
    # The whole item, answers included, so the browser cannot recompute tokens or the shuffle
    # from what it is shown (a guessable id like "p1" must not map to a known token).
    return json.dumps(item, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")


def _digest(seed: bytes, kind: str, key: str) -> str:
    return hashlib.sha256(seed + b"\0" + kind.encode() + b"\0" + key.encode("utf-8")).hexdigest()


def _token(seed: bytes, key: str) -> str:
    """An opaque id for a choice or a right-hand text, stable for the same item."""
    return "x" + _digest(seed, "token", key)[:12]


def _shuffled(seed: bytes, ids: list[str], avoid: list[str]) -> list[str]:
    """`ids` in a stable order that is not `avoid` (the answer order): by hash, rotated if equal."""
    order = sorted(ids, key=lambda key: (_digest(seed, "order", key), key))
    if order == avoid and len(order) > 1:
        order = order[1:] + order[:1]
    return order


def public_item(item: dict, language: str) -> dict:
    """What the browser may see before answering: never the answer, accepted texts or explanation.

    Ordering choices and the right-hand texts of matching show opaque ids (`score` accepts them
    as well as the pack's ids): the pack's ids could give the answer away ("p1" on both sides;
    choices "a", "b", "c" listed in the right order).
    """
    kind = item["type"]
    public: dict[str, Any] = {
        "id": item["id"],
        "type": kind,
        "prompt": _localized(item.get("prompt"), language) or "",
        "hint_count": len(item.get("hints") or []),
    }
    if kind in ("single", "multiple"):
        public["choices"] = [{"id": choice["id"], "text": _localized(choice.get("text"), language) or ""}
                             for choice in item["choices"]]
    elif kind == "ordering":
        seed = _seed(item)
        texts = {choice["id"]: _localized(choice.get("text"), language) or "" for choice in item["choices"]}
        order = _shuffled(seed, list(texts), list(item["answer"]))
        public["choices"] = [{"id": _token(seed, key), "text": texts[key]} for key in order]
    elif kind == "matching":
        seed = _seed(item)
        pairs = item["pairs"]
        public["left"] = [{"id": pair["id"], "text": _localized(pair.get("left"), language) or ""}
                          for pair in pairs]
        rights = {pair["id"]: _localized(pair.get("right"), language) or "" for pair in pairs}
        order = _shuffled(seed, list(rights), [pair["id"] for pair in pairs])
        public["right"] = [{"id": _token(seed, key), "text": rights[key]} for key in order]
    return public


# --- responses ---------------------------------------------------------------------------------

def _ids(item: dict, field: str = "choices") -> list[str]:
    return [entry["id"] for entry in item[field]]


def _resolver(item: dict, field: str, tokens: bool) -> Callable[[object], str]:
    """Maps a response id (the pack's id, or public_item's token) to the pack's id."""
    known = {key: key for key in _ids(item, field)}
    if tokens:
        seed = _seed(item)
        for key in list(known):
            known.setdefault(_token(seed, key), key)  # a pack id wins over an equal token

    def resolve(value: object) -> str:
        if not isinstance(value, str):
            raise ResponseError("expected a choice id, got %(value)s", value=_show(value))
        if value not in known:
            raise ResponseError("%(value)s is not one of this question's choices", value=_show(value))
        return known[value]
    return resolve


def _show(value: object) -> str:
    """A response value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _id_list(response: object, what: str) -> list[object]:
    if not isinstance(response, (list, tuple)):
        raise ResponseError("expected a list of %(what)s, got %(value)s", what=what, value=_show(response))
    if len(response) > 1000:
        raise ResponseError("the answer has too many parts")
    return list(response)


def _score_single(item: dict, response: object, language: str) -> Scored:
    chosen = _resolver(item, "choices", tokens=False)(response)
    answer = item["answer"]
    return Scored(chosen == answer, 1.0 if chosen == answer else 0.0, chosen, answer)


def _score_multiple(item: dict, response: object, language: str) -> Scored:
    resolve = _resolver(item, "choices", tokens=False)
    chosen: set[str] = set()
    for value in _id_list(response, "choice ids"):
        key = resolve(value)
        if key in chosen:
            raise ResponseError("choice %(value)s is chosen twice", value=_show(key))
        chosen.add(key)
    answer = set(item["answer"])
    partial = max(0.0, (len(chosen & answer) - len(chosen - answer)) / len(answer))
    correct = chosen == answer
    order = _ids(item)
    return Scored(correct, 1.0 if correct else partial,
                  LIST_SEP.join(key for key in order if key in chosen),
                  LIST_SEP.join(key for key in order if key in answer))


def parse_number(text: str) -> Fraction:
    """A number typed by a student: "0,5", "0.5", "1 234,5", "-3", "1/2", "2 3/4".

    A comma or a point is the decimal mark (kk and ru write "0,5"); spaces (also no-break and
    thin ones) may group thousands. The value is exact, so a tolerance edge is decided exactly.
    """
    if len(text) > MAX_NUMBER:
        raise ResponseError("the number is too long")
    cleaned = unicodedata.normalize("NFKC", text).strip()  # full-width digits, odd spaces
    for space in _GROUP_SPACES:
        cleaned = cleaned.replace(space, " ")
    for minus in _MINUS:
        cleaned = cleaned.replace(minus, "-")
    cleaned = re.sub(" +", " ", cleaned)
    if not cleaned:
        raise ResponseError("the answer is empty")
    fraction = _FRACTION.fullmatch(cleaned)
    if fraction:
        sign, whole, numerator, denominator = fraction.groups()
        if int(denominator) == 0:
            raise ResponseError("%(value)s divides by zero", value=_show(text))
        value = Fraction(int(numerator), int(denominator))
        if whole is not None:
            if value >= 1:  # "2 5/4" is no mixed number; it may be a typo for "25/4"
                raise ResponseError("%(value)s is not a number", value=_show(text))
            value += int(whole)
        return -value if sign == "-" else value
    if _DECIMAL.fullmatch(cleaned) and re.search("[0-9]", cleaned):
        digits = cleaned.replace(" ", "").replace(",", ".")
        if digits.lstrip("+-").startswith("."):
            digits = digits.replace(".", "0.", 1)
        return Fraction(digits.rstrip("."))
    raise ResponseError("%(value)s is not a number", value=_show(text))


def _exact(value: object) -> Fraction:
    """An exact value of a JSON number: 0.1 is one tenth, as written, not the nearest double."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ResponseError("expected a number, got %(value)s", value=_show(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ResponseError("%(value)s is not a number", value=_show(value))
        return Fraction(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ResponseError("%(value)s is not a number", value=_show(value))
    return Fraction(value)


def number_text(value: Fraction) -> str:
    """A number for reports: "3", "-0.25" (a decimal point), or "1/3" when no short decimal is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator, places = value.denominator, 0
    for factor in (2, 5):
        count = 0
        while denominator % factor == 0:
            denominator //= factor
            count += 1
        places = max(places, count)
    if denominator == 1 and places <= 20:
        text = f"{Decimal(value.numerator) / Decimal(value.denominator):.{places}f}"
        return text.rstrip("0").rstrip(".")
    return f"{value.numerator}/{value.denominator}"


def _score_numeric(item: dict, response: object, language: str) -> Scored:
    given = parse_number(response) if isinstance(response, str) else _exact(response)
    answer = _exact(item["answer"])
    tolerance = _exact(item.get("tolerance", 0))
    correct = abs(given - answer) <= tolerance
    return Scored(correct, 1.0 if correct else 0.0, number_text(given), number_text(answer),
                  response if isinstance(response, str) else None)


def normalize_text(text: str) -> str:
    """A typed text for comparison: NFC, casefolded, spaces trimmed and collapsed, no final period.

    Russian ё counts as е (books print е for ё); Kazakh ә, ө, ү, ұ, қ, ғ, ң, і, һ stay apart
    from а, о, у, к, г, н, и, х: they are different letters and change the word.
    """
    text = unicodedata.normalize("NFC", text).casefold().replace("ё", "е")
    text = " ".join(text.split())
    text = text.rstrip(".").rstrip()
    return text


def _accepted(item: dict, language: str) -> list[str]:
    """The accepted answers in the language, else those of every language."""
    accepted = item["accepted"]
    if accepted.get(language):
        return list(accepted[language])
    return [answer for answers in accepted.values() for answer in answers]


def _score_text(item: dict, response: object, language: str) -> Scored:
    if not isinstance(response, str):
        raise ResponseError("expected a text, got %(value)s", value=_show(response))
    if len(response) > MAX_TEXT:
        raise ResponseError("the answer is longer than %(count)d characters", count=MAX_TEXT)
    typed = " ".join(unicodedata.normalize("NFC", response).split())
    if not typed:
        raise ResponseError("the answer is empty")
    accepted = _accepted(item, language)
    correct = normalize_text(typed) in {normalize_text(answer) for answer in accepted}
    return Scored(correct, 1.0 if correct else 0.0, typed, accepted[0], response)


def _score_ordering(item: dict, response: object, language: str) -> Scored:
    resolve = _resolver(item, "choices", tokens=True)
    given = [resolve(value) for value in _id_list(response, "choice ids")]
    answer = list(item["answer"])
    if sorted(given) != sorted(answer):
        raise ResponseError("expected every choice once, in order")
    right = sum(1 for mine, theirs in zip(given, answer) if mine == theirs)
    return Scored(given == answer, right / len(answer), LIST_SEP.join(given), LIST_SEP.join(answer))


def _matching_pairs(response: object) -> list[tuple[object, object]]:
    if isinstance(response, dict):
        return list(response.items())
    pairs = []
    for pair in _id_list(response, "[left, right] pairs"):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ResponseError("expected a [left, right] pair, got %(value)s", value=_show(pair))
        pairs.append((pair[0], pair[1]))
    return pairs


def _score_matching(item: dict, response: object, language: str) -> Scored:
    """A left left out counts as not matched; a left or a right used twice is no matching."""
    left = _resolver(item, "pairs", tokens=False)
    right = _resolver(item, "pairs", tokens=True)
    matched: dict[str, str] = {}
    for left_value, right_value in _matching_pairs(response):
        key, value = left(left_value), right(right_value)
        if key in matched:
            raise ResponseError("%(value)s is matched twice", value=_show(key))
        if value in matched.values():
            raise ResponseError("a right-hand answer is used twice")
        matched[key] = value
    order = _ids(item, "pairs")
    right_count = sum(1 for key in order if matched.get(key) == key)
    return Scored(right_count == len(order), right_count / len(order),
                  LIST_SEP.join(f"{key}{PAIR_SEP}{matched[key]}" for key in order if key in matched),
                  LIST_SEP.join(f"{key}{PAIR_SEP}{key}" for key in order))


def shown_response(item: dict, response_text: str, language: str, decimal_mark: str = ".",
                   typed: str | None = None) -> str:
    """A stored response (`Scored.response_text`) as the student saw it: choice texts, not ids
    ("1/4 > 1/6", not "gt"); lines in the order given; matched pairs; a typed answer exactly as
    typed when it was kept (`Scored.typed`), else a number with the reader's decimal mark ("0,5"
    in kk and ru). An id the item no longer has is shown as it is."""
    kind = item.get("type")
    if typed is not None and kind in ("numeric", "text") and typed.strip():
        return " ".join(typed.split())  # as a page shows it: a run of spaces is one
    if kind == "numeric":
        return response_text.replace(".", decimal_mark) if "/" not in response_text else response_text
    if kind == "text":
        return response_text
    parts = [part for part in response_text.split(LIST_SEP) if part]
    if kind in ("single", "multiple", "ordering"):
        texts = {choice["id"]: _localized(choice.get("text"), language) or choice["id"]
                 for choice in item.get("choices") or []}
        return (" → " if kind == "ordering" else ", ").join(texts.get(part, part) for part in parts)
    if kind == "matching":
        pairs = {pair["id"]: pair for pair in item.get("pairs") or []}
        shown = []
        for part in parts:
            left, _, right = part.partition(PAIR_SEP)
            left_text = _localized(pairs[left].get("left"), language) if left in pairs else None
            right_text = _localized(pairs[right].get("right"), language) if right in pairs else None
            shown.append(f"{left_text or left} — {right_text or right}")
        return "; ".join(shown)
    return response_text


_SCORERS: dict[str, Callable[[dict, object, str], Scored]] = {
    "single": _score_single,
    "multiple": _score_multiple,
    "numeric": _score_numeric,
    "text": _score_text,
    "ordering": _score_ordering,
    "matching": _score_matching,
}


def score(item: dict, response: object, language: str) -> Scored:
    """Score a response (as decoded from the browser's JSON) to a checked pack item.

    Raises ResponseError when the response does not fit the item (a list for a single choice,
    an unknown id, a text over MAX_TEXT characters, a typed number that is not a number).
    """
    scorer = _SCORERS.get(item.get("type"))  # type: ignore[arg-type]
    if scorer is None:
        raise ValueError(f"item {item.get('id')!r} has an unknown type {item.get('type')!r}")
    return scorer(item, response, language)
