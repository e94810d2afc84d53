"""The OPDS 1.2 catalog of e-textbooks at /opds/, for e-reader apps on the school Wi-Fi.

Navigation feeds lead to acquisition feeds (all, by subject, by grade, by language, search); each
entry links to the PDF by its content address or to an EPUB made from the HTML chapters.
Feeds are public: e-reader apps cannot sign in, and e-textbooks carry no personal data.
"""
from __future__ import annotations

import json
import math
import mimetypes
import posixpath
import re
import unicodedata
from typing import Callable
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_babel import force_locale, lazy_gettext

from ..content.files import send_blob
from content_packs.epub import direction
from content_packs.manifest import is_language_tag

from ..i18n import interface_language, language_name
from ..security import page_arg
from ..settings import LANGUAGES
from . import services
from .epub import xml_attr, xml_text
from .services import Book

bp = Blueprint("opds", __name__, url_prefix="/opds")

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/terms/"
OPDS = "http://opds-spec.org/2010/catalog"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XML_LANG = f"{{{XML_NS}}}lang"
PREFIXES = {DC: "dc", OPDS: "opds", OPENSEARCH: "opensearch", XML_NS: "xml"}

NAVIGATION = "application/atom+xml;profile=opds-catalog;kind=navigation"
ACQUISITION = "application/atom+xml;profile=opds-catalog;kind=acquisition"
OPENSEARCH_TYPE = "application/opensearchdescription+xml"
OPEN_ACCESS = "http://opds-spec.org/acquisition/open-access"
IMAGE = "http://opds-spec.org/image"
THUMBNAIL = "http://opds-spec.org/image/thumbnail"
EPUB_TYPE = "application/epub+zip"
PDF_TYPE = "application/pdf"
PAGE_SIZE = 50

# The catalog speaks the language its URL asks for (`?lang=`, or a language feed), not the
# session's: e-reader apps keep no cookies. So each text is looked up in the catalog of that
# language (force_locale) when the feed is written.
TEXTS = {
    "catalog": lazy_gettext("School library"),
    "short": lazy_gettext("Library"),
    "all": lazy_gettext("All e-textbooks"),
    "by_subject": lazy_gettext("By subject"),
    "by_grade": lazy_gettext("By grade"),
    "by_language": lazy_gettext("By language"),
    "grade": lazy_gettext("Grade %(n)s"),
    "count": lazy_gettext("E-textbooks: %(n)s"),
    "search": lazy_gettext("Search: %(q)s"),
    "search_help": lazy_gettext("Search the e-textbooks by title and text"),
    "not_reviewed": lazy_gettext("Not reviewed: local content"),
    "grades": lazy_gettext("Grades"),
    "chapters": lazy_gettext("Chapters: %(n)s"),
    "library_page": lazy_gettext("Open in the library"),
}


def _t(key: str, language: str, **values) -> str:
    with force_locale(language):
        text = str(TEXTS[key])
    return text % values if values else text


def _language() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return interface_language(current_app.config["CLASSROOM_SETTINGS"].i18n_default_language)


def _url(endpoint: str, **values) -> str:
    """An absolute-path URL that keeps the catalog's chosen language while browsing."""
    if request.args.get("lang") in LANGUAGES and "lang" not in values:
        values["lang"] = request.args["lang"]
    return url_for(endpoint, **values)


def _time(stamp) -> str:
    return stamp.replace(microsecond=0).isoformat() + "Z"


