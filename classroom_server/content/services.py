"""The school's library: installing packs (CLI, admin page, sync agent), the blob store, search.

One install function serves every way a pack arrives. It verifies every hash and the signature
before anything is visible, stores each file once by its SHA-256, and switches the catalog to the
new version in one transaction: a crash at any moment leaves the old version served.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import html
import json
import logging
import os
import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Generic, Hashable, Iterator, TypeVar

from content_packs.manifest import InvalidPack, Manifest, iter_nodes, version_key
from content_packs.reader import (Limits, PackReader, copy_verified, open_pack, read_manifest,
                                   verify_files)
from content_packs.signing import SignatureError, verify

from ..i18n import pack_text
from ..db import Prepared, database, is_sqlite, placeholders, run_sql, sql
from ..models import ContentFile, ContentNode, ContentPack, SchoolFile, utcnow
from . import notes

log = logging.getLogger(__name__)

_TAG = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)
_SPACE = re.compile(r"\s+")
_SHUFFLE = random.SystemRandom()
SEARCHABLE_TEXT_LIMIT = 200_000  # characters of one page kept for search


class ImportRefused(InvalidPack):
    """The pack is fine as a file but cannot be installed here (downgrade, untrusted, no space)."""


@dataclass(frozen=True)
class InstallResult:
    pack_id: str
    version: str
    previous_version: str | None
    reviewed: bool
    files_stored: int  # new blobs written (others were already in the store)
    bytes_stored: int
    unchanged: bool = False


def write_atomically(target: Path, write: Callable[[IO[bytes]], None], durable: bool = True,
                     mode: int = 0o644) -> None:
    """Write `target` through a temporary file beside it, so readers see the old file or the new one
    (file mode `mode`; the temporary file is 0600 until then, so a private key is never readable)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


