"""No English left on a Kazakh or Russian page: real Chromium walks the student's and the teacher's
main pages, with the sample packs (which give kk, ru and en for every text), and reads every word
a person can see or hear: the visible text, the page title, aria-labels, titles, placeholders, alt
texts, button values, and the texts the page's script shows (data-*-text attributes)."""
from __future__ import annotations

import datetime
import re

import pytest

from classroom_server.coach import services as coach
from classroom_server.demo import import_sample_packs
from classroom_server.models import utcnow

from .browsertesting import LAN_NAME, expect
from .browsertesting import lan_browser  # noqa: F401  (fixtures)
from .helpers import PASSWORD

pytestmark = pytest.mark.browser

# Words that are the same in every language: formats, standards and encodings, a key and a paper
# size, the licence's identifier, "IT"
# (Kazakh and Russian write *IT маманы*, *IT-специалист*), the reader's text size buttons (A−, A+:
# a glyph, named by their aria-label), and each language button's own name (a Kazakh page offers
# English as "English").
ALLOWED = {"PDF", "EPUB", "OPDS", "PIN", "CSV", "JSON", "xAPI", "UTF-8", "UTF-16", "Windows-1251", "Ctrl+P",
           "A4", "IT", "English", "CC-BY-4.0", "A−", "A+", "PNG", "JPEG", "WebP"}  # file formats by their names
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]")

READ_PAGE = """() => {
  const texts = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name;
      if (['aria-label', 'title', 'placeholder', 'alt', 'aria-description'].includes(name)
          || /^data-.*text/.test(name)) { texts.push(attr.value); }
    }
    if (el.matches('input[type=submit], input[type=button]')) { texts.push(el.value); }
  }
  return texts.join('\\n');
}"""


def english_words(text: str, data: frozenset[str] = frozenset()) -> list[str]:
    """The Latin words of `text`, but the allowed ones and `data` (what people typed, as typed)."""
    text = re.sub(r"\{\w+\}", " ", text)  # {count}, {n}: the page's script fills them in
    for phrase in ALLOWED | data:
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text)
    return sorted({word for word in LATIN_WORD.findall(text) if word not in ALLOWED | data})


def test_english_words_finds_latin_words_but_not_the_allowed_ones():
    assert english_words("Кітапхана · Library · PDF · CC-BY-4.0 · English · 5А · A+") == ["Library"]
    assert english_words("Жауаптар: {count}. IT маманы") == []
    assert english_words("A few answers") == ["A", "answers", "few"]
    assert english_words("ITEM PDFs") == ["ITEM", "PDFs"]  # an allowed word inside another is no excuse
    assert english_words("Сынып сервері: Sign in, it's done") == ["Sign", "done", "in", "it's"]
    assert english_words("Қазақша Русский") == []


@pytest.fixture
def sample_school(app, settings, school):
    """The test school with the sample packs installed and work and a quiz for class 5А."""
    with app.app_context():
        import_sample_packs(settings)
        math = "kz.sample.math5-fractions"
        week = utcnow() + datetime.timedelta(days=7)
        work = coach.create_assignment(school.pin_class, school.teacher, "Бөлшектер / Дроби", [
            (math, "fractions.lesson.compare", None), (math, "fractions.ch1", None),
            (math, "fractions.ex.basics", None)], due_at=week)
        quiz = coach.create_assignment(school.pin_class, school.teacher, "Тест / Тест", [
            (math, "fractions.ex.operations", None)], kind="quiz", due_at=week, time_limit_minutes=15)
    return school, work.id, quiz.id


@pytest.fixture
def lan_page(lan_browser, live_server):  # noqa: F811 (the fixture imported above)
    port = live_server.rsplit(":", 1)[1]
    context = lan_browser.new_context(base_url=f"http://{LAN_NAME}:{port}", locale="en-US")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _choose_language(page, language: str) -> None:
    page.goto("/signin")
    page.locator(f"form.lang button[value={language}]").click()
    expect(page.locator("html")).to_have_attribute("lang", language)


