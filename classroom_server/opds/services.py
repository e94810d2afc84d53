"""The e-textbooks of installed packs, as the OPDS catalog sees them; EPUBs built and cached."""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from werkzeug.security import safe_join

from ..content import services as content
from ..content.services import BlobStore
from ..i18n import localized
from ..models import ContentFile, ContentNode, ContentPack
from ..settings import LANGUAGES
from . import epub

log = logging.getLogger(__name__)

# Bump when build_epub's output changes, so cached EPUBs are made again.
EPUB_BUILD_VERSION = "2"  # 2: SVG pictures sanitized, dir and page progression for RTL languages
_WORD = re.compile(r"\w+")
_CACHED_NAME = re.compile(r"^[0-9a-f]{32}\.epub$")


@dataclass(frozen=True)
class Book:
    """One e-textbook node with what it takes to list and download it."""
    pack: ContentPack
    node: ContentNode
    titles: dict[str, str]
    descriptions: dict[str, str]
    pdfs: dict[str, ContentFile]  # language -> the PDF file
    chapters: tuple[ContentNode, ...]  # HTML chapters, in order
    chapter_languages: tuple[str, ...]  # languages an EPUB can be made in
    thumbnail: ContentFile | None

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language the book can be read in (any BCP 47 tag): kk, ru, en first, then the others."""
        return _ordered(set(self.pdfs) | set(self.chapter_languages))

    @property
    def grades(self) -> list[int]:
        return json.loads(self.pack.grades)

    def authors(self, language: str) -> list[str]:
        """Each author's name, in `language` where the pack writes it by language."""
        return content.pack_about(self.pack, language).authors

    def publisher(self, language: str) -> str:
        """The reviewing body of a reviewed pack, in `language` where the pack gives it by language."""
        return content.pack_about(self.pack, language).review_body if self.pack.reviewed else ""

    def title(self, language: str) -> str:
        """In `language` if the pack has it, else in a language the book can be read in."""
        return self.text(self.titles, language)

    def text(self, texts: dict[str, str], language: str) -> str:
        for code in (language, *self.languages):
            if texts.get(code):
                return texts[code]
        return localized(texts, language)


def _ordered(languages) -> tuple[str, ...]:
    """kk, ru, en first, then any other content language (BCP 47) by its tag."""
    found = set(languages)
    return tuple(language for language in LANGUAGES if language in found) + tuple(sorted(found - set(LANGUAGES)))


def _thumbnail_path(data: dict) -> str | None:
    """A node's picture: `"thumbnail": "images/x.png"` or by language (the first one is used)."""
    value = data.get("thumbnail")
    if isinstance(value, dict):
        value = next((value[k] for k in LANGUAGES if isinstance(value.get(k), str)), None)
    return value if isinstance(value, str) else None


def books(subject: str | None = None, grade: int | None = None, language: str | None = None,
          pack_id: str | None = None) -> list[Book]:
    """Every downloadable e-textbook, by subject and pack, in the packs' order."""
    query = (ContentNode.select(ContentNode, ContentPack).join(ContentPack)
             .where(ContentNode.kind == "ebook"))
    if subject is not None:
        query = query.where(ContentPack.subject == subject)
    if pack_id is not None:
        query = query.where(ContentPack.pack_id == pack_id)
    nodes = list(query.order_by(ContentPack.subject, ContentPack.pack_id, ContentNode.id))
    if grade is not None:
        nodes = [n for n in nodes if grade in json.loads(n.pack.grades)]
    if not nodes:
        return []
    pack_ids = {n.pack.id for n in nodes}
    chapters: dict[tuple[int, str], list[ContentNode]] = {}
    for chapter in (ContentNode.select().where(ContentNode.pack.in_(pack_ids), ContentNode.kind == "chapter")
                    .order_by(ContentNode.position, ContentNode.id)):
        chapters.setdefault((chapter.pack_id, chapter.parent_id), []).append(chapter)
    datas = {n.id: json.loads(n.data) for n in nodes}
    wanted = set()
    for node in nodes:
        data = datas[node.id]
        wanted.update(p for p in (data.get("pdf") or {}).values() if isinstance(p, str))
        if _thumbnail_path(data):
            wanted.add(_thumbnail_path(data))
    files = {(f.pack_id, f.path): f for f in
             ContentFile.select().where(ContentFile.pack.in_(pack_ids), ContentFile.path.in_(sorted(wanted)))
             } if wanted else {}
    result = []
    for node in nodes:
        data = datas[node.id]
        pdfs = {k: files[(node.pack.id, p)] for k, p in (data.get("pdf") or {}).items()
                if (node.pack.id, p) in files}
        own = tuple(chapters.get((node.pack.id, node.node_id), []))
        chapter_languages = _ordered({k for c in own for k in (json.loads(c.data).get("content") or {})})
        thumbnail = files.get((node.pack.id, _thumbnail_path(data))) if _thumbnail_path(data) else None
        book = Book(node.pack, node, json.loads(node.title), data.get("description") or {}, pdfs, own,
                    chapter_languages, thumbnail)
        if not book.languages or (language is not None and language not in book.languages):
            continue
        result.append(book)
    return result


