"""Adaptive practice: the tutor service, the student's Practice pages, the teacher's mastery page, the
nightly fit, and odd data (no skills, unknown skills, contradictions, thousands of answers)."""
from __future__ import annotations

import datetime
import json
import re
import time
import uuid

import pytest

from classroom_server.db import database
from classroom_server.learn import records, tutor
from classroom_server.models import AdaptiveParams, LearningRecord, PracticeDecision, User

from .helpers import post, sign_in_as
from .packs import install_signed
from .tutorpack import ADD, BOTH, COMPARE, PACK, UNTAGGED, install_tutor_pack, single_item
from .tutorpack import tutor_pack  # noqa: F401  (fixtures)

# Titles for two of the tags (pack.json `skills`); fractions.add only in English, misc.placeholder none.
TITLES = {"fractions.compare": {"kk": "Бөлшектерді салыстыру", "ru": "Сравнение дробей", "en": "Comparing fractions"},
          "fractions.add": {"en": "Adding fractions"}}


@pytest.fixture
def titled_pack(app, settings, tmp_path):
    """The tutor pack with TITLES for its skill tags."""
    install_tutor_pack(app, settings, tmp_path, TITLES)


ITEMS = {item["id"]: item for item in COMPARE + ADD + BOTH + UNTAGGED}
NODE_OF = {**{i["id"]: "ex.compare" for i in COMPARE + BOTH}, **{i["id"]: "ex.add" for i in ADD},
           **{i["id"]: "misc" for i in UNTAGGED}}


def write_answers(user, answers, start=None):
    """Store answers (item id, right?) as real learning records, one transaction."""
    device = records.new_device_id()
    when = start or datetime.datetime(2026, 10, 1, 9, 0)
    with database.atomic():
        for index, (item_id, right) in enumerate(answers):
            records.record(user, device, records.Interaction(
                verb="answered", pack_id=PACK, node_id=NODE_OF[item_id], node_kind="exercise", language="en",
                item_id=item_id, correct=right, score=1.0 if right else 0.0, attempt=1),
                occurred_at=when + datetime.timedelta(seconds=30 * index))


def served_item(html: str) -> str:
    return re.search(r'/learn/adaptive/answer/[^/]+/[^/]+/([^"]+)"', html).group(1)


