"""The library: content files by hash, pack pages, the topic tree, search."""
from __future__ import annotations

import functools
import json
import mimetypes
from dataclasses import dataclass

from flask import Blueprint, Response, abort, current_app, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from jinja2 import pass_context
from werkzeug.security import safe_join

from content_packs.manifest import is_language_tag

from ..i18n import error_text, language_name, localized, localized_key, pack_languages, subject_name
from ..learn import practice
from ..models import ContentFile, ContentNode, ContentPack
from ..security import int_arg, page_arg, safe_next
from . import bookcss, notes, reader, services
from .files import send_blob
from .services import BlobStore

bp = Blueprint("content", __name__, template_folder="templates")
bp.after_request(practice.remember_device)

mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("audio/wav", ".wav")
mimetypes.add_type("audio/ogg", ".oga")
mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("text/html", ".html")

# Pack files run in their own opaque origin: no cookies, no calls to the app, nothing from outside.
CONTENT_CSP = ("sandbox allow-scripts allow-popups; default-src 'self' data: blob:; "
               "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'none'; "
               "form-action 'none'; frame-ancestors 'self'; base-uri 'none'")
PDF_CSP = "frame-ancestors 'self'"
# Ours, added to a lesson shown in the page's frame (?frame=1): it tells the page the lesson's height,
# so the frame grows with its content instead of scrolling inside the page. It runs in the lesson's
# sandbox like the lesson's own scripts (CONTENT_CSP admits inline scripts; a nonce there would turn
# 'unsafe-inline' off for the pack's own), and says nothing but a number; app.js takes it only from
# the frame's own window and keeps it within bounds, so a pack that sends one itself can at most
# change the height of its own frame.
LESSON_SIZE_SCRIPT = b"""
<script>/* classroom server: the lesson's height, for the page that shows it */
(function () {
  if (window.parent === window) { return; }
  var last = -1;
  function send() {
    var root = document.documentElement;
    var height = root.getBoundingClientRect().height;
    if (root.scrollHeight > root.clientHeight + 1) { height = Math.max(height, root.scrollHeight); }
    height = Math.ceil(height);
    if (Math.abs(height - last) < 2) { return; }
    last = height;
    window.parent.postMessage({classroomLessonHeight: height}, "*");
  }
  if (window.ResizeObserver) { new ResizeObserver(send).observe(document.documentElement); }
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
  document.addEventListener("DOMContentLoaded", send);
  setTimeout(send, 0);
})();
</script>
"""
IMMUTABLE_SECONDS = 31536000


def _store() -> BlobStore:
    return BlobStore(current_app.config["CLASSROOM_SETTINGS"].data_dir)


def _send_blob(sha256: str, name: str, immutable: bool):
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = send_blob(_store().path(sha256), sha256, mimetype)
    if response.status_code == 404:
        abort(404)
    response.headers["Cache-Control"] = (f"public, max-age={IMMUTABLE_SECONDS}, immutable" if immutable
                                         else "no-cache")
    # Chromium will not show a PDF in a sandboxed document: PDFs open in the browser's own viewer.
    response.headers["Content-Security-Policy"] = PDF_CSP if mimetype == "application/pdf" else CONTENT_CSP
    # Lessons run in sandboxed frames with an opaque origin; they must still load their pictures.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/content/<string(length=64):sha256>")
@bp.get("/content/<string(length=64):sha256>/<name>")
def blob(sha256: str, name: str = ""):
    """A file by its SHA-256: never changes, so browsers may keep it forever.

    The blob store holds only files of installed packs (the rest is collected), so a link with a
    name needs no database lookup; without a name, the catalog says what type the file is.
    """
    if not all(c in "0123456789abcdef" for c in sha256):
        abort(404)
    if not name:
        row = ContentFile.get_or_none(ContentFile.sha256 == sha256) or abort(404)
        name = row.path
    return _send_blob(sha256, name, immutable=True)


@bp.get("/content/pack/<pack_id>/<path:path>")
def pack_file(pack_id: str, path: str):
    """A file of a pack's current version by its path, so lessons' relative links work."""
    if safe_join("/", path) is None:
        abort(404)
    pack = services.pack_by_id(pack_id) or abort(404)
    row = services.file_sha(pack, path) or abort(404)
    if request.args.get("frame") == "1" and mimetypes.guess_type(path)[0] == "text/html":
        return _framed_lesson(row.sha256)
    return _send_blob(row.sha256, path, immutable=False)


