"""A typed answer is shown as the student typed it (issue 19): "1/2" stays "1/2" and "0,5" stays
"0,5" in her quiz results, the teacher's most-missed questions and her activity, while scoring and
the national platform keep the normalised value ("0.5")."""
from __future__ import annotations

import html
import re

import pytest

from classroom_server.coach import services as coach
from classroom_server.learn import records
from classroom_server.models import Assignment, LearningRecord

from .assignmentpacks import quiz_form
from .helpers import post, sign_in_as
from .practicepack import MIX, PACK, answer_url
from .practicepack import pack  # noqa: F401  (fixtures)

NUMERIC_INDEX, TEXT_INDEX = 2, 3  # n1 "Half as a decimal?" (0.5), t1 "Name the field"


@pytest.fixture
def student(client, school, pack):
    sign_in_as(client, school, "student")
    return client


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_record_keeps_what_was_typed_and_the_normalised_value(app, student):
    post(student, answer_url("n1"), {"answer": "1/2"})
    post(student, answer_url("n1"), {"answer": " 0,5 "})
    post(student, answer_url("t1"), {"answer": "  Поле  "})
    post(student, answer_url("s1"), {"answer": "b"})
    with app.app_context():
        rows = list(LearningRecord.select().where(LearningRecord.verb == "answered").order_by(LearningRecord.seq))
        assert [(r.response, r.typed) for r in rows] == [
            ("0.5", "1/2"), ("0.5", " 0,5 "), ("Поле", "  Поле  "), ("b", None)]
        assert all(r.correct for r in rows[:2])
        # The national platform gets the normalised value, as before.
        statement = records.statement_for(rows[0], "school-1", "https://example.kz")
        assert statement["result"]["response"] == "0.5"


def test_a_number_sent_as_json_has_nothing_typed(app, student):
    from .helpers import csrf_of
    response = student.post("/api/v1/answers", json={"pack_id": PACK, "node_id": MIX, "item_id": "n1",
                                                     "response": 0.5},
                            headers={"X-CSRF-Token": csrf_of(student)})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    with app.app_context():
        row = LearningRecord.get(LearningRecord.item_id == "n1")
        assert (row.response, row.typed) == ("0.5", None)


def test_quiz_results_item_analysis_and_activity_show_the_answer_as_typed(app, school, student, client):
    with app.app_context():
        quiz = coach.create_assignment(school.pin_class, school.teacher, "Numbers", [(PACK, MIX, None)],
                                       kind="quiz", results="submitted")
    post(student, f"/learn/quiz/{quiz.id}/start")
    for index, typed in ((NUMERIC_INDEX, "1/2"), (TEXT_INDEX, "Жер  беті")):
        response = post(student, f"/learn/quiz/{quiz.id}/{index}",
                        {"answer": typed, **quiz_form(student, quiz.id, index)})
        assert response.status_code == 303
    # Back at the question before handing in: her saved answer as typed.
    saved = text_of(student.get(f"/learn/quiz/{quiz.id}/{NUMERIC_INDEX}").get_data(as_text=True))
    assert re.search(r"Saved answer:\s+1/2\s*\.", saved), saved
    post(student, f"/learn/quiz/{quiz.id}/submit")
    # Practice too, typed with a decimal comma in an English interface.
    post(student, answer_url("n1"), {"answer": "0,6"}, headers={"Accept-Language": "en"})

    results = text_of(student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True))
    mine = re.findall(r"My answer:\s+(.+?)\s+—", results)
    assert "1/2" in mine and "Жер беті" in mine, mine
    assert not {"0,5", "0.5"} & set(mine)

    post(student, "/signout")
    sign_in_as(client, school, "teacher")
    items = text_of(client.get(f"/coach/class/{school.pin_class.id}/items").get_data(as_text=True))
    assert re.search(r"0,6\s+\(1 time\)", items), items  # the wrong answer as she typed it
    assert "0.6" not in items
    report = client.get(f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report")
    activity = text_of(report.get_data(as_text=True))
    answers = re.findall(r"Answer:\s+(.+?)\s{2,}", activity)
    assert "0,6" in [a.strip() for a in answers] and "1/2" in [a.strip() for a in answers], answers
    assert "0.5" not in activity and "0.6" not in activity
    with app.app_context():
        assert Assignment.get_by_id(quiz.id).kind == "quiz"
