"""Practising an exercise: the question pages, the answer form, its one record, the answers API."""
from __future__ import annotations

import datetime
import re
import uuid

import pytest

from classroom_server.db import database
from classroom_server.learn.practice import DEVICE_COOKIE
from classroom_server.models import LearningRecord, User

from .helpers import csrf_of, post, sign_in_as
from .practicepack import (ITEMS, LIMITED, MATCHING, MIX, NUMERIC, ORDERING, PACK, SINGLE, answer_url, right_and_wrong,
                           tokens)
from .practicepack import pack  # noqa: F401  (fixtures)


@pytest.fixture
def student(client, school, pack):
    sign_in_as(client, school, "student")
    return client


def page_url(node: str = MIX, **args) -> str:
    query = "&".join(f"{k}={v}" for k, v in args.items())
    return f"/learn/practice/{PACK}/{node}" + (f"?{query}" if query else "")


def records(**where):
    query = LearningRecord.select().order_by(LearningRecord.seq)
    for name, value in where.items():
        query = query.where(getattr(LearningRecord, name) == value)
    return list(query)


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(shown_at|attempt)" value="([^"]*)"', html))


EXPECTED_TEXT = {"s1": ("b", "a"), "m1": ("a[,]c", "a[,]b"), "n1": ("0.5", "0.6"),
                 "t1": ("Machine Learning", "deep learning"), "o1": ("b[,]c[,]a", "a[,]c[,]b"),
                 "p1": ("p1[.]p1[,]p2[.]p2[,]p3[.]p3", "p1[.]p2[,]p2[.]p1[,]p3[.]p3")}


@pytest.mark.parametrize("item", ITEMS, ids=[item["type"] for item in ITEMS])
def test_each_item_type_answered_wrong_then_right_through_the_form(student, app, item):
    index = ITEMS.index(item)
    right, wrong = right_and_wrong(item)
    page = student.get(page_url(item=index))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Question {index + 1} of 6" in html
    hidden = form_fields(html)
    assert hidden["attempt"] == "1" and int(hidden["shown_at"]) > 0

    first = post(student, answer_url(item["id"]), {**wrong, **hidden})
    assert first.status_code == 200, first.get_data(as_text=True)
    text = first.get_data(as_text=True)
    assert "Not right yet" in text and "Try again" in text
    first_uuid = re.search(r'data-record="([0-9a-f-]{36})"', text).group(1)

    second_page = student.get(page_url(item=index)).get_data(as_text=True)
    assert form_fields(second_page)["attempt"] == "2"
    second = post(student, answer_url(item["id"]), {**right, **form_fields(second_page)})
    text = second.get_data(as_text=True)
    # An item whose explanation showed the answer after the wrong try: the right retry does not count.
    told = "explanation" in item
    assert second.status_code == 200 and ("Right, but it does not count" if told else "Right!") in text
    assert "Try again" not in text
    assert ("Next question" in text) == (index < 5) and "Back to the lesson" in text

    with app.app_context():
        rows = records(verb="answered", item_id=item["id"])
    assert [(r.correct, r.attempt, r.response) for r in rows] == [
        (False, 1, EXPECTED_TEXT[item["id"]][1]), (not told, 2, EXPECTED_TEXT[item["id"]][0])]
    assert rows[0].uuid == first_uuid
    assert all(r.pack_id == PACK and r.node_id == MIX and r.node_kind == "exercise" and r.language == "en"
               and r.score is not None and r.duration_ms is not None and 0 <= r.duration_ms <= 3_600_000
               for r in rows)
    assert rows[1].score == (0.0 if told else 1.0)
    assert rows[0].classroom is not None
    assert rows[0].device_id == rows[1].device_id  # the cookie is reused


def test_device_cookie_is_set_when_missing_and_kept(student, app):
    response = student.get(page_url())
    cookie = response.headers.get("Set-Cookie", "")
    device = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    assert device, cookie
    assert "HttpOnly" in device[0] and "SameSite=Lax" in device[0] and "Max-Age=63072000" in device[0]
    value = device[0].split(";")[0].split("=", 1)[1]
    again = student.get(page_url())
    assert not [c for c in again.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    post(student, answer_url("s1"), {"answer": "b"})
    with app.app_context():
        assert records(verb="answered")[0].device_id == value
    # A lost or tampered cookie is replaced by a new id.
    student.set_cookie(DEVICE_COOKIE, "not-a-uuid")
    fresh = student.get(page_url())
    new = [c for c in fresh.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    assert new and value not in new[0]
    post(student, answer_url("m1"), {"answer": ["a", "c"]})
    with app.app_context():
        rows = records(verb="answered")
    assert rows[1].device_id != value and rows[1].device_id != "not-a-uuid"


def test_secure_device_cookie_when_the_server_says_so(school, pack, app, client):
    import dataclasses
    app.config["CLASSROOM_SETTINGS"] = dataclasses.replace(app.config["CLASSROOM_SETTINGS"],
                                                           server_secure_cookies=True)
    sign_in_as(client, school, "student")
    response = client.get(page_url())
    device = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    assert device and "Secure" in device[0]


def visible(html: str) -> str:
    """The page without the questions it holds for offline use (learn/_question_set.html)."""
    return re.sub(r"<template\b.*?</template>", "", html, flags=re.S)


def test_default_item_is_the_first_not_yet_right(student):
    assert "Question 1 of 6" in student.get(page_url()).get_data(as_text=True)
    post(student, answer_url("s1"), {"answer": "b"})
    assert "Question 2 of 6" in student.get(page_url()).get_data(as_text=True)
    post(student, answer_url("m1"), {"answer": ["a"]})  # wrong: still the one to do
    assert "Question 2 of 6" in student.get(page_url()).get_data(as_text=True)


def test_question_page_gives_no_answer_away(student):
    for index, item in enumerate(ITEMS):
        html = student.get(page_url(item=index, hints=5)).get_data(as_text=True)
        assert "SECRET-EXPLANATION" not in html and "machine learning" not in html.lower()
        assert "checked" not in html and "Look up on a clear day" in html if index == 0 else True
        if item["type"] == "ordering":
            # the choices carry opaque ids, and are not listed in the answer order
            assert 'name="order-a"' not in html and 'name="order-b"' not in html
            # (the page holds every question for offline use: each copy of this one is checked)
            shown = re.findall(r'<label for="order-[^"]+" lang="en">(\w+)</label>', html)
            assert len(shown) == 6, shown
            for copy in (shown[:3], shown[3:]):
                assert sorted(copy) == ["five", "one", "ten"] and copy != ["one", "five", "ten"]
        if item["type"] == "matching":
            assert 'value="p1"' not in html and 'value="p2"' not in html
        if item["type"] == "numeric":
            assert 'inputmode="decimal"' in html and "0.5" not in html


def test_hints_are_revealed_one_at_a_time(student):
    html = student.get(page_url(item=0)).get_data(as_text=True)
    assert "Look up on a clear day" not in html and "Show a hint" in html
    html = student.get(page_url(item=0, hints=1)).get_data(as_text=True)
    assert "Look up on a clear day" in html and "Not green" not in html and "Show a hint" in html
    html = student.get(page_url(item=0, hints=2)).get_data(as_text=True)
    assert "Look up on a clear day" in html and "Not green" in html and "Show a hint" not in html
    assert "SECRET-EXPLANATION" not in html


def test_items_are_shown_in_the_interface_language_with_a_fallback(student, school):
    with student.session_transaction() as session:
        session["lang"] = "kk"
    html = student.get(page_url(item=0), headers={"Accept-Language": "kk"}).get_data(as_text=True)
    assert "Қай түс?" in html and "Көк" in html
    post(student, answer_url("s1"), {"answer": "b"}, headers={"Accept-Language": "kk"})
    with student.session_transaction() as session:
        session["lang"] = "ru"
    html = visible(student.get(page_url(item=1)).get_data(as_text=True))
    assert "Жұп сандар?" in html and "two" in html  # no Russian text: kk, then en


def test_attempts_limit(student, app):
    for _ in range(2):
        assert post(student, answer_url("only", LIMITED), {"answer": "n"}).status_code == 200
    refused = post(student, answer_url("only", LIMITED), {"answer": "y"})
    assert refused.status_code == 409
    assert "You have used all 2 tries" in refused.get_data(as_text=True)
    page = student.get(page_url(LIMITED, item=0)).get_data(as_text=True)
    assert "Check my answer" not in page
    with app.app_context():
        assert [r.attempt for r in records(verb="answered")] == [1, 2]


def test_the_same_form_sent_twice_is_stored_once(student, app):
    hidden = form_fields(student.get(page_url(item=0)).get_data(as_text=True))
    first = post(student, answer_url("s1"), {"answer": "a", **hidden})
    # Sent again from the page the back button brought back, under a new id the device keeps it by:
    # the page names that id as stored too, so the device does not send it on its own.
    copy_id = str(uuid.uuid4())
    second = post(student, answer_url("s1"), {"answer": "a", **hidden, "record_id": copy_id})
    assert second.status_code == 200 and "already sent" in second.get_data(as_text=True)
    assert re.search(r'data-stored-records="[0-9a-f-]{36} ' + copy_id + '"', second.get_data(as_text=True))
    uuid_of = lambda r: re.search(r'data-record="([^"]+)"', r.get_data(as_text=True)).group(1)  # noqa: E731
    assert uuid_of(first) == uuid_of(second)
    with app.app_context():
        assert len(records(verb="answered")) == 1


def test_a_retry_after_the_explanation_showed_the_answer_does_not_count_as_right(student, app):
    wrong = post(student, answer_url("s1"), {"answer": "a"}).get_data(as_text=True)
    assert "SECRET-EXPLANATION" in wrong and "another try at this question will not count as right" in wrong
    # The exercise goes on with the next question, not this one again.
    assert "Question 2 of 6" in visible(student.get(page_url()).get_data(as_text=True))
    retry = post(student, answer_url("s1"), {"answer": "b"}).get_data(as_text=True)
    assert "Right, but it does not count" in retry and "Try again" not in retry
    # The same through the API (an answer kept offline): stored as not right.
    by_api = api_answer(student, {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "b"})
    assert by_api.status_code == 201 and by_api.get_json()["correct"] is False and by_api.get_json()["score"] == 0
    with app.app_context():
        assert [(r.correct, r.score) for r in records(verb="answered")] == [(False, 0.0)] * 3
        # Half a day later it is knowing, not copying: a right answer counts again.
        for row in records():
            LearningRecord.update(created_at=row.created_at - datetime.timedelta(hours=13)).where(
                LearningRecord.seq == row.seq).execute()
    later = post(student, answer_url("s1"), {"answer": "b"}).get_data(as_text=True)
    assert "Right!" in later and "does not count" not in later
    with app.app_context():
        assert records(verb="answered")[-1].correct is True


def test_a_form_with_the_record_id_the_device_keeps_is_stored_once(student, app):
    """The page's script keeps each answer on the device under an id it sends with the form; the
    answer may come again through the API (the reply was lost): one record, named by the page."""
    record_id = str(uuid.uuid4())
    first = post(student, answer_url("s1"), {"answer": "a", "record_id": record_id})
    assert first.status_code == 200 and f'data-stored-records="{record_id}"' in first.get_data(as_text=True)
    again = api_answer(student, {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a",
                                 "record_id": record_id})
    assert again.status_code == 200 and again.get_json()["new"] is False
    form_again = post(student, answer_url("s1"), {"answer": "b", "record_id": record_id})
    assert form_again.status_code == 200 and "already sent" in form_again.get_data(as_text=True)
    with app.app_context():
        assert [(r.uuid, r.correct) for r in records(verb="answered")] == [(record_id, False)]
    clash = post(student, answer_url("n1"), {"answer": "0,5", "record_id": record_id})
    assert clash.status_code == 409
    with app.app_context():
        assert len(records(verb="answered")) == 1


@pytest.mark.parametrize("url, data, status, message", [
    (answer_url("nope"), {"answer": "a"}, 404, None),
    (f"/learn/practice/{PACK}/intro/s1", {"answer": "a"}, 404, None),
    (f"/learn/practice/no.such.pack/{MIX}/s1", {"answer": "a"}, 404, None),
    (answer_url("s1"), {"answer": ["a", "b"]}, 400, "expected a choice id"),
    (answer_url("s1"), {"answer": "zz"}, 400, "is not one of this question"),
    (answer_url("s1"), {}, 400, "the answer is empty"),
    (answer_url("n1"), {"answer": "half"}, 400, "is not a number"),
    (answer_url("t1"), {"answer": "x" * 10_000}, 400, "longer than 500 characters"),
    (answer_url("t1"), {"answer": "x" * 30_000}, 400, "too long"),
    (answer_url("o1"), "missing-choice", 400, "every choice once"),
    (answer_url("o1"), "same-position", 400, "given twice"),
    (answer_url("p1"), {"match-p1": "xdeadbeef0000"}, 400, "is not one of this question"),
])
def test_tampered_answers_store_nothing(student, app, url, data, status, message):
    ids = tokens(ORDERING, "choices")
    if data == "missing-choice":
        data = {f"order-{ids['one']}": "1", f"order-{ids['five']}": "2"}
    elif data == "same-position":
        data = {f"order-{ids['one']}": "1", f"order-{ids['five']}": "1", f"order-{ids['ten']}": "3"}
    response = post(student, url, data)
    assert response.status_code == status
    if message:
        assert message in response.get_data(as_text=True)
    with app.app_context():
        assert records() == []


def test_missing_csrf_stores_nothing(student, app):
    response = student.post(answer_url("s1"), data={"answer": "b"})
    assert response.status_code == 400
    with app.app_context():
        assert records() == []


def test_errors_are_translated(student):
    with student.session_transaction() as session:
        session["lang"] = "ru"
    response = post(student, answer_url("n1"), {"answer": "half"}, headers={"Accept-Language": "ru"})
    assert response.status_code == 400
    assert "не число" in response.get_data(as_text=True)


@pytest.mark.parametrize("role, status", [("teacher", 403), ("admin", 403)])
def test_staff_cannot_practise(client, school, pack, role, status):
    sign_in_as(client, school, role)
    assert client.get(page_url()).status_code == status
    assert post(client, answer_url("s1"), {"answer": "b"}).status_code == status


def test_only_students_see_the_practise_link(client, school, pack):
    sign_in_as(client, school, "teacher")
    assert "Practise" not in client.get(f"/library/{PACK}/{MIX}").get_data(as_text=True)
    client.post("/signout", data={"csrf_token": csrf_of(client)})
    sign_in_as(client, school, "student")
    html = client.get(f"/library/{PACK}/{MIX}").get_data(as_text=True)
    assert f'href="/learn/practice/{PACK}/{MIX}"' in html and "Practise" in html
    assert "Practise" not in client.get(f"/library/{PACK}/intro").get_data(as_text=True)
    # and the practice page links back to the node page
    assert f'href="/library/{PACK}/{MIX}"' in client.get(page_url()).get_data(as_text=True)


def test_completion_is_recorded_once(student, app):
    for item in ITEMS[:5]:
        right, wrong = right_and_wrong(item)
        post(student, answer_url(item["id"]), right if item["id"] != "m1" else wrong)
    early = student.get(page_url() + "/result").get_data(as_text=True)
    assert "Right answers: 4 of 6" in early and "not answered yet: 1" in early
    with app.app_context():
        assert records(verb="completed") == []
    last = post(student, answer_url("p1"), right_and_wrong(MATCHING)[0]).get_data(as_text=True)
    assert "See my result" in last
    for _ in range(2):
        html = student.get(page_url() + "/result").get_data(as_text=True)
        assert "Right answers: 5 of 6" in html
    with app.app_context():
        done = records(verb="completed")
        assert len(done) == 1
        assert done[0].score == pytest.approx(5 / 6) and done[0].item_id is None and done[0].node_id == MIX
    # One item still wrong: the default page offers it; when all are right, it goes to the result.
    assert "Question 2 of 6" in student.get(page_url()).get_data(as_text=True)
    post(student, answer_url("m1"), {"answer": ["a", "c"]})
    assert student.get(page_url()).headers["Location"].endswith("/result")
    student.get(page_url() + "/result")
    with app.app_context():
        done = records(verb="completed")
        assert [r.score for r in done] == [pytest.approx(5 / 6), 1.0]


# --- the API -------------------------------------------------------------------------------------

def api_answer(client, body: dict, csrf: bool = True, headers: dict | None = None):
    headers = {**({"X-CSRF-Token": csrf_of(client)} if csrf else {}), **(headers or {})}
    return client.post("/api/v1/answers", json=body, headers=headers)


def set_up_days_ago(app, days: int) -> None:
    """As if the school server had been installed `days` ago (its first migration then)."""
    with app.app_context():
        database.execute_sql("UPDATE migration_history SET applied_at = ?",
                             (datetime.datetime.utcnow() - datetime.timedelta(days=days),))


def test_api_answer_and_replay(student, app):
    set_up_days_ago(app, 30)
    record_id = str(uuid.uuid4())
    # Answered offline two hours ago, on a device in Almaty's time zone.
    answered = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)).replace(microsecond=0)
    local = answered.astimezone(datetime.timezone(datetime.timedelta(hours=5))).isoformat()
    body = {"pack_id": PACK, "node_id": MIX, "item_id": "n1", "response": "0,5", "duration_ms": 4200,
            "record_id": record_id, "answered_at": local}
    created = api_answer(student, body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {"record_id": record_id, "correct": True, "score": 1.0, "explanation": None,
                                  "attempt": 1, "new": True}
    replay = api_answer(student, {**body, "response": "7"})
    assert replay.status_code == 200 and replay.get_json()["new"] is False
    assert replay.get_json()["correct"] is True
    with app.app_context():
        rows = records(verb="answered")
    assert len(rows) == 1 and rows[0].duration_ms == 4200
    assert rows[0].occurred_at == answered.replace(tzinfo=None)
    # Without a record id: a new record each time, attempts counting on.
    second = api_answer(student, {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a"})
    assert second.status_code == 201 and second.get_json()["correct"] is False
    assert second.get_json()["explanation"].startswith("SECRET-EXPLANATION")
    matching = api_answer(student, {"pack_id": PACK, "node_id": MIX, "item_id": "p1",
                                    "response": {"p1": "p1", "p2": "p2", "p3": "p3"}})
    assert matching.status_code == 201 and matching.get_json()["correct"] is True


@pytest.mark.parametrize("body, status, error", [
    ({"pack_id": PACK, "node_id": MIX, "item_id": "nope", "response": "a"}, 404, "not_found"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": ["a"]}, 400, "bad_response"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "o1", "response": ["a", "b"]}, 400, "bad_response"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "t1", "response": "x" * 10_000}, 400, "bad_response"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1"}, 400, "bad_request"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "record_id": "X"}, 400, "bad_request"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "duration_ms": "5"}, 400, "bad_request"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "duration_ms": -1}, 400, "bad_request"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "duration_ms": 2**63}, 400, "bad_request"),
    ({"pack_id": "", "node_id": MIX, "item_id": "s1", "response": "a"}, 400, "bad_request"),
    ({"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "answered_at": "yesterday"}, 400,
     "bad_request"),
])
def test_api_refusals_store_nothing(student, app, body, status, error):
    response = api_answer(student, body)
    assert response.status_code == status and response.get_json()["error"] == error
    assert response.get_json()["message"]
    with app.app_context():
        assert records() == []


def test_api_attempts_limit_and_csrf(student, app):
    body = {"pack_id": PACK, "node_id": LIMITED, "item_id": "only", "response": "n"}
    assert api_answer(student, body, csrf=False).status_code == 400
    assert [api_answer(student, body).status_code for _ in range(3)] == [201, 201, 409]
    with app.app_context():
        assert len(records()) == 2


def test_api_roles(client, school, pack):
    body = {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "b"}
    assert api_answer(client, body).status_code == 401
    sign_in_as(client, school, "teacher")
    response = api_answer(client, body)
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"


def test_api_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/answers"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "409"} <= set(op["responses"])
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "pack_id", "node_id", "item_id", "response"]


