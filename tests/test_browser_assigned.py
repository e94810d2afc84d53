"""Real Chromium: a student's assigned work end to end. Open the assigned lesson, read a chapter and
come back to the same place, change the reader's text size and contrast, answer every item type
right and wrong, answer every item type offline and see each stored exactly once, take a timed
quiz; axe-core on every page met on the way."""
from __future__ import annotations

import datetime
import json
import re

import pytest

from classroom_server.coach import services as coach
from classroom_server.models import LearningRecord, QuizAttempt, ReadingPosition, utcnow

from .browsertesting import (PHONE, STUDENT, assert_no_horizontal_scroll, axe_report, expect, fill, go_offline,
                             queued_answers, sign_in_student_pin, wait_for_service_worker, wait_until_kept,
                             wait_until_sent)
from .browsertesting import browser, new_page, practice_pack  # noqa: F401  (fixtures)
from .packs import install_signed
from .practicepack import ITEMS, MIX, PACK, right_and_wrong

pytestmark = pytest.mark.browser

BOOK = "test.longbook"


def long_book_source(folder):
    folder.mkdir(parents=True, exist_ok=True)
    paragraphs = "\n".join(f"<h2>Part {n}</h2><p>{'Rivers carry water to the sea. ' * 40}</p>" for n in range(1, 31))
    (folder / "ch1.html").write_text(f"<!doctype html><html lang='en'><title>Rivers</title><body><h1>Rivers</h1>"
                                     f"{paragraphs}<p>The last line.</p></body></html>", encoding="utf-8")
    (folder / "ch2.html").write_text("<!doctype html><html lang='en'><title>Lakes</title><p>Lakes.</p></html>")
    manifest = {
        "format_version": 1, "id": BOOK, "version": "1.0.0", "title": {"en": "Geography"},
        "subject": "geography", "grades": [5], "languages": ["en"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Tests", "date": "2026-11-01"},
        "nodes": [{"id": "book", "kind": "ebook", "title": {"en": "Water on Earth"}, "children": [
            {"id": "rivers", "kind": "chapter", "title": {"en": "Rivers"}, "content": {"en": "ch1.html"}},
            {"id": "lakes", "kind": "chapter", "title": {"en": "Lakes"}, "content": {"en": "ch2.html"}}]}],
    }
    (folder / "pack.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture
def long_book(app, settings, tmp_path):
    install_signed(long_book_source(tmp_path / "book-src"), settings.data_dir)


@pytest.fixture
def homework(school, practice_pack, long_book):
    return coach.create_assignment(
        school.pin_class, school.teacher, "Rivers and practice",
        [(PACK, "intro", None), (BOOK, "rivers", None), (PACK, MIX, None)],
        due_at=utcnow() + datetime.timedelta(days=3))


def scroll_fraction(page) -> float:
    return page.evaluate("""() => {
        const a = document.querySelector('article.reader');
        const top = a.getBoundingClientRect().top + window.scrollY;
        return (window.scrollY + window.innerHeight - top) / a.offsetHeight;
    }""")


def test_assigned_lesson_chapter_place_and_reader_settings(new_page, school, homework):
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, *STUDENT)
    expect(page).to_have_url(re.compile(r"/learn/$"))
    reports = [axe_report(page, "home with assigned work")]
    assigned = page.locator("section", has=page.get_by_role("heading", name="Assigned to me"))
    expect(assigned).to_contain_text("Rivers and practice")
    expect(assigned).to_contain_text("0 of 3 done")
    assigned.get_by_role("link", name="Rivers and practice").click()
    reports.append(axe_report(page, "assignment page"))
    page.get_by_role("link", name="Intro").click()
    expect(page.frame_locator("iframe.lesson").locator("p")).to_contain_text("Hi")
    page.go_back()

    page.get_by_role("link", name="Rivers").click()
    expect(page.locator("article.reader")).to_contain_text("Rivers carry water")
    reports.append(axe_report(page, "chapter in the reader"))
    assert_no_horizontal_scroll(page, "chapter in the reader")
    page.evaluate("""() => { const a = document.querySelector('article.reader');
        window.scrollTo(0, a.getBoundingClientRect().top + window.scrollY + a.offsetHeight * 0.5
                        - window.innerHeight); }""")
    page.wait_for_timeout(300)
    with page.expect_response(lambda r: r.url.endswith("/learn/reading-position")) as sent:
        page.wait_for_timeout(1600)  # the page reports its place after scrolling stops
    assert sent.value.status == 204
    place = ReadingPosition.get()
    assert place.chapter_id == "rivers" and 0.4 < place.fraction < 0.6

    page.goto("/learn/")
    page.goto(f"/library/{BOOK}/book")
    page.get_by_role("link", name="Continue reading: Rivers").click()
    expect(page.locator("article.reader")).to_be_visible()
    page.wait_for_function("window.scrollY > 0")
    assert abs(scroll_fraction(page) - place.fraction) < 0.05, "the chapter did not open at the same place"

    for button, expected in (("A+", "size-1"), ("High contrast", "contrast-high"),
                             ("Light text on dark", "contrast-dark")):
        page.get_by_role("button", name=button if button != "A+" else "Larger text").click()
        expect(page.locator("article.reader")).to_have_class(re.compile(expected))
        reports.append(axe_report(page, f"reader after {button}"))
    expect(page.get_by_role("button", name="Light text on dark")).to_have_attribute("aria-pressed", "true")

    # Reading to the end counts the chapter as read; the home page shows the progress.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_timeout(1800)
    page.goto("/learn/")
    expect(assigned).to_contain_text("2 of 3 done")
    assert LearningRecord.select().where(LearningRecord.verb == "read").count() == 1
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_every_item_type_answered_online_and_offline_each_stored_once(new_page, school, homework):
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, *STUDENT)
    expect(page).to_have_url(re.compile(r"/learn/$"))
    wait_for_service_worker(page)
    # Online: each type wrong first; the feedback says so.
    for index, item in enumerate(ITEMS):
        page.goto(f"/learn/practice/{PACK}/{MIX}?item={index}")
        fill(page, item, right_and_wrong(item)[1])
        page.get_by_role("button", name="Check my answer").click()
        expect(page.locator("main")).to_contain_text("Not right yet")
    online = LearningRecord.select().where(LearningRecord.verb == "answered").count()
    assert online == len(ITEMS)

    # The question pages were kept on the device: offline, each type answered right.
    for index in range(len(ITEMS)):
        page.goto(f"/learn/practice/{PACK}/{MIX}?item={index}")
    wait_until_kept(page, [f"/learn/practice/{PACK}/{MIX}?item={index}" for index in range(len(ITEMS))])
    go_offline(page)
    for index, item in enumerate(ITEMS):
        page.goto(f"/learn/practice/{PACK}/{MIX}?item={index}")
        fill(page, item, right_and_wrong(item)[0])
        page.get_by_role("button", name="Check my answer").click()
        expect(page.locator(".offline-results li")).to_contain_text("kept on this device")
    assert len(queued_answers(page)) == len(ITEMS)
    assert LearningRecord.select().where(LearningRecord.verb == "answered").count() == online

    page.context.set_offline(False)
    page.evaluate("window.classroomUpload()")
    wait_until_sent(page)
    rows = list(LearningRecord.select().where(LearningRecord.verb == "answered").order_by(LearningRecord.seq))
    assert len(rows) == 2 * len(ITEMS)
    # Right offline, except where the wrong try's feedback had shown the explanation (it gave the answer).
    assert [r.correct for r in rows] == [False] * len(ITEMS) + ["explanation" not in item for item in ITEMS], \
        [(r.item_id, r.response, r.correct) for r in rows]
    assert len({r.uuid for r in rows}) == len(rows)


