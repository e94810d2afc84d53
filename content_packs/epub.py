"""EPUB at build time: an e-textbook node with `"epub": {"kk": "src/book.epub"}` becomes HTML chapters.

Each document of the spine is parsed as the XML it is (a document that is not well-formed is refused,
naming the book and the file) and written out as an HTML page that keeps what makes it a book: the
language and direction of the document and of each element, MathML and SVG, `epub:type` (footnotes),
the book's stylesheets, and links between chapters, re-pointed at the stored `.html` names. The
book's navigation document becomes the e-textbook's contents (`toc`, nested, and `page_list`) instead
of a chapter. Sanitizing is not done here: the school's reader and the OPDS builder clean what they show.
"""
from __future__ import annotations

import html
import html.entities
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree

from .manifest import InvalidPack, check_path

_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf",
       "dc": "http://purl.org/dc/elements/1.1/"}
XHTML = "{http://www.w3.org/1999/xhtml}"
SVG = "{http://www.w3.org/2000/svg}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"
OPS = "{http://www.idpf.org/2007/ops}"
XML = "{http://www.w3.org/XML/1998/namespace}"
XLINK = "{http://www.w3.org/1999/xlink}"
NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
MAX_EPUB_ENTRY = 64 * 1024 * 1024
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Resources a chapter may use, kept beside the chapters under their own names.
RESOURCE_TYPES = ("image/", "audio/", "video/", "font/", "text/css", "application/font-woff",
                  "application/vnd.ms-opentype", "application/x-font-ttf", "application/x-font-otf")
# epub:type values that have an ARIA DPUB role: the reader and screen readers know them by role.
ROLES = {"noteref": "doc-noteref", "footnote": "doc-footnote", "endnote": "doc-endnote",
         "rearnote": "doc-endnote", "note": "doc-footnote", "pagebreak": "doc-pagebreak", "glossref": "doc-glossref",
         "biblioref": "doc-biblioref"}
# Languages written right to left (primary subtag) and scripts that are (script subtag).
RTL_LANGUAGES = {"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku-arab", "ps", "sd", "syr", "ug", "ur",
                 "yi"}
RTL_SCRIPTS = {"arab", "hebr", "syrc", "thaa", "nkoo", "adlm", "rohg"}


def direction(language: str | None) -> str | None:
    """'rtl' for a BCP 47 tag written right to left, else None."""
    if not language:
        return None
    parts = language.lower().split("-")
    if parts[0] in RTL_LANGUAGES or any(p in RTL_SCRIPTS for p in parts[1:2]):
        return "rtl"
    return None


@dataclass
class EpubChapter:
    href: str  # the document's path inside the book (relative to the package file), unescaped
    title: str
    page: bytes  # an HTML page


@dataclass
class EpubBook:
    chapters: list[EpubChapter]
    resources: dict[str, bytes]  # by path inside the book
    toc: list[dict] = field(default_factory=list)  # {"title", "href" (book path#fragment) or None, "children"}
    page_list: list[dict] = field(default_factory=list)  # {"title", "href"}
    language: str | None = None
    direction: str | None = None


def _parser() -> ElementTree.XMLParser:
    # EPUB 2 books use HTML's named entities (&nbsp;) through the XHTML 1.1 DTD: know them without it.
    parser = ElementTree.XMLParser()
    parser.entity.update({name: chr(code) for name, code in html.entities.name2codepoint.items()})
    return parser


def _attribute_name(name: str) -> str | None:
    """An XML attribute's name as HTML writes it (xml:lang -> lang), or None to leave it out."""
    if name.startswith(XML):
        local = name[len(XML):]
        return local if local in ("lang", "space") else None
    if name.startswith(OPS):
        return "epub:" + name[len(OPS):]
    if name.startswith(XLINK):
        return "xlink:" + name[len(XLINK):]
    if name.startswith("{"):
        return None
    return name


def _local(tag: object) -> tuple[str | None, str]:
    """(namespace, local name) of an element; comments and processing instructions give (None, '')."""
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return "", tag


