"""Teachers' reports and exports, checked against records made the way students make them: the
student pages (practice, lessons, quizzes) on the real app and database."""
from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import re
import time
from dataclasses import dataclass

import pytest
from peewee import fn

from classroom_server.accounts import services as accounts
from classroom_server.app import create_app
from classroom_server.coach import reports
from classroom_server.domain.statements import validate_statement
from classroom_server.learn import tutor
from classroom_server.models import Assignment, LearningRecord, QuizAttempt, SyncState, User

from . import assignmentpacks
from .assignmentpacks import make, quiz_form
from .helpers import csrf_of, post, sign_in_as
from .practicepack import ITEMS, MIX, PACK, right_and_wrong

packs = assignmentpacks.packs  # the practice and e-textbook packs installed (a fixture)

KAIRAT_PIN = "1111"


@dataclass
class Scenario:
    kairat: User
    work: Assignment
    quiz: Assignment
    only_kairat: Assignment


def student_client(app, school, user, pin):
    client = app.test_client()
    response = client.post(f"/signin/class/{school.pin_class.id}/student/{user.id}",
                           data={"pin": pin, "csrf_token": csrf_of(client)})
    assert response.status_code == 302
    return client


def answer(client, index: int, right: bool, seconds: int = 20):
    item = ITEMS[index]
    form = right_and_wrong(item)[0 if right else 1]
    shown_at = int(time.time() * 1000) - seconds * 1000
    response = post(client, f"/learn/practice/{PACK}/{MIX}/{item['id']}", {**form, "shown_at": str(shown_at)})
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.fixture
def scenario(app, school, packs) -> Scenario:
    """Aliya opens the lesson, gets every practice question right and hands in the quiz (1 of 6
    right); Kairat answers three questions, mostly wrong, and starts nothing else."""
    with app.app_context():
        kairat = accounts.create_user(None, "Қайрат Әбенов", "student")
        accounts.enrol(kairat, school.pin_class)
        accounts.set_student_secret(kairat, school.pin_class, KAIRAT_PIN)
    work = make(app, school, [(PACK, "intro", None), (PACK, MIX, None)], title="Fractions week")

    aliya = student_client(app, school, school.student, "4321")
    assert aliya.get(f"/library/{PACK}/intro").status_code == 200
    for index in range(len(ITEMS)):
        answer(aliya, index, right=True, seconds=30)
    assert aliya.get(f"/learn/practice/{PACK}/{MIX}/result").status_code == 200
    kid = student_client(app, school, kairat, KAIRAT_PIN)
    for index, right in ((0, False), (0, False), (1, False), (2, True)):
        answer(kid, index, right, seconds=10)

    # Given after the practice: while a quiz is on, its questions cannot be practised (learn/held.py).
    quiz = make(app, school, [(PACK, MIX, None)], kind="quiz", title="Mixed quiz")
    only_kairat = make(app, school, [(PACK, "intro", None)], title="Only Kairat", students=[kairat])
    post(aliya, f"/learn/quiz/{quiz.id}/start")
    for index, right in ((0, True), (1, False)):
        form = right_and_wrong(ITEMS[index])[0 if right else 1]
        response = post(aliya, f"/learn/quiz/{quiz.id}/{index}", {**form, **quiz_form(aliya, quiz.id, index)})
        assert response.status_code == 303
    post(aliya, f"/learn/quiz/{quiz.id}/submit")
    return Scenario(kairat, work, quiz, only_kairat)


def teacher(app, school):
    client = app.test_client()
    sign_in_as(client, school, "teacher")
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def check_svg(html: str) -> None:
    """At least one chart, an image with an accessible name and description."""
    svgs = re.findall(r"<svg\b[^>]*>.*?</svg>", html, re.S)
    assert svgs, "no chart"
    for svg in svgs:
        assert 'role="img"' in svg
        labelled = re.search(r'aria-labelledby="([^"]+)"', svg).group(1).split()
        for element_id in labelled:
            assert re.search(rf'<(title|desc) id="{element_id}">[^<]+</\1>', svg), element_id
        assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org", "")


# --- the class overview ----------------------------------------------------------------------------