def test_my_progress_counts_this_students_answers_only(student, app, school):
    empty = student.get("/learn/progress").get_data(as_text=True)
    assert "Nothing here yet" in empty
    right, wrong = right_and_wrong(SINGLE)
    post(student, answer_url("s1"), wrong)
    post(student, answer_url("s1"), right)
    right_numeric, _ = right_and_wrong(NUMERIC)
    post(student, answer_url("n1"), right_numeric)
    other = app.test_client()
    sign_in_as(other, school, "student")  # the same student on a second device sees the same
    page = other.get("/learn/progress").get_data(as_text=True)
    row = re.search(r"All six kinds</a></th>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", page, re.S)
    assert row, page
    # s1 right only after its explanation had shown the answer: not counted as right
    assert row.group(1).strip() == "2 of 6" and row.group(2).strip() == "1"
    somebody_else = app.test_client()
    post(somebody_else, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    assert "Nothing here yet" in somebody_else.get("/learn/progress").get_data(as_text=True)


def test_opening_a_lesson_is_recorded_and_home_offers_to_continue(student, app, school):
    assert "Continue where I stopped" not in student.get("/learn/").get_data(as_text=True)
    assert student.get(f"/library/{PACK}/intro").status_code == 200
    opened = records(verb="opened")
    assert [(r.node_id, r.node_kind) for r in opened] == [("intro", "lesson")]
    assert opened[0].learner == User.get_by_id(school.student.id).pseudonym
    home = student.get("/learn/").get_data(as_text=True)
    assert f'href="/library/{PACK}/intro"' in home and "Continue where I stopped" in home
    teacher = app.test_client()
    sign_in_as(teacher, school, "teacher")
    assert teacher.get(f"/library/{PACK}/intro").status_code == 200
    assert len(records(verb="opened")) == 1  # only students' steps are the footprint


@pytest.mark.parametrize("answered_at, said", [
    ("1970-01-01T00:00:00Z", "before this school server was set up"),   # a phone whose clock was reset
    ("0999-05-01T08:00:00+00:00", "before this school server was set up"),
    ("2999-05-01T08:00:00Z", "in the future"),
])
def test_an_answer_time_no_clock_could_have_is_refused(student, app, answered_at, said):
    body = {"pack_id": PACK, "node_id": MIX, "item_id": "s1", "response": "a", "answered_at": answered_at}
    response = api_answer(student, body, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_time"
    message = response.get_json()["message"]
    assert said in message and "date and time on this device" in message
    assert answered_at[:4] in message  # four digits, as sent
    with app.app_context():
        assert records() == []


def api_response(item: dict):
    """Some well-formed API response to `item` (right or wrong does not matter here)."""
    shapes = {"single": "a", "multiple": ["a"], "numeric": "1", "text": "x"}
    if item["type"] in shapes:
        return shapes[item["type"]]
    if item["type"] == "ordering":
        return list(tokens(item, "choices").values())
    return dict(zip(("p1", "p2", "p3"), tokens(item, "right").values()))


def test_completion_carries_the_time_of_the_last_answer(student, app):
    """Answered offline an hour ago, the result page opened now: completed an hour ago."""
    set_up_days_ago(app, 30)
    hour_ago = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).replace(microsecond=0)
    for index, item in enumerate(ITEMS):
        moment = hour_ago - datetime.timedelta(minutes=len(ITEMS) - index)
        body = {"pack_id": PACK, "node_id": MIX, "item_id": item["id"], "response": api_response(item),
                "answered_at": moment.isoformat()}
        assert api_answer(student, body).status_code == 201
    student.get(page_url() + "/result")
    with app.app_context():
        [done] = records(verb="completed")
        last = max(r.occurred_at for r in records(verb="answered"))
    assert last == (hour_ago - datetime.timedelta(minutes=1)).replace(tzinfo=None)
    assert done.occurred_at == last
