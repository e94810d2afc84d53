"""A teacher's day on the server (issue 19): classes of their own when the school allows it, a copy
of an assignment within its class, another try at a quiz for one student, results and comments on
the assignment's own page (the comment shown to that student only), "tomorrow" for a due date, and a
closed quiz that offers nothing it no longer allows. Browser checks: test_browser_teacher_day.py."""
from __future__ import annotations

import dataclasses
import datetime
import os
import re

import pytest
import pytz

from classroom_server.coach import assign
from classroom_server.models import (Assignment, AssignmentItem, AuditLog, Classroom, ExtraTry, Membership, QuizAttempt,
                                     TeacherComment)

from .assignmentpacks import make
from .assignmentpacks import packs, student  # noqa: F401  (fixtures)
from .helpers import post, sign_in_as, sign_in_staff
from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)
from .practicepack import MIX, PACK


def teacher_client(app, school):
    client = app.test_client()
    sign_in_as(client, school, "teacher")
    return client


def test_teachers_create_classes_only_when_the_admin_allows_it(app, school, client):
    teacher = teacher_client(app, school)
    home = teacher.get("/coach/").get_data(as_text=True)
    assert "Create a class" not in home and "The school's IT person adds you to a class" not in home
    refused = post(teacher, "/coach/classes", {"name": "7Г", "grade": "7", "mode": "pin"})
    assert refused.status_code == 400
    assert "has not allowed teachers to create classes" in refused.get_data(as_text=True)
    with app.app_context():
        assert not Classroom.select().where(Classroom.name == "7Г").exists()

    # The admin ticks the box on the settings page: in force at once.
    sign_in_as(client, school, "admin")
    settings = client.get("/admin/settings").get_data(as_text=True)
    assert "Teachers may create their own classes" in settings
    assert post(client, "/admin/settings/school", {"teachers_create_classes": "1"}).status_code == 303
    assert 'name="teachers_create_classes" value="1" checked' in client.get("/admin/settings").get_data(as_text=True)

    assert "Create a class" in teacher.get("/coach/").get_data(as_text=True)
    bad = post(teacher, "/coach/classes", {"name": "7Г", "grade": "15", "mode": "pin"})
    assert bad.status_code == 400 and "a grade is from 0 to 12" in bad.get_data(as_text=True)
    taken = post(teacher, "/coach/classes", {"name": "5А", "grade": "5", "mode": "pin"})
    assert taken.status_code == 400 and "a class named 5А exists already" in taken.get_data(as_text=True)
    made = post(teacher, "/coach/classes", {"name": "7Г", "grade": "7", "mode": "pin"})
    assert made.status_code == 303
    with app.app_context():
        room = Classroom.get(Classroom.name == "7Г")
        assert (room.grade, room.signin_mode) == (7, "pin")
        assert Membership.get(Membership.classroom == room, Membership.role == "teacher").user_id == school.teacher.id
        entry = AuditLog.select().where(AuditLog.action == "class.create").order_by(AuditLog.id.desc()).get()
        assert entry.target == "7Г" and entry.actor_id == school.teacher.id
    assert made.headers["Location"].endswith(f"/coach/class/{room.id}")
    assert teacher.get(f"/coach/class/{room.id}").status_code == 200

    # Switched off again: no more classes, the ones made stay.
    assert post(client, "/admin/settings/school", {}).status_code == 303
    assert post(teacher, "/coach/classes", {"name": "8Д", "mode": "name"}).status_code == 400
    assert teacher.get(f"/coach/class/{room.id}").status_code == 200


def test_copy_within_the_class(app, school, packs):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, "s1")], kind="quiz", title="Жылдам тест", attempts=2)
    teacher = teacher_client(app, school)
    page = teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    assert f'<option value="{school.pin_class.id}">this class (5А)</option>' in page
    response = post(teacher, f"/coach/assignment/{quiz.id}/copy", {"class_id": str(school.pin_class.id)})
    assert response.status_code == 303
    with app.app_context():
        copy = Assignment.get(Assignment.title == "Жылдам тест (copy)")
        assert (copy.classroom_id, copy.kind, copy.attempts) == (school.pin_class.id, "quiz", 2)
    assert response.headers["Location"].endswith(f"/coach/assignment/{copy.id}")


