"""The library: content files by hash, pack pages, the topic tree, search."""
from __future__ import annotations

import json
import mimetypes

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.security import safe_join

from babel import Locale, UnknownLocaleError

from content_packs.manifest import is_language_tag

from ..i18n import LANGUAGE_NAMES, localized, localized_key, subject_name
from ..learn import practice
from ..models import ContentFile, ContentNode, ContentPack
from ..security import int_arg, page_arg, safe_next
from . import bookcss, reader, services
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
    return _send_blob(row.sha256, path, immutable=False)


@bp.get("/library/")
def library():
    packs = list(ContentPack.select().order_by(ContentPack.subject, ContentPack.pack_id))
    subjects, grades = services.subjects_and_grades()
    return render_template("content/library.html", packs=packs, subjects=subjects, grades=grades,
                           loads=json.loads, content_languages=services.content_languages())


@bp.get("/library/<pack_id>/")
def pack_page(pack_id: str):
    pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id) or abort(404)
    return render_template("content/pack.html", pack=pack, tree=services.pack_tree(pack), loads=json.loads)


@bp.get("/library/<pack_id>/<node_id>")
def node_page(pack_id: str, node_id: str):
    pack = services.pack_by_id(pack_id) or abort(404)
    node = services.node(pack, node_id) or abort(404)
    data = services.parsed(node.data)
    files = data.get("content") or data.get("media") or data.get("pdf") or {}
    language = request.args.get("lang") if request.args.get("lang") in files else localized_key(files)
    path = files.get(language) if language else None
    file_row = services.file_sha(pack, path) if path else None
    children = services.children(pack, node.node_id)
    siblings = services.children(pack, node.parent_id)
    index = [s.node_id for s in siblings].index(node.node_id)
    # The device keeping assigned pages for offline use fetches them ahead: that is not opening them.
    student = (g.user is not None and g.user.role == "student"
               and request.headers.get("X-Classroom-Prefetch") is None)
    if student and node.kind != "topic":
        practice.record_opened(g.user, pack.pack_id, node.node_id, node.kind,
                               language or localized_key(services.parsed(node.title)) or "kk")
    chapter = place = None
    if node.kind == "chapter" and file_row is not None:
        chapter = reader.chapter_html(pack.pack_id, path, str(_store().path(file_row.sha256)),
                                      _chapter_pages(pack, siblings, language))
        if student and node.parent_id:
            place = reader.save_position(g.user, pack.pack_id, node.parent_id, node.node_id, None)
    elif node.kind == "ebook" and student:
        place = reader.position(g.user, pack.pack_id, node.node_id)
    contents = page_list = pdf_pages = None
    if node.kind == "ebook" and language and (data.get("pdf_pages") or {}).get(language):
        pdf_pages = _pdf_pages(pack, data["pdf_pages"][language])
        if place is not None and place.chapter_id != node.node_id:
            place = None
    if node.kind == "ebook" and data.get("toc"):
        book_language = request.args.get("lang") if request.args.get("lang") in data["toc"] \
            else localized_key(data["toc"])
        pages = dict(_chapter_pages(pack, children, book_language))
        contents = _contents(pack, data["toc"][book_language], pages)
        page_list = _contents(pack, (data.get("page_list") or {}).get(book_language) or [], pages)
    return render_template(
        "content/node.html", pack=pack, node=node, data=data, language=language, content_languages=list(files),
        path=path, file_row=file_row, children=children, chapter=chapter, place=place, contents=contents,
        page_list=page_list, pdf_pages=pdf_pages,
        reader_pref=reader.preference(g.user) if chapter is not None else None,
        place_title=_node_title(pack, place.chapter_id) if place is not None and node.kind == "ebook" else None,
        previous=siblings[index - 1] if index > 0 else None,
        next_node=siblings[index + 1] if index + 1 < len(siblings) else None,
        parent=services.node(pack, node.parent_id) if node.parent_id else None)


def _chapter_pages(pack: ContentPack, chapters: tuple[ContentNode, ...], language: str | None) -> tuple:
    """(chapter file, reader URL) of a book's chapters in one language: links between them stay in the reader."""
    pages = []
    for chapter in chapters:
        content = services.parsed(chapter.data).get("content") or {}
        if chapter.kind == "chapter" and language in content:
            pages.append((content[language], url_for("content.node_page", pack_id=pack.pack_id,
                                                     node_id=chapter.node_id, lang=request.args.get("lang"))))
    return tuple(pages)


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
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    try:
        return Locale.parse(code, sep="-").get_display_name(Locale.parse(code, sep="-")) or code
    except (ValueError, UnknownLocaleError):
        return code


@bp.app_template_filter("localized")
def _localized_filter(texts) -> str:
    return localized(texts)


def node_url(pack_id: str, node_id: str) -> str:
    return url_for("content.node_page", pack_id=pack_id, node_id=node_id)