def small_targets(page) -> list[str]:
    """The menu's links, the language buttons, a quiz's question numbers and the links beside them
    that a finger would miss: under 44 px tall (numbers: also under 44 px wide)."""
    return page.evaluate("""() => {
      const small = [];
      const check = (selector, wide) => document.querySelectorAll(selector).forEach(target => {
        const box = target.getBoundingClientRect();
        if (box.height < 44 || (wide && box.width < 44)) {
          small.push(`${selector} '${target.textContent.trim()}' ${Math.round(box.width)}x${Math.round(box.height)}`);
        }
      });
      check(".top nav a", false); check(".lang button", false); check(".pager > a", false);
      check(".pager .filters a", true);
      return small;
    }""")


def test_timed_quiz_taken_and_handed_in(new_page, school, practice_pack):
    quiz = coach.create_assignment(school.pin_class, school.teacher, "Mixed quiz", [(PACK, MIX, None)],
                                   kind="quiz", time_limit_minutes=10, results="submitted")
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, *STUDENT)
    expect(page).to_have_url(re.compile(r"/learn/$"))
    page.get_by_role("link", name="Mixed quiz").click()
    reports = [axe_report(page, "quiz start page")]
    page.get_by_role("button", name="Start the quiz").click()
    expect(page.locator(".timer")).to_contain_text(re.compile(r"Time left: (10:00|9:5\d)"))
    reports.append(axe_report(page, "quiz question"))
    assert not small_targets(page), "tap targets under 44 px on a phone"
    for index, item in enumerate(ITEMS):
        expect(page.locator(".progress-text")).to_contain_text(f"Question {index + 1} of {len(ITEMS)}")
        fill(page, item, right_and_wrong(item)[index % 2])
        page.get_by_role("button", name="Save and go on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check and hand in")
    expect(page.locator("main")).to_contain_text(f"Answered: {len(ITEMS)} of {len(ITEMS)}")
    reports.append(axe_report(page, "quiz check page"))
    page.get_by_role("button", name="Hand in my answers").click()
    expect(page.locator("main")).to_contain_text("Try 1: 3 of 6 right")
    reports.append(axe_report(page, "quiz results"))
    assert_no_horizontal_scroll(page, "quiz results")
    attempt = QuizAttempt.get()
    assert attempt.assignment_id == quiz.id and attempt.right == 3 and attempt.submitted_at is not None
    assert LearningRecord.select().where(LearningRecord.verb == "submitted").count() == 1
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found
