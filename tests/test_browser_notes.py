"""A student's highlights, notes and bookmarks in Chromium on a 360 px phone at http://school.test:
selecting words with the mouse or the keyboard, the marks in the text after reload, "My notes" leading
back to the place, a PDF textbook's page; tap targets of 44 px, axe-core clean, in Russian and English."""
from __future__ import annotations

import re
import time

import pytest

from classroom_server.models import ReaderNote

from .browsertesting import (PHONE, assert_no_horizontal_scroll, axe_report, go_offline, kept_notes, put_back_note,
                             sign_in_student_pin, sync_api)
from .browsertesting import lan_browser  # noqa: F401  (fixtures)
from .geobook import CHAPTER_ONE, install

expect = sync_api.expect
pytestmark = pytest.mark.browser
STUDENT = ("5А", "Әлия Нұрланқызы", "4321")


def small_targets(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.note-tools button, .note-tools summary, .note-tools a, .note-tools input, li.note a, li.note button')]
      .filter(e => e.offsetParent !== null)
      .map(e => [e, e.getBoundingClientRect()]).filter(([e, b]) => b.height < 44)
      .map(([e, b]) => `${e.tagName} '${e.textContent.trim()}' ${Math.round(b.width)}x${Math.round(b.height)}`)""")


@pytest.fixture
def student(lan_browser, live_server, app, settings, school, tmp_path):
    install(app, settings, tmp_path)
    base = live_server.replace("127.0.0.1", "school.test")
    pages = []

    def open_page(language: str):
        context = lan_browser.new_context(base_url=base, locale="en-US", viewport=PHONE)
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in_student_pin(page, *STUDENT)
        if language != "English":
            page.get_by_role("button", name=language).click()
        pages.append(context)
        return page
    yield open_page
    for context in pages:
        context.close()


def select_text(page, selector: str, words: str) -> None:
    """Select `words` inside the element as a finger or mouse would (a DOM selection)."""
    page.evaluate("""([selector, words]) => {
      const element = document.querySelector(selector);
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      let node;
      while ((node = walker.nextNode())) {
        const at = node.data.indexOf(words);
        if (at >= 0) {
          const range = document.createRange();
          range.setStart(node, at); range.setEnd(node, at + words.length);
          const selection = window.getSelection();
          selection.removeAllRanges(); selection.addRange(range);
          return;
        }
      }
      throw new Error('not found: ' + words);
    }""", [selector, words])


def test_highlight_a_note_and_a_bookmark_in_a_chapter(student, app):
    page = student("English")
    page.goto("/library/local.geo/geo.ch01")
    assert axe_report(page, "a chapter with the notes tools") == ""
    assert_no_horizontal_scroll(page, "a chapter with the notes tools")
    assert not small_targets(page), small_targets(page)
    # the second "fresh water" (in "Fresh water is rare."), by the mouse, read far above the buttons
    # (they follow the text, so that the chapter starts on the first screen): they come to the bottom
    # of the screen, beside the words
    page.evaluate("window.scrollTo(0, 0)")
    assert page.locator(".note-actions").evaluate("e => e.getBoundingClientRect().top > window.innerHeight")
    select_text(page, "article.reader p:nth-of-type(3)", "Fresh water is rare")
    expect(page.locator(".note-selection")).to_contain_text("Selected: “Fresh water is rare”")
    expect(page.locator(".note-actions.lifted")).to_be_in_viewport()
    assert not small_targets(page), small_targets(page)
    assert axe_report(page, "the notes buttons beside the selected words") == ""
    page.get_by_role("button", name="Highlight", exact=True).click()
    expect(page).to_have_url(re.compile(r"/library/local\.geo/geo\.ch01#note-"))
    mark = page.locator("article.reader mark.my-mark-highlight")
    expect(mark).to_have_text("Fresh water is rare")
    assert mark.evaluate("e => e.closest('p').textContent").startswith("Fresh water is rare")
    # a note on words in the second paragraph, written with the keyboard
    select_text(page, "article.reader p:nth-of-type(2)", "salty")
    page.locator("summary", has_text="Write a note").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Your note (only you see it)").fill("Balkhash: half fresh, half salty")
    page.get_by_label("Your note (only you see it)").press("Tab")
    page.keyboard.press("Enter")  # the focused "Save the note" button
    expect(page.locator("article.reader mark.my-mark-note")).to_have_text("salty")
    # a bookmark without a selection: the first words on the screen where the student was reading
    page.evaluate("window.getSelection().removeAllRanges()")
    page.locator("article.reader p").nth(1).evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + scrollY)")
    page.wait_for_timeout(700)  # the page notes the place a moment after scrolling stops
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Bookmark this place").click()
    expect(page.locator(".chapter-notes li.note")).to_have_count(3)
    assert axe_report(page, "a chapter with marks and notes") == ""
    # My notes leads back to the place
    page.get_by_role("link", name="My notes in this book").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("My notes")
    assert axe_report(page, "My notes") == ""
    assert not small_targets(page), small_targets(page)
    page.locator("li.note-highlight").get_by_role("link", name="Go to the place").click()
    expect(page.locator("mark.my-mark-highlight")).to_be_focused()
    expect(page.locator("mark.my-mark-bookmark[id]")).to_have_text(re.compile(r"^Half of the lake"))
    with app.app_context():
        kept = {n.kind: n for n in ReaderNote.select()}
    assert kept["highlight"].prefix.endswith("lakes of the world.")
    assert kept["note"].exact == "salty" and kept["bookmark"].exact.startswith("Half of the lake")


def test_notes_on_a_pdf_page_in_russian_and_my_notes_in_kazakh(student, app):
    page = student("Русский")
    page.goto("/library/local.geo/lakes")
    expect(page.get_by_role("button", name="Поставить закладку здесь")).to_be_visible()
    page.locator("#page-2").scroll_into_view_if_needed()
    select_text(page, "#page-2 .pdf-text", "Lakes on page 2")
    expect(page.locator(".note-tools input[name=page]")).to_have_value("2")
    page.get_by_role("button", name="Выделить", exact=True).click()
    expect(page.locator("#page-2 mark.my-mark")).to_have_count(1)
    assert axe_report(page, "a PDF textbook with a highlight, in Russian") == ""
    assert_no_horizontal_scroll(page, "a PDF textbook with the notes tools")
    assert not small_targets(page), small_targets(page)
    with app.app_context():
        assert [(n.page, n.exact) for n in ReaderNote.select()] == [(2, "Lakes on page 2")]
    page.get_by_role("button", name="Қазақша").click()
    page.get_by_role("link", name="Осы кітаптағы белгілерім").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Менің белгілерім")
    assert axe_report(page, "My notes in Kazakh") == ""
    page.get_by_role("link", name="Сол жерге өту").click()
    expect(page.locator("#page-2 mark.my-mark-highlight")).to_be_focused()


def test_a_chapters_own_styles_apply_under_the_readers_text_size_and_contrast(student):
    page = student("English")
    page.goto("/library/local.geo/geo.ch01")
    first, second = page.locator("article.reader p").nth(0), page.locator("article.reader p").nth(1)
    style = "e => { const s = getComputedStyle(e); return [s.color, s.position, s.fontSize, s.marginLeft]; }"
    body_size = page.locator("article.reader .book-body").evaluate("e => getComputedStyle(e).fontSize")
    assert first.evaluate(style) == ["rgb(200, 0, 0)", "static", body_size, second.evaluate(style)[3]]
    assert second.evaluate(style)[0] == "rgb(9, 8, 7)"  # the <style> element's rule
    page.get_by_role("button", name="Light text on dark").click()
    page.wait_for_load_state("load")
    assert first.evaluate(style)[0] == second.evaluate(style)[0] == "rgb(255, 255, 255)"
    assert axe_report(page, "a chapter with its own styles, light text on dark") == ""


def wait_for_kept(page, client_ids: list[str], seconds: float = 10.0) -> None:
    """Wait until the device keeps exactly these notes (it forgets the others once the server has them)."""
    deadline = time.monotonic() + seconds
    while sorted(entry["client_id"] for entry in kept_notes(page)) != sorted(client_ids):
        assert time.monotonic() < deadline, f"kept on the device: {kept_notes(page)}, wanted {client_ids}"
        page.wait_for_timeout(100)


def test_notes_written_while_the_server_cannot_be_reached_are_kept_then_stored_once(student, app, school):
    """The Wi-Fi drops while a student reads at http://school.test: a note and a highlight are kept on
    the phone (said beside the buttons, marked in the text), not lost to the browser's error page;
    back online they are stored once each, even when the device sends one again; a kept note of
    another student who used this phone is not sent under this student's session."""
    page = student("English")
    page.goto("/library/local.geo/geo.ch01")
    assert page.evaluate("window.isSecureContext") is False  # no service worker: IndexedDB does the keeping
    go_offline(page)
    select_text(page, "article.reader p:nth-of-type(2)", "salty")
    page.locator("summary", has_text="Write a note").click()
    page.get_by_label("Your note (only you see it)").fill("Balkhash: half fresh, half salty")
    page.get_by_role("button", name="Save the note").click()
    kept_text = "Kept on this device: it will be saved when the school server can be reached."
    expect(page.locator(".note-selection")).to_have_text(kept_text)
    expect(page.locator("article.reader mark.my-mark-kept")).to_have_text("salty")
    expect(page.get_by_label("Your note (only you see it)")).to_have_value("")
    select_text(page, "article.reader p:nth-of-type(3)", "Fresh water is rare")
    page.get_by_role("button", name="Highlight", exact=True).click()
    expect(page.locator("article.reader mark.my-mark-kept.my-mark-highlight")).to_have_text("Fresh water is rare")
    expect(page.locator(".note-selection")).to_have_text(kept_text)
    # The banner every page shows says so too (answers waiting are counted there the same way).
    notes_waiting = "Notes in books kept on this device until the school server can be reached: "
    expect(page.locator(".offline-banner")).to_contain_text(notes_waiting + "2.")
    assert "chrome-error" not in page.url and page.url.endswith("/library/local.geo/geo.ch01")
    kept = kept_notes(page)
    assert sorted(entry["kind"] for entry in kept) == ["highlight", "note"]
    assert {entry["user"] for entry in kept} == {str(school.student.id)}
    with app.app_context():
        assert ReaderNote.select().count() == 0
    assert axe_report(page, "a chapter with notes kept on the device") == ""

    # Another student's note, kept on this phone before: never sent under this student's session.
    theirs = {**kept[0], "client_id": "0b7e2f4c-3a1d-4e5f-9a6b-7c8d9e0f1a2b", "user": str(school.other_student.id),
              "text": "not mine"}
    put_back_note(page, theirs)

    page.context.set_offline(False)  # the "online" event sends what waits
    expect(page.locator(".note-selection")).to_have_text("Saved on the school server.")
    expect(page.locator(".offline-banner")).to_be_hidden()  # the other student's kept note is not counted
    expect(page.locator("article.reader mark.my-mark-kept")).to_have_count(0)
    expect(page.locator("article.reader mark.my-mark-note")).to_have_text("salty")
    with app.app_context():
        stored = {n.kind: n for n in ReaderNote.select()}
    assert sorted(stored) == ["highlight", "note"]
    assert stored["note"].text == "Balkhash: half fresh, half salty" and stored["note"].exact == "salty"
    assert stored["note"].user_id == school.student.id
    assert {n.client_id for n in stored.values()} == {entry["client_id"] for entry in kept}
    assert [entry["client_id"] for entry in kept_notes(page)] == [theirs["client_id"]]

    # The reply to a send was lost: the device sends the note again; it is not stored twice.
    put_back_note(page, kept[0])
    page.evaluate("window.classroomUpload()")
    wait_for_kept(page, [theirs["client_id"]])
    with app.app_context():
        assert ReaderNote.select().count() == 2

    # The chapter shows them as any note, from the server.
    page.reload()
    expect(page.locator(".chapter-notes li.note")).to_have_count(2)
    expect(page.locator("article.reader mark.my-mark-highlight")).to_have_text("Fresh water is rare")
    expect(page.locator(".chapter-notes li.note-note")).to_contain_text("Balkhash: half fresh, half salty")
    expect(page.locator("article.reader mark.my-mark-kept")).to_have_count(0)  # theirs is not shown here

    # Online, the form posts as before, carrying the id it was kept under: the page that comes back
    # names it, and the device stops keeping it.
    page.get_by_role("button", name="Bookmark this place").click()
    expect(page.locator(".chapter-notes li.note")).to_have_count(3)
    with app.app_context():
        bookmark = ReaderNote.get(ReaderNote.kind == "bookmark")
    assert bookmark.client_id and page.locator(f"li[data-note-client='{bookmark.client_id}']").count() == 1
    wait_for_kept(page, [theirs["client_id"]])


def test_a_highlight_on_a_pdf_page_kept_offline_in_russian(student, app):
    page = student("Русский")
    page.goto("/library/local.geo/lakes")
    page.locator("#page-2").scroll_into_view_if_needed()
    go_offline(page)
    select_text(page, "#page-2 .pdf-text", "Lakes on page 2")
    page.get_by_role("button", name="Выделить", exact=True).click()
    expect(page.locator(".note-selection")).to_have_text(
        "Сохранено на этом устройстве: будет сохранено на школьном сервере, когда он станет доступен.")
    expect(page.locator("#page-2 mark.my-mark-kept")).to_have_count(1)
    with app.app_context():
        assert ReaderNote.select().count() == 0
    page.context.set_offline(False)
    expect(page.locator(".note-selection")).to_have_text("Сохранено на школьном сервере.")
    expect(page.locator("#page-2 mark.my-mark-kept")).to_have_count(0)
    with app.app_context():
        assert [(n.page, n.exact, n.kind) for n in ReaderNote.select()] == [(2, "Lakes on page 2", "highlight")]


DELETED_ID = "3c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"


def test_a_kept_note_the_server_refuses_is_shown_with_its_words_until_the_student_removes_it(student, app, settings,
                                                                                           tmp_path):
    """A note kept offline arrives after the book was updated and its words are gone: the server
    refuses it while the student is on another page. That page says so in the banner and shows the
    server's reason and the note's words, to copy, until the student removes it; it is not sent again.
    A kept highlight the student deleted since it was stored (the reply to its send was lost) is dropped."""
    page = student("English")
    page.goto("/library/local.geo/geo.ch01")
    stored = page.evaluate("""id => fetch('/api/v1/me').then(r => r.json()).then(me => fetch(
        '/library/local.geo/geo/notes', {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRF-Token': me.csrf_token}, body: JSON.stringify({client_id: id, kind: 'highlight', chapter: 'geo.ch01',
        exact: 'Fresh water is rare.'})}).then(r => r.json()).then(note => fetch(
        '/library/local.geo/geo/notes/' + note.id, {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRF-Token': me.csrf_token}, body: JSON.stringify({delete: true})})).then(r => r.status))""", DELETED_ID)
    assert stored == 204
    go_offline(page)
    select_text(page, "article.reader p:nth-of-type(2)", "salty")
    page.locator("summary", has_text="Write a note").click()
    words = "Balkhash: half fresh,\nhalf salty"
    page.get_by_label("Your note (only you see it)").fill(words)
    page.get_by_role("button", name="Save the note").click()
    expect(page.locator("article.reader mark.my-mark-kept")).to_have_text("salty")
    kept = kept_notes(page)
    put_back_note(page, {**kept[0], "client_id": DELETED_ID, "kind": "highlight", "text": "",
                         "exact": "Fresh water is rare.", "kept_at": "2020-01-01T00:00:00.000Z"})
    context = page.context
    page.close()  # the student leaves the chapter; meanwhile the book is updated and "salty" is gone
    install(app, settings, tmp_path, "1.1.0", one=CHAPTER_ONE.replace("salty", "briny"))
    context.set_offline(False)
    page = context.new_page()
    notes_posts = []
    page.on("request", lambda r: notes_posts.append(r.url) if r.method == "POST" and "/notes" in r.url else None)
    page.goto("/learn/")
    banner = page.locator(".offline-banner")
    expect(banner).to_have_text("Notes kept on this device that the school server did not save: 1. "
                                "Their words are below.")
    panel = page.get_by_role("region", name="Notes not saved on the school server")
    expect(panel).to_contain_text("The school server did not save a note kept on this device: the words you chose "
                                  "are not in this chapter; select them again")
    expect(panel.locator("blockquote")).to_have_text(words)
    expect(panel).to_contain_text("What you wrote:")
    assert panel.get_by_role("link", name="Go to the place").get_attribute("href") == "/library/local.geo/geo.ch01"
    assert [(e["client_id"], bool(e.get("refused"))) for e in kept_notes(page)] == [(kept[0]["client_id"], True)]
    with app.app_context():
        assert ReaderNote.select().count() == 0  # neither the refused note nor the deleted highlight
    assert len(notes_posts) == 2 and all(url.endswith("/library/local.geo/geo/notes") for url in notes_posts)
    assert axe_report(page, "a page showing a note the server did not save") == ""
    assert_no_horizontal_scroll(page, "a page showing a note the server did not save")
    small = page.evaluate("""() => [...document.querySelectorAll('.notes-refused a, .notes-refused button')]
      .filter(e => e.getBoundingClientRect().height < 44).map(e => e.textContent)""")
    assert not small, small

    # kept aside: not sent again, on this page or the next
    page.evaluate("window.classroomUpload()")
    page.reload()
    expect(panel.locator("blockquote")).to_have_text(words)
    assert len(notes_posts) == 2, notes_posts
    page.get_by_role("button", name="Copy the words").click()
    expect(panel.get_by_role("status")).to_have_text(re.compile(r"^(Copied\.|The words are selected: .*)$"))
    assert page.evaluate("getSelection().toString()") == words

    # in Kazakh; removed by the student, it is gone from this device
    page.get_by_role("button", name="Қазақша").click()
    expect(banner).to_contain_text("мектеп сервері сақтамаған жазбалар: 1.")
    expect(page.locator(".notes-refused")).to_contain_text("Жазылған мәтін:")
    assert axe_report(page, "a note the server did not save, in Kazakh") == ""
    page.get_by_role("button", name="Осы құрылғыдан өшіру").click()
    expect(page.locator(".notes-refused")).to_have_count(0)
    expect(banner).to_be_hidden()
    expect(page.locator("#main")).to_be_focused()
    assert kept_notes(page) == []
