"""Real Chromium, THE STUDENT'S day (issue 19): Әлия on a 360x640 phone, in Kazakh, at the school's
plain-HTTP LAN name (http://school.test:<port>/, neither loopback nor a secure context). She signs in
with her class's PIN, sees what the teacher assigned, opens a lesson (its frame as tall as the
lesson, nothing scrolling inside it), reads a chapter (its text on the first screen, the toolbar
usable), practises with a wrong answer, another try and a hint (shown where she is looking), takes
a quiz typing "32/2" and "1/2", loses the Wi-Fi mid-quiz and answers on, comes back to "sent ✓",
sees her answers as she typed them, reads the teacher's comment and signs out; axe-core on each page.
Texts are looked up in the Kazakh catalog, so the test follows the wording of the translations."""
from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from babel.support import Translations

import classroom_server
from classroom_server.coach import services as coach
from classroom_server.models import LearningRecord, QuizAttempt, utcnow

from .browserday import new_page, sample_packs  # noqa: F401  (fixtures)
from .browserday import sign_in_student
from .browsertesting import assert_no_horizontal_scroll, assert_not_a_secure_context, axe_report, expect, go_offline
from .browsertesting import lan_browser  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

SMALL_PHONE = {"width": 360, "height": 640}
FRACTIONS = "kz.sample.math5-fractions"
LESSON, CHAPTER, EXERCISE = "fractions.lesson.compare", "fractions.ch1", "fractions.ex.operations"
# Practice, ex.operations: 1 equivalent-single (choice "4/6"), 2 equivalent-missing ("1/5 = ?/20": 4, a hint).
# The quiz, from ex.basics: 16 girls (she types "32/2", right), 900 tenge ("1/2", wrong), the
# denominator of 5/8 (choice "8").
QUIZ_FROM, QUIZ_ITEMS = "fractions.ex.basics", ("boys-in-class", "part-of-number", "parts-denominator")
KK = Translations.load(str(Path(classroom_server.__file__).parent / "translations"), ["kk"])


def kk(text: str, **params) -> str:
    """The Kazakh the pages show for `text` (the catalog's translation, with its parameters)."""
    translated = KK.gettext(text)
    return translated % params if params else translated


@pytest.fixture
def day(school, sample_packs):
    """What the teacher gave 5А yesterday: homework (a lesson, a chapter, practice) and a quiz."""
    homework = coach.create_assignment(
        school.pin_class, school.teacher, "Бөлшектер: үй жұмысы",
        [(FRACTIONS, LESSON, None), (FRACTIONS, CHAPTER, None), (FRACTIONS, EXERCISE, None)],
        due_at=utcnow() + datetime.timedelta(days=2))
    quiz = coach.create_assignment(
        school.pin_class, school.teacher, "Бөлшектер тесті",
        [(FRACTIONS, QUIZ_FROM, item) for item in QUIZ_ITEMS], kind="quiz", results="submitted")
    return homework, quiz


def in_view(page, selector: str) -> dict:
    """Where the first element matching `selector` is, against the viewport."""
    return page.evaluate("""selector => {
        const box = document.querySelector(selector).getBoundingClientRect();
        return {top: box.top, bottom: box.bottom, height: innerHeight, scrollY: scrollY};
    }""", selector)


def frame_fits(page) -> dict:
    """The lesson frame's document against the frame: it must not scroll inside itself."""
    inner = page.frame_locator("iframe.lesson").locator("html")
    return inner.evaluate("root => ({scroll: root.scrollHeight, client: root.clientHeight})")


def wait_for_frame_to_fit(page) -> dict:
    page.wait_for_function("""() => {
        const frame = document.querySelector('iframe.lesson');
        return frame && frame.classList.contains('sized');
    }""")
    page.wait_for_function("""() => {
        const frame = document.querySelector('iframe.lesson');
        return Math.abs(frame.clientHeight - parseFloat(frame.style.height) + 2) <= 2;
    }""")
    sizes = frame_fits(page)
    deadline = 50
    while sizes["scroll"] > sizes["client"] + 1 and deadline:
        page.wait_for_timeout(100)
        sizes, deadline = frame_fits(page), deadline - 1
    return sizes


