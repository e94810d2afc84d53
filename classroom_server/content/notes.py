"""A student's bookmarks, highlights and notes in e-textbooks: theirs alone.

A note is anchored as a W3C Web Annotation would be: the chapter's file (its pack path; for a PDF
textbook the pages document and a page number) and a TextQuoteSelector, the passage itself
(`exact`) with up to 32 characters before (`prefix`) and after (`suffix`). The text matched is
what the reader shows (the sanitized chapter's text, whitespace collapsed), so the browser and the
server find the same passage. When a pack is updated (`reanchor`, in the same transaction as the
catalog switch), each note is looked for again: in its chapter file, then in the book's other
chapters; a passage that is gone keeps the note, marked `lost`.

Nothing here is a learning record: notes never go into statements sent to the hub, nor into any
teacher's or admin's page or export.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

from peewee import IntegrityError

from ..db import Prepared, database, write_transaction
from ..i18n import Problem
from ..models import ContentFile, ContentNode, ContentPack, DeletedNote, ReaderNote, User, utcnow
from . import reader

KINDS = ("bookmark", "highlight", "note")
CONTEXT = 32  # characters of prefix and suffix kept, as hypothes.is and Readium do
MAX_EXACT = 1000
MAX_TEXT = 2000
MAX_NOTES_PER_BOOK = 2000
# The ids of deleted notes kept per student (only ids): a repeat send comes within the days a phone
# stays offline, and a student deletes far fewer notes in that time.
KEEP_DELETED = 1000
_SPACE = re.compile(r"\s+")
# The id a device gives a note it kept while the server could not be reached (static/app.js newId).
_CLIENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


class NoteError(Problem):
    """The note cannot be kept as asked; the message says what to change."""


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    """The text of HTML as a browser's textContent gives it, whitespace collapsed."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    return normalize("".join(parser.parts))


def pdf_pages(pages_json: bytes) -> list[dict] | None:
    """The pages of a PDF textbook's pages document (content_packs/pdf.py made it)."""
    try:
        pages = json.loads(pages_json)["pages"]
    except (ValueError, KeyError, TypeError):
        return None
    return pages if isinstance(pages, list) else None


def page_text(pages: list[dict], page: int) -> str | None:
    """One page's text (its lines, as the reader lays them), or None when there is no such page."""
    if not 1 <= page <= len(pages):
        return None
    return normalize(" ".join(str(line[4]) for line in pages[page - 1].get("lines") or []))


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def locate(text: str, exact: str, prefix: str = "", suffix: str = "", position: int = 0) -> int | None:
    """Where `exact` is in `text`: of several places, the one whose context best matches prefix
    and suffix (TextQuoteSelector), and of equally good ones the nearest to `position` (a
    TextPositionSelector's start: a book that repeats a passage); None if it is not there."""
    if not exact:
        return None
    best, best_score = None, (-1, 0)
    start = text.find(exact)
    while start != -1:
        score = (_common_suffix(text[max(0, start - len(prefix)):start], prefix)
                 + _common_prefix(text[start + len(exact):start + len(exact) + len(suffix)], suffix),
                 -abs(start - position))
        if score > best_score:
            best, best_score = start, score
        start = text.find(exact, start + 1)
    return best


def context(text: str, start: int, length: int) -> tuple[str, str]:
    return text[max(0, start - CONTEXT):start], text[start + length:start + length + CONTEXT]


def text_of(pack: ContentPack, path: str, page: int | None, read: Callable[[str], str | None],
             documents: dict[str, list[dict] | None] | None = None) -> str | None:
    """What the reader shows of a chapter file (or a PDF page), or None when the pack lacks it.
    `documents` keeps the pages documents already read (a pack update looks through many pages)."""
    documents = {} if documents is None else documents
    if page is not None:
        if path not in documents:
            blob = read(path)
            documents[path] = pdf_pages(Path(blob).read_bytes()) if blob is not None else None
        return page_text(documents[path], page) if documents[path] is not None else None
    blob = read(path)
    if blob is None:
        return None
    return html_text(str(reader.chapter_html(pack.pack_id, path, blob).body))


def blob_reader(pack: ContentPack, store_path: Callable[[str], object]) -> Callable[[str], str | None]:
    """pack path -> the blob's file name, for text_of."""
    def read(path: str) -> str | None:
        row = ContentFile.get_or_none(ContentFile.pack == pack, ContentFile.path == path)
        return str(store_path(row.sha256)) if row is not None else None
    return read


