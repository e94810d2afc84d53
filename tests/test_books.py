"""E-textbooks made by others (tests/data/epub3: real EPUB 3 books, see its README) through pack build,
install and the reader: nothing the book means is lost, nothing that could run or fetch is kept."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from classroom_server.content import bookcss
from classroom_server.content.services import install_pack
from classroom_server.models import ContentNode
from content_packs.builder import build_pack
from content_packs.manifest import InvalidPack

from .epubs import BOOKS, SAMPLES, book_pack, zip_book
from .helpers import sign_in_as
from .pdfs import pdf_pack

MATHML = ("math", "mtable", "mtr", "mtd", "mi", "mn", "mo", "mrow", "msub", "msup", "mfrac", "mover", "munder",
          "msubsup", "mtext", "mspace", "mstyle", "msqrt")


@pytest.fixture(scope="module")
def samples_pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("books")
    return build_pack(book_pack(folder / "src", SAMPLES), folder / "books.ckpack"), folder / "books.ckpack"


@pytest.fixture
def installed(app, settings, samples_pack):
    with app.app_context():
        install_pack(samples_pack[1], settings.data_dir, (), allow_unreviewed=True)
    return samples_pack[0]


class _Count(HTMLParser):
    """Elements by name, ids, links and notes of an HTML (or XHTML) text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.noterefs = 0
        self.rtl = 0

    def handle_starttag(self, tag, attrs):
        tag = tag.split(":")[-1]
        found = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if found.get("id"):
            self.ids.add(found["id"])
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])
        if "noteref" in (found.get("epub:type") or "").split():
            self.noterefs += 1
        if found.get("dir") == "rtl":
            self.rtl += 1

    handle_startendtag = handle_starttag


def count(text: str) -> _Count:
    counter = _Count()
    counter.feed(text)
    return counter


def source_document(name: str, href: str) -> str:
    opf = next((BOOKS / name).rglob("package.opf"))
    return (opf.parent / href).read_text("utf-8")


def chapter_nodes(node_id: str) -> list[ContentNode]:
    return list(ContentNode.select().where(ContentNode.parent_id == node_id).order_by(ContentNode.position))