def _framed_lesson(sha256: str):
    """A lesson's HTML for the page's frame: the file with LESSON_SIZE_SCRIPT after it (a script
    after </html> is parsed into the body), sandboxed like every pack file."""
    blob = _store().path(sha256)
    if not blob.is_file():
        abort(404)
    response = Response(blob.read_bytes() + LESSON_SIZE_SCRIPT, mimetype="text/html")  # utf-8, as _send_blob
    response.set_etag(f"{sha256}-framed")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response.make_conditional(request)


@bp.get("/library/")
def library():
    packs = list(ContentPack.select().order_by(ContentPack.subject, ContentPack.pack_id))
    subjects, grades = services.subjects_and_grades()
    return render_template("content/library.html", packs=packs, subjects=subjects, grades=grades,
                           loads=json.loads, content_languages=services.content_languages())


@bp.get("/library/<pack_id>/")
def pack_page(pack_id: str):
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or abort(404)
    return render_template("content/pack.html", pack=pack, tree=services.pack_tree(pack), loads=json.loads,
                           about=services.pack_about(pack))


@bp.get("/library/<pack_id>/<node_id>")
def node_page(pack_id: str, node_id: str):
    pack = services.pack_by_id(pack_id) or abort(404)
    node = services.node(pack, node_id) or abort(404)
    current = request._get_current_object()  # not the proxy (security.load_user says why)
    user, lang_arg = g._get_current_object().user, current.args.get("lang")
    data = services.parsed(node.data)
    files = data.get("content") or data.get("media") or data.get("pdf") or {}
    language = lang_arg if lang_arg in files else localized_key(files)
    parts = _node_parts(pack, node, language, lang_arg)
    path, file_row = parts.path, parts.file_row
    # Cached by its blob (reader.chapter_html keeps a few dozen: chapters can be large).
    chapter = reader.chapter_html(pack.pack_id, path, parts.blob, parts.chapter_pages) if parts.blob else None
    is_student = user is not None and user.role == "student"
    # The device keeping assigned pages for offline use fetches them ahead: that is not opening them.
    student = is_student and current.headers.get("X-Classroom-Prefetch") is None
    if student and node.kind != "topic":
        practice.record_opened(user, pack.pack_id, node.node_id, node.kind,
                               language or localized_key(services.parsed(node.title)) or "kk")
    place = reader_pref = my_notes = book_id = None
    if chapter is not None:
        if is_student and node.parent_id:
            book_id = node.parent_id
        if student and book_id:
            # The reader's settings, the place in the book (kept: this chapter is the place now) and
            # whether there are notes here, in one query; the notes themselves only when there are.
            reading = reader.open_chapter(user, pack.pack_id, book_id, node.node_id, path)
            reader_pref, place = reading.preference, reading.place
            my_notes = notes.for_chapter(user, pack.pack_id, path) if reading.has_notes else []
        else:
            reader_pref = reader.preference(user)
            my_notes = notes.for_chapter(user, pack.pack_id, path) if book_id else None
    elif node.kind == "ebook" and student:
        place = reader.position(user, pack.pack_id, node.node_id)
    contents = page_list = pdf_pages = None
    if node.kind == "ebook" and language and (data.get("pdf_pages") or {}).get(language):
        pdf_pages = _pdf_pages(pack, data["pdf_pages"][language])
        if place is not None and place.chapter_id != node.node_id:
            place = None
        if is_student and path and pdf_pages:
            book_id = node.node_id
            my_notes = notes.for_chapter(user, pack.pack_id, data["pdf_pages"][language])
    if node.kind == "ebook" and data.get("toc"):
        book_language = lang_arg if lang_arg in data["toc"] else localized_key(data["toc"])
        pages = dict(_chapter_pages(pack, node.node_id, book_language, lang_arg))
        contents = _contents(pack, data["toc"][book_language], pages)
        page_list = _contents(pack, (data.get("page_list") or {}).get(book_language) or [], pages)
    return render_template(
        "content/node.html", pack=pack, node=node, data=data, language=language, links=parts.links,
        path=path, file_row=file_row, children=parts.children, chapter=chapter, place=place, contents=contents,
        page_list=page_list, pdf_pages=pdf_pages, my_notes=my_notes, notes_book=book_id, lang_arg=lang_arg,
        notes_count=notes.count(user, pack.pack_id, node.node_id) if node.kind == "ebook" and is_student else None,
        reader_pref=reader_pref,
        place_title=_node_title(pack, place.chapter_id) if place is not None and node.kind == "ebook" else None,
        previous=parts.previous, next_node=parts.next_node, parent=parts.parent)