def test_class_overview_matches_what_the_students_did(app, school, scenario):
    with app.app_context():
        overview = reports.class_overview(school.pin_class)
        by_title = {r.assignment.title: r for r in overview.assignments}
        work, quiz, only = by_title["Fractions week"], by_title["Mixed quiz"], by_title["Only Kairat"]
        aliya = User.get_by_id(school.student.id)
        assert work.counts == {"not_started": 0, "in_progress": 1, "done": 1}
        assert (work.of(aliya).done, work.of(aliya).total, work.of(aliya).score) == (2, 2, 1.0)
        assert (work.of(scenario.kairat).status, work.of(scenario.kairat).done) == ("in_progress", 0)
        assert work.average == 1.0
        submitted = QuizAttempt.get(QuizAttempt.user == aliya.id)
        assert submitted.score == pytest.approx(1 / 6)
        assert quiz.counts == {"not_started": 1, "in_progress": 0, "done": 1}
        assert quiz.of(aliya).score == pytest.approx(submitted.score) and quiz.average == pytest.approx(1 / 6)
        # targeted work counts only the students it is for
        assert [p.student.id for p in only.progress] == [scenario.kairat.id]
        assert only.counts == {"not_started": 1, "in_progress": 0, "done": 0}
        assert overview.student_summary(aliya) == (2, 2, pytest.approx((1.0 + 1 / 6) / 2))

    html = teacher(app, school).get(f"/coach/class/{school.pin_class.id}/report").get_data(as_text=True)
    check_svg(html)
    page = text_of(html)
    assert "Fractions week: 1 done, 1 in progress, 0 not started" in html  # the chart's description
    assert re.search(r"Fractions week .*? 1 1 0 100%", page)
    assert re.search(r"Mixed quiz Quiz .*? 1 0 1 17%", page)
    assert "Әлия Нұрланқызы" in html and "Қайрат Әбенов" in html
    assert f"/coach/class/{school.pin_class.id}/student/{scenario.kairat.id}/report" in html


