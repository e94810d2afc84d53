"""EPUB 3 made on the fly from an e-textbook's HTML chapters, for e-reader apps.

Pack chapters are HTML5 (not XML). `to_xhtml` re-writes them as well-formed XHTML keeping the
text structure (headings, paragraphs, lists, tables, images, inline SVG and MathML) and dropping
what an e-reader must not run or fetch (scripts, styles, frames, forms, remote resources).
Pure: no flask, no peewee; files come through a `read(path) -> bytes | None` callback that only
knows the pack's own files.
"""
from __future__ import annotations

import datetime
import mimetypes
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from typing import Callable
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from content_packs.epub import direction

XHTML_NS = "http://www.w3.org/1999/xhtml"
SVG_NS = "http://www.w3.org/2000/svg"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
XLINK_NS = "http://www.w3.org/1999/xlink"
# EPUB 3 core media types for images: anything else would need a fallback, so it is left out.
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp"}

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_EXTERNAL_URL = re.compile(r"url\(\s*['\"]?(?!#)", re.I)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
        "source", "track", "wbr"}
# Elements dropped together with everything inside them.
DROP = {"script", "style", "template", "noscript", "iframe", "object", "audio", "video", "canvas",
        "button", "select", "textarea", "title", "map", "frameset", "noembed", "noframes", "dialog"}
