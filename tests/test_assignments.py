"""Assigned work and quizzes as students meet them, and the e-textbook reader's place and settings."""
from __future__ import annotations

import datetime
import json
import re
import uuid

import pytest

from classroom_server.coach import services as coach
from classroom_server.learn import quizzes
from classroom_server.models import Assignment, LearningRecord, QuizAttempt, ReaderPreference, ReadingPosition, utcnow

from .assignmentpacks import BOOK_PACK, make, quiz_form
from .assignmentpacks import packs, student  # noqa: F401  (fixtures)
from .helpers import csrf_of, post
from .packs import install_signed
from .practicepack import ITEMS, MIX, PACK, right_and_wrong


def answered(**where):
    query = LearningRecord.select().where(LearningRecord.verb == "answered").order_by(LearningRecord.seq)
    for name, value in where.items():
        query = query.where(getattr(LearningRecord, name) == value)
    return list(query)


# --- the home page and assigned work ---------------------------------------------------------------

def test_home_lists_the_class_work_with_due_date_and_progress(app, school, student):
    due = utcnow() + datetime.timedelta(days=2)
    work = make(app, school, [(PACK, "intro", None), (PACK, MIX, None), (BOOK_PACK, "ch1", None)], due_at=due,
                title="Fractions week")
    home = student.get("/learn/").get_data(as_text=True)
    assert "Fractions week" in home and "0 of 3 done" in home and "Due:" in home
    page = student.get(f"/learn/assignment/{work.id}").get_data(as_text=True)
    assert "Intro" in page and "All six kinds" in page and "Chapter one" in page
    student.get(f"/library/{PACK}/intro")  # opening a lesson is doing it
    assert "1 of 3 done" in student.get("/learn/").get_data(as_text=True)
    student.post("/learn/reading-position", json={"pack_id": BOOK_PACK, "chapter_id": "ch1", "fraction": 1.0},
                 headers={"X-CSRF-Token": csrf_of(student)})
    assert "2 of 3 done" in student.get("/learn/").get_data(as_text=True)


def test_work_for_others_or_not_yet_started_is_not_shown(app, school, student):
    with app.app_context():
        coach.create_assignment(school.other_class, school.other_teacher, "Other class work", [(PACK, "intro", None)])
        mine_only = coach.create_assignment(school.pin_class, school.teacher, "Just for Aliya",
                                            [(PACK, "intro", None)], students=[school.student])
        later = coach.create_assignment(school.pin_class, school.teacher, "Next week's work",
                                        [(PACK, "intro", None)], starts_at=utcnow() + datetime.timedelta(days=3))
        other = Assignment.get(Assignment.title == "Other class work")
    home = student.get("/learn/").get_data(as_text=True)
    assert "Just for Aliya" in home
    assert "Other class work" not in home and "Next week" not in home
    assert student.get(f"/learn/assignment/{other.id}").status_code == 404
    assert student.get(f"/learn/assignment/{later.id}").status_code == 404
    assert student.get(f"/learn/assignment/{mine_only.id}").status_code == 200


def test_teacher_checks_bad_assignments(app, school):
    with app.app_context():
        with pytest.raises(coach.AssignmentError, match="past"):
            coach.create_assignment(school.pin_class, school.teacher, "x", [(PACK, "intro", None)],
                                    due_at=utcnow() - datetime.timedelta(days=1))
        with pytest.raises(coach.AssignmentError, match="before the start"):
            start = utcnow() + datetime.timedelta(days=3)
            coach.create_assignment(school.pin_class, school.teacher, "x", [(PACK, "intro", None)],
                                    starts_at=start, due_at=start - datetime.timedelta(days=1))
        with pytest.raises(coach.AssignmentError, match="at least one"):
            coach.create_assignment(school.pin_class, school.teacher, "x", [], kind="quiz")
        with pytest.raises(coach.AssignmentError, match="not in class"):
            coach.create_assignment(school.pin_class, school.teacher, "x", [(PACK, "intro", None)],
                                    students=[school.other_student])
        assert Assignment.select().count() == 0


