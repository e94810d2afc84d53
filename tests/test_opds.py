"""The OPDS 1.2 catalog at /opds/: valid Atom, navigable from the root, EPUB and PDF downloads,
search in Kazakh and Russian, reachable without signing in."""
from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

import pytest
import requests

from classroom_server.content.services import install_pack
from classroom_server.models import ContentFile

from .helpers import check_rfc9110_answers
from .packs import build, install_signed, pack_source

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/terms/"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
OPF = "http://www.idpf.org/2007/opf"
XHTML = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NAVIGATION = "application/atom+xml;profile=opds-catalog;kind=navigation"
ACQUISITION = "application/atom+xml;profile=opds-catalog;kind=acquisition"
OPEN_ACCESS = "http://opds-spec.org/acquisition/open-access"
THUMBNAIL = "http://opds-spec.org/image/thumbnail"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Link relations an OPDS 1.2 client understands: RFC 4287, RFC 5005 paging, OPDS's own.
KNOWN_RELS = {"self", "start", "up", "alternate", "search", "subsection", "related", "first", "previous",
              "next", "last"}
MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
               b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
TRICKY_CHAPTER = """<!doctype html><html lang=kk><head><title>2-тарау</title>
<style>p{color:red}</style><script>document.write("<p>injected")</script></head><body>
<h1>2-тарау &amp; жаттығулар</h1>
<p>Бірінші абзац<p>Екінші абзац <b>қалың <i>көлбеу</b> мәтін</i>
<ul><li>бір<li>екі</ul>
<table><tr><th>a<th>b<tr><td>1<td>2</table>
<img src="../media/pie.svg" alt="пирог"><img src="../../../secret_key" alt="сыртта">
<img src="http://example.org/remote.png" alt="алыс">
<a href="javascript:alert(1)" onclick="x()">сілтеме</a> <a href="../lessons/intro.kk.html#top">алдыңғы</a>
<svg viewBox="0 0 10 10"><rect x=1 y=1 width=8 height=8 /><foreignObject><p>жоқ</p></foreignObject></svg>
<math><mfrac><mn>1</mn><mn>4</mn></mfrac></math>
<p>Соңы&nbsp;&lt;бітті&gt;<br>
</body></html>"""


