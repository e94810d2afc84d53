"""A student cannot learn a quiz's right answers before the teacher's release rule allows: its
items cannot be practised with feedback meanwhile (pages, the API, adaptive practice), its answers
do not move the mastery the student is shown, and search snippets give no order away."""
from __future__ import annotations

import json
import re

import pytest

from classroom_server.accounts import services as accounts
from classroom_server.coach import services as coach
from classroom_server.learn import tutor
from classroom_server.learn.held import held_for
from classroom_server.models import Assignment, LearningRecord, User

from .assignmentpacks import make, quiz_form
from .assignmentpacks import packs, student  # noqa: F401  (fixtures)
from .helpers import csrf_of, post, sign_in_as
from .packs import install_signed
from .practicepack import ITEMS, MIX, PACK, right_and_wrong

SINGLE = ITEMS[0]


def practice_answer(client, item_id: str = "s1"):
    return post(client, f"/learn/practice/{PACK}/{MIX}/{item_id}", {"answer": "b"})


def api_answer(client, item_id: str = "s1"):
    return client.post("/api/v1/answers", json={"pack_id": PACK, "node_id": MIX, "item_id": item_id,
                                                "response": "b"}, headers={"X-CSRF-Token": csrf_of(client)})


def adaptive_answer(client, item_id: str = "s1"):
    return post(client, f"/learn/adaptive/answer/{PACK}/{MIX}/{item_id}",
                {"answer": "b", "scope": tutor.topic_scope(PACK, "topic")})


def practice_records(app) -> int:
    with app.app_context():
        return LearningRecord.select().where(LearningRecord.verb == "answered",
                                             LearningRecord.assignment.is_null()).count()


@pytest.mark.parametrize("send", [practice_answer, api_answer, adaptive_answer])
def test_quiz_items_give_no_feedback_while_the_quiz_is_open(app, school, student, send):  # noqa: F811
    make(app, school, [(PACK, MIX, "s1")], kind="quiz", results="teacher", title="Colours quiz")
    refused = send(student)
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "in a quiz you have not finished yet" in text and "SECRET-EXPLANATION" not in text
    # No feedback: no score in JSON, no feedback heading (the page's script templates for answers sent
    # later carry the words "Right!" and "Not right yet" in data attributes, never as feedback).
    assert '"correct"' not in text and 'id="feedback-heading"' not in text
    assert ">✔" not in text and ">✘" not in text
    assert practice_records(app) == 0
    assert send(student, "m1").status_code != 409  # the exercise's other items are practised as before


def test_the_practice_page_says_why_before_the_student_tries(app, school, student):  # noqa: F811
    make(app, school, [(PACK, MIX, None)], kind="quiz", results="teacher")
    page = student.get(f"/learn/practice/{PACK}/{MIX}?item=0").get_data(as_text=True)
    assert "in a quiz you have not finished yet" in page


def test_practising_an_exercise_goes_past_its_held_items(app, school, student):  # noqa: F811
    make(app, school, [(PACK, MIX, "s1"), (PACK, MIX, "m1")], kind="quiz", results="teacher")
    page = student.get(f"/learn/practice/{PACK}/{MIX}").get_data(as_text=True)
    assert "Question 3 of 6" in page and "in a quiz you have not finished yet" not in page


def test_adaptive_practice_does_not_offer_held_items(app, school, student):  # noqa: F811
    make(app, school, [(PACK, MIX, None)], kind="quiz", results="teacher")
    with app.app_context():
        user = User.get_by_id(school.student.id)
        scope = tutor.topic_scope(PACK, "topic")
        offered = {tutor.recommend(user, scope).candidate.item_id for _ in range(10)}
    assert offered == {"only"}  # the limited exercise's item; none of the quiz's


def test_a_quiz_scheduled_for_later_already_holds_its_items(app, school, student):  # noqa: F811
    import datetime
    make(app, school, [(PACK, MIX, "s1")], kind="quiz", results="submitted",
         starts_at=datetime.datetime.utcnow() + datetime.timedelta(days=1))
    assert practice_answer(student).status_code == 409