@dataclass(frozen=True)
class NodeLinks:
    """The links of a node's page (url_for each, once)."""
    pack: str
    here: str  # the page itself, with the ?lang= it was asked with
    languages: tuple[tuple[str, str], ...]  # (content language, the page in it)
    parent: str | None = None
    previous: str | None = None
    next_node: str | None = None
    file: str | None = None  # the node's file on a page of its own
    frame: str | None = None  # a lesson's file in the page's frame
    stylesheets: tuple[str, ...] = ()  # a chapter's book stylesheets, sanitized
    chapter_style: str | None = None  # a chapter's own styles, sanitized
    add_note: str | None = None  # the notes of the book the node is (or is in)
    my_notes: str | None = None


@dataclass(frozen=True)
class NodeParts:
    """What a node's page shows that is the same for everyone opening it in this version of the
    pack, content language and `?lang=`: its file, neighbours and links; for a chapter, its blob
    and the book's other chapters (what reader.chapter_html makes the chapter's HTML from)."""
    path: str | None
    file_row: ContentFile | None
    children: tuple[ContentNode, ...]
    parent: ContentNode | None
    previous: ContentNode | None
    next_node: ContentNode | None
    links: NodeLinks
    blob: str | None = None
    chapter_pages: tuple[tuple[str, str], ...] = ()


def _node_parts(pack: ContentPack, node: ContentNode, language: str | None, lang_arg: str | None) -> NodeParts:
    """The node page's parts, remembered per process, keyed like the catalog rows they are made of
    (services: the pack row and its manifest's hash, so an update or a reinstall in any process is a
    new key) and by what the links depend on."""
    # Not the proxies (security.load_user says why). The data folder: tests run schools side by side.
    data_dir = current_app._get_current_object().config["CLASSROOM_SETTINGS"].data_dir
    key = (pack.id, pack.manifest_sha256, node.node_id, language, lang_arg,
           request._get_current_object().script_root, data_dir)
    return _parts(key, lambda: _make_node_parts(pack, node, language, lang_arg))


_parts: services.Kept[NodeParts] = services.Kept(1024)


def _make_node_parts(pack: ContentPack, node: ContentNode, language: str | None, lang_arg: str | None) -> NodeParts:
    data = services.parsed(node.data)
    files = data.get("content") or data.get("media") or data.get("pdf") or {}
    path = files.get(language) if language else None
    file_row = services.file_sha(pack, path) if path else None
    siblings = services.children(pack, node.parent_id)
    index = [s.node_id for s in siblings].index(node.node_id)
    parent = services.node(pack, node.parent_id) if node.parent_id else None
    previous = siblings[index - 1] if index > 0 else None
    next_node = siblings[index + 1] if index + 1 < len(siblings) else None
    chapter = blob = None
    chapter_pages: tuple = ()
    if node.kind == "chapter" and file_row is not None:
        blob = str(_store().path(file_row.sha256))
        chapter_pages = _chapter_pages(pack, node.parent_id, language, lang_arg)
        chapter = reader.chapter_html(pack.pack_id, path, blob, chapter_pages)
    book_id = node.parent_id if chapter is not None else node.node_id if node.kind == "ebook" else None

    def page(node_id: str, lang: str | None = None) -> str:
        return url_for("content.node_page", pack_id=pack.pack_id, node_id=node_id, lang=lang)

    links = NodeLinks(
        pack=url_for("content.pack_page", pack_id=pack.pack_id), here=page(node.node_id, lang_arg),
        languages=tuple((code, page(node.node_id, code)) for code in files),
        parent=page(parent.node_id) if parent else None,
        previous=page(previous.node_id) if previous else None,
        next_node=page(next_node.node_id) if next_node else None,
        file=url_for("content.pack_file", pack_id=pack.pack_id, path=path) if path else None,
        frame=url_for("content.pack_file", pack_id=pack.pack_id, path=path, frame=1) if path else None,
        stylesheets=tuple(url_for("content.book_stylesheet", pack_id=pack.pack_id, path=sheet)
                          for sheet in chapter.stylesheets) if chapter is not None else (),
        chapter_style=url_for("content.chapter_stylesheet", pack_id=pack.pack_id, path=path)
        if chapter is not None and chapter.has_styles else None,
        add_note=url_for("content.add_note", pack_id=pack.pack_id, book_id=book_id) if book_id else None,
        my_notes=url_for("content.my_notes", pack_id=pack.pack_id, book_id=book_id) if book_id else None)
    return NodeParts(path, file_row, services.children(pack, node.node_id), parent, previous, next_node,
                     links, blob, chapter_pages)