class BlobStore:
    """Files stored once by SHA-256 under `<data>/content/blobs/ab/abcdef...`."""

    def __init__(self, data_dir: Path):
        self.root = data_dir / "content"
        self.blobs = self.root / "blobs"

    def path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def has(self, sha256: str, size: int) -> bool:
        try:
            return self.path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One import or clean-up at a time, across the web server and the sync agent."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def store(self, reader: PackReader, entry) -> Path:
        """Copy a pack entry in, verified; durable (fsync) before it gets its final name."""
        target = self.path(entry.sha256)
        write_atomically(target, lambda out: copy_verified(reader, entry, out))
        return target

    def all_hashes(self) -> set[str]:
        if not self.blobs.is_dir():
            return set()
        return {p.name for folder in self.blobs.iterdir() if folder.is_dir() for p in folder.iterdir()
                if not p.name.startswith(".")}

    def leftovers(self) -> list[Path]:
        """Temporary files of an import that a crash or power cut interrupted."""
        if not self.blobs.is_dir():
            return []
        return [p for folder in self.blobs.iterdir() if folder.is_dir() for p in folder.glob(".partial-*")]

    def remove(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()


def fsync_dir(path: Path) -> None:
    """Make a rename or new file in `path` durable (the folder's entry, not only the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _page_text(raw: bytes) -> str:
    text = html.unescape(_TAG.sub(" ", raw.decode("utf-8", "replace")))
    return _SPACE.sub(" ", text).strip()[:SEARCHABLE_TEXT_LIMIT]


def _node_texts(node: dict, read: Callable[[str], bytes]) -> dict[str, str]:
    """The searchable text of a node, per language."""
    texts: dict[str, list[str]] = {}
    for field in ("description", "transcript"):
        for language, text in (node.get(field) or {}).items():
            texts.setdefault(language, []).append(text)
    for language, path in (node.get("content") or {}).items():
        texts.setdefault(language, []).append(_page_text(read(path)))
    for language, path in (node.get("pdf_pages") or {}).items():  # a PDF textbook's text (pack build made it)
        try:
            pages = json.loads(read(path))["pages"]
        except (ValueError, KeyError, TypeError):
            continue
        texts.setdefault(language, []).append(
            _SPACE.sub(" ", " ".join(str(page.get("text", "")) for page in pages))[:SEARCHABLE_TEXT_LIMIT])
    for item in node.get("items", []):
        for language, text in (item.get("prompt") or {}).items():
            texts.setdefault(language, []).append(text)
        # An item's choices and pair halves are findable, but in a random order: in the pack's order a
        # snippet would show an ordering's right order, or which right half goes with which left one.
        parts: dict[str, list[str]] = {}
        for part in [c.get("text") for c in item.get("choices", [])] + \
                [half for p in item.get("pairs", []) for half in (p.get("left"), p.get("right"))]:
            for language, text in (part or {}).items():
                parts.setdefault(language, []).append(text)
        for language, found in parts.items():
            _SHUFFLE.shuffle(found)
            texts.setdefault(language, []).extend(found)
    return {language: " ".join(parts) for language, parts in texts.items()}


def _search_rows(manifest: Manifest, read: Callable[[str], bytes]) -> list[tuple]:
    rows = []
    for node, _, _ in iter_nodes(manifest.data["nodes"]):
        texts = _node_texts(node, read)
        for language in set(node["title"]) | set(texts):
            title = node["title"].get(language) or next(iter(node["title"].values()))
            rows.append((manifest.id, node["id"], language, title, texts.get(language, "")))
    return rows


def _fixable(error: InvalidPack, fix: str, reason: InvalidPack | None = None) -> InvalidPack:
    """Mark a refusal the importer can undo with a choice: `fix` is "unreviewed" (import it as
    unreviewed local content) or "replace" (confirm replacing a reviewed pack); `reason` is the refusal
    without the command-line advice, for a page that offers the choice as a control of its own."""
    error.fix = fix
    error.reason = reason or error
    return error


def install_pack(source: str | os.PathLike, data_dir: Path, trusted_keys: tuple[str, ...],
                 allow_unreviewed: bool = False, replace_reviewed: bool = True, limits: Limits = Limits(),
                 progress: Callable[[int], None] | None = None,
                 before_switch: Callable[[], None] | None = None) -> InstallResult:
    """Verify and install the pack at `source` (a .ckpack file or a folder).

    With `replace_reviewed` false, an unreviewed pack does not replace an installed reviewed one: that
    is refused with `fix == "replace"`, for the admin page to ask first.

    Raises InvalidPack (or its subclasses SignatureError, ImportRefused) naming the problem; then
    nothing new is visible and no new file is left behind. `progress` gets byte counts as files
    are checked; `before_switch` runs just before the catalog switch (tests use it to crash there).
    """
    store = BlobStore(data_dir)
    with store.lock(), open_pack(source, limits) as reader:
        raw, manifest, signature_bytes = read_manifest(reader)
        try:
            signer = verify(raw, signature_bytes, trusted_keys).public_key
        except SignatureError as exc:
            if not allow_unreviewed:
                # error_text translates `problem` too: it is the SignatureError verify raised.
                raise _fixable(SignatureError("%(problem)s. To use it anyway as local content that students see "
                                              "marked as not reviewed, import it as unreviewed (--unreviewed).",
                                              problem=exc), "unreviewed", exc) from None
            signer = None
        reviewed = signer is not None and manifest.review_status == "approved"
        if not reviewed and not allow_unreviewed:
            raise _fixable(ImportRefused("the pack's review status is %(status)r, not approved; import it as "
                                         "unreviewed local content (--unreviewed) to use it anyway",
                                         status=manifest.review_status), "unreviewed",
                           ImportRefused("the pack's review status is %(status)r, not approved",
                                         status=manifest.review_status))
        manifest_sha = hashlib.sha256(raw).hexdigest()
        existing = ContentPack.get_or_none(ContentPack.pack_id == manifest.id)
        if existing is not None:
            if version_key(manifest.version) < version_key(existing.version):
                raise ImportRefused("%(pack)s %(installed)s is installed; %(version)s is older (a downgrade). "
                                    "Remove the pack first to go back.", pack=manifest.id,
                                    installed=existing.version, version=manifest.version)
            if manifest.version == existing.version:
                if manifest_sha == existing.manifest_sha256:
                    return InstallResult(manifest.id, manifest.version, existing.version,
                                         existing.reviewed, 0, 0, unchanged=True)
                raise ImportRefused("%(pack)s %(version)s is installed with different content; a changed pack "
                                    "needs a new version number", pack=manifest.id, version=manifest.version)
            if existing.reviewed and not reviewed and not replace_reviewed:
                raise _fixable(ImportRefused("%(pack)s %(installed)s is installed as reviewed content; %(version)s "
                                             "is not reviewed and would replace it", pack=manifest.id,
                                             installed=existing.version, version=manifest.version), "replace")
        _check_space(store, manifest)
        written: list[str] = []
        try:
            for entry in manifest.files:
                if not store.has(entry.sha256, entry.size):
                    store.store(reader, entry)
                    written.append(entry.sha256)
                if progress:
                    progress(entry.size)
            if written:
                for folder in {store.path(sha).parent for sha in written}:
                    fsync_dir(folder)
            search_rows = _search_rows(manifest, lambda path: store.path(manifest.file(path).sha256).read_bytes())
            if before_switch:
                before_switch()
            by_path = manifest.by_path()
            _switch(manifest, manifest_sha, reviewed, signer, search_rows,
                    lambda path: str(store.path(by_path[path].sha256)) if path in by_path else None)
        except BaseException:
            # Nothing references the new blobs: take them away again.
            referenced = _referenced_hashes()
            for sha in written:
                if sha not in referenced:
                    store.remove(sha)
            raise
        _collect_garbage(store)
    log.info("installed %s %s (%d new files)", manifest.id, manifest.version, len(written))
    new = set(written)
    return InstallResult(manifest.id, manifest.version, existing.version if existing else None, reviewed,
                         len(written), sum({e.sha256: e.size for e in manifest.files if e.sha256 in new}.values()))


def _check_space(store: BlobStore, manifest: Manifest) -> None:
    needed = sum(e.size for e in manifest.files if not store.has(e.sha256, e.size))
    store.root.mkdir(parents=True, exist_ok=True)
    stats = os.statvfs(store.root)
    free = stats.f_bavail * stats.f_frsize
    reserve = 256 * 1024 * 1024
    if needed + reserve > free:
        raise ImportRefused("not enough disk space: the pack needs %(needed)d MiB, %(free)d MiB are free and "
                            "%(reserve)d MiB are kept in reserve. Free space or remove unused packs first.",
                            needed=needed // 2**20, free=free // 2**20, reserve=reserve // 2**20)


def _first_text(value: dict | str | None, languages: list[str]) -> str | None:
    """A text given once or by language, in the pack's first language there is (or any)."""
    if not isinstance(value, dict):
        return value
    return next((value[language] for language in languages if value.get(language)), next(iter(value.values())))


def _pack_texts(data: dict) -> str:
    """The pack's texts by language besides its titles, as ContentPack.texts keeps them."""
    review = data["review"]
    texts = {"review_body": review.get("body"), "review_note": review.get("note"),
             "license_note": data.get("license_note")}
    return json.dumps({key: value for key, value in texts.items() if isinstance(value, dict)}, ensure_ascii=False)


@dataclass(frozen=True)
class PackAbout:
    """What a pack says about itself, each text in the reader's language (i18n.pack_text)."""
    authors: list[str]
    review_body: str
    review_note: str
    license_note: str


def pack_about(pack: ContentPack, language: str | None = None) -> PackAbout:
    texts = json.loads(pack.texts or "{}")
    return PackAbout(
        authors=[pack_text(author, pack, language) for author in json.loads(pack.authors)],
        review_body=pack_text(texts.get("review_body") or pack.review_body, pack, language),
        review_note=pack_text(texts.get("review_note"), pack, language),
        license_note=pack_text(texts.get("license_note"), pack, language))


def _switch(manifest: Manifest, manifest_sha: str, reviewed: bool, signer: str | None,
            search_rows: list[tuple], read: Callable[[str], str | None] | None = None) -> None:
    """Replace the pack's catalog rows with the new version's, in one transaction; students' notes
    in its books are found again in the new text (`read`: pack path -> the stored file)."""
    data = manifest.data
    review = data["review"]
    fields = dict(version=manifest.version, title=json.dumps(data["title"], ensure_ascii=False),
                  description=json.dumps(data.get("description") or {}, ensure_ascii=False),
                  subject=data["subject"], grades=json.dumps(data["grades"]),
                  languages=json.dumps(data["languages"]), license=data["license"],
                  authors=json.dumps(data["authors"], ensure_ascii=False), review_status=review["status"],
                  skill_titles=json.dumps(data.get("skills") or {}, ensure_ascii=False),
                  review_body=_first_text(review.get("body"), data["languages"]), texts=_pack_texts(data),
                  review_date=review.get("date"), reviewed=reviewed,
                  signer_key=signer, manifest_sha256=manifest_sha, total_size=manifest.total_size,
                  installed_at=utcnow())
    with database.atomic():
        pack = ContentPack.get_or_none(ContentPack.pack_id == manifest.id)
        if pack is None:
            pack = ContentPack.create(pack_id=manifest.id, **fields)
        else:
            ContentPack.update(**fields).where(ContentPack.id == pack.id).execute()
            ContentNode.delete().where(ContentNode.pack == pack).execute()
            ContentFile.delete().where(ContentFile.pack == pack).execute()
            run_sql("DELETE FROM content_search WHERE pack_id = ?", (manifest.id,))
        nodes = []
        for node, parent, position in iter_nodes(data["nodes"]):
            rest = {k: v for k, v in node.items() if k not in ("id", "kind", "title", "children")}
            nodes.append({"pack": pack.id, "node_id": node["id"], "parent_id": parent, "position": position,
                          "kind": node["kind"], "title": json.dumps(node["title"], ensure_ascii=False),
                          "data": json.dumps(rest, ensure_ascii=False)})
        for batch in _batches(nodes):
            ContentNode.insert_many(batch).execute()
        files = [{"pack": pack.id, "path": e.path, "sha256": e.sha256, "size": e.size} for e in manifest.files]
        for batch in _batches(files):
            ContentFile.insert_many(batch).execute()
        cursor = database.cursor()
        cursor.executemany(sql(f"INSERT INTO content_search (pack_id, node_id, language, title, body) "
                               f"VALUES ({placeholders(5)})"), search_rows)
        if read is not None:
            found, lost = notes.reanchor(manifest.id, read)
            if found or lost:
                log.info("%s: %d students' notes found again in the new version, %d passages gone",
                         manifest.id, found, lost)


def _batches(rows: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _referenced_hashes() -> set[str]:
    """The blobs to keep: every installed pack's files and the school's own files (content.school_files)."""
    return ({row.sha256 for row in ContentFile.select(ContentFile.sha256).distinct()}
            | {row.sha256 for row in SchoolFile.select(SchoolFile.sha256).distinct()})


def _collect_garbage(store: BlobStore) -> int:
    """Delete blobs neither an installed pack nor a school file uses (old versions, removed packs,
    crashed imports)."""
    unused = store.all_hashes() - _referenced_hashes()
    for sha in unused:
        store.remove(sha)
    for leftover in store.leftovers():
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    return len(unused)


def collect_garbage(data_dir: Path) -> int:
    store = BlobStore(data_dir)
    with store.lock():
        return _collect_garbage(store)


def remove_pack(pack_id: str, data_dir: Path) -> None:
    store = BlobStore(data_dir)
    with store.lock():
        pack = ContentPack.get_or_none(ContentPack.pack_id == pack_id)
        if pack is None:
            raise ImportRefused("no pack %(pack)r is installed; see `classroom-server pack list`", pack=pack_id)
        with database.atomic():
            ContentNode.delete().where(ContentNode.pack == pack).execute()
            ContentFile.delete().where(ContentFile.pack == pack).execute()
            run_sql("DELETE FROM content_search WHERE pack_id = ?", (pack_id,))
            pack.delete_instance()
        _collect_garbage(store)


def verify_pack(source: str | os.PathLike, trusted_keys: tuple[str, ...], limits: Limits = Limits(),
                progress: Callable[[int], None] | None = None) -> tuple[Manifest, str | None]:
    """Check a pack completely without installing: (manifest, why its signature is not trusted or None)."""
    with open_pack(source, limits) as reader:
        raw, manifest, signature = read_manifest(reader)
        verify_files(reader, manifest, progress)
        try:
            verify(raw, signature, trusted_keys)
        except SignatureError as exc:
            return manifest, str(exc)
    return manifest, None


def pack_size(source: str | os.PathLike) -> int:
    """Bytes of files a pack declares (for progress bars); 0 if it cannot be read (install will say why)."""
    try:
        with open_pack(source) as reader:
            return read_manifest(reader)[1].total_size
    except InvalidPack:
        return 0


# --- Reading the catalog ---------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"


@dataclass(frozen=True)
class SearchHit:
    pack_id: str
    node_id: str
    kind: str
    title: str
    snippet_html: str  # escaped text with <mark> around the matches
    language: str


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    total: int


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word must appear, each as a prefix."""
    words = _WORD.findall(text)[:12]
    if not words:
        return None
    return " ".join('"' + w.replace('"', '') + '"*' for w in words)


def _mark(snippet: str) -> str:
    return html.escape(snippet).replace(_MARK_OPEN, "<mark>").replace(_MARK_CLOSE, "</mark>")


def search(text: str, subject: str | None = None, grade: int | None = None, language: str | None = None,
           limit: int = 20, offset: int = 0, within: tuple[str, list[str]] | None = None) -> SearchPage:
    """Find lessons, chapters, exercises and media by title and text, best matches first;
    `within` (pack id, node ids) keeps to those nodes, e.g. the chapters of one book."""
    query = fts_query(text)
    if query is None:
        return SearchPage([], 0)
    where, params = [], []
    if within is not None:
        where.append(f"s.pack_id = ? AND s.node_id IN ({placeholders(len(within[1])) or 'NULL'})")
        params += [within[0], *within[1]]
    if subject:
        where.append("p.subject = ?")
        params.append(subject)
    if grade is not None:
        where.append("EXISTS (SELECT 1 FROM json_each(p.grades) WHERE value = ?)")
        params.append(grade)
    if language:
        where.append("s.language = ?")
        params.append(language)
    if not is_sqlite():
        return _search_plain(text, where, params, limit, offset)
    # Ranked by FTS5 itself (title words weigh 8, body words 1): with ORDER BY rank, FTS5 sorts its
    # matches before SQLite sees a row, so the page's LIMIT stops the scan and snippet() runs for the
    # page's rows only (no temporary B-tree: EXPLAIN QUERY PLAN shows the virtual table's own order).
    # One MATCH for the page and its snippets: a second one, for the page's rowids, cost more than
    # the search (6 ms of 10 for a short prefix with 500 hits; docs/BENCHMARKS.md, Search).
    match = "content_search MATCH ? AND s.rank MATCH 'bm25(0, 0, 0, 8.0, 1.0)'"
    filters = "".join(" AND " + w for w in where)
    joins = " JOIN content_pack p ON p.pack_id = s.pack_id" if where else ""
    total = run_sql(f"SELECT COUNT(*) FROM content_search s{joins} "
                    f"WHERE content_search MATCH ?{filters}", [query, *params]).fetchone()[0]
    if not total:
        return SearchPage([], 0)
    rows = run_sql(
        "SELECT s.pack_id, s.node_id, n.kind, s.title, "
        f"snippet(content_search, 4, '{_MARK_OPEN}', '{_MARK_CLOSE}', '…', 16), s.language "
        "FROM content_search s JOIN content_pack p ON p.pack_id = s.pack_id "
        "JOIN content_node n ON n.pack_id = p.id AND n.node_id = s.node_id "
        f"WHERE {match}{filters} ORDER BY s.rank LIMIT ? OFFSET ?", [query, *params, limit, offset]).fetchall()
    hits = [SearchHit(pack, node, kind, title, _mark(snippet), lang) for pack, node, kind, title, snippet, lang in rows]
    return SearchPage(hits, total)


def _search_plain(text: str, where: list[str], params: list, limit: int, offset: int) -> SearchPage:
    """PostgreSQL: every word as a case-insensitive substring (schools run SQLite with FTS5)."""
    words = _WORD.findall(text)[:12]
    clauses = ["(s.title ILIKE ? OR s.body ILIKE ?)"] * len(words)
    args: list = []
    for word in words:
        args += [f"%{word}%", f"%{word}%"]
    pg_where = [w.replace("EXISTS (SELECT 1 FROM json_each(p.grades) WHERE value = ?)",
                          "p.grades::jsonb @> to_jsonb(?)") for w in where]
    body = (" FROM content_search s JOIN content_pack p ON p.pack_id = s.pack_id "
            " JOIN content_node n ON n.pack_id = p.id AND n.node_id = s.node_id WHERE "
            + " AND ".join(clauses + pg_where))
    total = run_sql("SELECT COUNT(*)" + body, args + params).fetchone()[0]
    rows = run_sql("SELECT s.pack_id, s.node_id, n.kind, s.title, s.body, s.language" + body
                   + " ORDER BY s.title LIMIT ? OFFSET ?", args + params + [limit, offset]).fetchall()
    return SearchPage([SearchHit(p, n, k, t, html.escape(b[:160]), lang) for p, n, k, t, b, lang in rows], total)


def subjects_and_grades() -> tuple[list[str], list[int]]:
    subjects: set[str] = set()
    grades: set[int] = set()
    for row in ContentPack.select(ContentPack.subject, ContentPack.grades):
        subjects.add(row.subject)
        grades.update(json.loads(row.grades))
    return sorted(subjects), sorted(grades)


def content_languages() -> list[str]:
    """The languages installed packs have content in: kk, ru, en first, then the others by tag."""
    found: set[str] = set()
    for row in ContentPack.select(ContentPack.languages):
        found.update(json.loads(row.languages))
    interface = [code for code in ("kk", "ru", "en") if code in found]
    return interface + sorted(found - set(interface))


def pack_tree(pack: ContentPack) -> list[dict]:
    """The pack's nodes as nested dicts: {"node": ContentNode, "children": [...]}."""
    nodes = list(ContentNode.select().where(ContentNode.pack == pack).order_by(ContentNode.position))
    by_parent: dict[str | None, list[ContentNode]] = {}
    for node in nodes:
        by_parent.setdefault(node.parent_id, []).append(node)

    def grow(parent: str | None) -> list[dict]:
        return [{"node": n, "children": grow(n.node_id)} for n in by_parent.get(parent, [])]
    return grow(None)


# --- what the pages of an installed pack read ----------------------------------------------------
# Every lesson, chapter and exercise page reads its pack, its node, the node's file, its children
# and siblings. Peewee building those queries cost more than the rest of the page. Which version of
# the pack is installed is read on every request: the pack row's id, manifest hash and install
# time, three columns. What an installed version holds (the pack row's other columns, its nodes and
# files: written only by install_pack's catalog switch, from pack.json) is remembered per process,
# keyed by the pack row and its manifest's hash. A new version or a reinstall rewrites the pack
# row's manifest_sha256 and installed_at, so such a key never names rows that changed, whichever
# process changed them; remove_pack deletes the row, and a page then finds no pack before it asks
# for its nodes. Read-only: callers must not change the rows or the parsed data they get.

_PACK = Prepared(lambda: ContentPack.select().where(ContentPack.pack_id == ""))
_INSTALLED = "SELECT id, manifest_sha256, installed_at FROM content_pack WHERE pack_id = ?"
_NODE = Prepared(lambda: ContentNode.select().where(ContentNode.pack == 0, ContentNode.node_id == ""))
_CHILDREN = Prepared(lambda: ContentNode.select().where(ContentNode.pack == 0, ContentNode.parent_id == "")
                     .order_by(ContentNode.position))
_TOP = Prepared(lambda: ContentNode.select().where(ContentNode.pack == 0, ContentNode.parent_id.is_null())
                .order_by(ContentNode.position))
_FILE = Prepared(lambda: ContentFile.select().where(ContentFile.pack == 0, ContentFile.path == ""))


V = TypeVar("V")


class Kept(Generic[V]):
    """What the pages of an installed pack version share, kept per process: at most `limit` values,
    then all forgotten at once (a school's few packs refill it in moments). A key names everything
    its value depends on (docs/architecture.md: the pack row and its manifest's hash, and the
    language and script root for anything with words or links in it)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._values: dict[Hashable, V] = {}

    def get(self, key: Hashable) -> V | None:
        return self._values.get(key)

    def put(self, key: Hashable, value: V) -> V:
        if len(self._values) >= self.limit:
            self._values.clear()
        self._values[key] = value
        return value

    def __call__(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value kept for `key`, made by `make` the first time."""
        found = self._values.get(key)
        return found if found is not None else self.put(key, make())


def pack_by_id(pack_id: str) -> ContentPack | None:
    """The installed pack `pack_id` (its current version), or None (remembered: do not change it)."""
    installed = run_sql(_INSTALLED, (pack_id,)).fetchone()
    if installed is None:
        return None
    # The install time too: a pack removed and installed again from the same file may get the
    # same row id back, and be reviewed this time (a key the school trusts now).
    key = (pack_id, *installed)
    pack = _packs.get(key)
    if pack is None:
        found = _PACK(pack_id)
        if not found:
            return None  # removed in between
        pack = found[0]
        if (pack.id, pack.manifest_sha256) == tuple(installed[:2]):  # not switched in between
            _packs.put(key, pack)
    return pack


_packs: Kept[ContentPack] = Kept(256)


@functools.lru_cache(maxsize=2048)
def _node(pack_row: int, manifest_sha256: str, node_id: str) -> ContentNode | None:
    found = _NODE(pack_row, node_id)
    return found[0] if found else None


@functools.lru_cache(maxsize=1024)
def _children(pack_row: int, manifest_sha256: str, parent_id: str | None) -> tuple[ContentNode, ...]:
    return tuple(_CHILDREN(pack_row, parent_id) if parent_id is not None else _TOP(pack_row))


@functools.lru_cache(maxsize=4096)
def _file(pack_row: int, manifest_sha256: str, path: str) -> ContentFile | None:
    found = _FILE(pack_row, path)
    return found[0] if found else None


def node(pack: ContentPack, node_id: str) -> ContentNode | None:
    """A node of the pack's installed version (remembered: do not change it)."""
    return _node(pack.id, pack.manifest_sha256, node_id)


def children(pack: ContentPack, parent_id: str | None) -> tuple[ContentNode, ...]:
    """The nodes under `parent_id` (None: the pack's top level) in their order (remembered)."""
    return _children(pack.id, pack.manifest_sha256, parent_id)


def file_sha(pack: ContentPack, path: str) -> ContentFile | None:
    """The pack's file at `path` (its hash and size), or None (remembered)."""
    return _file(pack.id, pack.manifest_sha256, path)


@functools.lru_cache(maxsize=4096)
def parsed(text: str) -> dict:
    """A catalog row's JSON (a node's data or title), parsed once per process: read-only."""
    return json.loads(text)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _holds_packs(folder: Path) -> bool:
    try:
        return any(p.suffix == ".ckpack" or (p / "pack.json").is_file() for p in folder.iterdir())
    except OSError:
        return False


def usb_candidates(roots: tuple[str, ...]) -> list[Path]:
    """Mounted drives that hold packs: folders one or two levels under the USB roots
    (`/media/usb0`, `/media/<user>/<label>`), with .ckpack files or pack folders at their top."""
    found: list[Path] = []
    for root in roots:
        level1 = _subfolders(Path(root))
        for folder in level1 + [sub for parent in level1 for sub in _subfolders(parent)]:
            if _holds_packs(folder):
                found.append(folder)
    return found