def add(user: User, pack: ContentPack, book: ContentNode, chapter: ContentNode, path: str, kind: str,
        read: Callable[[str], str | None], exact: str = "", prefix: str = "", suffix: str = "", text: str = "",
        page: int | None = None, position: int = 0, client_id: str | None = None) -> tuple[ReaderNote | None, bool]:
    """Keep a student's bookmark, highlight or note; returns once it is committed (synchronous=FULL),
    with whether this call stored it.

    `client_id` is the id the student's device kept the note under while offline: a note already
    stored under it (the reply to an earlier send was lost) is returned, not stored again; a note
    the student has deleted since gives (None, False), and nothing is stored."""
    if user.role != "student":
        raise NoteError("only students keep notes in books")
    if client_id is not None and not is_client_id(client_id):
        raise NoteError("this device sent the note with a broken id; write the note again")
    if kind not in KINDS:
        raise NoteError("choose a bookmark, a highlight or a note")
    exact, text = normalize(exact or ""), (text or "").strip()
    if len(exact) > MAX_EXACT:
        raise NoteError("choose a shorter passage: at most %(count)d characters", count=MAX_EXACT)
    if len(text) > MAX_TEXT:
        raise NoteError("write a shorter note: at most %(count)d characters", count=MAX_TEXT)
    if kind == "note" and not text:
        raise NoteError("write something in the note")
    if kind == "highlight" and not exact:
        raise NoteError("select the words to highlight first")
    chapter_text = text_of(pack, path, page, read)
    if chapter_text is None:
        raise NoteError("this page is not in the book")
    prefix_kept = suffix_kept = ""
    start = 0
    if exact:
        start = locate(chapter_text, exact, normalize(prefix or "")[-CONTEXT:], normalize(suffix or "")[:CONTEXT],
                       position)
        if start is None:
            raise NoteError("the words you chose are not in this chapter; select them again")
        prefix_kept, suffix_kept = context(chapter_text, start, len(exact))
    try:
        with write_transaction():
            if client_id is not None:
                # The note first, then the deleted ids: a deletion committing in between (PostgreSQL)
                # is seen in one or the other.
                earlier = sent_before(user, client_id)
                if earlier is not None or deleted_before(user, client_id):
                    return earlier, False
            count = ReaderNote.select().where(ReaderNote.user == user.id, ReaderNote.pack_id == pack.pack_id,
                                              ReaderNote.book_id == book.node_id).count()
            if count >= MAX_NOTES_PER_BOOK:
                raise NoteError("you have %(count)d notes in this book, the most it keeps; delete some first",
                                count=count)
            return ReaderNote.create(user=user.id, pack_id=pack.pack_id, book_id=book.node_id,
                                     chapter_id=chapter.node_id, chapter_path=path, page=page, kind=kind,
                                     exact=exact, prefix=prefix_kept, suffix=suffix_kept, text=text,
                                     position=start, client_id=client_id), True
    except IntegrityError:
        # The same note in two requests at once (PostgreSQL takes no school-wide write lock): the
        # unique (user, client_id) index let one in; this one is that note.
        earlier = sent_before(user, client_id) if client_id is not None else None
        if earlier is None:
            raise
        return earlier, False


def is_client_id(value: str) -> bool:
    return bool(_CLIENT_ID.match(value))


def sent_before(user: User, client_id: str) -> ReaderNote | None:
    """The note this student's device already sent under `client_id`, if the server stored it."""
    return ReaderNote.get_or_none(ReaderNote.user == user.id, ReaderNote.client_id == client_id)


def deleted_before(user: User, client_id: str) -> bool:
    """Whether this student deleted the note their device sent under `client_id`."""
    return DeletedNote.select().where(DeletedNote.user == user.id, DeletedNote.client_id == client_id).exists()


def own(user: User, note_id: str) -> ReaderNote | None:
    """The note if it is this user's; another's is as good as absent (404, never 403: no hint it exists)."""
    return ReaderNote.get_or_none(ReaderNote.id == note_id, ReaderNote.user == user.id)


def update_text(note: ReaderNote, text: str) -> None:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise NoteError("write a shorter note: at most %(count)d characters", count=MAX_TEXT)
    if note.kind == "note" and not text:
        raise NoteError("write something in the note")
    with write_transaction():
        ReaderNote.update(text=text, updated_at=utcnow()).where(ReaderNote.id == note.id).execute()


def delete(note: ReaderNote) -> None:
    """Delete a note; one its device sent under an id leaves that id behind (DeletedNote), the
    newest KEEP_DELETED of the student's."""
    with write_transaction():
        ReaderNote.delete().where(ReaderNote.id == note.id).execute()
        if note.client_id is None:
            return
        DeletedNote.insert(user=note.user_id, client_id=note.client_id).on_conflict_ignore().execute()
        newest = (DeletedNote.select(DeletedNote.id).where(DeletedNote.user == note.user_id)
                  .order_by(DeletedNote.id.desc()).limit(KEEP_DELETED))
        DeletedNote.delete().where(DeletedNote.user == note.user_id, DeletedNote.id.not_in(newest)).execute()