class _Document:
    """One XHTML document of the book, written out as HTML with its links re-pointed."""

    def __init__(self, book: "_Book", href: str, root: ElementTree.Element):
        self.book = book
        self.href = href
        self.root = root
        self.folder = posixpath.dirname(href)

    def target(self, reference: str) -> tuple[str | None, str]:
        """(book path, fragment) of a relative reference, or (None, '') for one outside the book."""
        parts = urlsplit(reference.strip())
        if parts.scheme or parts.netloc:
            return None, ""
        if not parts.path:
            return self.href, parts.fragment
        path = posixpath.normpath(posixpath.join(self.folder, unquote(parts.path)))
        if path.startswith("../") or path == "..":
            return None, ""
        return path, parts.fragment

    def link(self, reference: str) -> str | None:
        """A link as the stored page must write it: chapters by their `.html` names, percent-escaped once."""
        scheme = urlsplit(reference.strip()).scheme.lower()
        if scheme in ("http", "https", "mailto"):
            return reference
        path, fragment = self.target(reference)
        if path is None:
            return None
        suffix = f"#{fragment}" if fragment else ""
        if path == self.href:
            return suffix or "#"
        if path in self.book.spine:
            path = html_name(path)
        elif path not in self.book.resource_paths:
            return None  # a file the book does not carry: no link that would give 404
        return quote(posixpath.relpath(path, self.folder or ".")) + suffix

    def element(self, node: ElementTree.Element, out: list[str]) -> None:
        namespace, local = _local(node.tag)
        if namespace is None:  # comment or processing instruction
            if node.tail:
                out.append(html.escape(node.tail, quote=False))
            return
        foreign = namespace in (SVG[1:-1], MATHML[1:-1])
        if namespace not in (XHTML[1:-1], SVG[1:-1], MATHML[1:-1]):
            # epub:switch and other namespaces: the fallback content only (epub:default), if any
            if local == "switch":
                for child in node:
                    if _local(child.tag)[1] == "default":
                        for grandchild in child:
                            self.element(grandchild, out)
            if node.tail:
                out.append(html.escape(node.tail, quote=False))
            return
        text = self.attributes(node, local, foreign)
        if local == "style" and not foreign:  # raw text in HTML: no entities, and no end tag inside
            css = "".join(node.itertext()).replace("</", "<\\/")
            out.append(f"<style{text}>{css}</style>")
        elif local in VOID and not foreign:
            out.append(f"<{local}{text}>")
        elif foreign and len(node) == 0 and not node.text:
            out.append(f"<{local}{text}/>")
        else:
            out.append(f"<{local}{text}>")
            self.content(node, out)
            out.append(f"</{local}>")
        if node.tail:
            out.append(html.escape(node.tail, quote=False))

    def content(self, node: ElementTree.Element, out: list[str]) -> None:
        if node.text:
            out.append(html.escape(node.text, quote=False))
        for child in node:
            self.element(child, out)

    def attributes(self, node: ElementTree.Element, local: str, foreign: bool) -> str:
        attributes: list[tuple[str, str]] = []
        epub_type = ""
        for name, value in node.attrib.items():
            written = _attribute_name(name)
            if written is None or (written == "xml:space"):
                continue
            if written == "epub:type":
                epub_type = value
            if written in ("href", "xlink:href", "src", "poster") or (written == "data" and local == "object"):
                if not value.startswith("#"):
                    value = self.link(value) if local in ("a", "area") and not foreign else self.resource(value)
                    if value is None:
                        continue
            if any(name == written for name, _ in attributes):
                continue  # lang and xml:lang both become lang
            attributes.append((written, value))
        names = {name for name, _ in attributes}
        roles = [ROLES[t] for t in epub_type.split() if t in ROLES]
        if roles and "role" not in names and not foreign:
            attributes.append(("role", roles[0]))
        return "".join(f' {name}="{html.escape(value)}"' for name, value in attributes)

    def resource(self, reference: str) -> str | None:
        path, _ = self.target(reference)
        if path is None or path not in self.book.resource_paths:
            return None
        return quote(posixpath.relpath(path, self.folder or "."))

    def page(self, title: str) -> bytes:
        head = self.root.find(f"{XHTML}head")
        body = self.root.find(f"{XHTML}body")
        language = self.root.get(f"{XML}lang") or self.root.get("lang") or self.book.language
        text_direction = self.root.get("dir") or direction(language)
        styles = []
        for element in head.iter() if head is not None else ():
            if element.tag == f"{XHTML}link":
                rel = (element.get("rel") or "").lower().split()
                if "stylesheet" in rel and "alternate" not in rel and element.get("href"):
                    href = self.resource(element.get("href"))
                    if href is not None:
                        styles.append(f'<link rel="stylesheet" href="{html.escape(href)}">')
            elif element.tag == f"{XHTML}style":  # the document's own style element, kept (the reader cleans it)
                out_style: list[str] = []
                self.element(element, out_style)
                styles.append("".join(out_style).rstrip())
        out: list[str] = []
        body_attributes = ""
        if body is not None:
            body_attributes = self.attributes(body, "body", False)
            self.content(body, out)
        html_attributes = (f' lang="{html.escape(language)}"' if language else "") + \
            (f' dir="{html.escape(text_direction)}"' if text_direction else "")
        return ("<!doctype html>\n"
                f"<html{html_attributes}><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{html.escape(title)}</title>{''.join(styles)}</head>\n"
                f"<body{body_attributes}>{''.join(out).strip()}</body></html>\n").encode("utf-8")