def test_another_try_results_and_a_comment_on_the_assignment_page(app, school, packs, student):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, "s1")], kind="quiz", title="Жылдам тест")
    assert post(student, f"/learn/quiz/{quiz.id}/start").status_code == 303
    assert post(student, f"/learn/quiz/{quiz.id}/submit").status_code == 303
    assert post(student, f"/learn/quiz/{quiz.id}/start").status_code == 303
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "Tries used: 1 of 1" in page and "Start the quiz" not in page and "Try again" not in page

    teacher = teacher_client(app, school)
    results = teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", results))
    assert "Results" in text and "Әлия Нұрланқызы Done 0% 1 of 1 Another try" in text
    given = post(teacher, f"/coach/assignment/{quiz.id}/student/{school.student.id}/another-try")
    assert given.status_code == 303
    assert "may try again: 2 tries in all" in teacher.get(given.headers["Location"]).get_data(as_text=True)
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "Tries used: 1 of 2" in page and "Try again" in page
    assert post(student, f"/learn/quiz/{quiz.id}/start").status_code == 303
    with app.app_context():
        assert QuizAttempt.select().where(QuizAttempt.assignment == quiz.id).count() == 2
        assert ExtraTry.get(ExtraTry.assignment == quiz.id).extra == 1

    # A comment: the student sees it on this assignment's page; another student does not.
    assert post(teacher, f"/coach/assignment/{quiz.id}/student/{school.student.id}/comment",
                {"text": "   "}).status_code == 400
    sent = post(teacher, f"/coach/assignment/{quiz.id}/student/{school.student.id}/comment",
                {"text": "Жақсы! Бөлшектерді тағы қайтала."})
    assert sent.status_code == 303
    assert "Бөлшектерді тағы қайтала" in teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "From your teacher" in page and "Жақсы! Бөлшектерді тағы қайтала." in page
    with app.app_context():
        assert TeacherComment.select().count() == 1
    # Work too (not only quizzes), and only the teacher of the class may write.
    work = make(app, school, [(PACK, MIX, None)], title="Үй жұмысы")
    assert post(teacher, f"/coach/assignment/{work.id}/student/{school.student.id}/comment",
                {"text": "Келесі жолы ұқыптырақ."}).status_code == 303
    assert "Келесі жолы ұқыптырақ." in student.get(f"/learn/assignment/{work.id}").get_data(as_text=True)
    other = app.test_client()
    assert sign_in_staff(other, "other").status_code == 302
    assert post(other, f"/coach/assignment/{work.id}/student/{school.student.id}/comment",
                {"text": "x"}).status_code == 403
    assert post(teacher, f"/coach/assignment/{work.id}/student/{school.other_student.id}/comment",
                {"text": "x"}).status_code == 404
    # Another try is for quizzes.
    assert post(teacher, f"/coach/assignment/{work.id}/student/{school.student.id}/another-try").status_code == 400