def _add(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, tag if tag.startswith("{") else f"{{{ATOM}}}{tag}",
                         {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _link(parent: Element, rel: str, href: str, kind: str, **attributes: str) -> Element:
    return _add(parent, "link", rel=rel, href=href, type=kind, **attributes)


def _feed(kind: str, feed_id: str, title: str, updated, language: str, up: str | None = None) -> Element:
    feed = Element(f"{{{ATOM}}}feed", {XML_LANG: language})
    _add(feed, "id", feed_id)
    _add(feed, "title", title)
    _add(feed, "updated", _time(updated))
    _add(_add(feed, "author"), "name", _t("catalog", language))
    _link(feed, "self", request.full_path.rstrip("?"), kind)
    _link(feed, "start", _url("opds.root"), NAVIGATION)
    if up:
        _link(feed, "up", up, NAVIGATION)
    # The OpenSearch description only: a `{searchTerms}` template is not an IRI, so it has no
    # place in an Atom href (RFC 4287 4.2.7.1); the description carries the template.
    _link(feed, "search", _url("opds.opensearch"), OPENSEARCH_TYPE)
    return feed


def _serialize(root: Element) -> bytes:
    """XML with the root's namespace as the default one: e-reader apps look for <feed> and
    <entry>, not <ns0:feed> (ElementTree's own writer can do that only with a process-wide registry)."""
    default = root.tag[1:].split("}")[0]
    used: set[str] = set()

    def name(qualified: str) -> str:
        if not qualified.startswith("{"):
            return qualified
        uri, local = qualified[1:].split("}")
        if uri == default:
            return local
        used.add(uri)
        return f"{PREFIXES[uri]}:{local}"

    def write(element: Element, out: list[str]) -> None:
        attributes = "".join(f" {name(k)}={xml_attr(v)}" for k, v in element.attrib.items())
        out.append(f"<{name(element.tag)}{attributes}")
        if element.text is None and not len(element):
            out.append("/>")
            return
        out.append(">" + xml_text(element.text or ""))
        for child in element:
            write(child, out)
        out.append(f"</{name(element.tag)}>")

    body: list[str] = []
    write(root, body)
    declarations = f' xmlns="{default}"' + "".join(
        f' xmlns:{PREFIXES[uri]}="{uri}"' for uri in sorted(used) if uri != XML_NS)
    first = body[0]
    body[0] = first[:len(name(root.tag)) + 1] + declarations + first[len(name(root.tag)) + 1:]
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + "".join(body) + "\n").encode("utf-8")


def _respond(root: Element, content_type: str) -> Response:
    body = _serialize(root)
    response = Response(body, content_type=f"{content_type};charset=utf-8")
    if "lang" not in request.args:
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def _navigation_entry(feed: Element, entry_id: str, title: str, href: str, kind: str, text: str,
                      updated) -> None:
    entry = _add(feed, "entry")
    _add(entry, "title", title)
    _add(entry, "id", entry_id)
    _add(entry, "updated", _time(updated))
    # Atom wants content (or an alternate link) in every entry; OPDS suggests a short text.
    _add(entry, "content", text, type="text")
    _link(entry, "subsection", href, kind)


def _summary(item: Book, language: str) -> str:
    parts = []
    if not item.pack.reviewed:
        parts.append(_t("not_reviewed", language) + ".")
    description = item.text(item.descriptions, language) if item.descriptions else ""
    pack_title = item.text(json.loads(item.pack.title), language)
    about = description or pack_title
    parts.append(about if about[-1:] in ".!?…" else about + ".")
    grades = ", ".join(str(g) for g in item.grades)
    parts.append(f"{_t('grades', language)}: {grades}.")
    if item.chapters:
        parts.append(_t("chapters", language, n=len(item.chapters)) + ".")
    return " ".join(p for p in parts if p)


def _attachment(fallback: str, title: str) -> str:
    """Content-Disposition naming the file by its title (RFC 6266), with an ASCII name for old apps."""
    clean = "".join(c for c in title if unicodedata.category(c)[0] != "C" and c not in '/\\:*?"<>|').strip()
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean or fallback, safe='')}"


def _title_language(texts: dict[str, str], text: str, fallback: str) -> str:
    return next((code for code, value in texts.items() if value == text), fallback)


def _book_entry(feed: Element, item: Book, language: str, only_language: bool = False,
                content_language: str | None = None) -> None:
    pack, node = item.pack, item.node
    # Texts in the feed's language when the pack has them; downloads in that language first
    # (in a language's own feed, that language).
    shown = content_language or (language if language in item.languages else item.languages[0])
    entry = _add(feed, "entry")
    title = item.title(content_language or language)
    # The title's own language (Atom's xml:lang), and for a right-to-left one its direction as
    # Unicode's isolate marks (RLI ... PDI): Atom text has no dir attribute, plain text keeps these.
    title_language = _title_language(item.titles, title, shown)
    title_element = _add(entry, "title", f"\u2067{title}\u2069" if direction(title_language) == "rtl" else title)
    if title_language != language:
        title_element.set(XML_LANG, title_language)
    _add(entry, "id", f"urn:classroom:{pack.pack_id}:{node.node_id}")
    _add(entry, "updated", _time(pack.installed_at))
    for author in item.authors(language):
        _add(_add(entry, "author"), "name", author)
    for code in ([shown] if only_language else item.languages):
        _add(entry, f"{{{DC}}}language", code)
    if item.publisher(language):
        _add(entry, f"{{{DC}}}publisher", item.publisher(language))
    _add(entry, "rights", pack.license)
    _add(entry, "summary", _summary(item, language), type="text")
    _add(entry, "category", term=pack.subject, label=pack.subject, scheme="urn:classroom:subject")
    for grade in item.grades:
        _add(entry, "category", term=str(grade), label=_t("grade", language, n=grade), scheme="urn:classroom:grade")
    _link(entry, "alternate", _url("content.node_page", pack_id=pack.pack_id, node_id=node.node_id, lang=shown),
          "text/html", title=_t("library_page", language))
    picture = item.thumbnail
    kind = (mimetypes.guess_type(picture.path)[0] or "") if picture is not None else ""
    if kind.startswith("image/"):
        href = url_for("content.blob", sha256=picture.sha256, name=posixpath.basename(picture.path))
        _link(entry, IMAGE, href, kind)
        _link(entry, THUMBNAIL, href, kind)
    codes = [shown] if only_language else [shown] + [c for c in item.languages if c != shown]
    for code in codes:
        pdf = item.pdfs.get(code)
        if pdf is not None:
            name = posixpath.basename(pdf.path)
            name = name if name.lower().endswith(".pdf") else name + ".pdf"
            _link(entry, OPEN_ACCESS, url_for("content.blob", sha256=pdf.sha256, name=name), PDF_TYPE,
                  hreflang=code, title=f"{language_name(code)} (PDF)", length=str(pdf.size))
        if code in item.chapter_languages:
            _link(entry, OPEN_ACCESS, url_for("opds.book_epub", pack_id=pack.pack_id,
                                              filename=f"{node.node_id}.{code}.epub"),
                  EPUB_TYPE, hreflang=code, title=f"{language_name(code)} (EPUB)")


