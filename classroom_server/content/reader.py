"""The e-textbook reader: a chapter's HTML shown inside our own page, so the reader's text size and
contrast apply to it and it reads without JavaScript.

Lessons (interactive HTML5) keep their sandboxed frame; a chapter is a document, so it is
sanitized with nh3 (the ammonia sanitizer): text, tables, pictures, presentation MathML and static
SVG drawings stay; scripts, forms, frames, event handlers and any address outside the school server
go. The document's <style> elements and style attributes are taken out of the HTML and served as a
stylesheet of the chapter's own, cleaned like the book's stylesheets (bookcss.py). Links to other chapters open them in the reader; the book's stylesheets are
sanitized on their own (bookcss.py) and applied under the reader's text size and contrast.
"""
from __future__ import annotations

import datetime
import functools
import re
from html.parser import HTMLParser
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from markupsafe import Markup

from ..db import Prepared, run_sql
from ..models import ReaderPreference, ReadingPosition, User, utcnow

TAGS = {"a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
        "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
        "h6", "hgroup", "hr", "i", "img", "ins", "kbd", "li", "mark", "nav", "ol", "p", "pre", "q", "rb",
        "rp", "rt", "ruby", "s", "samp", "section", "small", "span", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr", "aside", "article",
        "header", "footer"}
# Not "main": a book's <main> inside our page would be a second main landmark (its content stays).
# Presentation MathML (MathML Core and what MathML 3 books use; Chromium renders MathML Core).
# Not annotation-xml: it can carry HTML, a known way to confuse sanitizers.
MATHML_TAGS = {"math", "maction", "annotation", "menclose", "merror", "mfenced", "mfrac", "mi", "mlabeledtr",
               "mmultiscripts", "mn", "mo", "mover", "mpadded", "mphantom", "mprescripts", "mroot", "mrow", "ms",
               "mspace", "msqrt", "mstyle", "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder",
               "munderover", "none", "semantics"}
MATHML_ATTRIBUTES = {"accent", "accentunder", "align", "alttext", "bevelled", "close", "columnalign",
                     "columnlines", "columnspacing", "columnspan", "columnwidth", "crossout", "denomalign", "depth",
                     "display", "displaystyle", "encoding", "equalcolumns", "equalrows", "fence", "form", "frame",
                     "framespacing", "height", "largeop", "linebreak", "linethickness", "lquote", "lspace",
                     "mathbackground", "mathcolor", "mathsize", "mathvariant", "maxsize", "minsize",
                     "movablelimits", "notation", "numalign", "open", "rowalign", "rowlines", "rowspacing",
                     "rowspan", "rquote", "rspace", "scriptlevel", "scriptminsize", "scriptsizemultiplier",
                     "separator", "separators", "stretchy", "subscriptshift", "superscriptshift", "symmetric",
                     "voffset", "width"}
# Static SVG drawings. Left out: script, style, foreignObject (HTML inside SVG), animate/set (they can
# change an href), filters and fonts; `href` only to a place in the chapter or a picture of the pack.
SVG_TAGS = {"svg", "g", "defs", "desc", "symbol", "use", "path", "rect", "circle", "ellipse", "line", "polyline",
            "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop", "marker",
            "clipPath", "mask", "pattern", "image"}
SVG_ATTRIBUTES = {"alignment-baseline", "baseline-shift", "clip-path", "clip-rule", "clipPathUnits", "color", "cx",
                  "cy", "d", "display", "dominant-baseline", "dx", "dy", "fill", "fill-opacity", "fill-rule",
                  "font-family", "font-size", "font-style", "font-weight", "fx", "fy", "gradientTransform",
                  "gradientUnits", "height", "href", "lengthAdjust", "letter-spacing", "marker-end", "marker-mid",
                  "marker-start", "markerHeight", "markerUnits", "markerWidth", "mask", "maskContentUnits",
                  "maskUnits", "offset", "opacity", "orient", "pathLength", "patternContentUnits",
                  "patternTransform", "patternUnits", "points", "preserveAspectRatio", "r", "refX", "refY",
                  "rotate", "rx", "ry", "spreadMethod", "startOffset", "stop-color", "stop-opacity", "stroke",
                  "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin",
                  "stroke-miterlimit", "stroke-opacity", "stroke-width", "text-anchor", "text-decoration",
                  "textLength", "transform", "vector-effect", "viewBox", "visibility", "width", "word-spacing",
                  "writing-mode", "x", "x1", "x2", "xlink:href", "y", "y1", "y2"}