def test_a_closed_quiz_offers_nothing_it_no_longer_allows(app, school, packs, student):  # noqa: F811
    quiz = make(app, school, [(PACK, MIX, "s1"), (PACK, MIX, "n1")], kind="quiz", title="Жабық тест", attempts=3,
                time_limit_minutes=10)
    assert post(student, f"/learn/quiz/{quiz.id}/start").status_code == 303
    assert post(student, f"/learn/quiz/{quiz.id}/submit").status_code == 303
    teacher = teacher_client(app, school)
    page = teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    assert 'id="own-heading"' in page and "/part/" in page and 'id="attempts"' in page
    assert post(teacher, f"/coach/assignment/{quiz.id}/close").status_code == 303

    page = teacher.get(f"/coach/assignment/{quiz.id}").get_data(as_text=True)
    assert 'id="own-heading"' not in page  # no new questions
    assert "/part/" not in page  # no reordering or removing
    assert 'id="attempts"' not in page and 'id="time_limit"' not in page
    assert "another-try" not in page and "no student can be given another try" in page
    assert "Open again" in page and "copy" in page  # what a closed quiz still allows
    with app.app_context():
        part_id = AssignmentItem.select().where(AssignmentItem.assignment == quiz.id).first().id
    refused = post(teacher, f"/coach/assignment/{quiz.id}/part/{part_id}/remove")
    assert refused.status_code == 409 and "This quiz is closed" in refused.get_data(as_text=True)
    assert post(teacher, f"/coach/assignment/{quiz.id}/own", {"prompt": "2+2?"}).status_code == 409
    assert post(teacher, f"/coach/assignment/{quiz.id}/student/{school.student.id}/another-try").status_code == 400
    # Saving the title keeps the rules that were hidden.
    assert post(teacher, f"/coach/assignment/{quiz.id}/edit", {
        "title": "Жабық тест 2", "time_limit": "10", "attempts": "3", "results": "submitted"}).status_code == 303
    with app.app_context():
        kept = Assignment.get_by_id(quiz.id)
        assert (kept.title, kept.attempts, kept.time_limit_minutes) == ("Жабық тест 2", 3, 10)
    # The student is not offered a start either.
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "This quiz is closed." in page and "Try again" not in page


@pytest.mark.parametrize("zone, now, expected", [
    ("Asia/Almaty", datetime.datetime(2026, 12, 6, 20, 30), "2026-12-08T23:59"),  # 01:30 on the 7th there
    ("Asia/Almaty", datetime.datetime(2026, 12, 6, 10, 0), "2026-12-07T23:59"),
    ("Europe/London", datetime.datetime(2026, 12, 31, 23, 0), "2027-01-01T23:59"),
])
def test_tomorrow_is_the_schools_tomorrow(app, zone, now, expected):
    with app.app_context():
        app.config["CLASSROOM_SETTINGS"] = dataclasses.replace(app.config["CLASSROOM_SETTINGS"], i18n_timezone=zone)
        assert assign.tomorrow_input(now) == expected
        # What the button fills in is what the form then stores: 23:59 school time, as UTC.
        stored = assign.school_time(expected)
        assert pytz.utc.localize(stored).astimezone(pytz.timezone(zone)).strftime("%Y-%m-%dT%H:%M") == expected


def test_the_due_date_has_a_tomorrow_button(app, school, packs):  # noqa: F811
    teacher = teacher_client(app, school)
    page = teacher.get(f"/coach/class/{school.pin_class.id}/assign").get_data(as_text=True)
    with app.test_request_context():
        tomorrow = assign.tomorrow_input()
    assert f'data-due="{tomorrow}" hidden>Tomorrow</button>' in page and "coach.js" in page


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("CLASSROOM_TEST_POSTGRES_URL"),
                    reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL to run this")
def test_another_try_and_comments_on_postgres(pg_app):
    """The upsert that adds a try and the comment rows, on PostgreSQL (migration 0015)."""
    from classroom_server import migrations
    from classroom_server.accounts import services as accounts
    from classroom_server.coach import services as coach
    from classroom_server.db import database
    migrations.migrate(database.obj)
    with pg_app.app_context():
        teacher = accounts.create_user("teacher1", "Teacher", "teacher", "correct-horse-42")
        room = accounts.create_classroom("5А", 5, "name")
        accounts.enrol(teacher, room)
        kid = accounts.create_user(None, "Әлия", "student")
        accounts.enrol(kid, room)
        own = {"id": "q1", "type": "numeric", "prompt": {"kk": "2+2?"}, "answer": 4}
        quiz = coach.create_assignment(room, teacher, "Тест", [own], kind="quiz", attempts=1)
        assert coach.give_another_try(quiz, kid, teacher) == 2
        assert coach.give_another_try(quiz, kid, teacher) == 3
        assert coach.tries_allowed(quiz)[kid.id] == 3 and coach.tries_allowed(quiz)[teacher.id] == 1
        coach.add_comment(quiz, kid, teacher, "Жарайсың")
        assert [c.text for c in coach.comments(quiz)[kid.id]] == ["Жарайсың"]
