"""`pack.json`: parsing and validating a content pack's manifest (pure: no I/O beyond bytes)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1
LANGUAGES = ("kk", "ru", "en")  # the interface's languages (skill titles are interface texts)
# Content may be in any language: a BCP 47 tag (RFC 5646), e.g. kk, ru, en, ar, zh-Hans, en-GB.
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$")
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64  # a real pack.json nests about 40 deep (nodes 16 deep); more only strains the stack
NODE_KINDS = ("topic", "lesson", "ebook", "chapter", "exercise", "media")
ITEM_TYPES = ("single", "multiple", "numeric", "text", "ordering", "matching")
MEDIA_TYPES = ("image", "audio", "video")
REVIEW_STATUSES = ("approved", "draft")

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_VERSION = re.compile(r"^\d{1,6}(\.\d{1,6}){0,3}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DRIVE = re.compile(r"^[A-Za-z]:")


class InvalidPack(ValueError):
    """The pack cannot be used; the message names the problem (and where) so it can be fixed.

    `message` is an English gettext msgid with %(name)s fields filled from `params`; `where`, when
    given, says where the problem is (`pack.json node 'intro'.title`, a file name) and is never
    translated. str() is the English text for the CLI and logs; a page shows the message in the
    user's language with classroom_server.i18n.error_text.
    """

    def __init__(self, message: str, where: str | None = None, **params: object):
        text = message % params if params else message
        super().__init__(f"{where}: {text}" if where else text)
        self.message = message
        self.where = where
        self.params = params


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A validated pack.json; `data` is the parsed JSON, kept whole for the catalog."""
    data: dict
    files: tuple[FileEntry, ...]

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def version(self) -> str:
        return self.data["version"]

    @property
    def review_status(self) -> str:
        return self.data["review"]["status"]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, path: str) -> FileEntry | None:
        return self.by_path().get(path)

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}


def version_key(version: str) -> tuple[int, ...]:
    """Dotted versions compare as numbers: 1.10 > 1.9."""
    return tuple(int(part) for part in version.split("."))


def is_language_tag(value: Any) -> bool:
    """A well-formed BCP 47 tag in its usual case (language lowercase, Script title case, REGION upper)."""
    return isinstance(value, str) and len(value) <= 35 and _LANGUAGE_TAG.match(value) is not None


def check_path(path: str) -> str:
    """A safe relative path inside a pack, or InvalidPack saying why not."""
    if not isinstance(path, str) or not path:
        raise InvalidPack("a file path is empty")
    if "\\" in path or "\x00" in path:
        raise InvalidPack("file path %(path)r has a backslash or NUL; use '/' between folders", path=path)
    if path.startswith("/") or _DRIVE.match(path):
        raise InvalidPack("file path %(path)r is absolute; paths are relative to the pack", path=path)
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidPack("file path %(path)r has an empty, '.' or '..' part (it would escape the pack)",
                          path=path)
    if len(path) > 255:
        raise InvalidPack("file path %(path)r... is longer than 255 characters", path=path[:40])
    return path