def A(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


# --- a validator: RFC 4287 required elements, OPDS 1.2 links ---------------------------------------

def validate_feed(root: ET.Element, kind: str) -> None:
    """Raise AssertionError naming the first problem of an OPDS feed of this kind."""
    assert root.tag == A("feed"), f"the root is {root.tag}, not an Atom feed"
    for name in ("id", "title", "updated"):
        found = root.findall(A(name))
        assert len(found) == 1 and (found[0].text or "").strip(), f"feed needs exactly one non-empty {name}"
    assert RFC3339.match(root.find(A("updated")).text)
    feed_has_author = any((a.findtext(A("name")) or "").strip() for a in root.findall(A("author")))
    links = root.findall(A("link"))
    self_links = [link for link in links if link.get("rel") == "self"]
    assert len(self_links) == 1 and self_links[0].get("type") == kind
    assert any(link.get("rel") == "start" and link.get("type") == NAVIGATION for link in links)
    for link in links:
        check_link(link)
    ids = set()
    for entry in root.findall(A("entry")):
        where = entry.findtext(A("id"))
        for name in ("id", "title", "updated"):
            found = entry.findall(A(name))
            assert len(found) == 1 and (found[0].text or "").strip(), f"entry {where} needs one non-empty {name}"
        assert RFC3339.match(entry.findtext(A("updated")))
        assert where not in ids, f"entry id {where} is used twice"
        ids.add(where)
        if not feed_has_author:
            assert entry.find(A("author")) is not None, f"entry {where} has no author and the feed has none"
        entry_links = entry.findall(A("link"))
        for link in entry_links:
            check_link(link)
        has_alternate = any(link.get("rel", "alternate") == "alternate" for link in entry_links)
        assert entry.find(A("content")) is not None or has_alternate, \
            f"entry {where} needs atom:content or an alternate link (RFC 4287 4.1.2)"
        if kind == NAVIGATION:
            assert any("profile=opds-catalog" in (link.get("type") or "") for link in entry_links), \
                f"navigation entry {where} links to no catalog feed"
        else:
            acquisitions = [link for link in entry_links
                            if link.get("rel", "").startswith("http://opds-spec.org/acquisition")]
            assert acquisitions, f"acquisition entry {where} has no acquisition link"
            assert entry.find(A("summary")) is not None and entry.find(f"{{{DC}}}language") is not None


def check_link(link: ET.Element) -> None:
    rel, href, kind = link.get("rel"), link.get("href"), link.get("type")
    assert rel and href and kind, f"a link needs rel, href and type: {link.attrib}"
    assert rel in KNOWN_RELS or rel.startswith("http://opds-spec.org/"), f"unknown rel {rel}"
    assert href.startswith("/") and not href.startswith("//"), f"{href} is not an absolute path"
    assert re.match(r"^[\w.+-]+/[\w.+-]+(;\s*[\w-]+=[\w.+-]+)*$", kind), f"{kind} is not a media type"
    if rel.startswith("http://opds-spec.org/acquisition"):
        assert kind in ("application/epub+zip", "application/pdf")
    if rel in ("subsection", "start", "up", "first", "previous", "next", "last"):
        assert kind in (NAVIGATION, ACQUISITION), f"{rel} link to {kind}"
    if rel.startswith("http://opds-spec.org/image"):
        assert kind.startswith("image/")


def get_feed(client, url: str, kind: str | None = None) -> ET.Element:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    content_type = response.headers["Content-Type"]
    feed_kind = content_type.rsplit(";charset=utf-8", 1)[0]
    assert content_type.endswith(";charset=utf-8") and feed_kind in (NAVIGATION, ACQUISITION), content_type
    if kind is not None:
        assert feed_kind == kind, (url, content_type)
    root = ET.fromstring(response.data)
    validate_feed(root, feed_kind)
    return root


def entries(root: ET.Element) -> dict[str, ET.Element]:
    return {entry.findtext(A("id")): entry for entry in root.findall(A("entry"))}


def acquisition_links(entry: ET.Element) -> list[ET.Element]:
    return [link for link in entry.findall(A("link")) if link.get("rel") == OPEN_ACCESS]


# --- an EPUB checker ------------------------------------------------------------------------------

def check_epub(data: bytes) -> tuple[zipfile.ZipFile, ET.Element, str]:
    """An EPUB 3 per OCF/OPF basics; returns (zip, package document, its folder)."""
    book = zipfile.ZipFile(io.BytesIO(data))
    first = book.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED and not first.extra
    # Readers sniff the type at a fixed offset of the file.
    assert data[30:38] == b"mimetype" and data[38:58] == b"application/epub+zip"
    assert book.read("mimetype") == b"application/epub+zip"
    assert book.testzip() is None
    container = ET.fromstring(book.read("META-INF/container.xml"))
    rootfile = container.find(".//{urn:oasis:names:tc:opendocument:xmlns:container}rootfile")
    assert rootfile.get("media-type") == "application/oebps-package+xml"
    opf_path = rootfile.get("full-path")
    package = ET.fromstring(book.read(opf_path))
    assert package.tag == f"{{{OPF}}}package" and package.get("version") == "3.0"
    metadata = package.find(f"{{{OPF}}}metadata")
    identifier = metadata.find("{http://purl.org/dc/elements/1.1/}identifier")
    assert identifier is not None and identifier.get("id") == package.get("unique-identifier") and identifier.text
    assert metadata.findtext("{http://purl.org/dc/elements/1.1/}title")
    assert metadata.findtext("{http://purl.org/dc/elements/1.1/}language")
    modified = [m for m in metadata.findall(f"{{{OPF}}}meta") if m.get("property") == "dcterms:modified"]
    assert len(modified) == 1 and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", modified[0].text)
    base = posixpath.dirname(opf_path)
    items = {item.get("id"): item for item in package.iter(f"{{{OPF}}}item")}
    names = set(book.namelist())
    for item in items.values():
        path = posixpath.join(base, unquote(item.get("href")))
        assert path in names, f"the manifest lists {path}, which the EPUB lacks"
        if item.get("media-type") == "application/xhtml+xml":
            ET.fromstring(book.read(path))  # well-formed XML
    assert [i for i in items.values() if "nav" in (i.get("properties") or "").split()], "no nav document"
    spine = [ref.get("idref") for ref in package.iter(f"{{{OPF}}}itemref")]
    assert spine and all(idref in items for idref in spine)
    return book, package, base


# --- packs -----------------------------------------------------------------------------------------

def pdf_pack_source(folder: Path, count: int = 1) -> Path:
    """A local (unreviewed) history pack of `count` PDF e-textbooks in Russian with a cover picture."""
    (folder / "books").mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "books" / "history.pdf").write_bytes(MINIMAL_PDF)
    (folder / "images" / "cover.png").write_bytes(PNG)
    nodes = [{"id": "history", "kind": "ebook", "title": {"ru": "История Казахстана", "kk": "Қазақстан тарихы"},
              "pdf": {"ru": "books/history.pdf"}, "thumbnail": "images/cover.png"}]
    nodes += [{"id": f"extra-{n:03d}", "kind": "ebook", "title": {"ru": f"Книга {n} <&> \"кавычки\""},
               "pdf": {"ru": "books/history.pdf"}} for n in range(1, count)]
    manifest = {"format_version": 1, "id": "local.history", "version": "1.0.0",
                "title": {"ru": "История"}, "subject": "history", "grades": [7, 8], "languages": ["ru"],
                "license": "CC-BY-4.0", "authors": ["Учитель школы"], "review": {"status": "draft"},
                "nodes": nodes}
    (folder / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture
def catalog(app, settings, tmp_path):
    """The test pack (reviewed, an HTML e-textbook with two chapters) and a local PDF pack."""
    source = pack_source(tmp_path / "src", extra_files={"chapters/tricky.kk.html": TRICKY_CHAPTER.encode()})
    manifest = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    book = manifest["nodes"][0]["children"][1]
    book["children"].append({"id": "book.ch2", "kind": "chapter", "title": {"kk": "2-тарау"},
                             "content": {"kk": "chapters/tricky.kk.html"}})
    (source / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    _key_path, public = install_signed(source, settings.data_dir)
    install_pack(build(pdf_pack_source(tmp_path / "pdf"), tmp_path / "history.ckpack", None),
                 settings.data_dir, (public,), allow_unreviewed=True)
    return settings


# --- tests -----------------------------------------------------------------------------------------

def test_root_is_a_navigation_feed_with_search(client, catalog):
    root = get_feed(client, "/opds/", NAVIGATION)
    hrefs = {link.get("href") for entry in root.findall(A("entry")) for link in entry.findall(A("link"))}
    assert {"/opds/all", "/opds/subject/", "/opds/grade/", "/opds/language/"} <= hrefs
    searches = [(link.get("type"), link.get("href")) for link in root.findall(A("link")) if link.get("rel") == "search"]
    # Only the OpenSearch description: a {searchTerms} template in an Atom href is not an IRI.
    assert searches == [("application/opensearchdescription+xml", "/opds/opensearch.xml")]


def test_every_feed_is_reachable_from_the_root_and_valid(client, catalog):
    """Follow every catalog link from /opds/ down to the downloads."""
    seen, queue, downloads = set(), deque(["/opds/"]), {}
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        root = get_feed(client, url)
        for link in root.iter(A("link")):
            href, kind = link.get("href"), link.get("type")
            if link.get("rel") == "search":
                continue
            if "profile=opds-catalog" in kind:
                queue.append(href)
            elif link.get("rel") == OPEN_ACCESS:
                downloads[href] = kind
    assert {"/opds/all", "/opds/subject/mathematics", "/opds/subject/history", "/opds/grade/5", "/opds/grade/7",
            "/opds/language/kk", "/opds/language/ru"} <= seen
    assert "/opds/book/test.algebra/book.kk.epub" in downloads
    assert "application/pdf" in downloads.values()
    for href in downloads:
        response = client.get(href)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(downloads[href])


def test_acquisition_entries_carry_what_readers_show(client, catalog):
    root = get_feed(client, "/opds/all?lang=kk", ACQUISITION)
    found = entries(root)
    book = found["urn:classroom:test.algebra:book"]
    assert book.findtext(A("title")) == "Оқулық"
    assert [a.findtext(A("name")) for a in book.findall(A("author"))] == ["Test"]
    assert [e.text for e in book.findall(f"{{{DC}}}language")] == ["kk"]
    assert book.find(A("category")).get("term") == "mathematics"
    assert "Сараптамадан өтпеген" not in book.findtext(A("summary"))
    [epub_link] = acquisition_links(book)
    assert epub_link.get("type") == "application/epub+zip" and epub_link.get("hreflang") == "kk"
    alternate = [link for link in book.findall(A("link")) if link.get("rel") == "alternate"]
    assert alternate[0].get("type") == "text/html" and alternate[0].get("href").startswith("/library/test.algebra/book")
    assert not [link for link in book.findall(A("link")) if link.get("rel") == THUMBNAIL]

    history = found["urn:classroom:local.history:history"]
    assert history.findtext(A("title")) == "Қазақстан тарихы"  # the feed's language when the pack has it
    assert history.findtext(A("summary")).startswith("Сараптамадан өтпеген")  # a local pack is marked
    [pdf_link] = acquisition_links(history)
    assert pdf_link.get("type") == "application/pdf" and pdf_link.get("href").endswith("/history.pdf")
    assert int(pdf_link.get("length")) == len(MINIMAL_PDF)
    [thumbnail] = [link for link in history.findall(A("link")) if link.get("rel") == THUMBNAIL]
    assert thumbnail.get("type") == "image/png" and client.get(thumbnail.get("href")).data == PNG
    # The first language there is when the feed's language is missing.
    english = entries(get_feed(client, "/opds/all?lang=en"))
    assert english["urn:classroom:local.history:history"].findtext(A("title")) == "История Казахстана"
    assert english["urn:classroom:local.history:history"].findtext(A("summary")).startswith("Not reviewed")


def test_language_feeds_offer_only_their_language(client, catalog):
    russian = entries(get_feed(client, "/opds/language/ru", ACQUISITION))
    assert set(russian) == {"urn:classroom:local.history:history"}  # the HTML book has Kazakh chapters only
    kazakh = entries(get_feed(client, "/opds/language/kk", ACQUISITION))
    assert set(kazakh) == {"urn:classroom:test.algebra:book"}
    assert all(link.get("hreflang") == "kk" for link in acquisition_links(kazakh["urn:classroom:test.algebra:book"]))
    assert client.get("/opds/language/de").status_code == 404
    assert client.get("/opds/grade/11").status_code == 404
    assert client.get("/opds/subject/astrology").status_code == 404


def test_pdf_link_returns_the_pdf(client, catalog):
    history = entries(get_feed(client, "/opds/subject/history"))["urn:classroom:local.history:history"]
    response = client.get(acquisition_links(history)[0].get("href"))
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.data == MINIMAL_PDF
    sha = ContentFile.get(ContentFile.path == "books/history.pdf").sha256
    assert response.headers["ETag"] == f'"{sha}"'


def test_epub_download_is_a_valid_epub(client, catalog):
    response = client.get("/opds/book/test.algebra/book.kk.epub")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/epub+zip"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"book.kk.epub\"; filename*=UTF-8''%D0%9E")
    book, package, base = check_epub(response.data)
    metadata = package.find(f"{{{OPF}}}metadata")
    assert metadata.findtext("{http://purl.org/dc/elements/1.1/}title") == "Оқулық"
    assert metadata.findtext("{http://purl.org/dc/elements/1.1/}language") == "kk"
    items = {item.get("href"): item for item in package.iter(f"{{{OPF}}}item")}
    # The picture the chapters use travels inside the book; nothing from outside the pack does.
    assert items["files/media/pie.svg"].get("media-type") == "image/svg+xml"
    assert not [name for name in book.namelist() if "secret" in name or "remote" in name]
    spine = [package.find(f".//{{{OPF}}}item[@id='{ref.get('idref')}']").get("href")
             for ref in package.iter(f"{{{OPF}}}itemref")]
    assert len(spine) == 2
    first = ET.fromstring(book.read(posixpath.join(base, spine[0])))
    assert "Бөлшектер туралы сабақ" in "".join(first.itertext())
    [picture] = first.iter(f"{{{XHTML}}}img")
    assert posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.join(base, spine[0])),
                                             picture.get("src"))) in book.namelist()
    tricky_item = items[spine[1]]
    assert set(tricky_item.get("properties").split()) == {"svg", "mathml"}
    tricky = ET.fromstring(book.read(posixpath.join(base, spine[1])))
    text = "".join(tricky.itertext())
    assert "Бірінші абзац" in text and "Соңы\xa0<бітті>" in text and "2-тарау & жаттығулар" in text
    assert "injected" not in text and "color:red" not in text and "жоқ" not in text
    body = tricky.find(f"{{{XHTML}}}body")
    assert [p.text for p in body.iter(f"{{{XHTML}}}p")][:2] == ["Бірінші абзац", "Екінші абзац "]
    assert ["".join(li.itertext()) for li in body.iter(f"{{{XHTML}}}li")] == ["бір", "екі"]
    assert len(list(body.iter(f"{{{XHTML}}}td"))) == 2 and len(list(body.iter(f"{{{XHTML}}}th"))) == 2
    assert body.find(f".//{{{XHTML}}}h1") is not None
    assert body.find(".//{http://www.w3.org/2000/svg}rect") is not None
    assert body.find(".//{http://www.w3.org/2000/svg}svg").get("viewBox") == "0 0 10 10"
    assert body.find(".//{http://www.w3.org/1998/Math/MathML}mfrac") is not None
    anchors = {"".join(a.itertext()): a.get("href") for a in body.iter(f"{{{XHTML}}}a")}
    assert anchors["сілтеме"] is None and anchors["алдыңғы"] is not None
    assert "сыртта" in text and "алыс" in text  # pictures that cannot come along leave their words
    assert not [a for e in body.iter() for a in e.attrib if a.startswith("on") or a == "style"]
    nav = ET.fromstring(book.read(posixpath.join(base, "nav.xhtml")))
    assert [a.text for a in nav.iter(f"{{{XHTML}}}a")] == ["1-тарау", "2-тарау"]