def reader_page(client, pack_id: str, node: ContentNode) -> str:
    response = client.get(f"/library/{pack_id}/{node.node_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def article(page: str) -> str:
    return page[page.index("<article"):page.index("</article>")]


def test_a_chapter_of_matrices_keeps_every_mathml_element(client, school, installed):
    """Archetypes A and B of Beezer's linear algebra: 75 matrices (mtable) and all their parts."""
    sign_in_as(client, school, "student")
    for node in chapter_nodes("algebra"):
        href = json.loads(node.data)["content"]["en"].split("/en/", 1)[1].replace(".html", ".xhtml")
        source = count(source_document("linear-algebra-part", href))
        shown = count(article(reader_page(client, installed.id, node)))
        for tag in MATHML:
            assert shown.tags.get(tag, 0) == source.tags.get(tag, 0), (node.node_id, tag)
    pages = [count(article(reader_page(client, installed.id, n))) for n in chapter_nodes("algebra")]
    assert sum(p.tags.get("mtable", 0) for p in pages) == 75


def test_every_internal_link_resolves_and_no_chapter_is_the_navigation(client, school, installed):
    sign_in_as(client, school, "student")
    broken, resolved = [], 0
    for book in SAMPLES:
        nodes = chapter_nodes(book)
        assert not any("nav" in json.loads(n.data)["content"][SAMPLES[book][1]].rsplit("/", 1)[-1]
                       for n in nodes if book != "children")
        for node in nodes:
            shown = count(article(reader_page(client, installed.id, node)))
            for link in shown.links:
                if link.startswith(("http:", "https:", "mailto:")):
                    continue
                path, _, fragment = link.partition("#")
                if path:
                    response = client.get(path)
                    target = response.get_data(as_text=True) if response.status_code == 200 else ""
                    ok = response.status_code == 200 and (not fragment or f'id="{fragment}"' in target)
                else:
                    ok = fragment in shown.ids
                resolved += ok
                if not ok:
                    broken.append((node.node_id, link))
    assert broken == [] and resolved == internal_links_in_sources() == 32


def internal_links_in_sources() -> int:
    """Links of the books' chapters to a place inside the book (a file the book has)."""
    import posixpath
    from urllib.parse import unquote
    total = 0
    for name, _ in SAMPLES.values():
        for document in (BOOKS / name).rglob("*.xhtml"):
            text = document.read_text("utf-8")
            if 'epub:type="toc"' in text:
                continue  # the navigation document: the contents, tested on its own
            for href in count(text).links:
                if href.startswith(("http:", "https:", "mailto:")):
                    continue
                path = href.split("#")[0]
                target = document if not path else document.parent / posixpath.normpath(unquote(path))
                total += target.exists()
    return total


def test_the_navigation_document_is_the_nested_contents_with_its_page_list(client, school, installed):
    sign_in_as(client, school, "student")
    page = client.get(f"/library/{installed.id}/children").get_data(as_text=True)
    contents = page[page.index('<nav class="book-contents"'):]
    contents = contents[:contents.index("</nav>")]
    navigation = (BOOKS / "childrens-literature/EPUB/nav.xhtml").read_text("utf-8")
    source = count(re.sub(r'<nav epub:type="landmarks".*?</nav>', "", navigation, flags=re.S))
    shown = count(contents)
    assert len(shown.links) == len(source.links) == 114  # toc and page list, every entry (not the landmarks)
    assert "<ol><li><a" in contents and contents.count("<ol") > 3  # nested
    assert "Pages of the printed book" in contents
    first = shown.links[0]
    assert first.startswith(f"/library/{installed.id}/children.ch02#ch-")
    response = client.get(first.split("#")[0])
    assert f'id="{first.split("#")[1]}"' in response.get_data(as_text=True)


def test_language_and_direction_stay_with_the_book(client, school, installed):
    sign_in_as(client, school, "student")
    node = chapter_nodes("arabic")[2]
    shown = article(reader_page(client, installed.id, node))
    assert re.search(r'<article [^>]*lang="ar"[^>]*dir="rtl"', shown)
    assert "ما هو السرطان" in shown
    japanese = article(reader_page(client, installed.id, chapter_nodes("kusamakura")[1]))
    assert 'lang="ja"' in japanese and "<ruby>" in japanese and "<rt>" in japanese


def test_the_books_stylesheet_is_applied_sanitized_in_a_layer(client, school, installed):
    sign_in_as(client, school, "student")
    page = reader_page(client, installed.id, chapter_nodes("kusamakura")[1])
    sheets = re.findall(r'<link rel="stylesheet" href="(/library/[^"]+)"', page)
    assert sheets[0] == f"/library/{installed.id}/style/ebooks/kusamakura/ja/css/vertical.css"
    # the chapter's own style="font-family: foobar;" (a dash set in another font), its own sheet after
    assert sheets[1:] == [f"/library/{installed.id}/chapter-style/ebooks/kusamakura/ja/xhtml/%E4%B8%80.html"]
    assert '[data-book-style="0"]{font-family:foobar}' in client.get(sheets[1]).get_data(as_text=True)
    css = client.get(sheets[0])
    assert css.status_code == 200 and css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert text.index("@font-face") < text.index("@layer book{@scope (.book-body){")
    assert ":scope{writing-mode:vertical-rl" in text  # html { -epub-writing-mode } of the book
    assert "14pt" not in text  # an absolute text size would beat the reader's
    font = re.search(r"url\((/content/pack/[^)]+)\)", text).group(1)
    assert client.get(font).status_code == 200


@pytest.mark.parametrize("css, kept, removed", [
    ("@import url(http://example.org/x.css); p{color:red}", "p{color:red}", "example.org"),
    ("p{background:url(http://example.org/a.png) red}", "", "example.org"),
    ("p{background:url('//example.org/a.png')}", "", "example.org"),
    ("p{width:expression(alert(1))}", "", "expression"),
    ("p{behavior:url(x.htc);-moz-binding:url(x.xml#b)}", "", "htc"),
    ("div{position:fixed;top:0}", "div{top:0}", "fixed"),
    ("p{color:red!important}", "p{color:red}", "important"),
    ("body.x p{margin:0}", ":scope.x p{margin:0}", "body"),
    ("p.body{margin:0}", "p.body{margin:0}", "@import"),
    ("@import 'b.css';", "em{font-style:normal}", "@import"),
    ("p{background:url(../img/a%20b.png)}", "p{background:url(/pack/img/a%20b.png)}", "http"),
])
def test_book_css_sanitizer(css, kept, removed):
    imports = {"css/b.css": "em{font-style:normal}"}
    out = bookcss.sanitize(css, "css/a.css", imports.get, lambda path: "/pack/" + path.replace(" ", "%20"))
    assert kept in out and removed not in out.split("@scope (.book-body){", 1)[1]


def test_footnotes_keep_their_roles(client, school, installed):
    sign_in_as(client, school, "student")
    page = article(reader_page(client, installed.id, chapter_nodes("georgia")[1]))
    source = count(source_document("georgia-cfi", "georgia.xhtml"))
    assert source.noterefs == page.count('role="doc-noteref"') == 24
    assert page.count('role="doc-footnote"') == 15  # some notes are referenced twice
    for target in re.findall(r'<a href="#([^"]+)" epub:type="noteref"', page):
        assert f'id="{target}"' in page


def test_a_manifest_naming_a_missing_file_is_a_clear_error(tmp_path):
    zip_book("kusamakura-preview", tmp_path / "src" / "src" / "k.epub")
    (tmp_path / "src" / "pack.json").write_text(json.dumps({
        "format_version": 1, "id": "x.k", "version": "1", "title": {"ja": "草枕"}, "subject": "literature",
        "grades": [9], "languages": ["ja"], "license": "CC-BY-SA-3.0", "authors": ["x"],
        "review": {"status": "draft"},
        "nodes": [{"id": "k", "kind": "ebook", "title": {"ja": "草枕"}, "epub": {"ja": "src/k.epub"}}]}))
    with pytest.raises(InvalidPack) as error:
        build_pack(tmp_path / "src", tmp_path / "k.ckpack")
    assert str(error.value) == ("k.epub: the book names EPUB/audio/fmse004b.mp3, which is not in the EPUB; add "
                                "the file or remove it from the package's manifest")


def test_an_xhtml_that_is_not_well_formed_is_named(tmp_path):
    def break_it(rel, data):
        return data.replace(b"</h1>", b"", 1) if rel.endswith("C_content.xhtml") else data
    zip_book("regime-anticancer-arabic", tmp_path / "a.epub", break_it)
    from content_packs.epub import read_epub
    with pytest.raises(InvalidPack, match=r"^a\.epub: EPUB/Content/C_content\.xhtml is not well-formed XML: "
                                          r"mismatched tag: line \d+, column \d+$"):
        read_epub(tmp_path / "a.epub")


def test_content_languages_are_any_bcp47_tag(installed):
    assert installed.data["languages"] == ["ar", "en", "ja"]
    arabic = next(n for n in installed.data["nodes"] if n["id"] == "arabic")
    assert list(arabic["children"][0]["content"]) == ["ar"]


@pytest.mark.parametrize("tag, good", [("ar", True), ("zh-Hans", True), ("en-GB", True), ("es-419", True),
                                       ("sr-Latn-RS", True), ("EN", False), ("english", False), ("e", False),
                                       ("kk_KZ", False), ("", False)])
def test_language_tags(tag, good):
    from content_packs.manifest import is_language_tag
    assert is_language_tag(tag) is good


SVG_CHAPTER = """<!doctype html><html lang="kk"><title>Жолақтар</title><body>
<p>Үш жолақтың боялған бөліктері бірдей.</p>
<svg viewBox="0 0 120 40" role="img" aria-label="Үш жолақ" onload="alert(1)">
  <defs><linearGradient id="shade"><stop offset="0" stop-color="#39f"/></linearGradient></defs>
  <rect x="0" y="0" width="60" height="10" fill="url(#shade)" onclick="alert(2)"/>
  <rect x="0" y="15" width="60" height="10" fill="url(http://example.org/x.svg#p)"/>
  <use href="#shade"/><use href="http://example.org/a.svg#b"/>
  <script>alert(3)</script><foreignObject><iframe src="http://example.org"></iframe></foreignObject>
  <a href="javascript:alert(4)"><text x="0" y="38">1/2</text></a>
  <animate attributeName="href" to="javascript:alert(5)"/>
</svg>
<math><mfrac><mn>1</mn><mn>2</mn></mfrac><annotation-xml encoding="text/html"><img src=x onerror=alert(6)></annotation-xml></math>
</body></html>"""


def test_inline_svg_is_kept_and_made_harmless(tmp_path, app, settings, client, school):
    """Issue 19: a chapter's drawing (the shaded strips) shows; scripts, handlers and outside links go."""
    from .packs import pack_source
    source = pack_source(tmp_path / "src", extra_files={"lessons/strips.html": SVG_CHAPTER.encode("utf-8")})
    manifest = json.loads((source / "pack.json").read_text("utf-8"))
    manifest["nodes"][0]["children"][1]["children"][0]["content"] = {"kk": "lessons/strips.html"}
    (source / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    build_pack(source, tmp_path / "p.ckpack")
    with app.app_context():
        install_pack(tmp_path / "p.ckpack", settings.data_dir, (), allow_unreviewed=True)
    sign_in_as(client, school, "student")
    shown = article(client.get("/library/test.algebra/book.ch1").get_data(as_text=True))
    assert '<svg viewBox="0 0 120 40" role="img" aria-label="Үш жолақ">' in shown
    assert shown.count("<rect") == 2 and 'fill="url(#ch-shade)"' in shown and 'id="ch-shade"' in shown
    assert '<use href="#ch-shade">' in shown and shown.count("<use") == 2
    assert "<text" in shown and "<mfrac><mn>1</mn><mn>2</mn></mfrac>" in shown
    for gone in ("alert", "example.org", "<script", "foreignObject", "<iframe", "<animate", "annotation-xml",
                 "onerror", "onload", "onclick"):
        assert gone not in shown


# Debian's /usr/bin/epubcheck is the jar itself (run through binfmt_misc where that is set up): run it with java.
EPUBCHECK = "/usr/share/java/epubcheck.jar" if shutil.which("java") and Path("/usr/share/java/epubcheck.jar").is_file() \
    else None


@pytest.mark.slow  # epubcheck starts a Java VM for each book: 5-10 s each
@pytest.mark.skipif(EPUBCHECK is None, reason="needs epubcheck (apt-get install epubcheck; .ci/run installs it)")
@pytest.mark.parametrize("node_id", sorted(SAMPLES))
def test_the_opds_epub_of_a_publishers_book_passes_epubcheck(tmp_path, app, settings, client, installed, node_id):
    language = SAMPLES[node_id][1]  # en, ar, ja: the catalog makes an EPUB in any content language
    response = client.get(f"/opds/book/{installed.id}/{node_id}.{language}.epub")
    assert response.status_code == 200
    data = response.data
    book = tmp_path / f"{node_id}.epub"
    book.write_bytes(data)
    result = subprocess.run(["java", "-jar", EPUBCHECK, str(book)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    with zipfile.ZipFile(book) as archive:
        package = archive.read("OEBPS/content.opf").decode()
        assert f"<dc:language>{language}</dc:language>" in package
        assert ('page-progression-direction="rtl"' in package) is (language == "ar")
        if node_id == "algebra":
            chapter = next(n for n in archive.namelist() if n.endswith("ch003.xhtml"))
            assert archive.read(chapter).decode().count("<mtable") == 33


def test_svg_pictures_copied_into_an_opds_epub_are_sanitized(tmp_path, app, settings, client):
    """Issue 14: an SVG file a chapter shows with <img> is cleaned like inline SVG in the EPUB."""
    from .packs import pack_source
    evil = (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10' onload='alert(1)'>"
            b"<script>alert(2)</script><style>@import url(http://example.org/x.css);</style>"
            b"<image href='http://example.org/t.png'/><foreignObject><p>x</p></foreignObject>"
            b"<circle cx='5' cy='5' r='4' onclick='alert(3)' fill='url(http://example.org/p#g)'/>"
            b"<rect width='2' height='2'/></svg>")
    source = pack_source(tmp_path / "src")
    (source / "media" / "pie.svg").write_bytes(evil)
    build_pack(source, tmp_path / "p.ckpack")
    with app.app_context():
        install_pack(tmp_path / "p.ckpack", settings.data_dir, (), allow_unreviewed=True)
    response = client.get("/opds/book/test.algebra/book.kk.epub")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        picture = archive.read("OEBPS/files/media/pie.svg").decode()
    assert "<rect" in picture and "<circle" in picture and 'viewBox="0 0 10 10"' in picture
    for gone in ("alert", "example.org", "script", "style", "foreignObject", "<image", "onload", "onclick"):
        assert gone not in picture


@pytest.fixture(scope="module")
def pdf_ckpack(tmp_path_factory):
    """The PDF textbook pack, built once for the module: rendering its pages is the slow part, so it
    has 20 (enough for the first two eager and the rest lazy, and the text of page 17)."""
    folder = tmp_path_factory.mktemp("pdf")
    return build_pack(pdf_pack(folder / "src", PDF_PAGES), folder / "pdf.ckpack"), folder / "pdf.ckpack"


PDF_PAGES = 20


@pytest.fixture
def pdf_book(app, settings, pdf_ckpack):
    manifest, path = pdf_ckpack
    with app.app_context():
        install_pack(path, settings.data_dir, (), allow_unreviewed=True)
    return manifest


def test_a_pdf_textbook_becomes_pages_read_in_our_page(client, school, pdf_book):
    node = pdf_book.data["nodes"][0]
    assert node["pdf_pages"] == {"en": "ebooks/fractions/en/pages/pages.json"}
    sign_in_as(client, school, "student")
    page = client.get("/library/local.pdf/fractions").get_data(as_text=True)
    shown = article(page)
    assert shown.count('<section class="pdf-page"') == PDF_PAGES
    assert shown.count('loading="eager"') == 2 and shown.count('loading="lazy"') == PDF_PAGES - 2
    assert "Fractions on page 17: 1/2 = 2/4" in shown  # the text, for finding, selecting and hearing
    first = re.search(r'<img src="(/content/[0-9a-f]{64}/0001\.webp)" width="1000" height="1416"', shown).group(1)
    picture = client.get(first)
    assert picture.status_code == 200 and picture.mimetype == "image/webp" and len(picture.data) < 20_000
    assert 'data-position-url="/library/local.pdf/fractions/position"' in shown
    assert "Download the PDF" in page
    found = client.get("/library/search?q=Fractions+page+17").get_data(as_text=True)
    assert "/library/local.pdf/fractions" in found  # the library search finds a PDF's text

def test_the_place_in_a_pdf_is_kept_and_reading_it_through_is_recorded(client, school, pdf_book):
    from classroom_server.models import LearningRecord
    from .helpers import csrf_of
    sign_in_as(client, school, "student")
    client.get("/library/local.pdf/fractions")
    token = csrf_of(client)
    url = "/library/local.pdf/fractions/position"
    headers = {"X-CSRF-Token": token}
    assert client.post(url, json={"pack_id": "local.pdf", "chapter_id": "fractions", "fraction": 0.5},
                       headers=headers).status_code == 204
    assert 'data-position="0.5000"' in client.get("/library/local.pdf/fractions").get_data(as_text=True)
    assert not LearningRecord.select().where(LearningRecord.verb == "read").count()
    for _ in range(2):
        assert client.post(url, json={"fraction": 0.95}, headers=headers).status_code == 204
    [record] = LearningRecord.select().where(LearningRecord.verb == "read")
    assert (record.node_id, record.node_kind) == ("fractions", "ebook")
    assert client.post(url, json={"fraction": 2}, headers=headers).status_code == 400
    assert client.post("/library/local.pdf/nothing/position", json={"fraction": 0.1},
                       headers=headers).status_code == 404


def test_a_pdf_that_pdfium_cannot_read_stays_a_file_without_pages(tmp_path, caplog):
    source = pdf_pack(tmp_path / "src", 1)
    (source / "books" / "fractions.pdf").write_bytes(b"%PDF-1.4 nothing here")
    manifest = build_pack(source, tmp_path / "x.ckpack")
    assert "pdf_pages" not in manifest.data["nodes"][0]
    assert "fractions.pdf cannot be read as a PDF" in caplog.text


def test_the_library_filters_by_any_content_language(client, school, installed):
    sign_in_as(client, school, "student")
    library = client.get("/library/").get_data(as_text=True)
    assert '<option value="ar" lang="ar" >العربية</option>' in library and ">日本語<" in library
    found = client.get("/library/search?q=السرطان&language=ar").get_data(as_text=True)
    assert "regime-anticancer-arabic" in found or "/library/org.w3.epub3-samples/arabic.ch03" in found
    assert "/library/org.w3.epub3-samples/arabic.ch03" not in client.get(
        "/library/search?q=السرطان&language=en").get_data(as_text=True)


def test_search_inside_the_book_being_read(client, school, installed):
    sign_in_as(client, school, "student")
    chapter = client.get(f"/library/{installed.id}/georgia.ch02").get_data(as_text=True)
    assert 'name="book" value="georgia"' in chapter and "Search in this book" in chapter
    found = client.get(f"/library/search?q=Savannah&pack={installed.id}&book=georgia").get_data(as_text=True)
    assert "/library/org.w3.epub3-samples/georgia.ch02" in found and "In the book georgia-cfi" in found
    assert "<mark>Savannah</mark>" in found
    # the same word in another book of the library is not found inside this one
    assert "children.ch" not in client.get(
        f"/library/search?q=fairy&pack={installed.id}&book=georgia").get_data(as_text=True)
    assert "children.ch02" in client.get("/library/search?q=fairy").get_data(as_text=True)
    assert client.get(f"/library/search?q=x&pack={installed.id}&book=nothing").status_code == 404


def test_links_with_percent_escapes_are_escaped_once(tmp_path):
    """A file named 'a b.png' is written a%20b.png in the book: the reader's URL says %20, not %2520."""
    from content_packs.epub import read_epub
    from classroom_server.content import reader

    def rename(rel, data):
        if rel.endswith("package.opf"):
            return data.replace(b'href="images/cover.png"', b'href="images/cover%20art.png"')
        if rel.endswith("cover.xhtml"):
            return data.replace(b'src="images/cover.png"', b'src="images/cover%20art.png"')
        return data

    book = zip_book("childrens-literature", tmp_path / "c.epub", rename)
    with zipfile.ZipFile(book, "a") as archive:  # the file itself, under its real name
        archive.writestr("EPUB/images/cover art.png", (BOOKS / "childrens-literature/EPUB/images/cover.png").read_bytes())
    read = read_epub(book)
    assert "images/cover art.png" in read.resources
    page = read.chapters[0].page.decode()
    assert 'src="images/cover%20art.png"' in page
    stored = tmp_path / "cover.html"
    stored.write_bytes(read.chapters[0].page)
    shown = str(reader.chapter_html("p", "ebooks/b/en/cover.html", str(stored)).body)
    assert 'src="/content/pack/p/ebooks/b/en/images/cover%20art.png"' in shown and "%2520" not in shown


def test_a_books_main_and_svg_titles_inside_our_page(tmp_path):
    """A book's <main> would be a second main landmark in our page: its content stays, the element
    goes. A drawing's <title> (dropped with the page's <title>) stays its accessible name."""
    from classroom_server.content import reader
    stored = tmp_path / "ch.html"
    stored.write_text("""<!doctype html><html lang="kk"><head><title>Тарау</title></head><body><main>
<p>Мәтін</p>
<svg role="img" aria-labelledby="bar"><title id="bar">Жолақ</title><rect width="4" height="4"/></svg>
<svg role="img"><title>Шеңбер &amp; сызық</title><circle r="2"/></svg>
<svg role="img" aria-label="Өз аты"><title>Басқа</title></svg>
</main></body></html>""", encoding="utf-8")
    shown = str(reader.chapter_html("p", "ch/ch.html", str(stored)).body)
    assert "<main" not in shown and "<p>Мәтін</p>" in shown
    assert "Тарау" not in shown  # the page's own title still goes
    assert 'aria-labelledby="ch-bar"' in shown and '<desc id="ch-bar">Жолақ</desc>' in shown
    assert 'aria-label="Шеңбер &amp; сызық"' in shown
    assert 'aria-label="Өз аты"' in shown and 'aria-label="Басқа"' not in shown


def epub2(rel: str, data: bytes) -> bytes:
    """childrens-literature as an EPUB 2 book: no navigation document, only its NCX (toc.ncx)."""
    if rel.endswith("package.opf"):
        text = data.decode("utf-8").replace('version="3.0"', 'version="2.0"')
        text = re.sub(r'\s*<item href="nav.xhtml"[^>]*/>', "", text)
        return re.sub(r'\s*<itemref idref="nav"/>', "", text).encode("utf-8")
    return data


def test_an_epub2_book_gets_its_nested_contents_from_the_ncx(tmp_path):
    """navPoint depth is the contents' nesting: the same tree the EPUB 3 navigation document gives."""
    from content_packs.epub import read_epub
    ncx_book = read_epub(zip_book("childrens-literature", tmp_path / "epub2.epub", epub2))
    nav_book = read_epub(zip_book("childrens-literature", tmp_path / "epub3.epub"))
    assert not any("nav" in c.href for c in ncx_book.chapters)

    def shape(entries):
        return [(e["href"], len(e["children"]), shape(e["children"])) for e in entries]

    def depth(entries):
        return 1 + max((depth(e["children"]) for e in entries), default=0) if entries else 0

    def size(entries):
        return sum(1 + size(e["children"]) for e in entries)

    source = (BOOKS / "childrens-literature/EPUB/toc.ncx").read_text("utf-8")
    assert size(ncx_book.toc) == source.count("<navPoint") == 22
    assert depth(ncx_book.toc) == 3 and len(ncx_book.toc) == 1  # one section, its stories, their chapters
    from xml.etree import ElementTree
    ns = "{http://www.daisy.org/z3986/2005/ncx/}"

    def source_shape(parent):
        return [(point.find(f"{ns}content").get("src"), len(point.findall(f"{ns}navPoint")), source_shape(point))
                for point in parent.findall(f"{ns}navPoint")]
    assert shape(ncx_book.toc) == source_shape(ElementTree.fromstring(source.encode()).find(f"{ns}navMap"))
    assert ncx_book.toc[0]["title"] == "SECTION IV FAIRY STORIES—MODERN FANTASTIC TALES"
    assert ncx_book.toc[0]["children"][2]["children"][0]["title"] == "I. The Rabbi and the Diadem"
    assert len(ncx_book.page_list) == source.count("<pageTarget") > 0
    assert [p["href"] for p in ncx_book.page_list] == [p["href"] for p in nav_book.page_list]


HOSTILE_STYLE = ("<style>@import url(http://evil.example/a.css); @import 'css/nav.css';\n"
                 "p.lead { color: rgb(1, 2, 3); } p > span { letter-spacing: .1em }\n"
                 "p { position: fixed; background: url(https://evil.example/p.png); font-size: 30px;\n"
                 "    width: expression(alert(1)); } </style>"
                 "<style media=\"print\">p { color: rgb(4, 5, 6) }</style>")


def styled(rel: str, data: bytes) -> bytes:
    """childrens-literature with <style> elements and style="..." attributes, some of them hostile."""
    if rel.endswith("s04.xhtml"):
        text = data.decode("utf-8").replace("</head>", HOSTILE_STYLE + "</head>", 1)
        text = text.replace("<p>The difficulties", '<p class="lead" style="color: rgb(9, 8, 7); font-size: 40px; '
                            'background-image: url(https://evil.example/b.png); behavior: url(x.htc)">The difficulties', 1)
        text = text.replace("<p>Without discussing", '<p style="color: red} .book-body {display: none">Without '
                            'discussing', 1)
        return text.replace("<p><span epub:type=\"bridgehead\">", '<p style="margin-left: 2em; '
                            'background: url(images/cover.png)"><span epub:type="bridgehead">', 1).encode("utf-8")
    return data


def test_style_elements_and_attributes_are_kept_sanitized(tmp_path, app, settings, client, school):
    source = tmp_path / "src"
    zip_book("childrens-literature", source / "src" / "book.epub", styled)
    (source / "pack.json").write_text(json.dumps({
        "format_version": 1, "id": "local.styled", "version": "1.0.0", "title": {"en": "Styled"},
        "subject": "literature", "grades": [5], "languages": ["en"], "license": "CC0-1.0", "authors": ["Us"],
        "review": {"status": "draft"},
        "nodes": [{"id": "book", "kind": "ebook", "title": {"en": "Styled"}, "epub": {"en": "src/book.epub"}}]}),
        encoding="utf-8")
    build_pack(source, tmp_path / "styled.ckpack")
    with app.app_context():
        install_pack(tmp_path / "styled.ckpack", settings.data_dir, (), allow_unreviewed=True)
        chapter = next(n for n in chapter_nodes("book") if "s04" in json.loads(n.data)["content"]["en"])
    sign_in_as(client, school, "student")
    page = reader_page(client, "local.styled", chapter)
    shown = article(page)
    assert " style=" not in shown and "<style" not in shown and "evil.example" not in page
    assert re.search(r'<p class="lead" data-book-style="0">The difficulties', shown)
    assert shown.count("data-book-style=") == 3
    sheet = re.search(r'<link rel="stylesheet" href="(/library/local.styled/chapter-style/[^"]+)"', page).group(1)
    response = client.get(sheet)
    assert response.status_code == 200 and response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    scoped = css.split("@layer book{@scope (.book-body){", 1)[1]
    # kept: the book's own rules and attributes, its own imported stylesheet, its own picture, media
    assert "p.lead{color:rgb(1, 2, 3)}" in scoped and "p > span{letter-spacing:.1em}" in scoped
    attributes = css.split("@layer book-style-attributes{@scope (.book-body){", 1)[1]
    assert css.startswith("@layer book, book-style-attributes;")  # attributes beat the book's sheets
    assert '[data-book-style="0"]{color:rgb(9, 8, 7)}' in attributes
    assert '[data-book-style="1"]{margin-left:2em;background:url(/content/pack/local.styled/ebooks/book/en/images/' \
           'cover.png)}' in attributes
    assert "@media print{p{color:rgb(4, 5, 6)}}" in scoped
    assert "nav" in scoped.lower() or "ol" in scoped  # css/nav.css, imported from the book itself
    # gone: outside addresses, code, fixed position, absolute text sizes, a brace breaking out
    for gone in ("evil.example", "expression", "behavior", "htc", "fixed", "30px", "40px", ".book-body {display",
                 ".book-body{display", "color:red", '[data-book-style="2"]'):
        assert gone not in css, gone
    assert client.get(sheet, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    for other in ("ebooks/book/en/images/cover.png", "ebooks/book/en/nothing.html", "../../etc/passwd.html"):
        assert client.get(f"/library/local.styled/chapter-style/{other}").status_code == 404


def test_every_style_attribute_of_the_five_books_is_kept(client, school, installed):
    """Fidelity: the books' own style="..." (48 MathML tables' text-align:axis in the linear algebra,
    two dashes set in another font in Kusamakura) each become a rule of their chapter's stylesheet."""
    sign_in_as(client, school, "student")
    in_sources = sum(len(re.findall(r"""\sstyle=["'][^"']+["']""", document.read_text("utf-8")))
                     for name, _ in SAMPLES.values() for document in (BOOKS / name).rglob("*.xhtml"))
    kept = 0
    for book in SAMPLES:
        for node in chapter_nodes(book):
            page = reader_page(client, installed.id, node)
            marked = set(re.findall(r'data-book-style="(\d+)"', article(page)))
            sheet = re.search(r'href="(/library/[^"]+/chapter-style/[^"]+)"', page)
            if not marked:
                assert sheet is None
                continue
            css = client.get(sheet.group(1)).get_data(as_text=True)
            kept += sum(f'[data-book-style="{number}"]{{' in css for number in marked)
    assert kept == in_sources == 50
