"""Numbers larger than a database integer, in paths, queries and forms, get 400 or 404, never 500:
walked over every route of the app, as every role."""
from __future__ import annotations

import pytest
from werkzeug.routing.converters import NumberConverter

from .helpers import csrf_of, sign_in_as
from .practicepack import MIX, PACK
from .practicepack import pack  # noqa: F401  (fixtures)

HUGE = "99999999999999999999999"  # beyond SQLite's 2**63 - 1
JUST_OVER = str(2 ** 63)  # 9223372036854775808
# Every number field a page or the API reads from a query or a form.
NUMBER_FIELDS = ("page", "grade", "classroom", "teacher", "to", "class_id", "item", "hints", "shown_at",
                 "attempt", "time_limit", "attempts", "draw_count", "student", "group", "id")


@pytest.mark.parametrize("url, statuses", [
    (f"/api/v1/search?q=x&grade={JUST_OVER}", {400}),
    (f"/api/v1/search?q=x&page={JUST_OVER}", {400}),
    (f"/admin/?page={HUGE}", {400}),
    (f"/admin/?page={JUST_OVER}", {400}),
    (f"/signin/class/{HUGE}", {404}),
    (f"/admin/users/{JUST_OVER}", {404}),
    (f"/library/search?q=x&grade={JUST_OVER}", {400}),
])
def test_the_reported_urls(client, school, url, statuses):
    sign_in_as(client, school, "admin")
    response = client.get(url)
    assert response.status_code in statuses
    if url.startswith("/api/"):
        assert "whole number" in response.get_json()["message"]


def test_a_clear_message_in_each_language(client, school):
    sign_in_as(client, school, "admin")
    for lang, text in (("en", "must be a whole number"), ("ru", "целым числом"), ("kk", "бүтін сан")):
        page = client.get(f"/admin/?page={HUGE}", headers={"Accept-Language": lang}).get_data(as_text=True)
        assert text in page, lang


PATH_VALUES = {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "sha256": "0" * 64}


def _path(rule, number: str) -> str:
    """The rule's path with `number` for every number in it and a real or plain value for the rest."""
    values = {name: number if isinstance(converter, NumberConverter) else PATH_VALUES.get(name, "x")
              for name, converter in rule._converters.items()}
    return rule.build(values, append_unknown=False)[1]


@pytest.mark.parametrize("role", ["admin", "teacher", "student", None])
def test_no_route_answers_500_to_huge_numbers(app, client, school, pack, role):  # noqa: F811
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a bug answers 500 here, as it would to a browser
    sign_in_as(client, school, role)
    token = csrf_of(client)
    tried, failures = 0, []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "accounts.signout"):
            continue
        # Huge ids in the path; and real ones (1) with huge numbers in the query and the form.
        for number, field in ((HUGE, HUGE), (JUST_OVER, JUST_OVER), ("1", HUGE), ("1", JUST_OVER)):
            path = _path(rule, number)
            query = "&".join(f"{name}={field}" for name in NUMBER_FIELDS)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "GET":
                    response = client.get(f"{path}?{query}&q=x")
                else:
                    form = {name: field for name in NUMBER_FIELDS}
                    response = client.open(f"{path}?{query}", method=method, data={**form, "csrf_token": token},
                                           headers={"X-CSRF-Token": token})
                response.close()  # a streamed answer (records.json) ends its request here
                tried += 1
                if response.status_code >= 500:
                    failures.append(f"{method} {path}: {response.status_code}")
    assert tried > 300
    assert failures == []