def test_epub_is_cached_with_a_strong_etag(client, catalog):
    first = client.get("/opds/book/test.algebra/book.kk.epub")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    cached = list((catalog.data_dir / "content" / "epub-cache" / "test.algebra").glob("book.kk.*.epub"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.data
    again = client.get("/opds/book/test.algebra/book.kk.epub", headers={"If-None-Match": etag})
    assert again.status_code == 304
    cached[0].unlink()  # made again the same, byte for byte
    assert client.get("/opds/book/test.algebra/book.kk.epub").data == first.data


@pytest.mark.parametrize("url", [
    "/opds/book/test.algebra/book.ru.epub",          # no Russian chapters
    "/opds/book/test.algebra/intro.kk.epub",         # a lesson, not an e-textbook
    "/opds/book/test.algebra/book.kk.pdf",
    "/opds/book/test.algebra/..%2F..%2Fsecret_key",
    "/opds/book/nothing/book.kk.epub",
    "/opds/book/local.history/history.ru.epub",      # a PDF book has no chapters
])
def test_epub_requests_that_cannot_be_met_are_404(client, catalog, url):
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("query,expected", [
    ("оқулық", "urn:classroom:test.algebra:book"),     # the title is "Оқулық"
    ("ОҚУЛЫҚ", "urn:classroom:test.algebra:book"),
    ("учебник", "urn:classroom:test.algebra:book"),    # a title in another language
    ("история", "urn:classroom:local.history:history"),
    ("БӨЛШЕКТЕР", "urn:classroom:test.algebra:book"),  # the text of a chapter
])
def test_search_finds_kazakh_and_russian_in_any_case(client, catalog, query, expected):
    found = entries(get_feed(client, f"/opds/search?q={query}", ACQUISITION))
    assert expected in found
    # Only e-textbooks: the lesson with the same words is not a book.
    assert all(":intro" not in entry_id for entry_id in found)


def test_search_with_nothing_to_find(client, catalog):
    assert entries(get_feed(client, "/opds/search?q=")) == {}
    assert entries(get_feed(client, "/opds/search?q=zzzzqqq")) == {}


def test_opensearch_description_leads_to_results(client, catalog):
    response = client.get("/opds/opensearch.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/opensearchdescription+xml;charset=utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == f"{{{OPENSEARCH}}}OpenSearchDescription"
    assert 0 < len(root.findtext(f"{{{OPENSEARCH}}}ShortName")) <= 16
    templates = {url.get("type"): url.get("template") for url in root.findall(f"{{{OPENSEARCH}}}Url")}
    template = templates[ACQUISITION]
    assert "{searchTerms}" in template
    parts = urlsplit(template.replace("{searchTerms}", "оқулық"))
    found = entries(get_feed(client, f"{parts.path}?{parts.query}"))
    assert "urn:classroom:test.algebra:book" in found


def test_catalog_needs_no_sign_in(client, catalog):
    assert client.get("/library/").status_code == 302  # the rest of the library does
    for url in ("/opds/", "/opds/all", "/opds/subject/", "/opds/grade/", "/opds/language/", "/opds/search?q=x",
                "/opds/opensearch.xml", "/opds/book/test.algebra/book.kk.epub"):
        assert client.get(url).status_code == 200, url


def test_long_feeds_are_paged(client, app, settings, tmp_path):
    install_pack(build(pdf_pack_source(tmp_path / "many", count=61), tmp_path / "many.ckpack", None),
                 settings.data_dir, (), allow_unreviewed=True)
    first = get_feed(client, "/opds/all?lang=ru", ACQUISITION)
    assert len(first.findall(A("entry"))) == 50
    assert first.findtext(f"{{{OPENSEARCH}}}totalResults") == "61"
    links = {link.get("rel"): link.get("href") for link in first.findall(A("link"))}
    assert "previous" not in links and links["next"] == links["last"]
    second = get_feed(client, links["next"], ACQUISITION)
    assert len(second.findall(A("entry"))) == 11 and not set(entries(first)) & set(entries(second))
    assert {link.get("rel") for link in second.findall(A("link"))} >= {"first", "previous"}
    assert "lang=ru" in links["next"]
    # Titles with markup characters are escaped, not broken.
    assert "Книга 1 <&> \"кавычки\"" in {e.findtext(A("title")) for e in first.findall(A("entry"))}
    assert client.get("/opds/all?page=3").status_code == 404


def test_empty_catalog_is_still_valid(client):
    get_feed(client, "/opds/", NAVIGATION)
    assert entries(get_feed(client, "/opds/all", ACQUISITION)) == {}
    get_feed(client, "/opds/subject/", NAVIGATION)


def test_downloads_resume_over_a_real_server(live_server, catalog):
    """Phones on weak Wi-Fi resume: the EPUB answers Range requests like the content files do."""
    feed = requests.get(f"{live_server}/opds/language/kk")
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith(ACQUISITION)
    [link] = acquisition_links(entries(ET.fromstring(feed.content))["urn:classroom:test.algebra:book"])
    whole = requests.get(live_server + link.get("href"))
    assert whole.status_code == 200
    check_epub(whole.content)
    part = requests.get(live_server + link.get("href"), headers={"Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == whole.content[100:]


def test_epub_downloads_answer_conditionals_and_ranges_like_content_files(live_server, catalog):
    url = f"{live_server}/opds/book/test.algebra/book.kk.epub"
    whole = requests.get(url)
    check_rfc9110_answers(url, whole.headers["ETag"], whole.content)


@pytest.fixture
def world_books(app, settings, tmp_path):
    """Two publishers' EPUB 3 books: one in Arabic (right to left), one in English."""
    from content_packs.builder import build_pack
    from .epubs import book_pack
    source = book_pack(tmp_path / "src", {"arabic": ("regime-anticancer-arabic", "ar"),
                                          "georgia": ("georgia-cfi", "en")})
    build_pack(source, tmp_path / "world.ckpack")
    with app.app_context():
        install_pack(tmp_path / "world.ckpack", settings.data_dir, (), allow_unreviewed=True)


def test_books_in_every_content_language_are_listed_with_their_language_and_direction(client, world_books):
    by_language = get_feed(client, "/opds/language/?lang=kk", NAVIGATION)
    links = {entry.findtext(A("title")): entry.find(A("link")).get("href") for entry in entries(by_language).values()}
    assert links == {"English": "/opds/language/en", "\u2067العربية\u2069": "/opds/language/ar"}
    arabic_feed = get_feed(client, "/opds/language/ar?lang=kk", ACQUISITION)
    [arabic] = entries(arabic_feed).values()
    title = arabic.find(A("title"))
    assert title.text.startswith("\u2067") and title.text.endswith("\u2069")  # right to left, isolated
    assert title.get(f"{{{XML_NS}}}lang") == "ar"
    assert [e.text for e in arabic.findall(f"{{{DC}}}language")] == ["ar"]
    [epub_link] = [link for link in arabic.findall(A("link")) if link.get("type") == "application/epub+zip"]
    assert epub_link.get("hreflang") == "ar" and epub_link.get("href") == "/opds/book/org.w3.epub3-samples/arabic.ar.epub"
    assert epub_link.get("title") == "العربية (EPUB)"
    assert arabic_feed.findtext(A("title")) == "\u2067العربية\u2069: Барлық электрондық оқулықтар"  # in the reader's language
    [english] = entries(get_feed(client, "/opds/language/en", ACQUISITION)).values()
    assert english.findtext(A("title")) == "georgia-cfi" and english.find(A("title")).get(f"{{{XML_NS}}}lang") is None
    all_titles = [e.findtext(A("title")) for e in entries(get_feed(client, "/opds/all?lang=ru", ACQUISITION)).values()]
    assert sorted(all_titles) == sorted(["georgia-cfi", "\u2067regime-anticancer-arabic\u2069"])
    assert client.get("/opds/language/de").status_code == 404 and client.get("/opds/language/x!").status_code == 404
    # the EPUB itself: its language and direction in the metadata, the spine and each document
    response = client.get(epub_link.get("href"))
    assert response.status_code == 200
    book, package, base = check_epub(response.data)
    assert package.find(f"{{{OPF}}}metadata").findtext("{http://purl.org/dc/elements/1.1/}language") == "ar"
    assert package.get(f"{{{XML_NS}}}lang") == "ar"
    assert package.find(f"{{{OPF}}}spine").get("page-progression-direction") == "rtl"
    first = next(name for name in book.namelist() if name.endswith(".xhtml") and "/text/" in name)
    root = ET.fromstring(book.read(first))
    assert root.get("dir") == "rtl" and root.get("lang") == "ar"
    english_book = client.get("/opds/book/org.w3.epub3-samples/georgia.en.epub")
    _, english_package, _ = check_epub(english_book.data)
    assert english_package.find(f"{{{OPF}}}spine").get("page-progression-direction") is None
    assert client.get("/opds/book/org.w3.epub3-samples/georgia.ar.epub").status_code == 404
