"""Publishers' EPUB 3 books in the reader, in Chromium on a 360 px phone at a LAN-style name
(http://school.test:<port>/, not loopback's secure context): matrices, right to left, vertical
writing, links between chapters, footnotes in place, nested contents; axe-core clean."""
from __future__ import annotations

import pytest

from classroom_server.content.services import install_pack
from content_packs.builder import build_pack

from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, sign_in_staff, sign_in_student_pin, sync_api
from .browsertesting import lan_browser  # noqa: F401  (fixtures)
from .epubs import SAMPLES, book_pack
from .pdfs import pdf_pack

expect = sync_api.expect
pytestmark = pytest.mark.browser


@pytest.fixture
def reader(lan_browser, live_server, app, settings, school, tmp_path):
    build_pack(book_pack(tmp_path / "src", SAMPLES), tmp_path / "books.ckpack")
    with app.app_context():
        install_pack(tmp_path / "books.ckpack", settings.data_dir, (), allow_unreviewed=True)
    base = live_server.replace("127.0.0.1", "school.test")
    context = lan_browser.new_context(base_url=base, locale="en-US", viewport=PHONE)
    context.set_default_timeout(15_000)
    outside = []
    context.on("request", lambda r: None if r.url.startswith(base + "/") or r.url.startswith("data:")
               else outside.append(r.url))
    page = context.new_page()
    sign_in_staff(page, "teacher")
    yield page
    context.close()
    assert not outside, outside


def chapter(page, node_id: str) -> None:
    page.goto(f"/library/org.w3.epub3-samples/{node_id}")
    page.wait_for_load_state("load")


def test_matrices_render_as_tables(reader):
    chapter(reader, "algebra.ch03")
    tables = reader.locator("article.reader mtable")
    assert tables.count() == 33
    first = tables.nth(0)
    first.scroll_into_view_if_needed()
    assert first.evaluate("e => getComputedStyle(e).display") in ("inline-table", "table")
    rows = first.locator("mtr")
    tops = [rows.nth(i).bounding_box()["y"] for i in range(rows.count())]
    assert len(tops) == 3 and tops[0] < tops[1] < tops[2]  # three equations, one under the other
    assert axe_report(reader, "a MathML chapter") == ""


def test_right_to_left_text_is_right_aligned(reader):
    chapter(reader, "arabic.ch03")
    paragraph = reader.locator("article.reader p").first
    assert paragraph.evaluate("e => getComputedStyle(e).direction") == "rtl"
    box, article = paragraph.bounding_box(), reader.locator("article.reader").bounding_box()
    text_right = paragraph.evaluate("e => { const r = document.createRange(); r.selectNodeContents(e); "
                                    "const b = r.getClientRects()[0]; return b.right; }")
    assert abs(text_right - (box["x"] + box["width"])) < 2 and box["x"] + box["width"] <= article["x"] + article["width"]
    assert axe_report(reader, "an RTL chapter") == ""


def test_vertical_writing(reader):
    chapter(reader, "kusamakura.ch02")
    body = reader.locator("article.reader .book-body")
    assert body.evaluate("e => getComputedStyle(e).writingMode") == "vertical-rl"
    # the reader's text size still wins over the book's html { font-size: 14pt }
    def size():
        return reader.locator("article.reader .book-body p").first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)")
    before = size()
    reader.get_by_role("button", name="Larger text").click()
    reader.wait_for_load_state("load")
    assert size() == pytest.approx(before * 1.25 / 1.05, rel=0.02)
    # and the reader's contrast wins over the book's colours (html { background-color: #fff4e7 })
    assert body.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 244, 231)"
    reader.get_by_role("button", name="Light text on dark").click()
    reader.wait_for_load_state("load")
    body = reader.locator("article.reader .book-body")
    assert body.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 0, 0)"
    assert body.locator("p").first.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    assert axe_report(reader, "vertical writing, light text on dark") == ""


def test_footnote_opens_in_place_and_contents_are_nested(reader):
    chapter(reader, "georgia.ch02")
    ref = reader.locator("article.reader a[role=doc-noteref]").first
    ref.scroll_into_view_if_needed()
    before = reader.evaluate("window.scrollY")
    ref.click()
    note = reader.locator(".note-in-place")
    expect(note).to_be_visible()
    assert "Savannah" in note.inner_text() or note.inner_text().strip()
    assert abs(reader.evaluate("window.scrollY") - before) < 50  # the page did not jump to the note
    reader.keyboard.press("Escape")
    expect(note).to_have_count(0)
    reader.goto("/library/org.w3.epub3-samples/children")
    nested = reader.locator("nav.book-contents ol ol a")
    assert nested.count() == 21  # of 23 entries, 21 sit in nested lists
    link = reader.locator("nav.book-contents a").nth(3)
    target = link.get_attribute("href")
    link.click()
    reader.wait_for_load_state("load")
    assert reader.url.endswith(target)
    fragment = target.split("#")[1]
    assert reader.locator(f"[id='{fragment}']").count() == 1
    assert axe_report(reader, "nested contents") == ""


@pytest.fixture
def pdf_reader(lan_browser, live_server, app, settings, school, tmp_path):
    build_pack(pdf_pack(tmp_path / "pdf", 150), tmp_path / "pdf.ckpack")
    with app.app_context():
        install_pack(tmp_path / "pdf.ckpack", settings.data_dir, (), allow_unreviewed=True)
    base = live_server.replace("127.0.0.1", "school.test")
    context = lan_browser.new_context(base_url=base, locale="en-US", viewport=PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in_student_pin(page, "5А", "Әлия Нұрланқызы", "4321")
    yield page
    context.close()


def test_a_pdf_page_reads_on_a_phone_and_the_place_is_remembered(pdf_reader):
    page = pdf_reader
    fetched = []
    page.on("response", lambda r: fetched.append(r.url))
    page.goto("/library/local.pdf/fractions")
    page.wait_for_load_state("load")
    first = page.locator("#page-1 img")
    expect(first).to_be_visible()
    assert first.evaluate("i => i.complete && i.naturalWidth") == 1000
    box = first.bounding_box()
    assert box["width"] > 300 and box["height"] > 400  # the whole width of the phone, readable
    assert_no_horizontal_scroll(page, "a PDF textbook")
    pictures = [u for u in fetched if u.endswith(".webp")]
    assert len(pictures) < 10  # not the 150 pages: the rest come as the student scrolls
    # the page's text sits over its picture (select, find, screen readers)
    line = page.locator("#page-1 .pdf-text span").nth(1)
    assert line.inner_text() == "Fractions on page 1: 1/2 = 2/4"
    line_box = line.bounding_box()
    assert box["y"] < line_box["y"] < box["y"] + box["height"] / 4
    # search in the book
    page.get_by_role("searchbox", name="Search in this book").fill("page 120:")
    page.get_by_role("button", name="Find next").click()
    expect(page.locator("output.book-search-result")).to_have_text("Page 120")
    page.wait_for_function("() => document.querySelector('#page-120 img').complete")
    target = page.evaluate("window.scrollY")
    with page.expect_request(lambda r: r.url.endswith("/library/local.pdf/fractions/position")) as sent:
        page.mouse.wheel(0, 30)
    assert 0.75 < sent.value.post_data_json["fraction"] < 0.85
    page.wait_for_timeout(300)
    page.reload()
    page.wait_for_load_state("load")
    page.wait_for_function(f"() => Math.abs(window.scrollY - {target}) < window.innerHeight")
    assert axe_report(page, "a PDF textbook") == ""