def for_book(user: User, pack_id: str, book_id: str) -> list[ReaderNote]:
    return list(ReaderNote.select().where(ReaderNote.user == user.id, ReaderNote.pack_id == pack_id,
                                          ReaderNote.book_id == book_id)
                .order_by(ReaderNote.chapter_path, ReaderNote.page, ReaderNote.created_at))


def count(user: User, pack_id: str, book_id: str) -> int:
    return ReaderNote.select().where(ReaderNote.user == user.id, ReaderNote.pack_id == pack_id,
                                     ReaderNote.book_id == book_id).count()


# Every chapter view reads its notes: the SQL is built once (peewee building it was a fifth of the page).
_FOR_CHAPTER = Prepared(lambda: ReaderNote.select()
                        .where(ReaderNote.user == 0, ReaderNote.pack_id == "", ReaderNote.chapter_path == "")
                        .order_by(ReaderNote.page, ReaderNote.created_at))


def for_chapter(user: User, pack_id: str, path: str) -> list[ReaderNote]:
    return _FOR_CHAPTER(user.id, pack_id, path)


def as_json(note: ReaderNote) -> dict:
    return {"id": note.id, "kind": note.kind, "chapter": note.chapter_id, "page": note.page,
            "exact": note.exact, "prefix": note.prefix, "suffix": note.suffix, "position": note.position,
            "text": note.text,
            "lost": note.lost, "created_at": note.created_at.isoformat() + "Z"}


def _book_files(pack: ContentPack) -> dict[str, list[tuple[str, str, str | None]]]:
    """book id -> its (chapter id, file path, pages path or None) in every language, in order."""
    books: dict[str, list[tuple[str, str, str | None]]] = {}
    for node in ContentNode.select().where(ContentNode.pack == pack).order_by(ContentNode.position):
        data = json.loads(node.data)
        if node.kind == "chapter" and node.parent_id:
            for path in (data.get("content") or {}).values():
                books.setdefault(node.parent_id, []).append((node.node_id, path, None))
        elif node.kind == "ebook":
            for path in (data.get("pdf_pages") or {}).values():
                books.setdefault(node.node_id, []).append((node.node_id, path, path))
    return books


def reanchor(pack_id: str, read: Callable[[str], str | None]) -> tuple[int, int]:
    """After a pack update, inside the catalog switch's transaction: find each note's passage again.

    A note stays where its passage is: same chapter file first, else another chapter (or page) of
    the same book; a note whose passage is gone is kept, `lost`. Returns (found, lost)."""
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id)
    notes = list(ReaderNote.select().where(ReaderNote.pack_id == pack_id)) if pack is not None else []
    if not notes:
        return 0, 0
    books = _book_files(pack)
    texts: dict[tuple[str, int | None], str | None] = {}
    documents: dict[str, list[dict] | None] = {}

    def text(path: str, page: int | None) -> str | None:
        if (path, page) not in texts:
            texts[(path, page)] = text_of(pack, path, page, read, documents)
        return texts[(path, page)]

    def pages(path: str) -> int:
        text(path, 1)  # reads the pages document, once
        return len(documents.get(path) or [])

    found = lost = 0
    for note in notes:
        files = books.get(note.book_id, [])
        here = next((f for f in files if f[1] == note.chapter_path), None)
        # where to look: its own file (page) first, then the rest of the book in order
        places: list[tuple[str, str, int | None]] = []
        if here is not None:
            places.append((here[0], here[1], note.page))
        for chapter_id, path, pdf in files:
            if pdf is not None:
                places += [(chapter_id, path, p) for p in range(1, pages(path) + 1)
                           if (path, p) != (note.chapter_path, note.page)]
            elif path != note.chapter_path:
                places.append((chapter_id, path, None))
        changes: dict = {}
        if not note.exact:  # a bookmark of a place: kept while its chapter (page) is there
            ok = here is not None and text(here[1], note.page) is not None
            if ok and here[0] != note.chapter_id:
                changes["chapter_id"] = here[0]
        else:
            ok = False
            for chapter_id, path, page in places:
                chapter_text = text(path, page)
                start = locate(chapter_text, note.exact, note.prefix, note.suffix, note.position) \
                    if chapter_text else None
                if start is not None:
                    prefix, suffix = context(chapter_text, start, len(note.exact))
                    changes.update(chapter_id=chapter_id, chapter_path=path, page=page, prefix=prefix,
                                   suffix=suffix, position=start)
                    ok = True
                    break
        changes["lost"] = not ok
        found, lost = (found + 1, lost) if ok else (found, lost + 1)
        if any(getattr(note, k) != v for k, v in changes.items()):
            with database.atomic():
                ReaderNote.update(**changes).where(ReaderNote.id == note.id).execute()
    return found, lost