class _Book:
    def __init__(self, path: Path, archive: zipfile.ZipFile):
        self.path = path
        self.archive = archive
        self.spine: list[str] = []
        self.resource_paths: set[str] = set()
        self.language: str | None = None

    def read(self, name: str) -> bytes:
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise InvalidPack("the book names %(entry)s, which is not in the EPUB; add the file or remove it "
                              "from the package's manifest", where=self.path.name, entry=name) from None
        if info.file_size > MAX_EPUB_ENTRY:
            raise InvalidPack("%(entry)s is too large", where=self.path.name, entry=name)
        return self.archive.read(info)

    def parse(self, name: str) -> ElementTree.Element:
        parser = _parser()
        try:
            parser.feed(self.read(name))
            return parser.close()
        except ElementTree.ParseError as exc:
            raise InvalidPack("%(entry)s is not well-formed XML: %(error)s", where=self.path.name, entry=name,
                              error=str(exc)) from None


def html_name(href: str) -> str:
    """The stored name of a chapter: `text/ch1.xhtml` -> `text/ch1.html`."""
    stem, dot, _ = href.rpartition(".")
    return (stem if dot else href) + ".html"


_html_name = html_name


def _text(node: ElementTree.Element | None) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _nav_list(document: _Document, ordered: ElementTree.Element | None) -> list[dict]:
    entries = []
    for item in ordered.findall(f"{XHTML}li") if ordered is not None else ():
        label = item.find(f"{XHTML}a")
        href = None
        if label is not None and label.get("href"):
            path, fragment = document.target(label.get("href"))
            if path in document.book.spine:
                href = path + (f"#{fragment}" if fragment else "")
        else:
            label = item.find(f"{XHTML}span")
        title = _text(label) or (label.get("title") if label is not None else "") or ""
        children = _nav_list(document, item.find(f"{XHTML}ol"))
        if href or children:  # an entry that leads nowhere (the contents page itself) is left out
            entries.append({"title": title or "…", "href": href, "children": children})
    return entries


def _ncx_points(document: _Document, parent: ElementTree.Element, tag: str = "navPoint") -> list[dict]:
    """An EPUB 2 book's NCX navMap as nested contents: each navPoint's depth is its nesting."""
    entries = []
    for point in parent.findall(f"{NCX}{tag}"):
        title = _text(point.find(f"{NCX}navLabel/{NCX}text"))
        content = point.find(f"{NCX}content")
        href = None
        if content is not None and content.get("src"):
            path, fragment = document.target(content.get("src"))
            if path in document.book.spine:
                href = path + (f"#{fragment}" if fragment else "")
        children = _ncx_points(document, point, tag) if tag == "navPoint" else []
        if href or children:
            entries.append({"title": title or "…", "href": href, "children": children})
    return entries