def answer_form(client, html: str, choice: str):
    action = re.search(r'action="(/learn/adaptive/answer/[^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    fields.pop("csrf_token", None)
    return post(client, action, {**fields, "answer": choice})


# --- the service ---------------------------------------------------------------------------------

def test_a_new_student_gets_a_first_item_with_a_reason_and_the_decision_is_recorded(app, school, tutor_pack):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        choice = tutor.recommend(school.student, tutor.topic_scope(PACK, "fractions"))
        assert choice is not None and choice.params_version is None
        # The curriculum's first skill, its easiest item, aimed at a likely right answer.
        assert choice.candidate.item_id == "c0" and choice.decision.kind == "new"
        assert 0.3 < choice.decision.p < 0.95
        assert tutor.reason_text(choice.decision.reason.msgid, choice.decision.reason.params) \
            == "fractions.compare not practised yet"
        assert choice.why == "fractions.compare not practised yet"  # no title in the pack: the tag
        row = PracticeDecision.get_by_id(choice.decision_id)
        assert (row.user_id, row.pack_id, row.node_id, row.item_id, row.kind) == \
            (school.student.id, PACK, "ex.compare", "c0", "new")
        assert row.p == pytest.approx(choice.decision.p, abs=1e-4)
        assert row.reason == "%(skill)s not practised yet"
        assert json.loads(row.reason_params) == {"skill": "fractions.compare"}
        assert row.scope == f"topic:{PACK}/fractions" and row.skill == "fractions.compare"


def test_wrong_answers_make_a_checkable_reason_and_needs_help(app, school, tutor_pack):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        write_answers(school.student, [("c0", True), ("c1", False), ("c2", False), ("c3", False), ("c4", False)])
        found = tutor.class_mastery([school.student])
        assert found.skills == ["fractions.compare"]
        [(student, cells)] = found.rows
        assert cells["fractions.compare"].answers == 5 and cells["fractions.compare"].percent < 50
        [help_row] = found.help
        assert help_row.skill == "fractions.compare"
        assert tutor.reason_text(help_row.reason.msgid, help_row.reason.params) == \
            "4 of the last 4 fractions.compare items wrong"
    with app.test_request_context(headers={"Accept-Language": "ru"}):  # translated, numbers kept
        text = tutor.reason_text(help_row.reason.msgid, help_row.reason.params)
        assert "fractions.compare" in text and "4" in text and "items wrong" not in text


def test_a_remembered_state_is_replayed_again_after_a_new_answer(app, school, tutor_pack):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        write_answers(school.student, [("c0", False), ("c1", False)])
        first = tutor.class_mastery([school.student]).rows[0][1]["fractions.compare"]
        again = tutor.class_mastery([school.student]).rows[0][1]["fractions.compare"]
        assert (again.answers, again.percent) == (first.answers, first.percent)  # remembered, the same
        write_answers(school.student, [("c2", True), ("c3", True), ("c4", True)])
        after = tutor.class_mastery([school.student]).rows[0][1]["fractions.compare"]
        assert after.answers == first.answers + 3 and after.percent > first.percent


def test_a_student_with_thousands_of_answers_is_fast_and_bounded(app, school, tutor_pack):
    with app.test_request_context():
        # 3,000 answers: first all wrong, then the latest 200 all right: the latest ones decide.
        answers = [(f"c{i % 5}", False) for i in range(2800)] + [(f"c{i % 5}", True) for i in range(200)]
        write_answers(school.student, answers)
        lib = tutor.library()
        _, model = tutor.current_model()
        started = time.perf_counter()
        progress = tutor.student_progress(school.student.id, lib, model)
        elapsed = time.perf_counter() - started
        state = progress.state
        assert state.skills["fractions.compare"].answers == tutor.PER_SKILL
        assert state.skills["fractions.compare"].p > 0.9
        choice = tutor.recommend(school.student, "skill:fractions.compare")
        assert choice is not None
    print(f"state of a student with 3000 answers: {elapsed * 1000:.1f} ms")


def test_odd_data_never_makes_an_error_page(app, school, tutor_pack, client):
    with app.test_request_context():
        # Contradictions: the same item right and wrong in turn; answers to items no longer installed.
        write_answers(school.student, [("c0", i % 2 == 0) for i in range(40)] + [("loose1", True)])
        LearningRecord.insert(
            uuid=str(uuid.uuid4()), device=LearningRecord.select().first().device_id, device_sequence=999,
            occurred_at=datetime.datetime(2026, 10, 2), user=school.student.id, learner="x", verb="answered",
            pack_id="gone.pack", node_id="gone", node_kind="exercise", item_id="q", language="en",
            correct=True).execute()
        AdaptiveParams.create(records=1, params="not json", fit_seconds=0)  # a damaged fit: the defaults
    sign_in_as(client, school, "student")
    assert client.get("/learn/adaptive/").status_code == 200
    # Items without skills are practised in their own topic.
    page = client.get(f"/learn/adaptive/topic/{PACK}/misc")
    assert page.status_code == 200 and served_item(page.get_data(as_text=True)) in ("loose1", "loose2")
    assert "This item has no skill tag" in page.get_data(as_text=True)
    # A skill or topic with no items: a page that says so, with a way back.
    for url in ("/learn/adaptive/skill/no.such.skill", f"/learn/adaptive/topic/{PACK}/nothing",
                "/learn/adaptive/topic/none/none"):
        response = client.get(url)
        assert response.status_code == 404 and "no exercises for this" in response.get_data(as_text=True)
    assert client.get("/learn/adaptive/skill/fractions.compare").status_code == 200
    # A forged scope is refused plainly.
    response = post(client, f"/learn/adaptive/answer/{PACK}/ex.compare/c0", {"scope": "nonsense", "answer": "a"})
    assert response.status_code == 400


def test_no_installed_content_at_all(client, school):
    sign_in_as(client, school, "student")
    page = client.get("/learn/adaptive/")
    assert page.status_code == 200 and "no exercises in the library yet" in page.get_data(as_text=True)


# --- the pages -----------------------------------------------------------------------------------

def test_student_practises_a_skill_through_the_pages(app, school, tutor_pack, client):
    sign_in_as(client, school, "student")
    home = client.get("/learn/").get_data(as_text=True)
    assert "/learn/adaptive/" in home
    listing = client.get("/learn/adaptive/").get_data(as_text=True)
    assert "Fractions" in listing and "fractions.compare: not practised yet" in listing
    assert 'href="/learn/adaptive/skill/fractions.add"' in listing

    page = client.get("/learn/adaptive/skill/fractions.compare").get_data(as_text=True)
    item_id = served_item(page)
    assert "Why this question:" in page and "SECRET" not in page  # no answer or explanation before answering
    response = answer_form(client, page, "a")  # every item's answer is "a"
    feedback = response.get_data(as_text=True)
    assert response.status_code == 200 and "Right!" in feedback and f"SECRET-{item_id}" in feedback
    assert 'href="/learn/adaptive/skill/fractions.compare"' in feedback  # Next asks the tutor again
    # ... and sits right under the feedback, above the mastery bars
    assert re.search(r'</section>\s*<nav aria-label="What next" class="actions">\s*'
                     r'<a class="button" href="/learn/adaptive/skill/fractions.compare">Next</a>', feedback)
    assert feedback.index(">Next</a>") < feedback.index("How well you know it")
    first = int(re.search(r"fractions.compare: (\d+)% mastered", feedback).group(1))
    with app.app_context():
        row = LearningRecord.select().where(LearningRecord.verb == "answered").get()
        assert (row.item_id, row.correct, row.assignment) == (item_id, True, None)

    # The same form sent again stores nothing new.
    again = answer_form(client, page, "a")
    assert "already sent" in again.get_data(as_text=True)
    for _round in range(3):
        page = client.get("/learn/adaptive/skill/fractions.compare").get_data(as_text=True)
        feedback = answer_form(client, page, "a").get_data(as_text=True)
    later = int(re.search(r"fractions.compare: (\d+)% mastered", feedback).group(1))
    assert later > first
    with app.app_context():
        assert LearningRecord.select().where(LearningRecord.verb == "answered").count() == 4
        assert PracticeDecision.select().count() == 4
    # A wrong answer lowers it.
    page = client.get("/learn/adaptive/skill/fractions.compare").get_data(as_text=True)
    feedback = answer_form(client, page, "b").get_data(as_text=True)
    assert "Not right yet" in feedback
    assert int(re.search(r"fractions.compare: (\d+)% mastered", feedback).group(1)) < later


def test_a_scope_with_two_items_ends_with_done_them_all_and_what_next(app, school, tutor_pack, client):
    sign_in_as(client, school, "student")
    served = []
    for _ in range(2):
        page = client.get("/learn/adaptive/topic/test.tutor/misc").get_data(as_text=True)
        served.append(served_item(page))
        answer_form(client, page, "a")
    assert sorted(served) == ["loose1", "loose2"]
    # Not loose1, loose2, loose1, ... for ever: both were just answered.
    for _ in range(2):
        done = client.get("/learn/adaptive/topic/test.tutor/misc")
        html = done.get_data(as_text=True)
        assert done.status_code == 200 and "You have done them all" in html and "/learn/adaptive/answer/" not in html
        assert "What next" in html and 'href="/learn/adaptive/skill/fractions.compare"' in html
        assert 'href="/learn/adaptive/skill/fractions.add"' in html
    with app.app_context():
        assert PracticeDecision.select().count() == 2  # no decision stored for "done"


def grade_pack(folder, grade: int):
    """A one-exercise pack for another grade (its own topic)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": 1, "id": f"test.grade{grade}", "version": "1.0.0", "title": {"en": f"Grade {grade} pack"},
        "subject": "physics", "grades": [grade], "languages": ["en"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [{"id": "optics", "kind": "topic", "title": {"en": f"Optics {grade}"}, "children": [
            {"id": "lenses", "kind": "exercise", "title": {"en": "Lenses"},
             "items": [single_item("lens1", ["optics.lens"]), single_item("lens2", ["optics.lens"])]}]}],
    }
    (folder / "pack.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_practice_opens_on_the_students_grade_and_what_was_assigned(app, school, tutor_pack, client, settings,
                                                                      tmp_path):
    from classroom_server.coach import services as coach
    with app.app_context():
        install_signed(grade_pack(tmp_path / "g9", 9), settings.data_dir)
    sign_in_as(client, school, "student")  # in 5А, grade 5
    page = client.get("/learn/adaptive/").get_data(as_text=True)
    assert "For your class" in page and "Fractions" in page and "Optics 9" not in page
    assert "Assigned by your teacher" not in page
    assert "Show 1 more topic, for other grades" in page
    every = client.get("/learn/adaptive/?all=1").get_data(as_text=True)
    assert "Every topic" in every and "Optics 9" in every and "Fractions" in every
    with app.app_context():
        coach.create_assignment(school.pin_class, school.teacher, "Lenses for the keen", [("test.grade9", "lenses", None)])
    page = client.get("/learn/adaptive/").get_data(as_text=True)
    assigned = page[page.index("Assigned by your teacher"):page.index("For your class")]
    assert "Optics 9" in assigned and "Fractions" not in assigned
    assert "more topic" not in page


def test_teacher_sees_the_heatmap_and_who_needs_help(app, school, tutor_pack, client):
    with app.app_context():
        write_answers(school.student, [("a0", False), ("a1", False), ("a2", True), ("a3", False), ("a0", False)])
    sign_in_as(client, school, "teacher")
    assert f"/coach/class/{school.pin_class.id}/mastery" in \
        client.get(f"/coach/class/{school.pin_class.id}").get_data(as_text=True)
    page = client.get(f"/coach/class/{school.pin_class.id}/mastery")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Әлия Нұрланқызы" in html and "fractions.add" in html
    assert "3 of the last 4 fractions.add items wrong" in html
    assert '<th scope="col" class="skill-col"><span>fractions.add</span></th>' in html  # no title: the tag, once
    assert 'class="skill-tag"' not in html
    assert re.search(r"\d+%</td>", html)
    # Another teacher's class: refused.
    assert client.get(f"/coach/class/{school.other_class.id}/mastery").status_code == 403
    # A student cannot open it.
    student = app.test_client()
    sign_in_as(student, school, "student")
    assert student.get(f"/coach/class/{school.pin_class.id}/mastery").status_code == 403


# --- skill titles (pack.json `skills`) ---------------------------------------------------------------

def test_reasons_name_the_skill_by_its_title_and_the_decision_keeps_the_tag(app, school, titled_pack):
    for language, expected in (("en", "Comparing fractions not practised yet"),
                               ("ru", "Сравнение дробей"), ("kk", "Бөлшектерді салыстыру")):
        with app.test_request_context(headers={"Accept-Language": language}):
            choice = tutor.recommend(school.student, "skill:fractions.compare")
            assert expected in choice.why and "fractions.compare" not in choice.why
            row = PracticeDecision.get_by_id(choice.decision_id)
            assert row.skill == "fractions.compare" and json.loads(row.reason_params) == {"skill": "fractions.compare"}
            # A tag without a title, or one the reader's language lacks: the tag, or the language there is.
            lib = tutor.library()
            assert lib.skill_name("fractions.add") == "Adding fractions"
            assert lib.skill_name("misc.placeholder") == "misc.placeholder"
    assert tutor.reason_text("%(skill)s not practised yet", {"skill": "x.y"}, {"other": "Other"}) == \
        "x.y not practised yet"


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_student_pages_show_skill_titles(app, school, titled_pack, client, language):
    title = TITLES["fractions.compare"][language]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    sign_in_as(client, school, "student")
    listing = client.get("/learn/adaptive/").get_data(as_text=True)
    assert f'<span class="mastery-text">{title}: ' in listing and "Adding fractions: " in listing
    assert "fractions.compare:" not in listing and "fractions.add:" not in listing
    assert 'href="/learn/adaptive/skill/fractions.compare"' in listing  # links keep the tag
    assert 'data-skill="fractions.compare"' in listing

    page = client.get("/learn/adaptive/skill/fractions.compare").get_data(as_text=True)
    why = re.search(r'<p class="help why">(.*?)</p>', page, re.S).group(1)
    assert title in why and "fractions.compare" not in why
    assert re.search(rf"<h1>[^<]*{title}</h1>", page)
    feedback = answer_form(client, page, "a").get_data(as_text=True)
    assert re.search(rf'<span class="mastery-text">{title}: ', feedback)


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_teacher_heatmap_shows_skill_titles_never_their_tags(app, school, titled_pack, client, language):
    title = TITLES["fractions.compare"][language]
    with app.app_context():
        write_answers(school.student, [("c0", False), ("c1", False), ("c2", False), ("c3", False), ("a0", True)])
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    sign_in_as(client, school, "teacher")
    html = client.get(f"/coach/class/{school.pin_class.id}/mastery").get_data(as_text=True)
    assert f'<th scope="col" class="skill-col"><span>{title}</span></th>' in html
    assert '<th scope="col" class="skill-col"><span>Adding fractions</span></th>' in html
    reason = re.search(r'<span class="reason">(.*?)</span>', html, re.S).group(1)
    assert title in reason and "fractions.compare" not in reason and "4" in reason
    assert re.search(rf'<span>{title}, ', html)
    assert "fractions.compare" not in html and "fractions.add" not in html  # never the raw code


def test_teacher_student_report_and_quiz_picker_name_skills_by_their_titles(app, school, titled_pack, client):
    with app.app_context():
        write_answers(school.student, [("c0", True), ("c1", False)])
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    sign_in_as(client, school, "teacher")
    room = school.pin_class.id
    report = client.get(f"/coach/class/{room}/student/{school.student.id}/report").get_data(as_text=True)
    assert '<th scope="row">Сравнение дробей</th>' in report and "fractions.compare" not in report
    picker = client.get(f"/coach/class/{room}/assign?kind=quiz").get_data(as_text=True)
    assert '<option value="fractions.compare" >Сравнение дробей</option>' in picker
    # A title only in English: shown in English rather than as the tag.
    assert '<option value="fractions.add" >Adding fractions</option>' in picker
    assert ">fractions.compare<" not in picker and "(fractions.compare)" not in picker


# --- the nightly fit -----------------------------------------------------------------------------

def test_fit_job_stores_params_and_the_next_recommendation_uses_them(app, school, tutor_pack):
    with app.test_request_context():
        others = []
        for n in range(6):
            user = User.create(display_name=f"S{n}", role="student")
            others.append(user)
            # c3 is always wrong, c0 always right: the fit learns their difficulty.
            write_answers(user, [("c0", True), ("c3", False), ("c1", n % 2 == 0), ("c3", False), ("a0", True)] * 3)
        result = tutor.fit_job()
        assert result.records == 90 and result.students == 6 and result.version >= 1
        row = AdaptiveParams.get_by_id(result.version)
        params = json.loads(row.params)
        assert params["items"][f"{PACK}/ex.compare/c3"]["difficulty"] > params["items"][f"{PACK}/ex.compare/c0"]["difficulty"]
        assert row.records == 90 and row.fit_seconds >= 0
        choice = tutor.recommend(school.student, "skill:fractions.compare")
        assert choice.params_version == result.version
        assert PracticeDecision.get_by_id(choice.decision_id).params_version == result.version
        # A second fit starts from the first and becomes the one in use.
        second = tutor.fit_job()
        assert second.version > result.version and tutor.current_model()[0] == second.version


def test_cli_fit_and_status(app, school, tutor_pack, settings):
    from classroom_server.cli import main
    runner = app.test_cli_runner()
    args = ["--data-dir", str(settings.data_dir), "adaptive"]
    status = runner.invoke(main, args + ["status"], catch_exceptions=False)
    assert "no fit yet" in status.output
    with app.app_context():
        write_answers(school.student, [("c0", True), ("c1", False)])
    fitted = runner.invoke(main, args + ["fit"], catch_exceptions=False)
    assert fitted.exit_code == 0 and "2 answers of 1 students" in fitted.output
    status = runner.invoke(main, args + ["status"], catch_exceptions=False)
    assert re.search(r"fit \d+ at .*: 2 answers", status.output)


def test_the_agent_registers_the_nightly_fit(settings):
    from sync.agent.jobs import ADAPTIVE_FIT_JOB, daily_trigger
    assert ADAPTIVE_FIT_JOB == "adaptive-fit"
    trigger = daily_trigger(settings.adaptive_fit_time, settings)
    assert settings.adaptive_fit_time == "03:30" and "hour='3'" in str(trigger) and "minute='30'" in str(trigger)
    assert daily_trigger("off", settings) is None