def book(pack_id: str, node_id: str) -> Book | None:
    return next((b for b in books(pack_id=pack_id) if b.node.node_id == node_id), None)


def search(text: str, language: str | None = None) -> list[Book]:
    """E-textbooks whose title holds every word (any case, Kazakh and Russian letters included),
    then those whose chapters match in the library's full-text search."""
    words = [w.casefold() for w in _WORD.findall(text)[:12]]
    if not words:
        return []
    every = books(language=language)
    by_title = [b for b in every
                if all(any(w in t.casefold() for t in b.titles.values()) for w in words)]
    found = {(b.pack.pack_id, b.node.node_id) for b in by_title}
    by_key = {(b.pack.pack_id, b.node.node_id): b for b in every}
    parents = {(b.pack.pack_id, c.node_id): (b.pack.pack_id, b.node.node_id) for b in every for c in b.chapters}
    by_text = []
    for hit in content.search(text, language=language, limit=500).hits:
        key = (hit.pack_id, hit.node_id)
        key = key if hit.kind == "ebook" else parents.get(key) if hit.kind == "chapter" else None
        if key in by_key and key not in found:
            found.add(key)
            by_text.append(by_key[key])
    return by_title + by_text


def last_update(items: list[Book]) -> datetime.datetime:
    stamps = [b.pack.installed_at for b in items]
    if not stamps:
        newest = ContentPack.select(ContentPack.installed_at).order_by(ContentPack.installed_at.desc()).first()
        stamps = [newest.installed_at] if newest else [datetime.datetime(2000, 1, 1)]
    return max(stamps)


# --- EPUB ---------------------------------------------------------------------------------------

class BookUnavailable(LookupError):
    """No EPUB can be made for this book and language."""


def _book_info(item: Book, language: str) -> epub.BookInfo:
    chapters = []
    for chapter in item.chapters:
        files = json.loads(chapter.data).get("content") or {}
        path = files.get(language)
        if path is None:
            # A chapter missing in this language still belongs in the book: the first one there is.
            path = next((files[k] for k in _ordered(files)), None)
        if path:
            chapters.append(epub.BookChapter(localized(chapter.title, language), path))
    description = item.text(item.descriptions, language) if item.descriptions else ""
    return epub.BookInfo(
        identifier=f"urn:classroom:{item.pack.pack_id}:{item.node.node_id}:{language}",
        title=item.title(language), language=language, authors=tuple(item.authors(language)),
        modified=item.pack.installed_at, subject=item.pack.subject, rights=item.pack.license,
        publisher=item.publisher(language), description=description,
        chapters=tuple(chapters), cover=item.thumbnail.path if item.thumbnail else None)


def epub_key(item: Book, language: str) -> str:
    """What the EPUB's bytes depend on; its hash is the strong ETag and the cache file's name."""
    parts = (EPUB_BUILD_VERSION, item.pack.manifest_sha256, item.node.node_id, language,
             item.pack.installed_at.isoformat())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def epub_file(item: Book, language: str, data_dir: Path) -> tuple[Path, str]:
    """The cached EPUB of `item` in `language` (built now if needed) and its ETag."""
    if language not in item.chapter_languages:
        raise BookUnavailable(f"{item.node.node_id} has no chapters in {language!r}")
    key = epub_key(item, language)
    store = BlobStore(data_dir)
    folder = store.root / "epub-cache" / item.pack.pack_id
    target = folder / f"{item.node.node_id}.{language}.{key[:32]}.epub"
    if target.is_file():
        return target, key
    pack_files = {f.path: f.sha256 for f in ContentFile.select(ContentFile.path, ContentFile.sha256)
                  .where(ContentFile.pack == item.pack)}

    def read(path: str) -> bytes | None:
        sha = pack_files.get(path)
        if sha is None:
            return None
        # Only the pack's own files, only from the blob store: never a path a chapter wrote.
        blob = safe_join(str(store.blobs), sha[:2], sha)
        try:
            return Path(blob).read_bytes() if blob else None
        except FileNotFoundError:
            return None

    try:
        data = epub.build_epub(_book_info(item, language), read)
    except epub.BookFileMissing as exc:
        raise BookUnavailable(str(exc)) from None
    content.write_atomically(target, lambda out: out.write(data), durable=False)  # a cache: rebuilt if lost
    log.info("built EPUB %s/%s (%s, %d bytes)", item.pack.pack_id, item.node.node_id, language, len(data))
    _prune_cache(store.root / "epub-cache", item, language, target)
    return target, key


def _prune_cache(root: Path, item: Book, language: str, keep: Path) -> None:
    """Drop older builds of this book and the cache of packs no longer installed."""
    prefix = f"{item.node.node_id}.{language}."
    for old in keep.parent.glob(prefix + "*.epub"):
        # "book.kk.<key>.epub" only: not "book.kk.ru.<key>.epub" of a node called "book.kk".
        if old != keep and _CACHED_NAME.match(old.name[len(prefix):]):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    installed = {p.pack_id for p in ContentPack.select(ContentPack.pack_id)}
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in installed:
            shutil.rmtree(folder, ignore_errors=True)