def test_feedback_comes_back_once_results_are_out_and_no_go_is_left(app, school, student):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, "s1")], kind="quiz", results="teacher")
    post(student, f"/learn/quiz/{quiz.id}/start")
    post(student, f"/learn/quiz/{quiz.id}/0", {"answer": "b", **quiz_form(student, quiz.id, 0)})
    post(student, f"/learn/quiz/{quiz.id}/submit")
    assert practice_answer(student).status_code == 409  # handed in, results not out: still held
    with app.app_context():
        coach.release_results(Assignment.get_by_id(quiz.id))
    assert practice_answer(student).status_code == 200


def test_a_quiz_with_goes_left_holds_even_with_results_shown_on_hand_in(app, school, student):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, "s1")], kind="quiz", results="submitted", attempts=2)
    post(student, f"/learn/quiz/{quiz.id}/start")
    post(student, f"/learn/quiz/{quiz.id}/submit")
    assert practice_answer(student).status_code == 409  # a second go is left
    with app.app_context():
        coach.close_assignment(Assignment.get_by_id(quiz.id))
    assert practice_answer(student).status_code == 200


def test_other_students_are_not_held(app, school, packs):  # noqa: F811
    make(app, school, [(PACK, MIX, "s1")], kind="quiz", results="teacher")  # for class 5А
    client = app.test_client()
    sign_in_as(client, school, None)
    post(client, f"/signin/class/{school.other_class.id}/student/{school.other_student.id}")
    assert practice_answer(client).status_code == 200


def test_a_quiz_for_some_students_holds_its_pack_items_for_them_only(app, school, packs):  # noqa: F811
    own = {**SINGLE, "id": "own-1"}  # a teacher's own question: in no pack, nothing to hold
    with app.app_context():
        classmate = accounts.create_user(None, "Classmate", "student")
        accounts.enrol(classmate, school.pin_class)
        quiz = coach.create_assignment(school.pin_class, school.teacher, "Quiz for one", [(PACK, MIX, "s1"), own],
                                       kind="quiz", results="teacher", students=[school.student])
        mine, theirs = held_for(User.get_by_id(school.student.id)), held_for(classmate)
    assert mine.quizzes == {quiz.id} and mine.items == {(PACK, MIX, "s1")}
    assert mine.holds(PACK, MIX, "s1") and not mine.holds(PACK, MIX, "m1")
    assert theirs.quizzes == frozenset() and not theirs.holds(PACK, MIX, "s1")


def mastery(app, school) -> dict:
    with app.app_context():
        user = User.get_by_id(school.student.id)
        shown = {s.skill: (s.p, s.answers) for topic in tutor.my_mastery(user) for s in topic.skills}
        scoped = [(s.p, s.answers) for s in tutor.scope_mastery(user, tutor.skill_scope("x"))]
        rows = tutor.class_mastery([user]).rows
        teacher = rows[0][1]["x"].answers if rows and "x" in rows[0][1] else 0
    return {"shown": shown, "scoped": scoped, "teacher": teacher}


def adaptive_page(client) -> str:
    """The practice page with its mastery bars (less the script nonce, new on every page)."""
    return re.sub(r'nonce="[^"]*"', "", client.get("/learn/adaptive/").get_data(as_text=True))