def _chapter_pages(pack: ContentPack, book_id: str, language: str | None, lang_arg: str | None) -> tuple:
    """(chapter file, reader URL) of a book's chapters in one language: links between them stay in the reader.

    The same for every reader of this version of the pack (the URLs carry `?lang=` when the page's
    did): remembered per process, keyed like the catalog rows it is made of (services)."""
    def make() -> tuple:
        pages = []
        for chapter in services.children(pack, book_id):
            content = services.parsed(chapter.data).get("content") or {}
            if chapter.kind == "chapter" and language in content:
                pages.append((content[language], url_for("content.node_page", pack_id=pack.pack_id,
                                                         node_id=chapter.node_id, lang=lang_arg)))
        return tuple(pages)
    return _book_pages((pack.id, pack.manifest_sha256, book_id, language, lang_arg, request.script_root), make)


_book_pages: services.Kept[tuple] = services.Kept(512)


def _pdf_pages(pack: ContentPack, pages_path: str) -> list[dict] | None:
    """A PDF textbook's pages (pdf.py made them at pack build), each with its picture's hash."""
    row = services.file_sha(pack, pages_path)
    if row is None:
        return None
    pages = reader.pdf_pages(str(_store().path(row.sha256)))
    folder = pages_path.rsplit("/", 1)[0] + "/"
    hashes = {f.path: f.sha256 for f in ContentFile.select(ContentFile.path, ContentFile.sha256)
              .where(ContentFile.pack == pack, ContentFile.path.startswith(folder))}
    return [{**page, "sha256": hashes.get(page["image"])} for page in pages]


@bp.post("/library/<pack_id>/<node_id>/position")
def pdf_position(pack_id: str, node_id: str):
    """Where the reader is in a PDF textbook (the page sends it as they scroll, like a chapter's);
    reaching the end is recorded as reading for students."""
    data = request.get_json(silent=True)
    fraction = data.get("fraction") if isinstance(data, dict) else None
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        abort(400, description=_("Send the chapter and how far down it, as JSON."))
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or abort(404)
    node = ContentNode.get_or_none(ContentNode.pack == pack, ContentNode.node_id == node_id,
                                   ContentNode.kind == "ebook") or abort(404)
    reader.save_position(g.user, pack_id, node_id, node_id, float(fraction))
    if fraction >= reader.READ_THROUGH and g.user.role == "student":
        practice.record_read_book(g.user, pack_id, node, reader.read_record_id(g.user, pack_id, node_id))
    return "", 204


def _contents(pack: ContentPack, entries: list[dict], pages: dict[str, str]) -> list[dict]:
    """A book's contents (pack.json toc/page_list) with each file#place as a reader URL."""
    result = []
    for entry in entries:
        path, _, fragment = (entry.get("href") or "").partition("#")
        url = pages.get(path)
        if url is not None and fragment:
            url += f"#{reader.ID_PREFIX}{fragment}"
        result.append({"title": entry["title"], "url": url,
                       "children": _contents(pack, entry.get("children") or [], pages)})
    return result


@bp.get("/library/<pack_id>/style/<path:path>")
def book_stylesheet(pack_id: str, path: str):
    """A book's stylesheet, sanitized and scoped to the chapter (bookcss.py)."""
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or abort(404)
    if safe_join("/", path) is None or not path.lower().endswith(".css"):
        abort(404)
    row = services.file_sha(pack, path) or abort(404)
    if row.sha256 in request.if_none_match:
        return "", 304, {"ETag": f'"{row.sha256}"'}

    def read(other: str) -> str | None:
        found = services.file_sha(pack, other)
        return _store().path(found.sha256).read_text("utf-8", "replace") if found is not None else None

    css = bookcss.sanitize(read(path) or "", path, read, lambda other: reader.pack_url(pack.pack_id, other))
    return css, 200, {"Content-Type": "text/css; charset=utf-8", "ETag": f'"{row.sha256}"',
                      "Cache-Control": "no-cache"}