ATTRIBUTES = {"*": {"class", "id", "lang", "title", "dir", "role", "epub:type", "aria-label", "aria-labelledby",
                    "aria-describedby", "aria-hidden", "style"},
              "a": {"href"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan", "headers"},
              "th": {"colspan", "rowspan", "scope", "headers"}, "ol": {"start", "reversed", "type"},
              "li": {"value"}, "col": {"span"}, "colgroup": {"span"}, "time": {"datetime"}, "details": {"open"},
              "bdo": {"dir"}, "image": {"href", "xlink:href", "width", "height", "x", "y", "preserveAspectRatio"},
              **{tag: MATHML_ATTRIBUTES for tag in MATHML_TAGS}, **{tag: SVG_ATTRIBUTES for tag in SVG_TAGS}}
DROP_WITH_CONTENT = {"script", "style", "title", "template", "noscript", "iframe", "object", "form",
                     "foreignObject", "annotation-xml"}
# Attributes that name other elements by id: the ids get our prefix, so these must too.
ID_REFERENCES = {"aria-labelledby", "aria-describedby", "headers"}
_URL_REFERENCE = re.compile(r"url\(\s*(['\"]?)#", re.I)
_ANY_URL = re.compile(r"url\(", re.I)

#: chapter ids are prefixed so they cannot clash with the page's own
ID_PREFIX = "ch-"
TEXT_SIZES = range(-1, 4)
CONTRASTS = ("normal", "high", "dark")
#: reading this far down a chapter counts as having read it
READ_THROUGH = 0.9
_READ = uuid.UUID("5c0b8e8a-2d7e-4a3f-8f47-9c8b2f0d6e31")


class _Styles(HTMLParser):
    """The text of a document's <style> elements (the reader cleans them like the book's stylesheets)."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.styles: list[str] = []
        self._media: str | None = None
        self._open = False
        self._svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self._svg += 1
        elif tag == "style" and not self._svg:
            media = (dict(attrs).get("media") or "").strip()
            self._media = media if media and _MEDIA.match(media) and media.lower() != "all" else None
            self._open = True
            self.styles.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = max(0, self._svg - 1)
        elif tag == "style" and self._open:
            self._open = False
            if self._media:
                self.styles[-1] = f"@media {self._media}{{{self.styles[-1]}}}"

    def handle_data(self, data: str) -> None:
        if self._open:
            self.styles[-1] += data


_MEDIA = re.compile(r"^[\w\s(),:.\-]{1,200}$")


class _Head(HTMLParser):
    """What the page says about itself before its content: html/body lang, dir, class; stylesheets."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.html: dict[str, str] = {}
        self.body: dict[str, str] = {}
        self.stylesheets: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.html = found
        elif tag == "link" and "stylesheet" in found.get("rel", "").lower().split() and found.get("href"):
            self.stylesheets.append(found["href"])
        elif tag == "body":
            self.body = found
            self.done = True


def page_head(html: str) -> _Head:
    head = _Head()
    end = html.lower().find("<body")
    head.feed(html[:html.find(">", end) + 1] if end >= 0 else html[:65536])
    return head


@dataclass(frozen=True)
class Chapter:
    """A chapter ready for our page: its cleaned body and the book's stylesheets (pack paths)."""
    body: Markup
    stylesheets: tuple[str, ...]
    language: str | None
    direction: str | None
    #: the document's own <style> elements, and its style="..." attributes by their number
    #: (data-book-style="N" in the body), as the book wrote them: bookcss cleans them when served
    styles: tuple[str, ...] = ()
    inline_styles: tuple[tuple[int, str], ...] = ()

    @property
    def has_styles(self) -> bool:
        return bool(self.styles or self.inline_styles)


def pack_url(pack_id: str, path: str) -> str:
    return f"/content/pack/{quote(pack_id, safe='')}/{quote(path)}"


_SVG = re.compile(r"<svg\b[^>]*>.*?</svg\s*>", re.S | re.I)
_SVG_TITLE = re.compile(r"<title\b([^>]*)>(.*?)</title\s*>", re.S | re.I)


def _svg_titles(html: str) -> str:
    """A drawing's <title> (its name for screen readers) as a <desc>, which the sanitizer keeps
    (it drops <title> with its content: the page's own title), and as the drawing's aria-label when
    nothing else names it; an aria-labelledby pointing at the title still finds its text."""
    def drawing(match: re.Match) -> str:
        svg = match.group(0)
        title = _SVG_TITLE.search(svg)
        if title is None:
            return svg
        svg = _SVG_TITLE.sub(lambda t: f"<desc{t.group(1)}>{t.group(2)}</desc>", svg)
        tag_end = svg.index(">")
        opening = svg[:tag_end]
        if "aria-label" not in opening:
            name = re.sub(r"<[^>]*>", "", title.group(2)).strip().replace('"', "&quot;")
            svg = f'{opening} aria-label="{name}"{svg[tag_end:]}'
        return svg

    return _SVG.sub(drawing, html)


@functools.lru_cache(maxsize=64)
def chapter_html(pack_id: str, chapter_path: str, blob: str,
                 chapters: tuple[tuple[str, str], ...] = ()) -> Chapter:
    """The chapter's body, safe to put into our page (cached by its blob, named by its hash).

    `chapters` maps the book's chapter files to their pages ((pack path, URL) pairs): a link to
    another chapter opens it in the reader, at the same place."""
    html = Path(blob).read_text(encoding="utf-8", errors="replace")
    folder = posixpath.dirname(chapter_path)
    pages = dict(chapters)
    head = page_head(html)

    def target(url: str) -> tuple[str | None, str]:
        parts = urlsplit(url.strip())
        if parts.scheme or parts.netloc:
            return None, ""
        if not parts.path:
            return chapter_path, parts.fragment
        path = posixpath.normpath(posixpath.join(folder, unquote(parts.path)))
        if path.startswith("../") or path == "..":
            return None, ""
        return path, parts.fragment

    def local(url: str) -> str | None:
        path, fragment = target(url)
        if path is None:
            return None
        place = f"#{ID_PREFIX}{fragment}" if fragment else ""
        if path == chapter_path:  # "#section": a place in this chapter, whose ids get our prefix
            return place or None
        if path in pages:
            return pages[path] + place
        return pack_url(pack_id, path) + (f"#{fragment}" if fragment else "")

    inline_styles: list[tuple[int, str]] = []
    # An unguessable mark: nh3 keeps style="<mark>-N", which becomes data-book-style="N" below;
    # text in the chapter cannot contain it.
    style_mark = uuid.uuid4().hex

    def keep(element: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            if not value.strip() or len(value) > 4096:
                return None
            inline_styles.append((len(inline_styles), value))
            return f"{style_mark}-{len(inline_styles) - 1}"
        # url_relative (local) rewrites hrefs after this: <use> may only point into the chapter,
        # an SVG <image> at a picture of the pack (like <img src>), <a> wherever local() allows.
        if attribute in ("href", "xlink:href") and element not in ("a", "image") and not value.startswith("#"):
            return None
        if attribute in ID_REFERENCES:
            return " ".join(ID_PREFIX + name for name in value.split())
        if _ANY_URL.search(value):  # fill="url(#gradient)": only places in the chapter, with our prefix
            if len(_ANY_URL.findall(value)) != len(_URL_REFERENCE.findall(value)):
                return None
            return _URL_REFERENCE.sub(lambda m: f"url({m.group(1)}#{ID_PREFIX}", value)
        return value

    # Imported by the first chapter sanitized, not at start: nh3's library is ~1.5 MiB of an idle
    # server's memory (issue 18), and the supervisor process never renders a chapter.
    import nh3
    cleaned = nh3.clean(_svg_titles(html), tags=TAGS | MATHML_TAGS | SVG_TAGS, attributes=ATTRIBUTES,
                        clean_content_tags=DROP_WITH_CONTENT, url_schemes=set(), url_relative=local,
                        id_prefix=ID_PREFIX, link_rel=None, attribute_filter=keep)
    if inline_styles:
        cleaned = re.sub(f' style="{style_mark}-(\\d+)"', r' data-book-style="\1"', cleaned)
    collector = _Styles()
    collector.feed(html)
    collector.close()
    stylesheets = []
    for href in head.stylesheets:
        path, _ = target(href)
        if path is not None and path.lower().endswith(".css"):
            stylesheets.append(path)
    language = head.html.get("lang") or head.html.get("xml:lang") or None
    direction = head.html.get("dir") if head.html.get("dir") in ("ltr", "rtl", "auto") else None
    classes = " ".join(c for c in (head.body.get("class") or "").split() if re.match(r"^[\w-]{1,64}$", c))
    # tabindex: a wide table, matrix or a vertical-writing column scrolls sideways, by keyboard too
    attributes = f' class="book-body {classes}"'.replace(' "', '"') + ' tabindex="0"'
    for name in ("lang", "dir"):
        value = head.body.get(name)
        if value and re.match(r"^[A-Za-z0-9-]{1,35}$", value):
            attributes += f' {name}="{value}"'
    return Chapter(Markup(f"<div{attributes}>{cleaned}</div>"), tuple(stylesheets), language, direction,
                   tuple(style for style in collector.styles if style.strip()), tuple(inline_styles))


@functools.lru_cache(maxsize=16)
def pdf_pages(blob: str) -> list[dict]:
    """The pages document of a PDF textbook (cached by its blob, named by its hash)."""
    import json
    return json.loads(Path(blob).read_text(encoding="utf-8"))["pages"]


# Read (and the position written) on every chapter a student opens: SQL built once.
_PREFERENCE = Prepared(lambda: ReaderPreference.select().where(ReaderPreference.user == 0))
_POSITION = Prepared(lambda: ReadingPosition.select().where(
    ReadingPosition.user == 0, ReadingPosition.pack_id == "", ReadingPosition.book_id == ""))
# fraction NULL (the chapter was opened): keep the place in the same chapter, the top of another one.
_SAVE_POSITION = (
    "INSERT INTO reading_position (user_id, pack_id, book_id, chapter_id, fraction, updated_at)"
    " VALUES (?, ?, ?, ?, COALESCE(?, 0.0), ?) ON CONFLICT (user_id, pack_id, book_id) DO UPDATE SET"
    " fraction = COALESCE(?, CASE WHEN reading_position.chapter_id = excluded.chapter_id"
    " THEN reading_position.fraction ELSE 0.0 END),"
    " chapter_id = excluded.chapter_id, updated_at = excluded.updated_at RETURNING id, fraction")
# What a student's chapter page reads of theirs, in one query (each is a round to SQLite under the
# GIL): the reader's settings, the place in the book, whether they have notes in this chapter file.
_OPENED = (
    "SELECT p.text_size, p.contrast, r.id, r.chapter_id, r.fraction, r.updated_at,"
    " EXISTS (SELECT 1 FROM reader_note n WHERE n.user_id = ? AND n.pack_id = ? AND n.chapter_path = ?)"
    " FROM (SELECT 1 AS one) AS here"
    " LEFT JOIN reader_preference p ON p.user_id = ?"
    " LEFT JOIN reading_position r ON r.user_id = ? AND r.pack_id = ? AND r.book_id = ?")


def preference(user: User | None) -> ReaderPreference:
    found = _PREFERENCE(user.id) if user is not None else None
    return found[0] if found else _default_preference()


def _default_preference() -> ReaderPreference:
    return ReaderPreference(text_size=0, contrast="normal")


def save_preference(user: User, text_size: int, contrast: str) -> None:
    if text_size not in TEXT_SIZES or contrast not in CONTRASTS:
        raise ValueError("text size from -1 to 3, contrast normal, high or dark")
    (ReaderPreference.insert(user=user.id, text_size=text_size, contrast=contrast)
     .on_conflict(conflict_target=[ReaderPreference.user],
                  update={ReaderPreference.text_size: text_size, ReaderPreference.contrast: contrast})
     .execute())


def position(user: User, pack_id: str, book_id: str) -> ReadingPosition | None:
    found = _POSITION(user.id, pack_id, book_id)
    return found[0] if found else None


def save_position(user: User, pack_id: str, book_id: str, chapter_id: str, fraction: float | None,
                  now: datetime.datetime | None = None) -> ReadingPosition:
    """Where the student is now. `fraction` None (the chapter was opened): keep the place in the
    same chapter, start at the top of another one."""
    if fraction is None:
        # Opening the chapter the place is already in changes nothing: no write (each would be a
        # commit, and the disk's flush, on every chapter view).
        before = position(user, pack_id, book_id)
        if before is not None and before.chapter_id == chapter_id:
            return before
    else:
        fraction = min(1.0, max(0.0, fraction))
    return _write_position(user, pack_id, book_id, chapter_id, fraction, now or utcnow())


def _write_position(user: User, pack_id: str, book_id: str, chapter_id: str, fraction: float | None,
                    now: datetime.datetime) -> ReadingPosition:
    # One statement (it used to be read, write, read again): the place it keeps cannot change between.
    row_id, stored = run_sql(_SAVE_POSITION, (user.id, pack_id, book_id, chapter_id, fraction,
                                              ReadingPosition.updated_at.db_value(now), fraction)).fetchone()
    return ReadingPosition(id=row_id, user=user.id, pack_id=pack_id, book_id=book_id, chapter_id=chapter_id,
                           fraction=stored, updated_at=now)


@dataclass(frozen=True)
class Reading:
    """A student's chapter page: their reader settings, their place in the book, notes here or not."""
    preference: ReaderPreference
    place: ReadingPosition
    has_notes: bool


def open_chapter(user: User, pack_id: str, book_id: str, chapter_id: str, chapter_path: str) -> Reading:
    """A student opens a chapter of a book: the place in the book becomes this chapter (as
    save_position with no fraction: kept where it was in this chapter, else its top)."""
    text_size, contrast, row_id, place_chapter, fraction, updated_at, has_notes = run_sql(
        _OPENED, (user.id, pack_id, chapter_path, user.id, user.id, pack_id, book_id)).fetchone()
    preference = (ReaderPreference(user=user.id, text_size=text_size, contrast=contrast)
                  if text_size is not None else _default_preference())
    if row_id is not None and place_chapter == chapter_id:
        place = ReadingPosition(id=row_id, user=user.id, pack_id=pack_id, book_id=book_id, chapter_id=chapter_id,
                                fraction=fraction, updated_at=ReadingPosition.updated_at.python_value(updated_at))
    else:
        place = _write_position(user, pack_id, book_id, chapter_id, None, utcnow())
    return Reading(preference, place, bool(has_notes))


def read_record_id(user: User, pack_id: str, chapter_id: str) -> str:
    """One `read` record per student and chapter, however often they reach its end."""
    return str(uuid.uuid5(_READ, f"{user.pseudonym}/{pack_id}/{chapter_id}"))