def test_quiz_answers_do_not_move_the_mastery_the_student_sees(app, school, student):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", results="teacher")
    before = mastery(app, school)
    post(student, f"/learn/quiz/{quiz.id}/start")
    for index, item in enumerate(ITEMS):
        right, wrong = right_and_wrong(item)
        post(student, f"/learn/quiz/{quiz.id}/{index}", {**(right if index < 3 else wrong),
                                                         **quiz_form(student, quiz.id, index)})
    during = mastery(app, school)
    assert during["shown"] == before["shown"] and during["scoped"] == before["scoped"]
    assert during["teacher"] == len(ITEMS)  # the teacher sees every answer
    page = adaptive_page(student)
    post(student, f"/learn/quiz/{quiz.id}/submit")
    assert mastery(app, school)["shown"] == before["shown"]  # handed in, results not out yet
    student.get("/learn/adaptive/")  # shows (and so ends) the "handed in" notice
    assert adaptive_page(student) == page
    with app.app_context():
        coach.release_results(Assignment.get_by_id(quiz.id))
    after = mastery(app, school)
    assert after["shown"] != before["shown"] and after["shown"]["x"][1] == len(ITEMS)


# --- search snippets --------------------------------------------------------------------------------

PAIRS = [(f"land{n}", f"city{n}") for n in range(8)]


def matching_source(folder):
    folder.mkdir(parents=True, exist_ok=True)
    item = {"id": "capitals", "type": "matching", "skills": ["geo"], "prompt": {"en": "Match each land"},
            "pairs": [{"id": f"p{n}", "left": {"en": left}, "right": {"en": right}}
                      for n, (left, right) in enumerate(PAIRS)]}
    order = {"id": "order", "type": "ordering", "skills": ["geo"], "prompt": {"en": "Smallest first"},
             "choices": [{"id": f"c{n}", "text": {"en": f"size{n}"}} for n in range(8)],
             "answer": [f"c{n}" for n in range(8)]}
    manifest = {
        "format_version": 1, "id": "test.geo", "version": "1.0.0", "title": {"en": "Geography"},
        "subject": "geography", "grades": [5], "languages": ["en"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [{"id": "quiz", "kind": "exercise", "title": {"en": "Lands"}, "items": [item, order]}]}
    (folder / "pack.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_search_snippets_give_no_pairs_or_order_away(app, settings, school, tmp_path):
    with app.app_context():
        install_signed(matching_source(tmp_path / "geo"), settings.data_dir)
    client = app.test_client()
    sign_in_as(client, school, "student")
    found = client.get("/api/v1/search?q=land3").get_json()
    [hit] = found["hits"]
    words = [w for w in hit["snippet_html"].replace("<mark>", "").replace("</mark>", "").replace("…", " ").split()
             if w.startswith(("land", "city"))]
    assert "land3" in words and len(words) >= 8
    in_order = [w for pair in PAIRS for w in pair]
    lefts_then_rights = [p[0] for p in PAIRS] + [p[1] for p in PAIRS]
    assert not any(words == seq[i:i + len(words)] for seq in (in_order, lefts_then_rights)
                   for i in range(len(seq)))
    sizes = client.get("/api/v1/search?q=size3").get_json()["hits"][0]["snippet_html"]
    shown = [w for w in sizes.replace("<mark>", "").replace("</mark>", "").split() if w.startswith("size")]
    assert shown != sorted(shown) or len(shown) < 3


def test_packs_installed_before_get_their_search_text_shuffled(app, settings, school, tmp_path):
    import importlib

    from classroom_server.db import database
    with app.app_context():
        install_signed(matching_source(tmp_path / "geo"), settings.data_dir)
        in_order = "Match each land " + " ".join(w for pair in PAIRS for w in pair)
        database.execute_sql("UPDATE content_search SET body = ? WHERE node_id = 'quiz'",
                             (in_order + " Smallest first " + " ".join(f"size{n}" for n in range(8)),))
        importlib.import_module("classroom_server.migrations.0014_search_item_order").up(database.obj)
        [body] = [b for (b,) in database.execute_sql("SELECT body FROM content_search WHERE node_id = 'quiz'")]
    assert in_order not in body and sorted(body.split()) == sorted(
        (in_order + " Smallest first " + " ".join(f"size{n}" for n in range(8))).split())
    client = app.test_client()
    sign_in_as(client, school, "student")
    assert client.get("/api/v1/search?q=city5").get_json()["total"] == 1