def read_epub(path: Path) -> EpubBook:
    """The book's chapters, resources, contents and language; InvalidPack naming the book and the file."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidPack("%(name)s is not an EPUB (zip) file: %(error)s", name=path.name,
                          error=str(exc)) from None
    with archive:
        book = _Book(path, archive)
        container = book.parse("META-INF/container.xml")
        rootfile = container.find(".//c:rootfile", _NS)
        if rootfile is None or not rootfile.get("full-path"):
            raise InvalidPack("%(name)s is not a valid EPUB (container or package file): %(error)s",
                              name=path.name, error="META-INF/container.xml names no rootfile")
        opf_path = rootfile.get("full-path")
        opf = book.parse(opf_path)
        base = posixpath.dirname(opf_path)

        def in_zip(href: str) -> str:
            return posixpath.join(base, href) if base else href

        items: dict[str, dict] = {}
        for item in opf.findall(".//opf:manifest/opf:item", _NS):
            if not item.get("id") or not item.get("href"):
                raise InvalidPack("%(name)s is not a valid EPUB (container or package file): %(error)s",
                                  name=path.name, error="a manifest item without id or href")
            href = posixpath.normpath(unquote(item.get("href")))
            if urlsplit(item.get("href")).scheme:
                continue  # a remote resource: never fetched
            items[item.get("id")] = {**item.attrib, "href": check_path(href)}
        language = opf.findtext(".//dc:language", default="", namespaces=_NS).strip() or None
        book.language = language
        spine_ids = [ref.get("idref") for ref in opf.findall(".//opf:spine/opf:itemref", _NS)]
        nav_item = next((i for i in items.values() if "nav" in (i.get("properties") or "").split()), None)
        for item_id in spine_ids:
            if item_id not in items:
                raise InvalidPack("the spine names %(item)r, which the manifest lacks", where=path.name,
                                  item=item_id)
        book.spine = [items[i]["href"] for i in spine_ids if items[i] is not nav_item]
        resources: dict[str, bytes] = {}
        for item in items.values():
            if item.get("media-type", "").startswith(RESOURCE_TYPES):
                resources[item["href"]] = book.read(in_zip(item["href"]))
        book.resource_paths = set(resources)

        toc: list[dict] = []
        page_list: list[dict] = []
        titles: dict[str, str] = {}
        if nav_item is not None:
            nav = _Document(book, nav_item["href"], book.parse(in_zip(nav_item["href"])))
            for element in nav.root.iter(f"{XHTML}nav"):
                kinds = (element.get(f"{OPS}type") or "").split()
                if "toc" in kinds and not toc:
                    toc = _nav_list(nav, element.find(f"{XHTML}ol"))
                elif "page-list" in kinds and not page_list:
                    page_list = [{"title": e["title"], "href": e["href"]}
                                 for e in _nav_list(nav, element.find(f"{XHTML}ol")) if e["href"]]

        spine = opf.find(".//opf:spine", _NS)
        ncx_item = items.get(spine.get("toc") or "") if spine is not None else None
        ncx_item = ncx_item or next((i for i in items.values()
                                     if i.get("media-type") == "application/x-dtbncx+xml"), None)
        if nav_item is None and ncx_item is not None:
            # EPUB 2: the NCX's navPoints, nested as deep as they are (chapter > section > ...), and
            # its pageList. An EPUB 3 book's navigation document is what counts, as reading systems do.
            ncx = _Document(book, ncx_item["href"], book.parse(in_zip(ncx_item["href"])))
            nav_map = ncx.root.find(f"{NCX}navMap")
            if not toc and nav_map is not None:
                toc = _ncx_points(ncx, nav_map)
            pages = ncx.root.find(f"{NCX}pageList")
            if not page_list and pages is not None:
                page_list = [{"title": e["title"], "href": e["href"]}
                             for e in _ncx_points(ncx, pages, "pageTarget") if e["href"]]
        if toc:
            def first_titles(entries: list[dict]) -> None:
                for entry in entries:
                    if entry["href"]:
                        titles.setdefault(entry["href"].split("#")[0], entry["title"])
                    first_titles(entry["children"])
            first_titles(toc)

        chapters: list[EpubChapter] = []
        for href in book.spine:
            document = _Document(book, href, book.parse(in_zip(href)))
            if _local(document.root.tag) != ("http://www.w3.org/1999/xhtml", "html"):
                raise InvalidPack("%(entry)s is not an XHTML document", where=path.name, entry=in_zip(href))
            heading = next((h for h in document.root.iter() if _local(h.tag)[1] in ("h1", "h2", "h3")
                            and _text(h)), None)
            title = titles.get(href) or _text(heading) or _text(document.root.find(f"{XHTML}head/{XHTML}title")) \
                or f"{len(chapters) + 1}"
            chapters.append(EpubChapter(href, title, document.page(title)))
    if not chapters:
        raise InvalidPack("%(name)s has no chapters in its spine", name=path.name)
    return EpubBook(chapters, resources, toc, page_list, language, direction(language))


def _contents(entries: list[dict], prefix: str) -> list[dict]:
    """Contents entries with book paths replaced by the stored chapter files."""
    result = []
    for entry in entries:
        href = entry["href"]
        if href is not None:
            path, _, fragment = href.partition("#")
            href = prefix + html_name(path) + (f"#{fragment}" if fragment else "")
        item = {"title": entry["title"][:500], "href": href}
        if entry.get("children"):
            item["children"] = _contents(entry["children"], prefix)
        result.append(item)
    return result


def expand_nodes(node: dict, source: Path, generated: dict[str, bytes], consumed: set[str]) -> None:
    """Replace `epub` on e-textbook nodes (recursively) by chapter children, contents and generated files."""
    for child in node.get("children", []) if isinstance(node, dict) else []:
        expand_nodes(child, source, generated, consumed)
    if not isinstance(node, dict) or node.get("kind") != "ebook" or "epub" not in node:
        return
    by_language = node.pop("epub")
    if not isinstance(by_language, dict) or not by_language:
        raise InvalidPack("epub must map languages to EPUB files", where=f"node {node.get('id')!r}")
    books: dict[str, EpubBook] = {}
    for language, rel in by_language.items():
        check_path(rel)
        consumed.add(rel)
        books[language] = read_epub(source / rel)
    counts = {language: len(book.chapters) for language, book in books.items()}
    if len(set(counts.values())) != 1:
        raise InvalidPack("the EPUBs have different chapter counts %(counts)s; chapters are matched by "
                          "position across languages", where=f"node {node.get('id')!r}", counts=counts)
    chapter_nodes = []
    for index in range(next(iter(counts.values()))):
        title, content = {}, {}
        for language, book in books.items():
            chapter = book.chapters[index]
            target = check_path(f"ebooks/{node['id']}/{language}/{html_name(chapter.href)}")
            generated[target] = chapter.page
            title[language] = chapter.title
            content[language] = target
        chapter_nodes.append({"id": f"{node['id']}.ch{index + 1:02d}", "kind": "chapter", "title": title,
                              "content": content})
    toc, page_list = {}, {}
    for language, book in books.items():
        prefix = f"ebooks/{node['id']}/{language}/"
        for href, body in book.resources.items():
            generated[check_path(prefix + href)] = body
        if book.toc:
            toc[language] = _contents(book.toc, prefix)
        if book.page_list:
            page_list[language] = _contents(book.page_list, prefix)
    if toc:
        node["toc"] = toc
    if page_list:
        node["page_list"] = page_list
    node["children"] = chapter_nodes + node.get("children", [])
