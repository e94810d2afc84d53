"""EPUB at build time: an e-textbook node with `"epub": {"kk": "src/book.epub"}` becomes HTML chapters."""
from __future__ import annotations

import html
import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from .manifest import InvalidPack, check_path

_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container", "opf": "http://www.idpf.org/2007/opf"}
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S | re.I)
_HEADING = re.compile(r"<h[1-3][^>]*>(.*?)</h[1-3]>", re.S | re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
MAX_EPUB_ENTRY = 64 * 1024 * 1024


def _text(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment)).strip()


def read_epub(path: Path) -> tuple[list[tuple[str, str, bytes]], dict[str, bytes]]:
    """(chapters as (relative href, title, HTML page), other resources by relative href)."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidPack("%(name)s is not an EPUB (zip) file: %(error)s", name=path.name,
                          error=str(exc)) from None
    with book:
        def read(name: str) -> bytes:
            info = book.getinfo(name)
            if info.file_size > MAX_EPUB_ENTRY:
                raise InvalidPack("%(entry)s is too large", where=path.name, entry=name)
            return book.read(info)
        try:
            container = ElementTree.fromstring(read("META-INF/container.xml"))
            opf_path = container.find(".//c:rootfile", _NS).attrib["full-path"]
            opf = ElementTree.fromstring(read(opf_path))
        except (KeyError, AttributeError, ElementTree.ParseError) as exc:
            raise InvalidPack("%(name)s is not a valid EPUB (container or package file): %(error)s",
                              name=path.name, error=str(exc)) from None
        base = posixpath.dirname(opf_path)
        items = {item.attrib["id"]: item.attrib for item in opf.findall(".//opf:manifest/opf:item", _NS)}
        spine = [ref.attrib["idref"] for ref in opf.findall(".//opf:spine/opf:itemref", _NS)]
        chapters: list[tuple[str, str, bytes]] = []
        resources: dict[str, bytes] = {}
        for item_id in spine:
            item = items.get(item_id)
            if item is None:
                raise InvalidPack("the spine names %(item)r, which the manifest lacks", where=path.name,
                                  item=item_id)
            href = check_path(posixpath.normpath(item["href"]))
            document = read(posixpath.join(base, href) if base else href).decode("utf-8", "replace")
            body = _BODY.search(document)
            heading = _HEADING.search(document) or _TITLE.search(document)
            title = _text(heading.group(1)) if heading else f"{len(chapters) + 1}"
            chapters.append((href, title or f"{len(chapters) + 1}", _page(title, body.group(1) if body else "")))
        for item in items.values():
            if item.get("media-type", "").startswith(("image/", "audio/", "video/")) or \
                    item.get("media-type") == "text/css":
                href = check_path(posixpath.normpath(item["href"]))
                resources[href] = read(posixpath.join(base, href) if base else href)
    if not chapters:
        raise InvalidPack("%(name)s has no chapters in its spine", name=path.name)
    return chapters, resources


def _page(title: str, body: str) -> bytes:
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title></head>\n<body>\n{body.strip()}\n</body></html>\n").encode("utf-8")


def _html_name(href: str) -> str:
    stem, _, _ = href.rpartition(".")
    return (stem or href) + ".html"


def expand_nodes(node: dict, source: Path, generated: dict[str, bytes], consumed: set[str]) -> None:
    """Replace `epub` on e-textbook nodes (recursively) by chapter children and generated files."""
    for child in node.get("children", []) if isinstance(node, dict) else []:
        expand_nodes(child, source, generated, consumed)
    if not isinstance(node, dict) or node.get("kind") != "ebook" or "epub" not in node:
        return
    by_language = node.pop("epub")
    if not isinstance(by_language, dict) or not by_language:
        raise InvalidPack("epub must map languages to EPUB files", where=f"node {node.get('id')!r}")
    books = {}
    for language, rel in by_language.items():
        check_path(rel)
        consumed.add(rel)
        books[language] = read_epub(source / rel)
    counts = {language: len(chapters) for language, (chapters, _) in books.items()}
    if len(set(counts.values())) != 1:
        raise InvalidPack("the EPUBs have different chapter counts %(counts)s; chapters are matched by "
                          "position across languages", where=f"node {node.get('id')!r}", counts=counts)
    chapter_nodes = []
    for index in range(next(iter(counts.values()))):
        title, content = {}, {}
        for language, (chapters, _) in books.items():
            href, chapter_title, page = chapters[index]
            target = f"ebooks/{node['id']}/{language}/{_html_name(href)}"
            generated[target] = page
            title[language] = chapter_title
            content[language] = target
        chapter_nodes.append({"id": f"{node['id']}.ch{index + 1:02d}", "kind": "chapter", "title": title,
                              "content": content})
    for language, (_, resources) in books.items():
        for href, body in resources.items():
            generated[f"ebooks/{node['id']}/{language}/{href}"] = body
    node["children"] = chapter_nodes + node.get("children", [])