@bp.get("/library/<pack_id>/chapter-style/<path:path>")
def chapter_stylesheet(pack_id: str, path: str):
    """A chapter's own <style> elements and style="..." attributes, sanitized like the book's
    stylesheets and scoped to the chapter (each attribute as a rule for data-book-style="N")."""
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or abort(404)
    if safe_join("/", path) is None or not path.lower().endswith((".html", ".htm", ".xhtml")):
        abort(404)
    row = services.file_sha(pack, path) or abort(404)
    if row.sha256 in request.if_none_match:
        return "", 304, {"ETag": f'"{row.sha256}"'}
    chapter = reader.chapter_html(pack.pack_id, path, str(_store().path(row.sha256)))

    def read(other: str) -> str | None:
        found = services.file_sha(pack, other)
        return _store().path(found.sha256).read_text("utf-8", "replace") if found is not None else None

    css = bookcss.sanitize("\n".join(chapter.styles), path, read,
                           lambda other: reader.pack_url(pack.pack_id, other),
                           [(f'[data-book-style="{number}"]', value) for number, value in chapter.inline_styles])
    return css, 200, {"Content-Type": "text/css; charset=utf-8", "ETag": f'"{row.sha256}"',
                      "Cache-Control": "no-cache"}


def _node_title(pack: ContentPack, node_id: str) -> str | None:
    found = services.node(pack, node_id)
    return found.title if found is not None else None


@bp.post("/library/reader")
def reader_settings():
    """The reader's text size and contrast (buttons that work without JavaScript)."""
    if g.user is None:
        abort(401)
    pref = reader.preference(g.user)
    size, contrast = pref.text_size, pref.contrast
    change = request.form.get("size")
    if change in ("smaller", "larger"):
        size = max(min(reader.TEXT_SIZES), min(max(reader.TEXT_SIZES), size + (1 if change == "larger" else -1)))
    if request.form.get("contrast") in reader.CONTRASTS:
        contrast = request.form["contrast"]
    reader.save_preference(g.user, size, contrast)
    back = safe_next(request.form.get("next"))
    if not back or not back.startswith("/library/"):
        back = url_for("content.library")
    return redirect(back, 303)


def search_args() -> dict:
    grade = int_arg("grade")
    language = request.args.get("language") or None
    return {"text": request.args.get("q", "")[:200], "subject": request.args.get("subject") or None,
            "grade": grade, "language": language if is_language_tag(language) else None}


@bp.get("/library/search")
def search_page():
    args = search_args()
    page = page_arg()
    book = within = None
    if request.args.get("pack") and request.args.get("book"):  # search inside the book being read
        pack = ContentPack.get_or_none(ContentPack.pack_id == request.args["pack"]) or abort(404)
        book = ContentNode.get_or_none(ContentNode.pack == pack, ContentNode.node_id == request.args["book"],
                                       ContentNode.kind == "ebook") or abort(404)
        chapters = [row.node_id for row in ContentNode.select(ContentNode.node_id)
                    .where(ContentNode.pack == pack, ContentNode.parent_id == book.node_id)]
        within = (pack.pack_id, [book.node_id, *chapters])
    result = services.search(**args, limit=20, offset=(page - 1) * 20, within=within)
    subjects, grades = services.subjects_and_grades()
    return render_template("content/search.html", result=result, args=args, page=page, subjects=subjects,
                           grades=grades, content_languages=services.content_languages(), book=book,
                           book_pack=within[0] if within else None)


@bp.app_template_filter("subject_name")
def _subject_filter(subject: str) -> str:
    return subject_name(subject)


@bp.app_template_filter("language_name")
def _language_name(code: str) -> str:
    """A content language by its own name: Қазақша, Русский, English, العربية, 日本語 ..."""
    return language_name(code)