HTML_ELEMENTS = {
    "a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite",
    "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins",
    "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul", "var", "wbr",
}
GLOBAL_ATTRIBUTES = {"id", "class", "title", "lang", "dir"}
HTML_ATTRIBUTES = {
    "a": {"href"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope", "abbr"}, "ol": {"start", "type", "reversed"},
    "li": {"value"}, "time": {"datetime"}, "col": {"span"}, "colgroup": {"span"}, "details": {"open"},
    "del": {"datetime"}, "ins": {"datetime"}, "abbr": {"title"}, "q": {"cite"}, "blockquote": {"cite"},
}
P_CLOSERS = {"address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figcaption",
             "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "main",
             "menu", "nav", "ol", "p", "pre", "section", "table", "ul"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
SCOPE = {"html", "table", "td", "th", "caption", "svg", "math"}

# html.parser lower-cases names; SVG needs its camelCase back (the HTML5 spec's adjustment tables).
SVG_ELEMENTS = {name.lower(): name for name in (
    "svg", "g", "defs", "desc", "title", "symbol", "use", "path", "rect", "circle", "ellipse", "line",
    "polyline", "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop", "marker",
    "clipPath", "mask", "pattern", "switch", "metadata")}
SVG_ATTRIBUTES = {name.lower(): name for name in (
    "viewBox", "preserveAspectRatio", "gradientUnits", "gradientTransform", "patternUnits",
    "patternContentUnits", "patternTransform", "clipPathUnits", "maskUnits", "maskContentUnits",
    "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "textLength", "lengthAdjust",
    "startOffset", "spreadMethod", "pathLength", "baseProfile", "systemLanguage", "requiredFeatures",
    "requiredExtensions", "zoomAndPan")}
MATHML_ELEMENTS = {
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle", "merror",
    "mpadded", "mphantom", "mfenced", "menclose", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mmultiscripts", "mprescripts", "none", "mtable", "mtr", "mtd", "mlabeledtr", "semantics", "annotation",
}
FOREIGN_ROOTS = {"svg": SVG_NS, "math": MATHML_NS}


def xml_text(value: str) -> str:
    return escape(_INVALID_XML.sub("", value))


def xml_attr(value: str) -> str:
    return quoteattr(_INVALID_XML.sub("", value))


@dataclass
class Chapter:
    """One chapter converted: its XHTML body and what the EPUB must carry along."""
    body: str
    images: list[str] = field(default_factory=list)  # pack paths, in order of first use
    has_svg: bool = False
    has_mathml: bool = False


class _Converter(HTMLParser):
    """HTML5 -> well-formed XHTML body content, by an allow-list and a stack of open elements."""

    def __init__(self, chapter: Chapter, resolve_image: Callable[[str], str | None],
                 resolve_link: Callable[[str], str | None]):
        super().__init__(convert_charrefs=True)
        self.resolve_image = resolve_image
        self.resolve_link = resolve_link
        self.out: list[str] = []
        self.stack: list[str] = []  # names as emitted; foreign elements as "svg:rect" / "math:mi"
        self.dropping: list[str] = []  # the dropped element we are inside, and its nesting
        self.chapter = chapter

    # --- where we are
    def _foreign(self) -> str | None:
        for name in reversed(self.stack):
            if ":" in name:
                return name.split(":", 1)[0]
        return None

    def _open(self, name: str, attributes: list[tuple[str, str]], emitted: str, void: bool = False) -> None:
        text = "".join(f" {key}={xml_attr(value)}" for key, value in attributes)
        self.out.append(f"<{emitted}{text}/>" if void else f"<{emitted}{text}>")
        if not void:
            self.stack.append(name)

    def _close_to(self, index: int) -> None:
        while len(self.stack) > index:
            name = self.stack.pop()
            self.out.append(f"</{name.split(':', 1)[-1] if ':' in name else name}>")

    def _find(self, names: set[str], stop: set[str]) -> int | None:
        for index in range(len(self.stack) - 1, -1, -1):
            name = self.stack[index]
            if name in names:
                return index
            if name in stop or ":" in name:
                return None
        return None

    # --- parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], self_closing: bool) -> None:
        if self.dropping:
            if tag == self.dropping[0] and not self_closing:
                self.dropping.append(tag)
            return
        foreign = self._foreign()
        if foreign is None and tag in FOREIGN_ROOTS:
            foreign = tag
        if foreign is not None:
            self._start_foreign(foreign, tag, attrs, self_closing)
            return
        if tag in DROP:
            # HTML ignores the slash of <script/>: its end tag still follows.
            self.dropping.append(tag)
            return
        if tag not in HTML_ELEMENTS:
            return  # unknown or structural (html, head, body, form, label...): keep only its content
        self._implied_ends(tag)
        attributes = self._html_attributes(tag, attrs)
        if tag == "img":
            src = dict(attrs).get("src") or ""
            target = self.resolve_image(src)
            if target is None:
                alt = dict(attrs).get("alt")
                if alt:
                    self.out.append(xml_text(alt))
                return
            attributes = [(k, v) for k, v in attributes if k != "src"] + [("src", target)]
            if "alt" not in dict(attributes):
                attributes.append(("alt", ""))
        self._open(tag, attributes, tag, void=tag in VOID)

    def _implied_ends(self, tag: str) -> None:
        """The HTML5 rules that close elements without an end tag, simplified."""
        if tag in P_CLOSERS:
            index = self._find({"p"}, SCOPE)
            if index is not None:
                self._close_to(index)
        if tag == "li":
            index = self._find({"li"}, SCOPE | {"ul", "ol"})
        elif tag in ("dt", "dd"):
            index = self._find({"dt", "dd"}, SCOPE | {"dl"})
        elif tag in ("td", "th"):
            index = self._find({"td", "th"}, {"tr", "table", "svg", "math"})
        elif tag == "tr":
            index = self._find({"tr"}, {"table", "svg", "math"})
        elif tag in ("thead", "tbody", "tfoot"):
            index = self._find({"thead", "tbody", "tfoot"}, {"table", "svg", "math"})
        elif tag in HEADINGS and self.stack and self.stack[-1] in HEADINGS:
            index = len(self.stack) - 1
        else:
            index = None
        if index is not None:
            self._close_to(index)

    def _html_attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
        allowed = GLOBAL_ATTRIBUTES | HTML_ATTRIBUTES.get(tag, set())
        result: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key, value in attrs:
            # An image's src is set by the caller, once resolved; repeated attributes count once.
            if key not in allowed or key in seen or key == "src":
                continue
            seen.add(key)
            value = key if value is None else value  # boolean attributes: reversed="reversed"
            if key == "href":
                target = self.resolve_link(value)
                if target is None:
                    continue
                value = target
            result.append((key, value))
        return result

    def _start_foreign(self, foreign: str, tag: str, attrs: list[tuple[str, str | None]],
                       self_closing: bool) -> None:
        if foreign == "svg":
            if tag not in SVG_ELEMENTS:
                if not self_closing:
                    self.dropping.append(tag)
                return
            name = SVG_ELEMENTS[tag]
            self.chapter.has_svg = True
        else:
            if tag not in MATHML_ELEMENTS:
                if not self_closing:
                    self.dropping.append(tag)
                return
            name = tag
            self.chapter.has_mathml = True
        attributes: list[tuple[str, str]] = []
        if tag == foreign:
            attributes.append(("xmlns", FOREIGN_ROOTS[foreign]))
            if foreign == "svg":
                attributes.append(("xmlns:xlink", XLINK_NS))
        seen = {"xmlns", "xmlns:xlink"}
        for key, value in attrs:
            value = key if value is None else value
            if key in seen or key.startswith("on"):
                continue
            if key in ("href", "xlink:href"):
                if not value.startswith("#"):
                    continue  # only references inside the document; nothing is fetched
            elif ":" in key:
                if key not in ("xml:lang", "xml:space"):
                    continue
            elif not _NAME.match(key):
                continue
            if _EXTERNAL_URL.search(value):  # fill="url(http:...)" and style alike: only url(#id)
                continue
            seen.add(key)
            attributes.append((SVG_ATTRIBUTES.get(key, key) if foreign == "svg" else key, value))
        self._open(f"{foreign}:{name}", attributes, name, void=self_closing)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag == self.dropping[0]:
                self.dropping.pop()
            return
        if tag == "br" and self._foreign() is None:
            self.out.append("<br/>")
            return
        # An end tag closes the nearest open element of its name, SVG/MathML ones included.
        wanted = {tag, f"svg:{SVG_ELEMENTS.get(tag, tag)}", f"math:{tag}"}
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] in wanted:
                self._close_to(index)
                return

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(xml_text(data))

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA[") and self._foreign() is not None:
            self.handle_data(data[len("CDATA["):])

    def finish(self) -> Chapter:
        self.close()
        self._close_to(0)
        self.chapter.body = "".join(self.out)
        return self.chapter


def to_xhtml(html_text: str, chapter_path: str, image_href: Callable[[str], str | None],
             chapter_href: Callable[[str], str | None]) -> Chapter:
    """Convert a chapter's HTML; `image_href(pack path)` / `chapter_href(pack path)` give the
    EPUB-relative href of a pack file, or None when the EPUB does not carry it."""
    chapter = Chapter("")
    base = posixpath.dirname(chapter_path)

    def pack_path(reference: str) -> tuple[str | None, str]:
        parts = urlsplit(reference.strip())
        if parts.scheme or parts.netloc or not parts.path:
            return None, parts.fragment
        path = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
        if path.startswith(("../", "/")) or path in ("..", "."):
            return None, parts.fragment  # outside the pack: never followed
        return path, parts.fragment

    def resolve_image(src: str) -> str | None:
        path, _ = pack_path(src)
        href = image_href(path) if path else None
        if href is not None and path not in chapter.images:
            chapter.images.append(path)
        return href

    def resolve_link(href: str) -> str | None:
        href = href.strip()
        if href.startswith("#"):
            return href
        scheme = urlsplit(href).scheme.lower()
        if scheme in ("http", "https", "mailto"):
            return href
        if scheme:
            return None  # javascript:, data: and the like
        path, fragment = pack_path(href)
        target = chapter_href(path) if path else None
        if target is None:
            return None
        return f"{target}#{fragment}" if fragment else target

    converter = _Converter(chapter, resolve_image, resolve_link)
    converter.feed(html_text)
    return converter.finish()


# --- the EPUB container -------------------------------------------------------------------------

@dataclass(frozen=True)
class BookChapter:
    title: str
    path: str  # the chapter's HTML file in the pack


@dataclass(frozen=True)
class BookInfo:
    identifier: str
    title: str
    language: str
    authors: tuple[str, ...]
    modified: datetime.datetime  # UTC
    subject: str = ""
    rights: str = ""
    publisher: str = ""
    description: str = ""
    chapters: tuple[BookChapter, ...] = ()
    cover: str | None = None  # pack path of a cover image


STYLE = (b"body{line-height:1.5}\nh1,h2,h3{line-height:1.25}\nimg,svg{max-width:100%;height:auto}\n"
         b"table{border-collapse:collapse;margin:1em 0}\nth,td{border:1px solid #888;padding:.2em .5em}\n"
         b"figure{margin:1em 0}\n")


def _media_type(path: str) -> str | None:
    kind = mimetypes.guess_type(path)[0]
    if path.lower().endswith(".svg"):
        kind = "image/svg+xml"
    elif path.lower().endswith(".webp"):
        kind = "image/webp"
    return kind if kind in IMAGE_TYPES else None


def sanitize_svg(data: bytes) -> bytes | None:
    """An SVG picture of the pack, cleaned like inline SVG (no script, style element, handler, outside
    reference or foreign content), as a standalone XML document; None if nothing drawable is left."""
    chapter = Chapter("")
    converter = _Converter(chapter, lambda src: None, lambda href: None)
    converter.feed(data.decode("utf-8", "replace"))
    body = converter.finish().body.strip()
    if not body.startswith("<svg"):
        start = body.find("<svg ")
        body = body[start:body.rfind("</svg>") + len("</svg>")] if start >= 0 else ""
    if not body:
        return None
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


class BookFileMissing(LookupError):
    """A file the book needs is not in the pack's store."""


def build_epub(book: BookInfo, read: Callable[[str], bytes | None]) -> bytes:
    """The EPUB 3 bytes of `book`; `read(pack path)` gives a pack file's bytes, or None if the pack has
    no such file. Deterministic: the same book gives the same bytes (fixed zip times and order)."""
    chapter_names = {c.path: f"ch{index:03d}.xhtml" for index, c in enumerate(book.chapters, 1)}
    images: dict[str, str] = {}  # pack path -> href inside OEBPS/
    image_exists: dict[str, bool] = {}

    def has_image(path: str) -> bool:
        if path not in image_exists:
            image_exists[path] = _media_type(path) is not None and read(path) is not None
        return image_exists[path]

    def image_href(path: str) -> str | None:
        if not has_image(path):
            return None
        images.setdefault(path, "files/" + quote(path))
        return "../" + images[path]

    def chapter_href(path: str) -> str | None:
        return chapter_names.get(path)

    documents: list[tuple[str, str, Chapter]] = []
    for chapter in book.chapters:
        raw = read(chapter.path)
        if raw is None:
            raise BookFileMissing(f"the chapter file {chapter.path!r} is missing")
        converted = to_xhtml(raw.decode("utf-8", "replace"), chapter.path, image_href, chapter_href)
        documents.append((chapter_names[chapter.path], chapter.title, converted))
    cover = book.cover if book.cover and has_image(book.cover) else None
    if cover:
        images.setdefault(cover, "files/" + quote(cover))

    stamp = book.modified.replace(microsecond=0)
    zip_time = max(stamp, datetime.datetime(1980, 1, 1)).timetuple()[:6]
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        def put(name: str, data: bytes, compress: bool = True) -> None:
            info = zipfile.ZipInfo(name, date_time=zip_time)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)

        # The OCF rule: `mimetype` first, stored, no extra field, so readers can sniff the type.
        put("mimetype", b"application/epub+zip", compress=False)
        put("META-INF/container.xml", _container())
        put("OEBPS/content.opf", _package(book, stamp, documents, images, cover))
        put("OEBPS/nav.xhtml", _nav(book, documents))
        put("OEBPS/toc.ncx", _ncx(book, documents))
        put("OEBPS/style.css", STYLE)
        for name, title, chapter in documents:
            put(f"OEBPS/text/{name}", _chapter_document(book.language, title, chapter.body))
        for path in images:
            data = read(path)
            if data is None:
                raise BookFileMissing(f"the image {path!r} is missing")
            if _media_type(path) == "image/svg+xml":
                data = sanitize_svg(data) or b'<svg xmlns="http://www.w3.org/2000/svg"/>'
            # Pictures are mostly compressed already; SVG is text and shrinks well.
            put(f"OEBPS/files/{path}", data, compress=path.lower().endswith(".svg"))
    return buffer.getvalue()


def _container() -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">\n'
            '  <rootfiles>\n'
            '    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>\n'
            '  </rootfiles>\n'
            '</container>\n').encode("utf-8")


