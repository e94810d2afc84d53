"""Real Chromium against the real server: sign-in flows, keyboard use, languages, small screens,
axe-core accessibility checks, and no request ever leaving the school server."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from .browsertesting import (PHONE, assert_no_horizontal_scroll, axe_report, expect, go_offline, open_student_secret_page,
                             put_back, queued_answers, sign_in_staff, sign_in_student_pin, tab_to,
                             wait_for_service_worker, wait_until_kept, wait_until_sent)
from .browsertesting import browser, new_page, practice_pack  # noqa: F401  (fixtures)
from .practicepack import MIX, PACK

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/classroom-signin-360.png")


@pytest.fixture
def page(new_page):
    return new_page()


# -- helpers ---------------------------------------------------------------------------------


def focused_text(page) -> str:
    return page.evaluate("document.activeElement.textContent.trim()")


def assert_outlined(page, element_js: str, what: str) -> None:
    """The element found by the JS expression `element_js` shows a visible focus outline."""
    style = page.evaluate(f"""() => {{
        const s = getComputedStyle({element_js});
        return {{style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor}};
    }}""")
    assert style["style"] != "none" and style["width"] > 0, \
        f"{what} has keyboard focus but no visible outline: {style}"


# -- flows -----------------------------------------------------------------------------------

def test_teacher_sets_pin_and_student_signs_in_with_it(page, school):
    sign_in_staff(page, "teacher")
    expect(page).to_have_url(re.compile(r"/coach/$"))
    classes = page.get_by_role("table")
    expect(classes.get_by_role("link", name="5А", exact=True)).to_be_visible()
    expect(classes.get_by_role("link", name="1Б", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="9В", exact=True)).to_have_count(0)

    classes.get_by_role("link", name="5А", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("5А")
    row = page.get_by_role("row", name=re.compile("Әлия Нұрланқызы"))
    row.get_by_label("New PIN for Әлия Нұрланқызы").fill("2468")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("New code saved for Әлия Нұрланқызы")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Teachers and staff")).to_be_visible()

    # The old PIN no longer works, and the child is told so.
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page.get_by_role("alert")).to_contain_text("That PIN is not right")
    expect(page).not_to_have_url(re.compile(r"/learn/"))

    page.get_by_label("Type your PIN").fill("2468")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/learn/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Әлия Нұрланқызы")


def test_picture_code_sign_in_with_keyboard_only(page, school):
    page.goto("/signin")
    tab_to(page, "el => el.classList.contains('tile') && el.textContent.trim() === '1Б'")
    assert_outlined(page, "document.activeElement", "the class tile 1Б")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("1Б")

    tab_to(page, "el => el.textContent.trim() === 'Тимур Ахметов'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Тимур Ахметов")

    # A radio group takes one Tab stop; arrows move along it (and choose), Space chooses.
    # Order of the pictures: cat, dog, sun, tree, apple, ...
    tab_to(page, "el => el.name === 'picture0'")
    assert page.evaluate("document.activeElement.value") == "cat"
    page.keyboard.press("Space")
    assert_outlined(page, "document.activeElement.closest('.picture')", "the cat picture")
    tab_to(page, "el => el.name === 'picture1'", max_presses=1)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    tab_to(page, "el => el.name === 'picture2'", max_presses=1)
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    chosen = page.evaluate("""[0, 1, 2].map(i =>
        document.querySelector(`input[name=picture${i}]:checked`)?.value)""")
    assert chosen == ["cat", "sun", "apple"], f"the keyboard chose {chosen}"

    tab_to(page, "el => el.type === 'submit' && el.closest('main')", max_presses=1)
    assert focused_text(page) == "Sign in"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Тимур Ахметов")


def test_language_buttons_switch_the_interface(page, school):
    page.goto("/signin")
    html = page.locator("html")
    current = page.locator(".lang button[aria-current='true']")
    expect(html).to_have_attribute("lang", "en")
    expect(current).to_have_text("English")
    english_title = page.title()

    for name, code in (("Русский", "ru"), ("Қазақша", "kk"), ("English", "en")):
        page.get_by_role("button", name=name).click()
        expect(html).to_have_attribute("lang", code)
        expect(current).to_have_count(1)
        expect(current).to_have_text(name)
        expect(current).to_have_attribute("lang", code)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.title() == english_title

    # The choice sticks for the next pages of this browser.
    page.get_by_role("button", name="Русский").click()
    page.get_by_role("link", name="5А", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("5А")
    expect(html).to_have_attribute("lang", "ru")


def test_no_sideways_scrolling_on_a_360px_phone(new_page, school):
    page = new_page(viewport=PHONE)
    page.goto("/signin")
    assert_no_horizontal_scroll(page, "sign-in page")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.get_by_role("link", name="5А", exact=True).click()
    assert_no_horizontal_scroll(page, "class page (names)")
    page.get_by_role("link", name="Әлия Нұрланқызы").click()
    assert_no_horizontal_scroll(page, "PIN page")
    page.get_by_label("Type your PIN").fill("4321")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/learn/$"))
    assert_no_horizontal_scroll(page, "student home")

    page = new_page(viewport=PHONE)
    open_student_secret_page(page, "1Б", "Тимур Ахметов")
    assert_no_horizontal_scroll(page, "picture-code page")

    page = new_page(viewport=PHONE)
    sign_in_staff(page, "teacher")
    assert_no_horizontal_scroll(page, "teacher home")
    for class_name in ("5А", "1Б"):
        page.get_by_role("link", name="My classes").first.click()
        page.get_by_role("table").get_by_role("link", name=class_name, exact=True).click()
        assert_no_horizontal_scroll(page, f"teacher class page {class_name}")

    page = new_page(viewport=PHONE)
    sign_in_staff(page, "boss")
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    assert_no_horizontal_scroll(page, "admin page")


def test_pages_have_no_axe_violations(new_page, school):
    reports = []

    def check(page, what: str) -> None:
        reports.append(axe_report(page, what))

    page = new_page()
    page.goto("/signin")
    check(page, "sign-in page")
    page.get_by_role("link", name="1Б", exact=True).click()
    check(page, "class page (names)")
    page.get_by_role("link", name="Тимур Ахметов").click()
    check(page, "picture-code page")
    page.goto("/signin")
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "0000")
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "PIN page with an error")
    page.get_by_label("Type your PIN").fill("4321")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/learn/$"))
    check(page, "student home")
    page.get_by_role("link", name="Әлия Нұрланқызы").click()
    check(page, "student account page")
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    check(page, "404 page")

    page = new_page()
    sign_in_staff(page, "teacher")
    check(page, "teacher home")
    for class_name in ("5А", "1Б"):
        page.get_by_role("table").get_by_role("link", name=class_name, exact=True).click()
        check(page, f"teacher class page {class_name}")
        page.get_by_role("link", name="My classes").first.click()
    page.get_by_role("link", name="Айгүл Серікқызы").click()
    check(page, "teacher account page")

    page = new_page()
    sign_in_staff(page, "boss")
    page.get_by_role("link", name="Administration").click()
    check(page, "admin page")

    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_first_run_setup_page_has_no_axe_violations(page):
    """A fresh school without an admin sends everyone to /setup."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("administrator")
    report = axe_report(page, "first-run setup page")
    assert not report, "axe-core found accessibility problems:\n" + report