def test_the_students_day(new_page, app, school, day):
    homework, quiz = day
    reports = []

    def check(what: str) -> None:
        reports.append(axe_report(page, what))
        assert_no_horizontal_scroll(page, what)

    page = new_page(locale="kk-KZ", viewport=SMALL_PHONE)

    # -- signing in: her class, her name, her PIN -----------------------------------------------
    page.goto("/signin")
    assert_not_a_secure_context(page)
    expect(page.locator("html")).to_have_attribute("lang", "kk")
    check("sign-in page")
    page.get_by_role("link", name="5А", exact=True).click()
    check("class page")
    page.get_by_role("link", name="Әлия Нұрланқызы").click()
    check("PIN page")
    page.locator("input[name=pin]").fill("4321")
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/learn/$"))

    # -- what the teacher assigned --------------------------------------------------------------
    assigned = page.locator("section", has=page.locator("#assigned-heading"))
    expect(assigned).to_contain_text("Бөлшектер: үй жұмысы")
    expect(assigned).to_contain_text("Бөлшектер тесті")
    expect(assigned).to_contain_text(kk("%(done)d of %(count)d done", done=0, count=3))
    check("home with the assigned work")
    assigned.get_by_role("link", name="Бөлшектер: үй жұмысы").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Бөлшектер: үй жұмысы")
    check("the homework's page")
    homework_url = page.url

    # -- a lesson: its frame grows with it, the page scrolls, not the frame ---------------------
    page.get_by_role("link", name="Бөлшектерді салыстыру").click()
    frame = page.frame_locator("iframe.lesson")
    expect(frame.locator("h1")).to_have_text("Бөлшектерді салыстыру")
    sizes = wait_for_frame_to_fit(page)
    assert sizes["scroll"] <= sizes["client"] + 1, f"the lesson scrolls inside its frame: {sizes}"
    assert sizes["client"] > SMALL_PHONE["height"], sizes  # a long lesson, as tall as its content
    last = frame.locator("p").last
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= SMALL_PHONE["height"], box
    assert page.evaluate("scrollY") > 0  # the page scrolled to it
    check("the lesson")

    # -- a chapter of the e-textbook: the text on the first screen, the toolbar at hand ----------
    page.goto(homework_url)
    page.get_by_role("link", name="1-тарау. Бөлшек деген не?").click()
    article = page.locator("article.reader")
    expect(article).to_be_visible()
    first = "article.reader .book-body p"
    place = in_view(page, first)
    assert place["scrollY"] == 0 and place["top"] + 3 * 24 < place["height"], \
        f"the chapter's first paragraph is not on the first screen: {place}"
    check("chapter in the reader")
    small = page.evaluate("""() => [...document.querySelectorAll('.reader-bar .tool')]
        .map(el => el.getBoundingClientRect()).filter(box => box.width < 44 || box.height < 44).length""")
    assert small == 0, "the reader's buttons are under 44x44 px"
    tools = page.evaluate("""() => [...document.querySelectorAll('.reader-bar .tool')]
        .map(el => Math.round(el.getBoundingClientRect().top))""")
    assert len(tools) == 6 and len(set(tools)) == 1, f"the reader's tools are not one row: {tools}"
    page.get_by_role("button", name=kk("Larger text")).click()
    expect(article).to_have_class(re.compile(r"\bsize-1\b"))
    page.get_by_role("button", name=kk("Light text on dark")).click()
    expect(article).to_have_class(re.compile(r"\bcontrast-dark\b"))
    expect(page.get_by_role("button", name=kk("Light text on dark"))).to_have_attribute("aria-pressed", "true")
    place = in_view(page, first)
    assert place["scrollY"] == 0 and place["top"] < place["height"] - 2 * 30, place
    check("chapter, larger text, light on dark")
    page.get_by_role("button", name=kk("Normal")).click()
    page.get_by_role("button", name=kk("Smaller text")).click()
    expect(article).to_have_class(re.compile(r"\bsize-0\b"))
    page.locator("details.reader-search summary").click()
    search = page.get_by_role("searchbox", name=kk("Search in this book"))
    search.fill("бөлшек")
    search.press("Enter")
    expect(page.locator("main")).to_contain_text("1-тарау")
    check("search in the book")

    # -- assigned practice: a wrong answer, another try, a hint ---------------------------------
    page.goto(homework_url)
    page.get_by_role("link", name="Жаттығу: қысқарту, аралас сандар, қосу және азайту").click()
    expect(page.locator(".progress-text")).to_contain_text(kk("Question %(number)d of %(count)d", number=1, count=9))
    page.locator("form.question input[type=radio][value]").first.wait_for()
    # Question 1 right; question 2 ("1/5 = ?/20") wrong first.
    right_choice = page.locator("form.question label.choice", has_text=re.compile(r"^\s*4/6\s*$"))
    right_choice.locator("input").check()
    page.get_by_role("button", name=kk("Check my answer")).click()
    expect(page.locator(".feedback h2")).to_contain_text(kk("Right!"))
    page.get_by_role("link", name=kk("Next question")).click()
    expect(page.locator(".progress-text")).to_contain_text(kk("Question %(number)d of %(count)d", number=2, count=9))
    page.locator("form.question input[name=answer]").fill("5")
    page.get_by_role("button", name=kk("Check my answer")).click()
    feedback = page.locator(".feedback")
    expect(feedback.locator("h2")).to_contain_text(kk("Not right yet"))
    where = in_view(page, ".feedback h2")
    assert 0 <= where["top"] and where["bottom"] <= where["height"], f"the feedback is out of sight: {where}"
    check("feedback to a wrong answer")
    page.get_by_role("link", name=kk("Try again")).click()
    expect(page.get_by_role("button", name=kk("Show a hint"))).to_be_visible()
    page.locator("form.question input[name=answer]").fill("8/")  # half typed, then she asks
    page.get_by_role("button", name=kk("Show a hint")).click()
    hint = page.locator(".hints li").first
    expect(hint).to_be_focused()  # a screen reader reads the new hint
    place, control = in_view(page, ".hints li"), in_view(page, "form.question input[name=answer]")
    assert 0 <= place["top"] and place["bottom"] <= place["height"], f"the hint is out of sight: {place}"
    assert 0 <= control["top"] and control["bottom"] <= control["height"], f"the answer field is not: {control}"
    assert place["top"] - control["bottom"] < 120, (place, control)  # right under the answer field
    expect(page.locator("form.question input[name=answer]")).to_have_value("8/")  # what she had typed
    check("the question with a hint")
    page.locator("form.question input[name=answer]").fill("4")
    page.get_by_role("button", name=kk("Check my answer")).click()
    expect(feedback.locator("h2")).to_contain_text("✔")

    # -- the quiz; the Wi-Fi goes in the middle --------------------------------------------------
    page.get_by_role("navigation", name=kk("Main")).get_by_role("link", name=kk("My work")).click()
    assigned.get_by_role("link", name="Бөлшектер тесті").click()
    quiz_page = page.url
    check("the quiz's page")
    page.get_by_role("button", name=kk("Start the quiz")).click()
    expect(page.locator(".progress-text")).to_contain_text(kk("Question %(number)d of %(count)d", number=1, count=3))
    page.locator("form.question input[name=answer]").fill("32/2")
    page.get_by_role("button", name=kk("Save and go on")).click()
    expect(page.locator(".progress-text")).to_contain_text(kk("Question %(number)d of %(count)d", number=2, count=3))
    check("a quiz question")

    go_offline(page)
    page.locator("form.question input[name=answer]").fill("1/2")
    page.get_by_role("button", name=kk("Save and go on")).click()
    kept = page.locator(".offline-results li")
    expect(kept.nth(0)).to_contain_text(kk("Question %(number)s: kept on this device, to be sent when the school "
                                           "server can be reached.", number=2))
    expect(page.locator(".progress-text")).to_contain_text(kk("Question %(number)d of %(count)d", number=3, count=3))
    page.locator("form.question label.choice", has_text=re.compile(r"^\s*8\s*$")).locator("input").check()
    page.get_by_role("button", name=kk("Save and go on")).click()
    expect(kept.nth(1)).to_contain_text(kk("Question %(number)s: kept on this device, to be sent when the school "
                                           "server can be reached.", number=3))
    banner = page.locator("main > [role=status].offline-banner")
    expect(banner).to_contain_text(kk("Answers waiting to be sent: %(count)s.", count=2))
    assert "chrome-error" not in page.url
    with app.app_context():
        assert LearningRecord.select().where(LearningRecord.assignment == quiz.id).count() == 1
    check("the quiz answered without the Wi-Fi")

    page.context.set_offline(False)
    for index, number in enumerate((2, 3)):
        expect(kept.nth(index)).to_have_text(kk("Question %(number)s: sent ✓ saved for the quiz.", number=number))
    expect(banner).to_be_hidden()
    page.get_by_role("link", name=kk("Check and hand in")).click()
    expect(page.locator("main")).to_contain_text(kk("Answered: %(done)d of %(count)d", done=3, count=3))
    check("check and hand in")
    page.get_by_role("button", name=kk("Hand in my answers")).click()

    # -- her results, her answers as she typed them ----------------------------------------------
    expect(page.locator("main")).to_contain_text(kk("Try %(number)d: %(right)d of %(count)d right",
                                                    number=1, right=2, count=3))
    review = page.locator("section", has=page.locator("#review-heading")).locator("li")
    expect(review).to_have_count(3)
    mine = kk("My answer:")
    expect(review.nth(0)).to_contain_text(f"{mine} 32/2 —")
    expect(review.nth(1)).to_contain_text(f"{mine} 1/2 —")
    expect(review.nth(2)).to_contain_text(f"{mine} 8 —")
    for shown_otherwise in (f"{mine} 16", f"{mine} 0,5", f"{mine} 0.5"):
        assert shown_otherwise not in review.nth(0).inner_text() + review.nth(1).inner_text()
    with app.app_context():
        attempt = QuizAttempt.get(QuizAttempt.assignment == quiz.id)
        assert (attempt.right, attempt.total) == (2, 3)
        typed = {row.item_id: (row.response, row.typed) for row in
                 LearningRecord.select().where(LearningRecord.assignment == quiz.id,
                                               LearningRecord.verb == "answered")}
        assert typed["boys-in-class"] == ("16", "32/2") and typed["part-of-number"] == ("0.5", "1/2")
    check("the quiz's results")

    # -- the teacher's comment ------------------------------------------------------------------
    with app.app_context():
        coach.add_comment(quiz, school.student, school.teacher, "Жарайсың, Әлия! 1200 теңгенің 3/4 бөлігі — 900.")
    page.goto(quiz_page)
    comment = page.locator(".teacher-comment")
    expect(comment).to_contain_text(kk("From your teacher"))
    expect(comment).to_contain_text("Жарайсың, Әлия! 1200 теңгенің 3/4 бөлігі — 900.")
    check("the quiz's page with the teacher's comment")

    # -- signing out -----------------------------------------------------------------------------
    page.get_by_role("button", name=kk("Sign out")).click()
    expect(page.locator("input[name=username]")).to_be_visible()
    page.goto("/learn/")
    expect(page).to_have_url(re.compile(r"/signin\b"))  # signed out: her work needs her PIN again
    found = "\n".join(r for r in reports if r)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_a_lesson_frame_follows_its_content(new_page, school, day):
    """The frame grows and shrinks with the lesson (pictures loading, text size changing), and the
    lesson still runs sandboxed: the size comes as a message, no way into our page."""
    page = new_page(locale="kk-KZ", viewport=SMALL_PHONE)
    sign_in_student(page, "5А", "Әлия Нұрланқызы", "4321")
    page.goto(f"/library/{FRACTIONS}/{LESSON}")
    first = wait_for_frame_to_fit(page)
    lesson = next(f for f in page.frames if f != page.main_frame)
    assert lesson.evaluate("self.origin") == "null"
    assert lesson.evaluate("() => { try { return parent.document.title } catch (e) { return 'blocked' } }") \
        == "blocked"
    lesson.evaluate("document.body.style.fontSize = '200%'")
    page.wait_for_function("h => document.querySelector('iframe.lesson').clientHeight > h", arg=first["client"] + 200)
    bigger = wait_for_frame_to_fit(page)
    assert bigger["scroll"] <= bigger["client"] + 1, bigger
    lesson.evaluate("document.body.style.fontSize = ''")
    page.wait_for_function("h => document.querySelector('iframe.lesson').clientHeight < h", arg=bigger["client"] - 200)
    again = wait_for_frame_to_fit(page)
    assert abs(again["client"] - first["client"]) <= 2 and again["scroll"] <= again["client"] + 1, (first, again)
    # A message from elsewhere (here, the page itself) changes nothing.
    page.evaluate("window.postMessage({classroomLessonHeight: 99999}, '*')")
    page.wait_for_timeout(200)
    assert abs(page.evaluate("document.querySelector('iframe.lesson').clientHeight") - again["client"]) <= 2