def test_printable_pages_have_the_report_and_print_styles(app, school, scenario):
    client = teacher(app, school)
    html = client.get(f"/coach/class/{school.pin_class.id}/report/print").get_data(as_text=True)
    check_svg(html)
    assert "Fractions week" in html and "report-actions" in html
    html = client.get(f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report/print") \
        .get_data(as_text=True)
    assert "Әлия Нұрланқызы: report" in html
    css = client.get("/static/style.css").get_data(as_text=True)
    prints = " ".join(re.findall(r"@media print\s*{(.*?)}\s*}", css, re.S))
    assert ".report-actions" in prints and "nav" in prints


# --- one student -----------------------------------------------------------------------------------

def test_student_report_timeline_scores_time_and_skills(app, school, scenario):
    client = teacher(app, school)
    with app.app_context():
        aliya_ms = LearningRecord.select(fn.SUM(LearningRecord.duration_ms)).where(
            LearningRecord.user == school.student.id).scalar()
        records = LearningRecord.select().where(LearningRecord.user == school.student.id).count()
        from zoneinfo import ZoneInfo
        report = reports.student_report(school.pin_class, User.get_by_id(school.student.id), ZoneInfo("Asia/Almaty"))
    assert report.records == records and report.seconds_total == aliya_ms // 1000
    assert report.shown == records and len(report.days) == 1
    [exercise] = report.exercises
    assert (exercise.items, exercise.right, exercise.answers, exercise.last_score) == (6, 6, 6, 1.0)
    [quiz] = report.quizzes
    assert (quiz.tries, quiz.handed_in, quiz.best) == (1, 1, pytest.approx(1 / 6))
    [skill] = report.skills
    with app.app_context():
        # One figure per skill: the student's report gives the heatmap's number for the same student.
        heatmap = tutor.class_mastery([User.get_by_id(school.student.id)]).rows[0][1]["x"]
    assert (skill.tag, skill.answers, skill.percent, skill.state) == ("x", heatmap.answers, heatmap.percent,
                                                                       "mastered")

    html = client.get(f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report").get_data(as_text=True)
    page = text_of(html)
    assert "Әлия Нұрланқызы: report" in html
    assert "Mastery is the tutor's estimate" in page and "same figure" in page
    assert re.search(rf"Mastered \(1\) x · {heatmap.percent}%", page)
    mastery = client.get(f"/coach/class/{school.pin_class.id}/mastery").get_data(as_text=True)
    assert "Mastery is the tutor's estimate" in text_of(mastery) and f"{heatmap.percent}%</td>" in mastery
    assert re.search(r"For assigned work .* All six kinds · Fractions week 6 of 6 6 of 6 \(100%\) 100%", page)
    assert re.search(r"Mixed quiz 1 17%", page)
    assert "Handed in the quiz" in page and "Finished the exercise" in page and "Opened" in page

    kid = client.get(f"/coach/class/{school.pin_class.id}/student/{scenario.kairat.id}/report").get_data(as_text=True)
    with app.app_context():
        weak = tutor.class_mastery([scenario.kairat]).rows[0][1]["x"]
    assert 40 <= weak.percent < 70 and f"x {weak.percent}% {weak.answers} learning" in text_of(kid)
    assert "Needs practice (0) —" in text_of(kid)
    assert "No quiz started yet." in kid


def test_student_activity_reads_as_a_teacher_thinks(app, school, scenario):
    """Questions by their text, one "Opened" per visit however often the page is reloaded (a text
    size tap reloads it), and each answer marked as practice, assigned work or a quiz."""
    aliya = student_client(app, school, school.student, "4321")
    assert aliya.get(f"/library/{PACK}/intro").status_code == 200
    for size in ("larger", "larger", "smaller"):
        assert post(aliya, "/library/reader", {"size": size, "next": f"/library/{PACK}/intro"}).status_code == 303
        assert aliya.get(f"/library/{PACK}/intro").status_code == 200
    client = teacher(app, school)
    report_url = f"/coach/class/{school.pin_class.id}/student/{school.student.id}/report"
    before = text_of(client.get(report_url).get_data(as_text=True))
    assert re.search(r"Answered All six kinds: Which colour is the sky\? Answer: \w+ Assigned: Fractions week right",
                     before), before
    with app.app_context():
        opened = LearningRecord.select().where(LearningRecord.user == school.student.id,
                                               LearningRecord.verb == "opened", LearningRecord.node_id == "intro")
        assert opened.count() == 5  # the records stay as they were made: one per page load
        Assignment.delete().where(Assignment.id == scenario.work.id).execute()  # practice from now on
    answer(aliya, 0, right=False)
    page = text_of(client.get(report_url).get_data(as_text=True))
    # The scenario's visit and this one: two visits, two "Opened" rows (not five).
    assert len(re.findall(r"Opened Intro", page)) == 2
    assert re.search(r"Answered All six kinds: Which colour is the sky\? Answer: \w+ Practice wrong", page)
    assert re.search(r"Answered All six kinds: Which are even\? Answer: [\w, ]+ Quiz: Mixed quiz wrong", page)
    assert "question s1" not in page and "question m1" not in page
    assert "Own practice" in page


# --- item analysis ---------------------------------------------------------------------------------

def test_item_analysis_lists_most_missed_questions_with_the_wrong_answers(app, school, scenario):
    with app.app_context():
        items, answered = reports.item_analysis(school.pin_class, "en")
    assert answered == 6  # every question of the exercise was answered by someone
    assert [(i.item_id, i.answers, i.wrong) for i in items] == [("m1", 3, 2), ("s1", 4, 2)]
    assert items[0].wrong_responses == [("two, three", 2)]
    assert items[1].wrong_responses == [("Green", 2)] and items[1].prompt == "Which colour is the sky?"

    html = teacher(app, school).get(f"/coach/class/{school.pin_class.id}/items").get_data(as_text=True)
    page = text_of(html)
    assert re.search(r"Which are even\? .*? 3 2 67% two, three \(2 times\)", page)
    assert re.search(r"Which colour is the sky\? .*? 4 2 50% Green \(2 times\)", page)
    assert page.index("Which are even?") < page.index("Which colour is the sky?")
    russian = teacher(app, school)
    russian.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    assert "Какой цвет?" in russian.get(f"/coach/class/{school.pin_class.id}/items").get_data(as_text=True)
    # a period with nothing in it
    with app.app_context():
        LearningRecord.update(occurred_at=datetime.datetime(2020, 1, 1)).execute()
    html = teacher(app, school).get(f"/coach/class/{school.pin_class.id}/items?days=7").get_data(as_text=True)
    assert "No answers in this period yet." in html


# --- engagement ------------------------------------------------------------------------------------

def test_engagement_counts_active_students_and_time_on_task(app, school, scenario):
    with app.app_context():
        total_ms = LearningRecord.select(fn.SUM(LearningRecord.duration_ms)).scalar()
        from zoneinfo import ZoneInfo
        found = reports.engagement(school.pin_class, ZoneInfo("Asia/Almaty"))
    today = found.days[-1]
    assert len(found.days) == 30 and today.active == 2 and found.student_count == 2
    assert sum(d.active for d in found.days[:-1]) == 0
    assert today.seconds == total_ms // 1000 and 5 * 60 >= today.seconds >= 3 * 60
    by_name = {s.student.display_name: s for s in found.students}
    assert by_name["Қайрат Әбенов"].records == 4 and by_name["Қайрат Әбенов"].active_days == 1

    html = teacher(app, school).get(f"/coach/class/{school.pin_class.id}/engagement").get_data(as_text=True)
    check_svg(html)
    assert html.count('role="img"') == 2
    assert re.search(r"2 of 2 \d+ min", text_of(html))


# --- exports ---------------------------------------------------------------------------------------

def test_gradebook_csv_opens_in_spreadsheets_with_kazakh_names(app, school, scenario):
    with app.app_context():
        prankster = accounts.create_user(None, "=HYPERLINK(\"x\")", "student")
        accounts.enrol(prankster, school.pin_class)
    client = teacher(app, school)
    response = client.get(f"/coach/class/{school.pin_class.id}/gradebook.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") == 4 and b"\n" not in body.replace(b"\r\n", b"")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"gradebook-class-")
    assert disposition.encode("ascii")  # header values stay ASCII
    assert "filename*=UTF-8''gradebook-5%D0%90-" in disposition
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["Student", "Fractions week", "Mixed quiz (quiz, %)", "Only Kairat"]
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name == {"Әлия Нұрланқызы": ["2 of 2", "17", "not assigned"],
                       "Қайрат Әбенов": ["0 of 2", "not handed in", "0 of 1"],
                       "'=HYPERLINK(\"x\")": ["0 of 2", "not handed in", "not assigned"]}
    comma = client.get(f"/coach/class/{school.pin_class.id}/gradebook.csv?sep=comma").data
    assert next(csv.reader(io.StringIO(comma.decode("utf-8-sig")))) == rows[0]


def test_records_export_is_valid_xapi_for_this_class_only(app, school, scenario):
    with app.app_context():
        other = accounts.create_user(None, "Other kid", "student")  # records of another class stay out
        accounts.enrol(other, school.other_class)
        from classroom_server.learn.records import Interaction, new_device_id, record
        record(other, new_device_id(), Interaction(verb="opened", pack_id=PACK, node_id="intro", node_kind="lesson",
                                                   language="en"))
        mine = {r.uuid for r in LearningRecord.select().where(LearningRecord.user != other.id)}
    response = teacher(app, school).get(f"/coach/class/{school.pin_class.id}/records.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.get_data(as_text=True))
    statements = document["statements"]
    assert {s["id"] for s in statements} == mine and document["more"] == ""
    for statement in statements:
        assert validate_statement(statement) == [], statement
    verbs = {s["verb"]["display"]["en-US"] for s in statements}
    assert {"launched", "answered", "completed", "submitted"} <= verbs
    registrations = {s["context"].get("registration") for s in statements}
    assert scenario.quiz.id in registrations
    # not enrolled with a national platform yet, no [sync] platform_iri: a name that never resolves
    assert statements[0]["actor"]["account"]["homePage"] == "http://classroom-server.invalid/schools/local"


def carry_session(client, app, host: str) -> None:
    """The browser's session cookie, as it would send it to the server reached by another name."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name, domain="localhost")
    client.set_cookie(name, cookie.value, domain=host.split(":")[0])


def test_records_export_does_not_depend_on_the_address_a_browser_used(app, school, scenario):
    """The same record is the same statement whichever name or address reached the server."""
    client = teacher(app, school)
    url = f"/coach/class/{school.pin_class.id}/records.json"
    answers = []
    for host in ("school.local:8080", "192.168.1.10", "evil.example"):
        carry_session(client, app, host)
        response = client.get(url, headers={"Host": host})
        assert response.status_code == 200 and response.request.host == host
        answers.append(response.get_data(as_text=True))
    assert answers[0] == answers[1] == answers[2] and json.loads(answers[0])["statements"]
    assert "evil.example" not in answers[2] and "192.168" not in answers[1]
    configured = create_app(dataclasses.replace(app.config["CLASSROOM_SETTINGS"],
                                                sync_platform_iri="http://school.local:8080"))
    configured.test_client_class = type(client)
    other = configured.test_client()
    sign_in_as(other, school, "teacher")
    carry_session(other, configured, "10.0.0.7")
    statements = json.loads(other.get(url, headers={"Host": "10.0.0.7"}).get_data(as_text=True))["statements"]
    assert {s["actor"]["account"]["homePage"] for s in statements} == {"http://school.local:8080/schools/local"}
    with app.app_context():  # once enrolled: what the sync agent sends, the hub's address and the school's id
        SyncState.insert(id=1, hub_url="https://hub.example.kz", school_id="sch-abc234").on_conflict_replace().execute()
    statements = json.loads(other.get(url, headers={"Host": "10.0.0.7"}).get_data(as_text=True))["statements"]
    assert {s["actor"]["account"]["homePage"] for s in statements} == {"https://hub.example.kz/schools/sch-abc234"}


def test_statements_are_read_in_batches(app, school, scenario):
    with app.app_context():
        whole = list(reports.statements(school.pin_class, "s1", "https://platform.example.kz"))
        small = list(reports.statements(school.pin_class, "s1", "https://platform.example.kz", batch=3))
    assert [s["id"] for s in small] == [s["id"] for s in whole] and len(whole) > 6


# --- who may see what ------------------------------------------------------------------------------

def report_urls(class_id: int, student_id: int) -> list[str]:
    base = f"/coach/class/{class_id}"
    return [f"{base}/report", f"{base}/report/print", f"{base}/student/{student_id}/report",
            f"{base}/student/{student_id}/report/print", f"{base}/items", f"{base}/engagement",
            f"{base}/gradebook.csv", f"{base}/records.json"]


def test_only_the_class_teacher_and_admins_see_reports(app, school):
    urls = report_urls(school.pin_class.id, school.student.id)
    for role, expected in ((None, 302), ("student", 403), ("teacher", 200), ("admin", 200)):
        client = app.test_client()
        sign_in_as(client, school, role)
        for url in urls:
            response = client.get(url)
            assert response.status_code == expected, (role, url, response.status_code)
            if role is None:
                assert "/signin" in response.headers["Location"]
    other = app.test_client()
    response = other.post("/signin/staff", data={"username": "other", "password": "correct-horse-42",
                                                 "csrf_token": csrf_of(other)})
    assert response.status_code == 302
    for url in urls:
        assert other.get(url).status_code == 403, url
    # a student of another class is no student of this one
    client = teacher(app, school)
    assert client.get(f"/coach/class/{school.pin_class.id}/student/{school.other_student.id}/report").status_code == 404
    assert client.get("/coach/class/9999/report").status_code == 404


def test_empty_class_reports_render(app, school):
    client = teacher(app, school)
    for url in report_urls(school.picture_class.id, school.picture_student.id):
        assert client.get(url).status_code == 200, url
    html = client.get(f"/coach/class/{school.picture_class.id}/report").get_data(as_text=True)
    assert "This class has no assignments yet." in html


def test_the_class_page_links_to_the_reports(app, school):
    html = teacher(app, school).get(f"/coach/class/{school.pin_class.id}").get_data(as_text=True)
    for url in report_urls(school.pin_class.id, 0):
        if "/student/" not in url:
            assert f'href="{url}"' in html, url


def test_overview_names_the_students_of_the_latest_work_unless_asked_for_all(app, school, packs):
    for number in range(12):
        make(app, school, [(PACK, "intro", None)], title=f"Homework {number}")
    client = teacher(app, school)
    html = client.get(f"/coach/class/{school.pin_class.id}/report").get_data(as_text=True)
    assert "The latest 10 assignments." in html and 'id="who-10"' in html and 'id="who-11"' not in html
    assert f"/coach/class/{school.pin_class.id}/report?all=1" in html
    assert re.search(r"Homework 0 .*? 0 0 1 —", text_of(html))  # the table still lists every one
    html = client.get(f"/coach/class/{school.pin_class.id}/report?all=1").get_data(as_text=True)
    assert 'id="who-12"' in html and "The latest 10 assignments." not in html