def _package(book: BookInfo, stamp: datetime.datetime, documents: list[tuple[str, str, Chapter]],
             images: dict[str, str], cover: str | None) -> bytes:
    meta = [f'    <dc:identifier id="bookid">{xml_text(book.identifier)}</dc:identifier>',
            f"    <dc:title>{xml_text(book.title)}</dc:title>",
            f"    <dc:language>{xml_text(book.language)}</dc:language>"]
    meta += [f"    <dc:creator>{xml_text(author)}</dc:creator>" for author in book.authors]
    for element, value in (("subject", book.subject), ("rights", book.rights), ("publisher", book.publisher),
                           ("description", book.description)):
        if value:
            meta.append(f"    <dc:{element}>{xml_text(value)}</dc:{element}>")
    meta.append(f'    <meta property="dcterms:modified">{stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}</meta>')
    items = ['    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
             '    <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>',
             '    <item id="css" href="style.css" media-type="text/css"/>']
    spine = []
    for index, (name, _, chapter) in enumerate(documents, 1):
        properties = " ".join(p for p, used in (("svg", chapter.has_svg), ("mathml", chapter.has_mathml)) if used)
        extra = f' properties="{properties}"' if properties else ""
        items.append(f'    <item id="c{index}" href="text/{name}" media-type="application/xhtml+xml"{extra}/>')
        spine.append(f'    <itemref idref="c{index}"/>')
    for index, (path, href) in enumerate(images.items(), 1):
        extra = ' properties="cover-image"' if path == cover else ""
        items.append(f"    <item id=\"i{index}\" href={xml_attr(href)} media-type=\"{_media_type(path)}\"{extra}/>")
        if path == cover:
            meta.append(f'    <meta name="cover" content="i{index}"/>')
    progression = ' page-progression-direction="rtl"' if direction(book.language) else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid" '
            f"xml:lang={xml_attr(book.language)}>\n"
            '  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n' + "\n".join(meta) + "\n  </metadata>\n"
            "  <manifest>\n" + "\n".join(items) + "\n  </manifest>\n"
            f'  <spine toc="ncx"{progression}>\n' + "\n".join(spine) + "\n  </spine>\n</package>\n").encode("utf-8")