# A username is Latin letters by rule (accounts.services): the teacher's own shows on their account page.
USERNAMES = frozenset({"teacher"})


def _read(page, what: str, language: str) -> dict[str, list[str]]:
    expect(page.locator("html")).to_have_attribute("lang", language)
    words = english_words(page.evaluate(READ_PAGE), USERNAMES)
    return {what: words} if words else {}


def _walk(page, paths: list[str], language: str) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        found |= _read(page, path, language)
    return found


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_students_pages_have_no_english(language, lan_page, sample_school):
    school, work, quiz = sample_school
    page = lan_page
    _choose_language(page, language)
    room, student = school.pin_class.id, school.student.id
    pictures, picture_student = school.picture_class.id, school.picture_student.id
    found = _walk(page, ["/signin", f"/signin/class/{pictures}/student/{picture_student}", f"/signin/class/{room}",
                         f"/signin/class/{room}/student/{student}"], language)
    page.locator("input[name=pin]").fill("4321")
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/learn/$"))
    math = "kz.sample.math5-fractions"
    found |= _walk(page, [
        "/learn/", "/account", f"/learn/assignment/{work}", f"/learn/assignment/{quiz}", "/learn/progress",
        "/learn/adaptive/", "/library/", f"/library/{math}/", f"/library/{math}/fractions.lesson.compare",
        f"/library/{math}/fractions.ch1", f"/library/{math}/fractions.ex.basics",
        f"/learn/practice/{math}/fractions.ex.basics", "/library/kz.sample.informatics7-ai/",
        "/library/kz.sample.science6-sound-light/", f"/library/search?q={'бөлшек' if language == 'kk' else 'дробь'}",
    ], language)
    # A question answered (the feedback), a hint asked for, and a quiz started.
    page.goto(f"/learn/practice/{math}/fractions.ex.basics")
    page.locator("main form.question input[type=radio]").first.check()
    with page.expect_navigation():
        page.locator("main form.question button[type=submit]").click()
    expect(page.locator("main")).to_contain_text(re.compile(r"\S"))
    found |= _read(page, "an answered question", language)
    page.goto(f"/learn/practice/{math}/fractions.ex.basics")
    with page.expect_navigation():
        page.locator("main form[method=get] button[type=submit]").click()
    found |= _read(page, "a hint", language)
    page.goto(f"/learn/assignment/{quiz}")
    page.locator("main form[action*='/start'] button[type=submit], main form[method=post] button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/learn/quiz/"))
    found |= _read(page, "a quiz question", language)
    assert not found, f"{language}: English words on the student's pages: {found}"


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_teachers_pages_have_no_english(language, lan_page, sample_school):
    school, work, quiz = sample_school
    page = lan_page
    _choose_language(page, language)
    _sign_in_teacher(page)
    room, student = school.pin_class.id, school.student.id
    found = _walk(page, [
        "/coach/", "/account", f"/coach/class/{room}", f"/coach/class/{room}/assign", f"/coach/assignment/{work}",
        f"/coach/assignment/{quiz}", f"/coach/class/{room}/report", f"/coach/class/{room}/student/{student}/report",
        f"/coach/class/{room}/items", f"/coach/class/{room}/engagement", f"/coach/class/{room}/mastery",
        f"/coach/class/{room}/report/print", "/library/", "/library/kz.sample.math5-fractions/",
        f"/library/search?q={'бөлшек' if language == 'kk' else 'дробь'}",
    ], language)
    assert not found, f"{language}: English words on the teacher's pages: {found}"


def _sign_in_teacher(page) -> None:
    """test_browser.sign_in_staff finds the form by its English words; this page speaks kk or ru."""
    page.goto("/signin")
    form = page.locator("form:has(input[name=username])")
    form.locator("input[name=username]").fill("teacher")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/coach/$"))