# --- quizzes ---------------------------------------------------------------------------------------


def test_quiz_of_every_item_type_scored_on_the_server_results_released_by_the_teacher(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", results="teacher", title="Mixed quiz")
    assert "Start the quiz" in student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    response = post(student, f"/learn/quiz/{quiz.id}/start")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/learn/quiz/{quiz.id}/0")
    for index, item in enumerate(ITEMS):
        page = student.get(f"/learn/quiz/{quiz.id}/{index}").get_data(as_text=True)
        assert "SECRET-EXPLANATION" not in page  # nothing that gives the answer away
        right, wrong = right_and_wrong(item)
        fields = quiz_form(student, quiz.id, index)
        response = post(student, f"/learn/quiz/{quiz.id}/{index}", {**(right if index % 2 == 0 else wrong), **fields})
        assert response.status_code == 303
        assert "Right" not in student.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        rows = answered(assignment=quiz.id)
        assert [r.correct for r in rows] == [index % 2 == 0 for index in range(len(ITEMS))]
        assert {r.attempt for r in rows} == {1} and {r.classroom for r in rows} == {school.pin_class.id}
    review = student.get(f"/learn/quiz/{quiz.id}/review").get_data(as_text=True)
    assert "Answered: 6 of 6" in review
    post(student, f"/learn/quiz/{quiz.id}/submit")
    post(student, f"/learn/quiz/{quiz.id}/submit")  # twice: one hand-in
    with app.app_context():
        [submitted] = LearningRecord.select().where(LearningRecord.verb == "submitted")
        assert submitted.score == pytest.approx(3 / 6) and submitted.assignment == quiz.id
        assert QuizAttempt.get().right == 3
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "Your teacher will show the results later" in page and "3 of 6" not in page
    assert "SECRET-EXPLANATION" not in page
    with app.app_context():
        coach.release_results(Assignment.get_by_id(quiz.id))
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "Try 1: 3 of 6 right" in page and "SECRET-EXPLANATION" in page
    assert "Start the quiz" not in page and "Try again" not in page  # one try only
    response = post(student, f"/learn/quiz/{quiz.id}/start")
    assert "You have used all your tries" in student.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert QuizAttempt.select().count() == 1


def test_quiz_answers_are_not_practice_tries_and_an_answer_can_be_changed(app, school, student):
    quiz = make(app, school, [(PACK, "limited", None)], kind="quiz", attempts=2)
    post(student, f"/learn/quiz/{quiz.id}/start")
    for choice in ("n", "y"):
        post(student, f"/learn/quiz/{quiz.id}/0", {"answer": choice, **quiz_form(student, quiz.id, 0)})
    post(student, f"/learn/quiz/{quiz.id}/submit")
    with app.app_context():
        assert QuizAttempt.get().right == 1  # the last answer counts
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    assert "Try 1: 1 of 1 right" in page and "Try again" in page
    with app.app_context():  # while a try is left the quiz holds its items out of practice (learn/held.py)
        coach.close_assignment(Assignment.get_by_id(quiz.id))
    page = student.get(f"/learn/practice/{PACK}/limited").get_data(as_text=True)
    assert "Tries left: 2" in page  # the exercise's own two tries are untouched


def test_time_up_hands_in_and_refuses_more_answers(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", time_limit_minutes=5)
    post(student, f"/learn/quiz/{quiz.id}/start")
    page = student.get(f"/learn/quiz/{quiz.id}/0").get_data(as_text=True)
    assert re.search(r'data-seconds-left="(29\d|300)"', page)
    fields = quiz_form(student, quiz.id, 0)
    post(student, f"/learn/quiz/{quiz.id}/0", {"answer": "b", **fields})
    with app.app_context():
        QuizAttempt.update(deadline=utcnow() - datetime.timedelta(minutes=2)).execute()
    response = post(student, f"/learn/quiz/{quiz.id}/1", {"answer": ["a", "c"], **fields})
    assert response.status_code == 303
    assert "Time is up" in student.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert len(answered(assignment=quiz.id)) == 1
        attempt = QuizAttempt.get()
        assert attempt.submitted_at is not None and attempt.right == 1 and attempt.total == len(ITEMS)


def test_closed_quiz_and_stale_pages_store_nothing(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", attempts=2)
    post(student, f"/learn/quiz/{quiz.id}/start")
    fields = quiz_form(student, quiz.id, 0)
    response = post(student, f"/learn/quiz/{quiz.id}/0", {"answer": "b", **fields, "attempt": "7"})
    assert response.status_code == 303  # a page from another try: sent back, nothing stored
    with app.app_context():
        assert answered(assignment=quiz.id) == []
        coach.close_assignment(Assignment.get_by_id(quiz.id))
    response = post(student, f"/learn/quiz/{quiz.id}/0", {"answer": "b", **fields})
    assert "closed" in student.get(response.headers["Location"]).get_data(as_text=True)
    response = post(student, f"/learn/quiz/{quiz.id}/start")
    assert "This quiz is closed" in student.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert answered(assignment=quiz.id) == []
        assert QuizAttempt.select().count() == 1
    assert student.get(f"/learn/quiz/{quiz.id}/99").status_code in (302, 404)


def test_quiz_answers_are_shown_as_the_student_saw_and_typed_them(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", results="submitted")
    with student.session_transaction() as session:
        session["lang"] = "kk"
    post(student, f"/learn/quiz/{quiz.id}/start")
    for index in range(len(ITEMS)):
        right = right_and_wrong(ITEMS[index])[0]
        post(student, f"/learn/quiz/{quiz.id}/{index}", {**right, **quiz_form(student, quiz.id, index)})
    saved = student.get(f"/learn/quiz/{quiz.id}/0").get_data(as_text=True)
    assert re.search(r'<span lang="kk">Көк</span>', saved), "the saved choice is shown by its text"
    assert '">0,5</span>' in student.get(f"/learn/quiz/{quiz.id}/2").get_data(as_text=True)
    post(student, f"/learn/quiz/{quiz.id}/submit")
    page = student.get(f"/learn/assignment/{quiz.id}").get_data(as_text=True)
    shown = re.findall(r'<span lang="[a-z]+">([^<]*)</span> —', page)
    assert shown == ["Көк", "two, four", "0,5", "Machine Learning", "one → five → ten",
                     "1 — one; 2 — two; 3 — three"], shown
    assert "[,]" not in page and "0.5" not in page


def quiz_api(student, quiz_id: str, index: int, response, record_id: str, attempt: int = 1,
             answered_at: datetime.datetime | None = None):
    """A quiz answer the device kept offline, sent as the page's script sends it (answered just now,
    unless said: the server refuses a time before it was set up)."""
    item = ITEMS[index]
    moment = answered_at or datetime.datetime.utcnow()
    return student.post("/api/v1/quiz-answers", headers={"X-CSRF-Token": csrf_of(student)}, json={
        "assignment_id": quiz_id, "attempt": attempt, "pack_id": PACK, "node_id": MIX, "item_id": item["id"],
        "response": response, "record_id": record_id, "answered_at": moment.isoformat() + "Z", "duration_ms": 1200})


def test_quiz_answers_kept_offline_are_stored_once_even_after_hand_in(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", results="submitted")
    post(student, f"/learn/quiz/{quiz.id}/start")
    first, second, late = (str(uuid.uuid4()) for _ in range(3))
    answered_time = datetime.datetime.utcnow()
    created = quiz_api(student, quiz.id, 0, "b", first, answered_at=answered_time)
    assert created.status_code == 201 and created.get_json() == {"record_id": first, "new": True}
    assert "correct" not in created.get_json()  # a quiz's score waits for the teacher's rule
    # The reply was lost: the device sends it again; nothing new is stored.
    again = quiz_api(student, quiz.id, 0, "a", first)
    assert again.status_code == 200 and again.get_json() == {"record_id": first, "new": False}
    assert quiz_api(student, quiz.id, 1, ["a", "c"], second).status_code == 201
    with app.app_context():
        rows = answered(assignment=quiz.id)
        assert [(r.uuid, r.correct, r.attempt) for r in rows] == [(first, True, 1), (second, True, 1)]
        assert rows[0].occurred_at == answered_time and rows[0].duration_ms == 1200
    # The page names what the server stored, so the device can stop keeping it.
    page = student.get(f"/learn/quiz/{quiz.id}/2").get_data(as_text=True)
    assert re.search(r'data-stored-records="[^"]*' + first, page) and second in page
    post(student, f"/learn/quiz/{quiz.id}/submit")
    # After hand-in: a repeat is still recognised; a new answer is refused and said why.
    assert quiz_api(student, quiz.id, 1, ["a", "c"], second).status_code == 200
    refused = quiz_api(student, quiz.id, 2, "0,5", late)
    assert refused.status_code == 409 and refused.get_json()["error"] == "quiz_closed"
    assert "after the quiz was handed in" in refused.get_json()["message"]
    with app.app_context():
        assert len(answered(assignment=quiz.id)) == 2 and QuizAttempt.get().right == 2


@pytest.mark.parametrize("change, status, error", [
    ({"attempt": 2}, 409, "quiz_closed"),  # from another try
    ({"item_id": "nope"}, 404, "not_found"),
    ({"assignment_id": "not-a-quiz"}, 404, "not_found"),
    ({"record_id": None}, 400, "bad_request"),
    ({"attempt": "1"}, 400, "bad_request"),
    ({"response": ["a"]}, 400, "bad_response"),
])
def test_quiz_answers_api_refusals_store_nothing(app, school, student, change, status, error):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz")
    post(student, f"/learn/quiz/{quiz.id}/start")
    body = {"assignment_id": quiz.id, "attempt": 1, "pack_id": PACK, "node_id": MIX, "item_id": "s1",
            "response": "b", "record_id": str(uuid.uuid4()), **change}
    response = student.post("/api/v1/quiz-answers", headers={"X-CSRF-Token": csrf_of(student)}, json=body)
    assert response.status_code == status and response.get_json()["error"] == error, response.get_json()
    with app.app_context():
        assert answered() == []


def test_quiz_answers_api_is_documented(client):
    op = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/quiz-answers"]["post"]
    assert {"200", "201", "400", "404", "409", "507"} <= set(op["responses"])
    assert "record_id" in op["requestBody"]["content"]["application/json"]["schema"]["required"]


def test_a_quiz_form_sent_twice_with_its_record_id_is_stored_once(app, school, student):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz")
    post(student, f"/learn/quiz/{quiz.id}/start")
    record_id = str(uuid.uuid4())
    fields = {"answer": "b", "record_id": record_id, **quiz_form(student, quiz.id, 0)}
    assert [post(student, f"/learn/quiz/{quiz.id}/0", fields).status_code for _ in range(2)] == [303, 303]
    with app.app_context():
        assert [r.uuid for r in answered(assignment=quiz.id)] == [record_id]
    # A record id that names another question's answer is refused.
    other = post(student, f"/learn/quiz/{quiz.id}/1", {"answer": ["a"], "record_id": record_id,
                                                       **quiz_form(student, quiz.id, 1)})
    assert other.status_code == 409
    with app.app_context():
        assert len(answered(assignment=quiz.id)) == 1


def test_another_class_quiz_is_not_reachable(app, school, student):
    with app.app_context():
        other = coach.create_assignment(school.other_class, school.other_teacher, "Theirs", [(PACK, MIX, None)],
                                        kind="quiz")
    assert post(student, f"/learn/quiz/{other.id}/start").status_code == 404
    assert student.get(f"/learn/quiz/{other.id}/0").status_code == 404
    assert post(student, f"/learn/quiz/{other.id}/0", {"answer": "b"}).status_code == 404
    with app.app_context():
        assert QuizAttempt.select().count() == 0 and answered() == []


def test_quiz_engine_refuses_a_second_go_started_at_once(app, school):
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz")
    with app.app_context():
        first = quizzes.start(quiz, school.student, "0" * 8 + "-0000-4000-8000-" + "0" * 12)
        again = quizzes.start(quiz, school.student, "0" * 8 + "-0000-4000-8000-" + "0" * 12)
        assert first.id == again.id and QuizAttempt.select().count() == 1


# --- the e-textbook reader -------------------------------------------------------------------------

def test_chapter_is_shown_cleaned_inside_the_page(student):
    page = student.get(f"/library/{BOOK_PACK}/ch1").get_data(as_text=True)
    reader = page[page.index('<article class="reader'):page.index("</article>")]
    assert "Plants need light." in reader
    assert "<script" not in reader and "stolen" not in reader and "onclick" not in reader
    assert "example.org" not in reader and "<iframe" not in reader and "<form" not in reader
    assert "color:red" not in reader
    assert f'src="/content/pack/{BOOK_PACK}/pictures/leaf.svg"' in reader
    assert f'href="/library/{BOOK_PACK}/ch2"' in reader  # the next chapter opens in the reader
    assert 'href="#ch-end"' in reader and 'id="ch-end"' in reader  # links within the chapter still land
    assert student.get(f"/content/pack/{BOOK_PACK}/pictures/leaf.svg").status_code == 200


def test_reading_place_is_remembered_and_the_book_offers_to_continue(app, school, student):
    token = {"X-CSRF-Token": csrf_of(student)}
    student.get(f"/library/{BOOK_PACK}/ch2")
    assert student.post("/learn/reading-position", json={"pack_id": BOOK_PACK, "chapter_id": "ch2",
                                                          "fraction": 0.4}, headers=token).status_code == 204
    page = student.get(f"/library/{BOOK_PACK}/book").get_data(as_text=True)
    assert "Continue reading: Chapter two" in page
    page = student.get(f"/library/{BOOK_PACK}/ch2").get_data(as_text=True)
    assert 'data-position="0.4000"' in page  # the same chapter keeps its place
    student.get(f"/library/{BOOK_PACK}/ch1")
    with app.app_context():
        place = ReadingPosition.get()
        assert (place.chapter_id, place.fraction) == ("ch1", 0.0)
    for _ in range(2):
        student.post("/learn/reading-position", json={"pack_id": BOOK_PACK, "chapter_id": "ch1", "fraction": 0.95},
                     headers=token)
    with app.app_context():
        reads = list(LearningRecord.select().where(LearningRecord.verb == "read"))
        assert [(r.node_id, r.node_kind, r.progress) for r in reads] == [("ch1", "chapter", 1.0)]


@pytest.mark.parametrize("body", [None, [], {"pack_id": BOOK_PACK, "chapter_id": "ch1"},
                                  {"pack_id": BOOK_PACK, "chapter_id": "ch1", "fraction": 1.5},
                                  {"pack_id": BOOK_PACK, "chapter_id": "ch1", "fraction": True},
                                  {"pack_id": 3, "chapter_id": "ch1", "fraction": 0.5}])
def test_bad_reading_positions_are_refused(app, student, body):
    response = student.post("/learn/reading-position", json=body, headers={"X-CSRF-Token": csrf_of(student)})
    assert response.status_code == 400
    with app.app_context():
        assert ReadingPosition.select().where(ReadingPosition.fraction > 0).count() == 0


def test_reading_position_of_something_not_a_chapter_is_not_found(student):
    for chapter in ("book", "nope", MIX):
        response = student.post("/learn/reading-position", json={"pack_id": BOOK_PACK, "chapter_id": chapter,
                                                                  "fraction": 0.5},
                                headers={"X-CSRF-Token": csrf_of(student)})
        assert response.status_code == 404


def test_text_size_and_contrast_are_kept_per_reader(app, school, student):
    here = f"/library/{BOOK_PACK}/ch1"
    assert 'class="reader size-0 contrast-normal"' in student.get(here).get_data(as_text=True)
    for _ in range(5):
        response = post(student, "/library/reader", {"size": "larger", "next": here})
    assert response.status_code == 303 and response.headers["Location"].endswith(here)
    post(student, "/library/reader", {"contrast": "dark", "next": "https://example.org/"})
    assert 'class="reader size-3 contrast-dark"' in student.get(here).get_data(as_text=True)
    post(student, "/library/reader", {"contrast": "purple", "size": "huge"})
    with app.app_context():
        pref = ReaderPreference.get()
        assert (pref.text_size, pref.contrast) == (3, "dark")


def test_my_progress_lists_handed_in_quizzes_and_hides_unreleased_scores(app, school, student):
    quiz = make(app, school, [(PACK, "limited", None)], kind="quiz", results="teacher", title="Yes-no quiz")
    post(student, f"/learn/quiz/{quiz.id}/start")
    post(student, f"/learn/quiz/{quiz.id}/0", {"answer": "y", **quiz_form(student, quiz.id, 0)})
    post(student, f"/learn/quiz/{quiz.id}/submit")
    page = student.get("/learn/progress").get_data(as_text=True)
    assert "Yes-no quiz" in page and "not shown yet" in page and "1 of 1" not in page
    with app.app_context():
        coach.release_results(Assignment.get_by_id(quiz.id))
    page = student.get("/learn/progress").get_data(as_text=True)
    assert "Yes-no quiz" in page and "1 of 1" in page


def test_each_assignment_counts_only_what_came_after_it_was_made(app, school, student):
    early = make(app, school, [(PACK, "intro", None)], title="Early work")
    student.get(f"/library/{PACK}/intro")
    with app.app_context():
        LearningRecord.update(created_at=utcnow() - datetime.timedelta(minutes=1)).execute()
        Assignment.update(created_at=utcnow() - datetime.timedelta(minutes=2)).where(
            Assignment.id == early.id).execute()
    make(app, school, [(PACK, "intro", None)], title="Later work")
    home = student.get("/learn/").get_data(as_text=True)
    early_line = home[home.index("Early work"):home.index("</li>", home.index("Early work"))]
    later_line = home[home.index("Later work"):home.index("</li>", home.index("Later work"))]
    assert "Done" in early_line and "0 of 1 done" in later_line


def many_lessons_source(folder, count):
    """A pack of `count` one-paragraph lessons: more parts than one of the home page's lookups takes."""
    (folder / "lessons").mkdir(parents=True, exist_ok=True)
    nodes = []
    for number in range(count):
        (folder / "lessons" / f"l{number}.html").write_text(
            f"<!doctype html><html lang='en'><title>Lesson {number}</title><p>Lesson {number}.</p></html>")
        nodes.append({"id": f"l{number}", "kind": "lesson", "title": {"en": f"Lesson {number}"},
                      "content": {"en": f"lessons/l{number}.html"}})
    manifest = {
        "format_version": 1, "id": "test.many", "version": "1.0.0", "title": {"en": "Many lessons"},
        "subject": "science", "grades": [5], "languages": ["en"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"}, "nodes": nodes,
    }
    (folder / "pack.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_home_counts_done_parts_of_work_with_hundreds_of_parts(app, school, student, settings, tmp_path):
    """The home page looks up when each part was last done in batches (LOOKUPS_PER_QUERY): SQLite
    refuses a UNION of more than 500 SELECTs."""
    from classroom_server.learn.assignments import LOOKUPS_PER_QUERY
    count = 520  # past SQLite's 500, and more than two batches
    with app.app_context():
        install_signed(many_lessons_source(tmp_path / "src-many", count), settings.data_dir)
    make(app, school, [("test.many", f"l{number}", None) for number in range(count)], title="Read them all")
    assert f"0 of {count} done" in student.get("/learn/").get_data(as_text=True)
    for number in (0, LOOKUPS_PER_QUERY, count - 1):  # one part in each of the first two batches and the last
        assert student.get(f"/library/test.many/l{number}").status_code == 200
    assert f"3 of {count} done" in student.get("/learn/").get_data(as_text=True)