@pytest.fixture
def library(app, settings, tmp_path):
    """A signed test pack installed in the school."""
    from .packs import install_signed, pack_source
    install_signed(pack_source(tmp_path / "pack-src"), settings.data_dir)


def test_student_reads_a_lesson_listens_and_searches(new_page, school, library):
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    reports = []
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Library")
    reports.append(axe_report(page, "library"))
    assert_no_horizontal_scroll(page, "library")

    page.get_by_role("link", name="Бөлшектер").click()
    reports.append(axe_report(page, "pack page"))
    page.get_by_role("link", name="Кіріспе").click()
    frame = page.frame_locator("iframe.lesson")
    expect(frame.locator("p")).to_contain_text("Бөлшектер туралы сабақ")
    # its picture, a relative link into the pack, loads although the frame has an opaque origin
    expect(frame.locator("img")).to_have_js_property("complete", True)
    assert frame.locator("img").evaluate("img => img.naturalWidth") > 0, "the lesson's picture did not load"
    reports.append(axe_report(page, "lesson page"))
    assert_no_horizontal_scroll(page, "lesson page")
    # The lesson runs in its own origin: it cannot read the app's page or cookies.
    assert page.frames[1].evaluate("() => { try { return parent.document.title } catch (e) { return 'blocked' } }") \
        == "blocked"

    page.get_by_role("link", name=re.compile("Оқулық")).click()
    page.get_by_role("link", name=re.compile("Дыбыс")).click()
    audio = page.locator("audio")
    expect(audio).to_have_count(1)
    source = audio.get_attribute("src")
    seek = page.request.get(source, headers={"Range": "bytes=1000-1999"})
    assert seek.status == 206 and len(seek.body()) == 1000
    reports.append(axe_report(page, "audio page"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    page.get_by_label("Search the library").fill("ЧИСЛИТЕЛЬ")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("Found: 1")
    expect(page.locator("mark").first).to_be_visible()
    reports.append(axe_report(page, "search results"))
    assert_no_horizontal_scroll(page, "search results")
    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_admin_content_page_has_no_axe_violations(new_page, school, library):
    page = new_page()
    sign_in_staff(page, "boss")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Content packs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Content packs")
    expect(page.get_by_role("table")).to_contain_text("test.algebra")
    report = axe_report(page, "admin content page")
    assert not report, "axe-core found accessibility problems:\n" + report


def test_student_practises_an_exercise_with_the_keyboard(new_page, school, library, practice_pack):
    """Wrong, then right, keyboard only; the question and feedback pages pass axe-core at 360 px."""
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    reports = []
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Library").click()
    page.get_by_role("link", name="Бөлшектер").click()
    page.get_by_role("link", name="Жаттығу").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Жаттығу")

    tab_to(page, "el => el.textContent.trim() === 'Practise'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Question 1 of 1")).to_be_visible()
    page.wait_for_load_state()
    reports.append(axe_report(page, "question page"))
    assert_no_horizontal_scroll(page, "question page")

    tab_to(page, "el => el.name === 'answer'")
    assert page.evaluate("document.activeElement.inputMode") == "decimal"
    page.keyboard.type("0,5")
    page.keyboard.press("Enter")
    feedback = page.locator("[data-record]")
    expect(feedback).to_contain_text("Not right yet")
    reports.append(axe_report(page, "feedback page (wrong)"))
    assert_no_horizontal_scroll(page, "feedback page")

    tab_to(page, "el => el.textContent.trim() === 'Try again'")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Check my answer")).to_be_visible()
    page.wait_for_load_state()
    tab_to(page, "el => el.name === 'answer'")
    page.keyboard.type("0,75")
    page.keyboard.press("Enter")
    expect(page.locator("[data-record]")).to_contain_text("Right!")
    reports.append(axe_report(page, "feedback page (right)"))
    tab_to(page, "el => el.textContent.trim() === 'See my result'")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Right answers: 1 of 1")).to_be_visible()
    reports.append(axe_report(page, "result page"))

    # Every kind of question: no axe violations, no sideways scrolling on a phone.
    for index in range(6):
        page.goto(f"/learn/practice/{PACK}/mix?item={index}&hints=1")
        expect(page.get_by_role("button", name="Check my answer")).to_be_visible()
        reports.append(axe_report(page, f"question {index + 1} of the practice pack"))
        assert_no_horizontal_scroll(page, f"question {index + 1}")
    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_my_progress_page_is_accessible_on_a_phone(new_page, school):
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    page.get_by_role("link", name="My progress").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    assert_no_horizontal_scroll(page, "my progress")
    report = axe_report(page, "my progress page")
    assert not report, "axe-core found accessibility problems:\n" + report


# -- offline on the device -------------------------------------------------------------------


def test_manifest_and_service_worker_are_served(page, school):
    import json
    page.goto("/signin")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(href)
    assert manifest.ok
    data = json.loads(manifest.text())
    assert data["name"] == "Classroom" and data["start_url"] == "/learn/" and data["display"] == "standalone"
    assert any(icon["src"].endswith("/static/icon.svg") for icon in data["icons"])
    worker = page.request.get("/sw.js")
    assert worker.ok
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["cache-control"] == "no-cache"
    assert "javascript" in worker.headers["content-type"]
    assert "set-cookie" not in worker.headers


def test_answer_offline_then_upload_once(new_page, school, practice_pack, app):
    from classroom_server.models import LearningRecord

    page = new_page()
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    page.goto(f"/learn/practice/{PACK}/{MIX}?item=2")  # the numeric question
    wait_for_service_worker(page)
    expect(page.get_by_role("button", name="Check my answer")).to_be_visible()
    wait_until_kept(page, [page.url, "/static/app.js", "/static/style.css"])

    go_offline(page)
    page.reload()  # from the service worker's copy
    banner = page.locator("main > [role=status].offline-banner")
    expect(banner).to_contain_text("You are offline")
    page.get_by_label("Half as a decimal?").fill("0,5")
    page.get_by_role("button", name="Check my answer").click()
    expect(page.locator(".offline-results li")).to_contain_text("kept on this device")
    expect(banner).to_contain_text("Answers waiting to be sent: 1.")
    saved = queued_answers(page)
    assert len(saved) == 1
    assert saved[0]["pack_id"] == PACK and saved[0]["node_id"] == MIX and saved[0]["item_id"] == "n1"
    assert saved[0]["response"] == "0,5"
    assert re.fullmatch(r"[0-9a-f-]{36}", saved[0]["record_id"])
    assert LearningRecord.select().where(LearningRecord.item_id == "n1").count() == 0

    page.context.set_offline(False)
    wait_until_sent(page)
    expect(banner).to_be_hidden()
    rows = list(LearningRecord.select().where(LearningRecord.item_id == "n1"))
    assert len(rows) == 1 and rows[0].uuid == saved[0]["record_id"] and rows[0].correct

    # The same answer sent again (a second upload after a lost reply) changes nothing.
    put_back(page, saved[0])
    assert len(queued_answers(page)) == 1
    page.evaluate("window.classroomUpload()")
    wait_until_sent(page)
    assert LearningRecord.select().where(LearningRecord.item_id == "n1").count() == 1


def test_lesson_opened_online_can_be_read_offline(new_page, school, library):
    page = new_page()
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    page.goto("/library/")
    wait_for_service_worker(page)
    page.get_by_role("link", name="Бөлшектер").click()
    page.get_by_role("link", name="Кіріспе").click()
    frame = page.frame_locator("iframe.lesson")
    expect(frame.locator("p")).to_contain_text("Бөлшектер туралы сабақ")
    heading = page.get_by_role("heading", level=1).text_content()
    wait_until_kept(page, [page.url, page.locator("iframe.lesson").get_attribute("src")])

    go_offline(page)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("main > [role=status].offline-banner")).to_contain_text("You are offline")
    expect(frame.locator("p")).to_contain_text("Бөлшектер туралы сабақ")
    # the page keeps its style sheet offline
    assert page.evaluate("getComputedStyle(document.querySelector('.skip')).position") != "static"
    page.context.set_offline(False)