class _Checker:
    """Walks the manifest, collecting the first problem with its location."""

    def __init__(self, files: dict[str, FileEntry], document: str = "pack.json"):
        self.files = files
        self.node_ids: set[str] = set()
        self.skill_tags: set[str] = set()  # every skill tag an item uses
        self.document = document

    def fail(self, where: str, what: str, **params: object) -> None:
        """Refuse the pack: `what` is a literal msgid (babel.cfg extracts `fail`), `where` the JSON path."""
        raise InvalidPack(what, where=f"{self.document} {where}" if self.document else where, **params)

    def language(self, language: Any, where: str) -> None:
        if not is_language_tag(language):
            self.fail(where, "language %(language)r is not a language tag (BCP 47) such as kk, ru, en, ar or "
                      "zh-Hans", language=language)

    def text(self, value: Any, where: str, required: bool = True, interface: bool = False) -> None:
        """A text by language: any content language, or one of kk/ru/en for an interface text."""
        if value is None and not required:
            return
        if not isinstance(value, dict) or not value:
            self.fail(where, 'expected texts by language, e.g. {"kk": "...", "ru": "..."}')
        for language, text in value.items():
            if interface and language not in LANGUAGES:
                self.fail(where, "language %(language)r is not one of %(choices)s", language=language,
                          choices=", ".join(LANGUAGES))
            self.language(language, where)
            if not isinstance(text, str) or not text.strip():
                self.fail(f"{where}.{language}", "expected a non-empty text")

    def name_or_texts(self, value: Any, where: str) -> bool:
        """Whether `value` is a name written once (`"Academy"`), or by language when it reads
        differently in each (`{"kk": "Академия", "ru": "Академия", "en": "Academy"}`); texts by
        language are checked here, naming the language that is wrong."""
        if isinstance(value, dict):
            self.text(value, where)
            return True
        return isinstance(value, str) and bool(value.strip())

    def skill_titles(self, value: Any) -> None:
        """The optional top-level `skills`: a title by language for skill tags the pack's items use."""
        if value is None:
            return
        if not isinstance(value, dict):
            self.fail("skills", 'expected skill tags with their titles by language, e.g. '
                      '{"fractions.compare": {"kk": "...", "ru": "..."}}')
        for tag, title in value.items():
            where = f"skill {tag[:128]!r}"
            if tag not in self.skill_tags:
                # Most likely a typo, which would leave the real tag without its title.
                self.fail(where, "no item of this pack has this skill tag; fix the tag or remove its title")
            self.text(title, where, interface=True)

    def file_ref(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or value not in self.files:
            self.fail(where, "%(path)r is not a file listed in 'files'", path=value)

    def localized_files(self, value: Any, where: str) -> None:
        if not isinstance(value, dict) or not value:
            self.fail(where, 'expected files by language, e.g. {"kk": "lessons/a.kk.html"}')
        for language, path in value.items():
            self.language(language, where)
            self.file_ref(path, f"{where}.{language}")

    def contents(self, value: Any, where: str) -> None:
        """An e-textbook's contents by language: nested entries {"title", "href" (a file#place or null)}."""
        if not isinstance(value, dict) or not value:
            self.fail(where, 'expected contents by language, e.g. {"kk": [{"title": "...", "href": "..."}]}')

        def entries(items: Any, at: str, depth: int) -> None:
            if not isinstance(items, list) or depth > 12:
                self.fail(at, "expected a list of entries, nested at most 12 deep")
            for index, entry in enumerate(items):
                here = f"{at}[{index}]"
                if not isinstance(entry, dict) or not isinstance(entry.get("title"), str):
                    self.fail(here, 'expected {"title": "...", "href": "file#place"}')
                href = entry.get("href")
                if href is not None:
                    self.file_ref(href.split("#", 1)[0] if isinstance(href, str) else href, f"{here}.href")
                entries(entry.get("children", []), f"{here}.children", depth + 1)
        for language, items in value.items():
            self.language(language, where)
            entries(items, f"{where}.{language}", 0)

    def node(self, node: Any, where: str, depth: int = 0) -> None:
        if depth > 16:
            self.fail(where, "nodes are nested more than 16 deep")
        if not isinstance(node, dict):
            self.fail(where, "expected an object")
        node_id = node.get("id")
        if not isinstance(node_id, str) or not _ID.match(node_id):
            self.fail(f"{where}.id", "expected a stable id: lowercase letters, digits, '.', '_' or '-'")
        if node_id in self.node_ids:
            self.fail(f"{where}.id", "id %(id)r is used twice", id=node_id)
        self.node_ids.add(node_id)
        where = f"node {node_id!r}"
        kind = node.get("kind")
        if kind not in NODE_KINDS:
            self.fail(f"{where}.kind", "%(kind)r is not one of %(choices)s", kind=kind,
                      choices=", ".join(NODE_KINDS))
        self.text(node.get("title"), f"{where}.title")
        self.text(node.get("description"), f"{where}.description", required=False)
        # Install reads `content`, `transcript` and `items` of any kind for search: check them wherever they are.
        if kind in ("lesson", "chapter") or "content" in node:
            self.localized_files(node.get("content"), f"{where}.content")
        self.text(node.get("transcript"), f"{where}.transcript", required=False)
        if kind == "exercise" or "items" in node:
            self.exercise(node, where)
        if kind == "ebook" and "pdf" in node:
            self.localized_files(node.get("pdf"), f"{where}.pdf")
        if kind == "ebook" and "pdf_pages" in node:
            self.localized_files(node.get("pdf_pages"), f"{where}.pdf_pages")
        if kind == "ebook":
            for key in ("toc", "page_list"):
                if key in node:
                    self.contents(node[key], f"{where}.{key}")
        elif kind == "media":
            if node.get("media_type") not in MEDIA_TYPES:
                self.fail(f"{where}.media_type", "expected one of %(choices)s",
                          choices=", ".join(MEDIA_TYPES))
            self.localized_files(node.get("media"), f"{where}.media")
        children = node.get("children", [])
        if not isinstance(children, list):
            self.fail(f"{where}.children", "expected a list of nodes")
        if children and kind not in ("topic", "ebook"):
            self.fail(f"{where}.children", "only topics and e-textbooks have children")
        for index, child in enumerate(children):
            if kind == "ebook" and isinstance(child, dict) and child.get("kind") != "chapter":
                self.fail(f"{where}.children[{index}]", "an e-textbook's children are chapters")
            self.node(child, f"{where}.children[{index}]", depth + 1)

    def exercise(self, node: dict, where: str) -> None:
        attempts = node.get("attempts")
        if attempts is not None and (not isinstance(attempts, int) or attempts < 1):
            self.fail(f"{where}.attempts", "expected a whole number of at least 1, or null for unlimited")
        items = node.get("items")
        if not isinstance(items, list) or not items:
            self.fail(f"{where}.items", "an exercise needs at least one item")
        item_ids: set[str] = set()
        for index, item in enumerate(items):
            self.item(item, f"{where}.items[{index}]", item_ids)

    def item(self, item: Any, where: str, seen: set[str]) -> None:
        if not isinstance(item, dict):
            self.fail(where, "expected an object")
        item_id = item.get("id")
        if not isinstance(item_id, str) or not _ID.match(item_id):
            self.fail(f"{where}.id", "expected a stable id: lowercase letters, digits, '.', '_' or '-'")
        if item_id in seen:
            self.fail(f"{where}.id", "item id %(id)r is used twice in this exercise", id=item_id)
        seen.add(item_id)
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            self.fail(f"{where}.type", "%(kind)r is not one of %(choices)s", kind=kind,
                      choices=", ".join(ITEM_TYPES))
        self.text(item.get("prompt"), f"{where}.prompt")
        skills = item.get("skills")
        if not isinstance(skills, list) or not skills or not all(isinstance(s, str) and _ID.match(s)
                                                                 for s in skills):
            self.fail(f"{where}.skills", "expected a list of skill tags (lowercase ids)")
        self.skill_tags.update(skills)
        hints = item.get("hints", [])
        if not isinstance(hints, list):
            self.fail(f"{where}.hints", "expected a list of texts by language")
        for index, hint in enumerate(hints):
            self.text(hint, f"{where}.hints[{index}]")
        self.text(item.get("explanation"), f"{where}.explanation", required=False)
        difficulty = item.get("difficulty", 0)
        if not isinstance(difficulty, (int, float)) or isinstance(difficulty, bool) or not -4 <= difficulty <= 4:
            self.fail(f"{where}.difficulty", "expected a number from -4 (easy) to 4 (hard)")
        getattr(self, "item_" + kind)(item, where)
        # Search indexes choices and pairs of any item type, so they must be well formed wherever they are.
        if "choices" in item and kind not in ("single", "multiple", "ordering"):
            self._choices(item, where, minimum=0)
        if "pairs" in item and kind != "matching":
            self._pairs(item, where, minimum=0)

    def _choices(self, item: dict, where: str, minimum: int = 2) -> set[str]:
        choices = item.get("choices")
        if not isinstance(choices, list) or len(choices) < minimum:
            if minimum:
                self.fail(f"{where}.choices", "expected at least %(count)d choices", count=minimum)
            self.fail(f"{where}.choices", "expected a list")
        ids: set[str] = set()
        for index, choice in enumerate(choices):
            if not isinstance(choice, dict) or not isinstance(choice.get("id"), str) or choice["id"] in ids:
                self.fail(f"{where}.choices[{index}]", "expected {\"id\": ..., \"text\": {...}} with a unique id")
            ids.add(choice["id"])
            self.text(choice.get("text"), f"{where}.choices[{index}].text")
        return ids

    def item_single(self, item: dict, where: str) -> None:
        ids = self._choices(item, where)
        if not isinstance(item.get("answer"), str) or item["answer"] not in ids:
            self.fail(f"{where}.answer", "expected the id of the right choice")

    def item_multiple(self, item: dict, where: str) -> None:
        ids = self._choices(item, where)
        answer = item.get("answer")
        if not _texts(answer) or not answer or not set(answer) <= ids or len(set(answer)) != len(answer):
            self.fail(f"{where}.answer", "expected the list of ids of the right choices")

    def item_numeric(self, item: dict, where: str) -> None:
        for key in ("answer", "tolerance"):
            value = item.get(key, 0 if key == "tolerance" else None)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                self.fail(f"{where}.{key}", "expected a number")
        if item.get("tolerance", 0) < 0:
            self.fail(f"{where}.tolerance", "expected a number of at least 0")

    def item_text(self, item: dict, where: str) -> None:
        accepted = item.get("accepted")
        if not isinstance(accepted, dict) or not accepted:
            self.fail(f"{where}.accepted", 'expected accepted answers by language, e.g. {"kk": ["бес"]}')
        for language, answers in accepted.items():
            if not is_language_tag(language) or not isinstance(answers, list) or not answers \
                    or not all(isinstance(a, str) and a.strip() for a in answers):
                self.fail(f"{where}.accepted.{language}", "expected a list of accepted answers")

    def item_ordering(self, item: dict, where: str) -> None:
        ids = self._choices(item, where)
        answer = item.get("answer")
        if not _texts(answer) or sorted(answer) != sorted(ids):
            self.fail(f"{where}.answer", "expected every choice id once, in the right order")

    def item_matching(self, item: dict, where: str) -> None:
        self._pairs(item, where)

    def _pairs(self, item: dict, where: str, minimum: int = 2) -> None:
        pairs = item.get("pairs")
        if not isinstance(pairs, list) or len(pairs) < minimum:
            if minimum:
                self.fail(f"{where}.pairs", "expected at least %(count)d pairs", count=minimum)
            self.fail(f"{where}.pairs", "expected a list")
        ids: set[str] = set()
        for index, pair in enumerate(pairs):
            if not isinstance(pair, dict) or not isinstance(pair.get("id"), str) or pair["id"] in ids:
                self.fail(f"{where}.pairs[{index}]", "expected {\"id\", \"left\", \"right\"} with a unique id")
            ids.add(pair["id"])
            self.text(pair.get("left"), f"{where}.pairs[{index}].left")
            self.text(pair.get("right"), f"{where}.pairs[{index}].right")


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _reject_constant(name: str) -> None:
    raise InvalidPack("%(name)s is not valid JSON", where="pack.json", name=name)


def _finite_number(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidPack("the number %(number)s is too large", where="pack.json", number=text[:40])
    return value


def _whole_number(text: str) -> int:
    # Python refuses to read more than 4300 digits with a plain ValueError; no field needs 20.
    if len(text.lstrip("-")) > 20:
        raise InvalidPack("the number %(number)s... has more than 20 digits", where="pack.json",
                          number=text[:20])
    return int(text)


def _check_values(data: Any) -> None:
    """What JSON allows but the catalog cannot keep: texts with unpaired surrogates, absurd nesting."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidPack("pack.json is nested more than %(depth)d levels deep", depth=MAX_DEPTH)
        if isinstance(value, dict):
            stack.extend((part, depth + 1) for pair in value.items() for part in pair)
        elif isinstance(value, list):
            stack.extend((part, depth + 1) for part in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidPack("pack.json has a text with an unpaired surrogate (an escape from "
                                  "\\ud800 to \\udfff): %(text)r", text=value[:40]) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise InvalidPack("the key %(key)r appears twice in one object", where="pack.json", key=key)
        result[key] = value
    return result


def check_item(item: Any, where: str = "question") -> None:
    """One exercise item outside a pack (a teacher's own quiz question), checked by the pack rules.
    Raises InvalidPack naming the field."""
    _Checker({}, document="").item(item, where, set())


def parse_manifest(raw: bytes) -> Manifest:
    """Validate pack.json bytes; raise InvalidPack naming the first problem."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InvalidPack("pack.json is %(size)d bytes; the limit is %(limit)d", size=len(raw),
                          limit=MAX_MANIFEST_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_number,
                          parse_int=_whole_number, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError:
        raise InvalidPack("pack.json is not UTF-8 text") from None
    except RecursionError:
        raise InvalidPack("pack.json is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise InvalidPack("pack.json is not valid JSON: %(error)s at line %(line)d column %(column)d",
                          error=exc.msg, line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict):
        raise InvalidPack("pack.json must hold one JSON object")
    _check_values(data)
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidPack("pack.json format_version %(version)r is not supported (this server reads "
                          "format %(supported)d); update the classroom server or rebuild the pack",
                          version=version, supported=FORMAT_VERSION)
    if not isinstance(data.get("id"), str) or not _ID.match(data["id"]):
        raise InvalidPack("expected a stable id: lowercase letters, digits, '.', '_' or '-'",
                          where="pack.json id")
    if not isinstance(data.get("version"), str) or not _VERSION.match(data["version"]):
        raise InvalidPack('expected a dotted number such as "1.2.0"', where="pack.json version")
    files = _parse_files(data.get("files"))
    checker = _Checker({f.path: f for f in files})
    checker.text(data.get("title"), "title")
    checker.text(data.get("description"), "description", required=False)
    for key in ("subject", "license"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            checker.fail(key, "expected a non-empty text")
    grades = data.get("grades")
    if not isinstance(grades, list) or not grades or not all(isinstance(g, int) and 0 <= g <= 12 for g in grades):
        checker.fail("grades", "expected a list of grades 0-12, e.g. [5]")
    languages = data.get("languages")
    if not isinstance(languages, list) or not languages or not all(is_language_tag(lang) for lang in languages):
        checker.fail("languages", "expected a list of language tags (BCP 47) such as kk, ru, en, ar")
    authors = data.get("authors")
    if not isinstance(authors, list) or not authors:
        checker.fail("authors", "expected a list of author names")
    for index, author in enumerate(authors):
        if not checker.name_or_texts(author, f"authors[{index}]"):
            checker.fail(f"authors[{index}]", "expected a list of author names")
    review = data.get("review")
    if not isinstance(review, dict) or review.get("status") not in REVIEW_STATUSES:
        checker.fail("review.status", "expected one of %(choices)s", choices=", ".join(REVIEW_STATUSES))
    if review["status"] == "approved":
        if review.get("body") is None:
            checker.fail("review.body", "an approved pack names the reviewing body")
        if not isinstance(review.get("date"), str) or not _DATE.match(review["date"]):
            checker.fail("review.date", "an approved pack has the review date as YYYY-MM-DD")
    if review.get("body") is not None and not checker.name_or_texts(review["body"], "review.body"):
        checker.fail("review.body", "an approved pack names the reviewing body")
    checker.text(review.get("note"), "review.note", required=False)
    checker.text(data.get("license_note"), "license_note", required=False)
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        checker.fail("nodes", "expected a list with at least one node")
    for index, node in enumerate(nodes):
        checker.node(node, f"nodes[{index}]")
    checker.skill_titles(data.get("skills"))  # after the nodes: it needs the tags their items use
    return Manifest(data=data, files=tuple(files))


def _parse_files(value: Any) -> list[FileEntry]:
    if not isinstance(value, list):
        raise InvalidPack('expected a list of {"path", "sha256", "size"}', where="pack.json files")
    entries: list[FileEntry] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"pack.json files[{index}]"
        if not isinstance(entry, dict):
            raise InvalidPack('expected {"path", "sha256", "size"}', where=where)
        path = check_path(entry.get("path"))
        folded = path.casefold()
        if folded in ("pack.json", "pack.sig"):
            raise InvalidPack("%(path)r is the pack's own file; list only the content files", where=where,
                              path=path)
        if folded in seen:
            raise InvalidPack("%(path)r is listed twice (names differing only in case count as one)", where=where,
                              path=path)
        seen.add(folded)
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise InvalidPack("sha256 must be 64 lowercase hex digits", where=where)
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidPack("size must be a whole number of bytes", where=where)
        entries.append(FileEntry(path, sha, size))
    return entries


def iter_nodes(nodes: list[dict], parent: str | None = None):
    """Every node depth-first as (node, parent id, position among siblings)."""
    for position, node in enumerate(nodes):
        yield node, parent, position
        yield from iter_nodes(node.get("children", []), node["id"])