def _acquisition(feed_id: str, title: str, items: list[Book], language: str, up: str,
                 only_language: bool = False, content_language: str | None = None) -> Response:
    """An acquisition feed, PAGE_SIZE entries a page, with first/previous/next/last links."""
    pages = max(1, math.ceil(len(items) / PAGE_SIZE))
    page = page_arg()
    if not 1 <= page <= pages:
        abort(404)
    shown = items[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    feed = _feed(ACQUISITION, feed_id, title, services.last_update(items), language, up=up)
    if pages > 1:
        args = {k: v for k, v in request.args.items() if k != "page"}

        def page_url(number: int) -> str:
            return url_for(request.endpoint, **request.view_args, **args, **({"page": number} if number > 1 else {}))
        _link(feed, "first", page_url(1), ACQUISITION)
        if page > 1:
            _link(feed, "previous", page_url(page - 1), ACQUISITION)
        if page < pages:
            _link(feed, "next", page_url(page + 1), ACQUISITION)
        _link(feed, "last", page_url(pages), ACQUISITION)
    _add(feed, f"{{{OPENSEARCH}}}totalResults", str(len(items)))
    _add(feed, f"{{{OPENSEARCH}}}itemsPerPage", str(PAGE_SIZE))
    _add(feed, f"{{{OPENSEARCH}}}startIndex", str((page - 1) * PAGE_SIZE + 1))
    for item in shown:
        _book_entry(feed, item, language, only_language, content_language)
    return _respond(feed, ACQUISITION)


def _groups(key: Callable[[Book], list]) -> dict:
    found: dict = {}
    for item in services.books():
        for value in key(item):
            found.setdefault(value, []).append(item)
    return found


@bp.get("/")
def root():
    language = _language()
    every = services.books()
    updated = services.last_update(every)
    feed = _feed(NAVIGATION, "urn:classroom:opds", _t("catalog", language), updated, language)
    count = _t("count", language, n=len(every))
    _navigation_entry(feed, "urn:classroom:opds:all", _t("all", language), _url("opds.all_books"), ACQUISITION,
                      count, updated)
    _navigation_entry(feed, "urn:classroom:opds:subject", _t("by_subject", language), _url("opds.subjects"),
                      NAVIGATION, count, updated)
    _navigation_entry(feed, "urn:classroom:opds:grade", _t("by_grade", language), _url("opds.grades"),
                      NAVIGATION, count, updated)
    _navigation_entry(feed, "urn:classroom:opds:language", _t("by_language", language), _url("opds.languages"),
                      NAVIGATION, count, updated)
    return _respond(feed, NAVIGATION)


@bp.get("/all")
def all_books():
    language = _language()
    return _acquisition("urn:classroom:opds:all", _t("all", language), services.books(), language,
                        up=_url("opds.root"))


def _navigation_of(feed_id: str, title: str, groups: dict, label: Callable, link: Callable) -> Response:
    language = _language()
    every = [item for items in groups.values() for item in items]
    feed = _feed(NAVIGATION, feed_id, title, services.last_update(every), language, up=_url("opds.root"))
    for value in sorted(groups, key=lambda v: (0, LANGUAGES.index(v)) if v in LANGUAGES else (1, v)):
        items = groups[value]
        _navigation_entry(feed, f"{feed_id}:{quote(str(value), safe='')}", label(value), link(value), ACQUISITION,
                          _t("count", language, n=len(items)), services.last_update(items))
    return _respond(feed, NAVIGATION)


@bp.get("/subject/")
def subjects():
    language = _language()
    return _navigation_of("urn:classroom:opds:subject", _t("by_subject", language),
                          _groups(lambda b: [b.pack.subject]), lambda s: s,
                          lambda s: _url("opds.subject", subject=s))


@bp.get("/subject/<path:subject>")
def subject(subject: str):
    language = _language()
    items = services.books(subject=subject)
    if not items:
        abort(404)
    return _acquisition(f"urn:classroom:opds:subject:{quote(subject, safe='')}", subject, items, language,
                        up=_url("opds.subjects"))


@bp.get("/grade/")
def grades():
    language = _language()
    return _navigation_of("urn:classroom:opds:grade", _t("by_grade", language), _groups(lambda b: b.grades),
                          lambda g: _t("grade", language, n=g), lambda g: _url("opds.grade", grade=g))


@bp.get("/grade/<int:grade>")
def grade(grade: int):
    language = _language()
    items = services.books(grade=grade)
    if not items:
        abort(404)
    return _acquisition(f"urn:classroom:opds:grade:{grade}", _t("grade", language, n=grade), items, language,
                        up=_url("opds.grades"))


@bp.get("/language/")
def languages():
    language = _language()
    return _navigation_of("urn:classroom:opds:language", _t("by_language", language),
                          _groups(lambda b: list(b.languages)), _own_name,
                          # Each language's feed speaks that language.
                          lambda code: url_for("opds.language", code=code))


def _own_name(code: str) -> str:
    """A language's own name, isolated in its own direction (العربية in a Kazakh list)."""
    name = language_name(code)
    return f"\u2067{name}\u2069" if direction(code) == "rtl" else name


@bp.get("/language/<code>")
def language(code: str):
    """The books in one content language (any BCP 47 tag the library holds): a kk/ru/en feed speaks
    its language; another language's feed is in the interface language, its books in their own."""
    if not is_language_tag(code):
        abort(404)
    items = services.books(language=code)
    if not items:
        abort(404)
    speaks = code if code in LANGUAGES else _language()
    return _acquisition(f"urn:classroom:opds:language:{code}", f"{_own_name(code)}: {_t('all', speaks)}",
                        items, code if code in LANGUAGES else speaks,
                        up=url_for("opds.languages", lang=speaks), only_language=True, content_language=code)


@bp.get("/search")
def search():
    language = _language()
    text = request.args.get("q", "")[:200]
    items = services.search(text) if text.strip() else []
    return _acquisition(f"urn:classroom:opds:search:{quote(text, safe='')}", _t("search", language, q=text), items, language,
                        up=_url("opds.root"))


@bp.get("/opensearch.xml")
def opensearch():
    language = _language()
    root = Element(f"{{{OPENSEARCH}}}OpenSearchDescription")
    for tag, text in (("ShortName", _t("short", language)), ("Description", _t("search_help", language)),
                      ("InputEncoding", "UTF-8"), ("OutputEncoding", "UTF-8"), ("Language", language)):
        SubElement(root, f"{{{OPENSEARCH}}}{tag}").text = text
    # OpenSearch templates are full URLs: the one this device used to reach the server.
    template = url_for("opds.search", _external=True, **({"lang": request.args["lang"]}
                                                         if request.args.get("lang") in LANGUAGES else {}))
    template += ("&" if "?" in template else "?") + "q={searchTerms}"
    for kind in (ACQUISITION, "application/atom+xml"):
        SubElement(root, f"{{{OPENSEARCH}}}Url", type=kind, template=template)
    return _respond(root, OPENSEARCH_TYPE)


_EPUB_NAME = re.compile(r"^(?P<node>[a-z0-9][a-z0-9._-]*)\.(?P<lang>[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*)\.epub$")


@bp.get("/book/<pack_id>/<path:filename>")
def book_epub(pack_id: str, filename: str):
    """An e-textbook's HTML chapters as an EPUB 3, built once per pack version and language (any
    BCP 47 content language: `<node>.ar.epub`, `<node>.zh-Hant.epub`)."""
    match = _EPUB_NAME.match(filename)
    if match is None or not is_language_tag(match["lang"]):
        abort(404)
    item = services.book(pack_id, match["node"]) or abort(404)
    try:
        path, etag = services.epub_file(item, match["lang"], current_app.config["CLASSROOM_SETTINGS"].data_dir)
    except services.BookUnavailable as exc:
        abort(404, description=str(exc))
    # Ranges and conditionals as /content answers them (one helper, RFC 9110 to the letter).
    response = send_blob(path, etag, EPUB_TYPE)
    if response.status_code == 404:
        abort(404)
    response.headers["Content-Disposition"] = _attachment(
        filename, f"{item.title(match['lang'])} ({match['lang']}).epub")
    # The URL stays the same when the pack is updated: keep it, but ask again (the ETag answers).
    response.cache_control.no_cache = True
    return response