@bp.app_template_filter("localized")
@pass_context
def _localized_filter(context, texts, pack=None) -> str:
    """`title|localized`, or `title|localized(pack)`: missing the reader's language, the pack's own
    languages come first. The reader's language is the page's `lang` (what the context processor
    read once for this render, in force_locale too), not looked up again for every title."""
    language = context.get("lang")
    languages = getattr(pack, "languages", None) if pack is not None else None
    if language and isinstance(texts, str) and (languages is None or isinstance(languages, str)):
        return _localized_text(texts, language, languages)
    return localized(texts, language, fallback=pack_languages(pack))


@functools.lru_cache(maxsize=4096)
def _localized_text(texts: str, language: str, languages: str | None) -> str:
    """A title as stored (JSON) in one language, for a pack's languages as stored: a page shows a
    dozen, the same on every request (remembered per process)."""
    return localized(texts, language, fallback=json.loads(languages) if languages else ())


def node_url(pack_id: str, node_id: str) -> str:
    return url_for("content.node_page", pack_id=pack_id, node_id=node_id)


def _student_book(pack_id: str, book_id: str) -> tuple[ContentPack, ContentNode]:
    """The book a student's notes are in; other roles get 403 (notes are the student's alone)."""
    if g.user is None:
        abort(401)
    if g.user.role != "student":
        abort(403)
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or _book_gone()
    book = ContentNode.get_or_none(ContentNode.pack == pack, ContentNode.node_id == book_id,
                                   ContentNode.kind == "ebook") or _book_gone()
    return pack, book


def _book_gone():
    """404 in words, as JSON to JSON: a note the device kept may arrive after its book was taken out
    of the library, and the student is shown why it was not saved (static/app.js)."""
    message = _("This book is no longer in the school's library.")
    if request.is_json:
        abort(make_response(jsonify(error="not_found", message=message), 404))
    abort(404, description=message)


def _note_place(pack: ContentPack, note, languages: dict | None = None) -> str:
    """The reader URL of a note's place: the chapter (or the PDF textbook) in the note's language, at the note."""
    languages = {} if languages is None else languages
    if note.chapter_id not in languages:
        node = ContentNode.get_or_none(ContentNode.pack == pack, ContentNode.node_id == note.chapter_id)
        data = json.loads(node.data) if node is not None else {}
        languages[note.chapter_id] = {path: language for language, path in
                                      {**(data.get("content") or {}), **(data.get("pdf_pages") or {})}.items()}
    return url_for("content.node_page", pack_id=pack.pack_id, node_id=note.chapter_id,
                   lang=languages[note.chapter_id].get(note.chapter_path)) + f"#note-{note.id}"


@bp.get("/library/<pack_id>/<book_id>/notes")
def my_notes(pack_id: str, book_id: str):
    """A student's bookmarks, highlights and notes in one book, each with a link back to its place."""
    pack, book = _student_book(pack_id, book_id)
    found = notes.for_book(g.user, pack.pack_id, book.node_id)
    languages: dict = {}
    if request.args.get("format") == "json":
        return jsonify(notes=[{**notes.as_json(n), "url": _note_place(pack, n, languages)} for n in found])
    titles = {row.node_id: row.title for row in ContentNode.select(ContentNode.node_id, ContentNode.title)
              .where(ContentNode.pack == pack, (ContentNode.parent_id == book.node_id)
                     | (ContentNode.node_id == book.node_id))}
    return render_template("content/notes.html", pack=pack, book=book, notes=found, titles=titles,
                           note_url=lambda n: _note_place(pack, n, languages))


def _answer(status: int, pack: ContentPack, book: ContentNode, note=None, message: str | None = None,
            back: str | None = None):
    if request.is_json:
        if message is not None:
            return jsonify(error="bad_note", message=message), status
        return (jsonify(notes.as_json(note)), status) if note is not None else ("", status)
    if message is not None:
        words = request.form.get("text", "").strip()
        client_id = request.form.get("client_id", "").lower()
        return render_template("content/note_error.html", pack=pack, book=book, message=message,
                               back=back, words=words[:notes.MAX_TEXT * 2],
                               client_id=client_id if notes.is_client_id(client_id) else None), status
    return redirect(back or url_for("content.my_notes", pack_id=pack.pack_id, book_id=book.node_id), 303)