def test_offline_question_page_has_no_axe_violations(new_page, school, practice_pack):
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    expect(page).to_have_url(re.compile(r"/learn/$"))
    page.goto(f"/learn/practice/{PACK}/{MIX}?item=0")
    wait_for_service_worker(page)
    wait_until_kept(page, [page.url, "/static/app.js", "/static/style.css"])
    go_offline(page)
    page.reload()
    expect(page.locator("main > [role=status].offline-banner")).to_contain_text("You are offline")
    page.get_by_label("Blue").check()
    page.get_by_role("button", name="Check my answer").click()
    expect(page.locator(".offline-results li")).to_contain_text("kept on this device")
    expect(page.locator(".offline-banner")).to_contain_text("Answers waiting to be sent: 1")
    report = axe_report(page, "question page, offline, one answer waiting")
    assert_no_horizontal_scroll(page, "offline question page")
    page.context.set_offline(False)
    assert not report, "axe-core found accessibility problems:\n" + report


def test_home_and_lesson_pages_are_light_for_cheap_phones(new_page, school, library):
    """Everything a page loads (HTML, CSS, JS, pictures; lesson media excepted) stays under 100 KB."""
    page = new_page(viewport=PHONE)
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    for path in ("/learn/", "/library/test.algebra/intro"):
        sizes: dict[str, int] = {}

        def measure(response):
            if not response.url.endswith((".wav", ".mp4", ".webm")):
                sizes[response.url] = len(response.body()) if response.status == 200 else 0

        page.on("response", measure)
        page.goto(path, wait_until="networkidle")
        page.remove_listener("response", measure)
        total = sum(sizes.values())
        print(f"{path}: {total:,} bytes in {len(sizes)} responses")
        assert 0 < total < 100_000, f"{path} loads {total:,} bytes: {sizes}"
