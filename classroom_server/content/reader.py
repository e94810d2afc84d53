"""The e-textbook reader: a chapter's HTML cleaned down to text, pictures and tables, shown inside
our own page so the reader's text size and contrast apply to it and it reads without JavaScript.

Lessons (interactive HTML5) keep their sandboxed frame; a chapter is a document, so it is
sanitized with nh3 (the ammonia sanitizer): no scripts, styles, forms, frames or event handlers,
and no address outside the school server; relative links point at the pack's own files.
"""
from __future__ import annotations

import datetime
import functools
import posixpath
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import nh3
from markupsafe import Markup

from ..models import ReaderPreference, ReadingPosition, User, utcnow

TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dfn", "div", "dl", "dt",
        "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
        "mark", "ol", "p", "pre", "q", "s", "samp", "section", "small", "span", "strong", "sub", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var", "aside", "article", "header", "footer",
        "math", "mi", "mn", "mo", "mrow", "msup", "msub", "mfrac", "msqrt"}
ATTRIBUTES = {"*": {"class", "id", "lang", "title", "dir"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
              "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "ol": {"start"}}
DROP_WITH_CONTENT = {"script", "style", "title", "template", "noscript", "iframe", "object", "svg", "form"}

#: chapter ids are prefixed so they cannot clash with the page's own
ID_PREFIX = "ch-"
TEXT_SIZES = range(-1, 4)
CONTRASTS = ("normal", "high", "dark")
#: reading this far down a chapter counts as having read it
READ_THROUGH = 0.9
_READ = uuid.UUID("5c0b8e8a-2d7e-4a3f-8f47-9c8b2f0d6e31")


@functools.lru_cache(maxsize=64)
def chapter_html(pack_id: str, chapter_path: str, blob: str) -> Markup:
    """The chapter's body, safe to put into our page (cached by its blob, named by its hash)."""
    html = Path(blob).read_text(encoding="utf-8", errors="replace")
    folder = posixpath.dirname(chapter_path)

    def local(url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            return None
        if not parts.path:  # "#section": a place in this chapter, whose ids get our prefix
            return f"#{ID_PREFIX}{parts.fragment}" if parts.fragment else None
        target = posixpath.normpath(posixpath.join(folder, parts.path))
        if target.startswith("../") or target == "..":
            return None
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        return f"/content/pack/{quote(pack_id, safe='')}/{quote(target)}{fragment}"

    cleaned = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, clean_content_tags=DROP_WITH_CONTENT,
                        url_schemes=set(), url_relative=local, id_prefix=ID_PREFIX, link_rel=None)
    return Markup(cleaned)


def preference(user: User | None) -> ReaderPreference:
    found = ReaderPreference.get_or_none(ReaderPreference.user == user.id) if user is not None else None
    return found or ReaderPreference(text_size=0, contrast="normal")


def save_preference(user: User, text_size: int, contrast: str) -> None:
    if text_size not in TEXT_SIZES or contrast not in CONTRASTS:
        raise ValueError("text size from -1 to 3, contrast normal, high or dark")
    (ReaderPreference.insert(user=user.id, text_size=text_size, contrast=contrast)
     .on_conflict(conflict_target=[ReaderPreference.user],
                  update={ReaderPreference.text_size: text_size, ReaderPreference.contrast: contrast})
     .execute())


def position(user: User, pack_id: str, book_id: str) -> ReadingPosition | None:
    return ReadingPosition.get_or_none(ReadingPosition.user == user.id, ReadingPosition.pack_id == pack_id,
                                       ReadingPosition.book_id == book_id)


def save_position(user: User, pack_id: str, book_id: str, chapter_id: str, fraction: float | None,
                  now: datetime.datetime | None = None) -> ReadingPosition:
    """Where the student is now. `fraction` None (the chapter was opened): keep the place in the
    same chapter, start at the top of another one."""
    now = now or utcnow()
    if fraction is None:
        before = position(user, pack_id, book_id)
        fraction = before.fraction if before is not None and before.chapter_id == chapter_id else 0.0
    fraction = min(1.0, max(0.0, fraction))
    (ReadingPosition.insert(user=user.id, pack_id=pack_id, book_id=book_id, chapter_id=chapter_id,
                            fraction=fraction, updated_at=now)
     .on_conflict(conflict_target=[ReadingPosition.user, ReadingPosition.pack_id, ReadingPosition.book_id],
                  update={ReadingPosition.chapter_id: chapter_id, ReadingPosition.fraction: fraction,
                          ReadingPosition.updated_at: now})
     .execute())
    return position(user, pack_id, book_id)


def read_record_id(user: User, pack_id: str, chapter_id: str) -> str:
    """One `read` record per student and chapter, however often they reach its end."""
    return str(uuid.uuid5(_READ, f"{user.pseudonym}/{pack_id}/{chapter_id}"))