def _deleted(pack: ContentPack, book: ContentNode, client_id: str, back: str | None = None):
    """A kept note sent again after the student deleted it: handled (200), nothing stored; the
    device stops keeping it (static/app.js)."""
    if request.is_json:
        return jsonify(client_id=client_id, deleted=True), 200
    return _answer(200, pack, book, back=back)


def _position(given) -> int:
    """The TextPositionSelector's start the page sent (a hint: anything else counts as 0)."""
    value = given.get("position")
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, min(value, 10 ** 9))
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 10 else 0


@bp.post("/library/<pack_id>/<book_id>/notes")
def add_note(pack_id: str, book_id: str):
    """Keep a bookmark, highlight or note (form or JSON); answered once it is committed."""
    pack, book = _student_book(pack_id, book_id)
    given = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(given, dict) and not hasattr(given, "get"):
        abort(400, description=_("Send the note as a form or as JSON."))

    def field(name: str) -> str:
        value = given.get(name)
        return value if isinstance(value, str) else ""
    client_id = field("client_id").lower() or None
    if client_id is not None and notes.is_client_id(client_id):
        # A note the device kept offline, sent again because the reply to the first send was lost:
        # already stored, it is the answer, before any check (its passage may have moved since).
        earlier = notes.sent_before(g.user, client_id)
        if earlier is not None:
            return _answer(200, pack, book, earlier, back=_note_place(pack, earlier))
        if notes.deleted_before(g.user, client_id):
            return _deleted(pack, book, client_id)
    chapter_id = field("chapter") or book.node_id
    chapter = ContentNode.get_or_none(ContentNode.pack == pack, ContentNode.node_id == chapter_id)
    if chapter is None or (chapter.node_id != book.node_id and chapter.parent_id != book.node_id):
        return _answer(400, pack, book, message=_("This page is not in the book."))
    data = json.loads(chapter.data)
    files = data.get("pdf_pages") if chapter.kind == "ebook" else data.get("content")
    files = files or {}
    language = field("lang") if field("lang") in files else localized_key(files)
    back = url_for("content.node_page", pack_id=pack.pack_id, node_id=chapter.node_id,
                   lang=field("lang") or None) if chapter.kind == "chapter" else \
        url_for("content.node_page", pack_id=pack.pack_id, node_id=chapter.node_id)
    page = None
    if chapter.kind == "ebook":
        page_text = given.get("page")
        try:
            page = int(page_text) if not isinstance(page_text, bool) else None
        except (TypeError, ValueError):
            page = None
        if page is None or not 1 <= page <= 100000:
            return _answer(400, pack, book, message=_("Say which page of the book the note is on."), back=back)
    if not language:
        return _answer(400, pack, book, message=_("This page is not in the book."), back=back)
    try:
        note, stored = notes.add(g.user, pack, book, chapter, files[language], field("kind"),
                                 notes.blob_reader(pack, _store().path), exact=field("exact"),
                                 prefix=field("prefix"), suffix=field("suffix"), text=field("text"), page=page,
                                 position=_position(given), client_id=client_id)
    except notes.NoteError as exc:
        return _answer(400, pack, book, message=error_text(exc), back=back)
    if note is None:
        return _deleted(pack, book, client_id, back=back)
    return _answer(201 if stored else 200, pack, book, note, back=f"{back}#note-{note.id}")


@bp.post("/library/<pack_id>/<book_id>/notes/<note_id>")
def change_note(pack_id: str, book_id: str, note_id: str):
    """Change a note's words, or delete it (`delete` in the form or JSON)."""
    pack, book = _student_book(pack_id, book_id)
    note = notes.own(g.user, note_id)
    if note is None or note.pack_id != pack.pack_id or note.book_id != book.node_id:
        abort(404)
    given = request.get_json(silent=True) if request.is_json else request.form
    given = given if hasattr(given, "get") else {}
    back = safe_next(given.get("next") if isinstance(given.get("next"), str) else None)
    if back is not None and not back.startswith("/library/"):
        back = None
    if given.get("delete"):
        notes.delete(note)
        return _answer(204, pack, book, back=back) if request.is_json else _answer(200, pack, book, back=back)
    try:
        notes.update_text(note, given.get("text") if isinstance(given.get("text"), str) else "")
    except notes.NoteError as exc:
        return _answer(400, pack, book, message=error_text(exc), back=back)
    return _answer(200, pack, book, notes.own(g.user, note_id), back=back)