def _nav(book: BookInfo, documents: list[tuple[str, str, Chapter]]) -> bytes:
    entries = "\n".join(f'      <li><a href="text/{name}">{xml_text(title)}</a></li>' for name, title, _ in documents)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="{XHTML_NS}" xmlns:epub="http://www.idpf.org/2007/ops" '
            f"lang={xml_attr(book.language)} xml:lang={xml_attr(book.language)}{_dir(book.language)}>\n"
            f"<head><meta charset=\"utf-8\"/><title>{xml_text(book.title)}</title></head>\n<body>\n"
            f'  <nav epub:type="toc" id="toc">\n    <h1>{xml_text(book.title)}</h1>\n    <ol>\n{entries}\n    </ol>\n'
            "  </nav>\n</body>\n</html>\n").encode("utf-8")


def _ncx(book: BookInfo, documents: list[tuple[str, str, Chapter]]) -> bytes:
    """The EPUB 2 table of contents, for older readers that ignore nav.xhtml."""
    points = "\n".join(
        f'    <navPoint id="p{index}" playOrder="{index}"><navLabel><text>{xml_text(title)}</text></navLabel>'
        f'<content src="text/{name}"/></navPoint>' for index, (name, title, _) in enumerate(documents, 1))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">\n'
            f'  <head><meta name="dtb:uid" content={xml_attr(book.identifier)}/></head>\n'
            f"  <docTitle><text>{xml_text(book.title)}</text></docTitle>\n"
            f"  <navMap>\n{points}\n  </navMap>\n</ncx>\n").encode("utf-8")


def _dir(language: str) -> str:
    return ' dir="rtl"' if direction(language) else ""


def _chapter_document(language: str, title: str, body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
            f'<html xmlns="{XHTML_NS}" xmlns:epub="http://www.idpf.org/2007/ops" '
            f"lang={xml_attr(language)} xml:lang={xml_attr(language)}{_dir(language)}>\n"
            f'<head><meta charset="utf-8"/><title>{xml_text(title)}</title>'
            '<link rel="stylesheet" type="text/css" href="../style.css"/></head>\n'
            f"<body>\n{body}\n</body>\n</html>\n").encode("utf-8")
