"""Hostile and broken content packs: each is refused with an InvalidPack naming the problem, and leaves
nothing behind (no catalog rows, no new blob or temp file, nothing written outside the data folder)."""
from __future__ import annotations

import copy
import hashlib
import json
import random
import stat
import struct
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from classroom_server.content.services import BlobStore, ImportRefused, install_pack
from classroom_server.models import ContentFile, ContentNode, ContentPack
from content_packs import manifest as manifest_module
from content_packs.manifest import InvalidPack
from content_packs.reader import Limits, open_pack, read_manifest, verify_files
from content_packs.signing import SignatureError, load_private_key, sign

from .helpers import sign_in_as
from .packs import make_key

LESSON = "<!doctype html><html lang='kk'><title>Кіріспе</title><p>Бөлшектер туралы сабақ.</p></html>".encode()
PICTURE = b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'><circle cx='5' cy='5' r='4'/></svg>"
FILES = {"lessons/intro.kk.html": LESSON, "media/pie.svg": PICTURE}
Members = Union[dict, list]  # {name: bytes}, or [(name or ZipInfo, bytes)] when a name repeats


@dataclass(frozen=True)
class Key:
    private: Ed25519PrivateKey
    public: str


@pytest.fixture
def key(tmp_path) -> Key:
    path, public = make_key(tmp_path)
    return Key(load_private_key(path), public)


# --- Making packs by hand -------------------------------------------------------------------------

def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def listing(path: str, body: bytes, **override) -> dict:
    """A pack.json `files` entry with the body's true hash and size, unless overridden."""
    return {"path": path, "sha256": sha(body), "size": len(body), **override}


def manifest(files: dict[str, bytes] = FILES, version: str = "1.0.0", **changes) -> dict:
    """A valid pack.json listing `files` (which must include FILES, the nodes use them); `changes` replace keys."""
    data = {
        "format_version": 1, "id": "test.hostile", "version": version,
        "title": {"kk": "Бөлшектер", "ru": "Дроби"}, "subject": "mathematics", "grades": [5],
        "languages": ["kk", "ru"], "license": "CC-BY-4.0", "authors": ["Test"],
        "review": {"status": "approved", "body": "Test reviewers", "date": "2026-11-01"},
        "files": [listing(path, body) for path, body in files.items()],
        "nodes": [{"id": "topic", "kind": "topic", "title": {"kk": "Тақырып"}, "children": [
            {"id": "intro", "kind": "lesson", "title": {"kk": "Кіріспе"},
             "content": {"kk": "lessons/intro.kk.html"}},
            {"id": "pie", "kind": "media", "media_type": "image", "title": {"kk": "Пирог"},
             "media": {"kk": "media/pie.svg"}},
            {"id": "quiz", "kind": "exercise", "title": {"kk": "Жаттығу"}, "items": [
                {"id": "q1", "type": "single", "prompt": {"kk": "1/2 немесе 1/3: қайсысы үлкен?"},
                 "choices": [{"id": "a", "text": {"kk": "1/2"}}, {"id": "b", "text": {"kk": "1/3"}}],
                 "answer": "a", "skills": ["fractions.compare"]}]},
        ]}],
    }
    data.update(changes)
    return data


def changed(change: Callable[[dict], object], **keys) -> dict:
    """manifest(**keys) after `change(data)` edited it in place."""
    data = manifest(**keys)
    change(data)
    return data


def lesson(data: dict) -> dict:
    return data["nodes"][0]["children"][0]


def question(data: dict) -> dict:
    return data["nodes"][0]["children"][2]["items"][0]


def encode(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def write_zip(path: Path, members: Members) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # repeated names are the point of some packs
        for name, body in (members.items() if isinstance(members, dict) else members):
            archive.writestr(name, body)
    return path


def ckpack(path: Path, key: Key, data: dict | None = None, *, raw: bytes | None = None,
           members: Members = FILES, sig: bytes | None = None) -> Path:
    """A .ckpack: pack.json (`raw`, else `data` encoded, else the valid manifest()), pack.sig signing
    exactly those bytes with `key` (unless `sig` is given), then `members`."""
    if raw is None:
        raw = encode(manifest() if data is None else data)
    sig = sign(raw, key.private) if sig is None else sig
    items = list(members.items()) if isinstance(members, dict) else list(members)
    return write_zip(path, [("pack.json", raw), ("pack.sig", sig), *items])


def folder_pack(folder: Path, key: Key, data: dict | None = None, files: dict[str, bytes] = FILES) -> Path:
    """The same as a folder: pack.json, pack.sig and `files`."""
    for rel, body in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(body)
    raw = encode(manifest(files) if data is None else data)
    (folder / "pack.json").write_bytes(raw)
    (folder / "pack.sig").write_bytes(sign(raw, key.private))
    return folder


def lie_about_size(path: Path, name: str, size: int) -> Path:
    """Patch the zip so entry `name` claims (in its local header and the central directory) to unpack
    to `size` bytes, while its compressed data and CRC still describe the real, bigger body."""
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, local + 22, size)
    central = data.rindex(name.encode()) - 46
    assert data[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, central + 24, size)
    path.write_bytes(bytes(data))
    return path


def symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so the mode bits mean what they say
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


# --- Refusing, and proving nothing was left behind ------------------------------------------------

def files_under(root: Path, skip: Path | None = None) -> set[str]:
    if not root.exists():
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if not p.is_dir() and (skip is None or skip not in p.parents)}


def catalog() -> tuple:
    return (sorted((p.pack_id, p.version, p.manifest_sha256) for p in ContentPack.select()),
            sorted((f.path, f.sha256) for f in ContentFile.select()),
            sorted(n.node_id for n in ContentNode.select()))


@pytest.fixture
def refuse(app, settings, tmp_path, key, monkeypatch):
    """refuse(source, message, ...): installing must fail with `error` matching `message`, and change
    nothing: the same catalog rows, the same files in <data>/content (bar the lock), nothing new
    anywhere else under tmp_path (the working folder is moved there, so a relative escape would land
    inside it too)."""
    work = tmp_path / "cwd" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    content = settings.data_dir / "content"

    def check(source: Path, message: str, error: type[InvalidPack] = InvalidPack, limits: Limits = Limits()):
        rows, stored, outside = catalog(), files_under(content), files_under(tmp_path, skip=settings.data_dir)
        with pytest.raises(error, match=message):
            install_pack(source, settings.data_dir, (key.public,), limits=limits)
        assert catalog() == rows
        assert files_under(content) - {".lock"} == stored - {".lock"}
        assert files_under(tmp_path, skip=settings.data_dir) == outside
    return check


# --- Paths that escape the pack -------------------------------------------------------------------

ESCAPES = {  # path -> what the refusal says; {tmp} is this test's tmp_path, where we look for writes
    "dot-dot": ("../evil.txt", "escape the pack"),
    "dot-dot-inside": ("a/../../evil", "escape the pack"),
    "absolute": ("{tmp}/evil", "is absolute"),
    "windows-drive": ("C:/evil", "is absolute"),
    "backslashes": ("a\\..\\evil", "backslash"),
}


@pytest.mark.parametrize("path, message", ESCAPES.values(), ids=ESCAPES.keys())
def test_zip_entry_escaping_the_pack(refuse, tmp_path, key, path, message):
    path = path.format(tmp=tmp_path)
    source = ckpack(tmp_path / "p.ckpack", key, members={**FILES, path: b"evil"})
    with zipfile.ZipFile(source) as archive:
        assert path in archive.namelist()  # zipfile kept the name as written
    refuse(source, message)


@pytest.mark.parametrize("path, message", ESCAPES.values(), ids=ESCAPES.keys())
def test_manifest_path_escaping_the_pack(refuse, tmp_path, key, path, message):
    path = path.format(tmp=tmp_path)
    data = manifest(files={**FILES, path: b"evil"})
    refuse(ckpack(tmp_path / "p.ckpack", key, data), message)


def test_zip_directory_entry_escaping_the_pack(refuse, tmp_path, key):
    refuse(ckpack(tmp_path / "p.ckpack", key, members={**FILES, "../up/": b""}), "escape the pack")


def test_zip_entry_that_is_a_symlink(refuse, tmp_path, key):
    target = b"../../../../etc/passwd"
    data = manifest(files={**FILES, "media/link.svg": target})
    members = [*FILES.items(), (symlink_entry("media/link.svg"), target)]
    source = ckpack(tmp_path / "p.ckpack", key, data, members=members)
    refuse(source, "'media/link.svg' is a symbolic link")


def test_folder_pack_with_a_symlink_to_a_file_outside(refuse, tmp_path, key):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the school's secrets")
    files = {**FILES, "media/secret.txt": secret.read_bytes()}
    folder = folder_pack(tmp_path / "pack", key, manifest(files), files)
    (folder / "media" / "secret.txt").unlink()
    (folder / "media" / "secret.txt").symlink_to(secret)
    refuse(folder, "'media/secret.txt' is a symbolic link")


def test_folder_pack_with_a_symlink_to_a_folder_outside(refuse, tmp_path, key):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.svg").write_bytes(PICTURE)
    data = manifest({**FILES, "media/shared/x.svg": PICTURE})
    folder = folder_pack(tmp_path / "pack", key, data)
    (folder / "media" / "shared").symlink_to(outside, target_is_directory=True)
    refuse(folder, "'media/shared' is a symbolic link")


def test_pack_given_as_a_symlink(refuse, tmp_path, key):
    link = tmp_path / "link.ckpack"
    link.symlink_to(ckpack(tmp_path / "p.ckpack", key))
    refuse(link, "is a symbolic link")


# --- Names twice, files missing or unlisted -------------------------------------------------------

OTHER_PICTURE = b"<svg xmlns='http://www.w3.org/2000/svg'/>"

TWICE = {
    "same-name-twice": (dict(members=[*FILES.items(), ("media/pie.svg", OTHER_PICTURE)]),
                        "'media/pie.svg' appears twice in the zip"),
    "names-differing-by-case": (dict(members=[*FILES.items(), ("Media/PIE.svg", PICTURE)]),
                                "'Media/PIE.svg' appears twice in the zip"),
    # A reader that takes the first pack.json and one that takes the last would see different packs.
    "second-pack-json": (dict(members=[*FILES.items(), ("pack.json", encode(manifest(version="9.0.0")))]),
                         "'pack.json' appears twice in the zip"),
    "manifest-lists-a-path-twice": (dict(data=changed(lambda d: d["files"].append(d["files"][1]))),
                                    "'media/pie.svg' is listed twice"),
    "manifest-paths-differing-by-case": (
        dict(data=changed(lambda d: d["files"].append(listing("Media/Pie.svg", PICTURE)))),
        "'Media/Pie.svg' is listed twice"),
    "manifest-lists-pack-sig": (dict(data=changed(lambda d: d["files"].append(listing("pack.sig", b"x")))),
                                "'pack.sig' is the pack's own file"),
    "listed-file-missing": (dict(data=manifest({**FILES, "media/extra.svg": OTHER_PICTURE})),
                            "missing from the pack: media/extra.svg"),
    "file-not-listed": (dict(members={**FILES, "media/extra.svg": OTHER_PICTURE}),
                        "not listed in pack.json: media/extra.svg"),
}


@pytest.mark.parametrize("pack, message", TWICE.values(), ids=TWICE.keys())
def test_duplicate_missing_and_unlisted_files(refuse, tmp_path, key, pack, message):
    refuse(ckpack(tmp_path / "p.ckpack", key, **pack), message)


def test_folder_pack_with_an_unlisted_file(refuse, tmp_path, key):
    folder = folder_pack(tmp_path / "pack", key)
    (folder / "notes.txt").write_bytes(b"left over")
    refuse(folder, "not listed in pack.json: notes.txt")


# --- Files that do not match pack.json (the second file is bad: the first is stored, then taken away) ---

def with_picture_listed(**override) -> dict:
    return changed(lambda d: d["files"][1].update(override))


MISMATCHES = {
    "wrong-sha256": (with_picture_listed(sha256=sha(OTHER_PICTURE)), "media/pie.svg does not match its SHA-256"),
    "bigger-than-declared": (with_picture_listed(size=len(PICTURE) - 1),
                             f"media/pie.svg is larger than the {len(PICTURE) - 1} bytes pack.json says"),
    "smaller-than-declared": (with_picture_listed(size=len(PICTURE) + 1),
                              f"media/pie.svg is {len(PICTURE)} bytes; pack.json says {len(PICTURE) + 1}"),
}


@pytest.mark.parametrize("data, message", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_file_not_matching_the_manifest(refuse, tmp_path, key, data, message):
    refuse(ckpack(tmp_path / "p.ckpack", key, data), message)


@pytest.mark.parametrize("data, message", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_folder_file_not_matching_the_manifest(refuse, tmp_path, key, data, message):
    refuse(folder_pack(tmp_path / "pack", key, data), message)


# --- Zip bombs and limits -------------------------------------------------------------------------

def test_entry_unpacking_to_more_than_its_header_says(refuse, tmp_path, key):
    """The header says PICTURE-sized, the data inflates to 1 MiB more: only the declared bytes are ever
    inflated, and they fail the CRC."""
    real = PICTURE + b" " * 2**20
    source = ckpack(tmp_path / "p.ckpack", key, members={"lessons/intro.kk.html": LESSON, "media/pie.svg": real})
    refuse(lie_about_size(source, "media/pie.svg", len(PICTURE)), "'media/pie.svg' cannot be read from the pack")


def test_entry_with_a_huge_compression_ratio(refuse, tmp_path, key):
    zeros = bytes(4 * 2**20)  # deflates about 1000 to 1; the default limit is 200
    files = {**FILES, "media/zeros.bin": zeros}
    refuse(ckpack(tmp_path / "p.ckpack", key, manifest(files), members=files), "'media/zeros.bin' expands "
           r"\d+ times; that looks like a zip bomb")


def test_many_small_entries_adding_up_to_a_bomb(refuse, tmp_path, key):
    """Each entry is at most 1 MiB (too small for the per-entry ratio check); together they unpack
    to 70 MiB from well under 1 MiB: the pack's own ratio refuses it."""
    zeros = bytes(2**20)
    files = {**FILES, **{f"media/z{i}.bin": zeros for i in range(70)}}
    refuse(ckpack(tmp_path / "p.ckpack", key, manifest(files), members=files),
           r"p.ckpack unpacks to \d+ bytes from \d+ \(\d+ times\); a pack may unpack to at most 100 times its "
           r"size: that looks like a zip bomb")


def many_files(count: int) -> dict[str, bytes]:
    return {**FILES, **{f"media/n{i}.txt": str(i).encode() for i in range(count)}}


def test_too_many_files_in_a_zip(refuse, tmp_path, key):
    files = many_files(12)
    refuse(ckpack(tmp_path / "p.ckpack", key, manifest(files), members=files),
           "p.ckpack holds 16 entries; the limit is 10", limits=Limits(max_files=10))


def test_too_many_files_in_a_folder(refuse, tmp_path, key):
    files = many_files(12)
    refuse(folder_pack(tmp_path / "pack", key, manifest(files), files), "holds more than 10 files",
           limits=Limits(max_files=10))


BIG = bytes(range(256)) * 8


def test_zip_unpacking_to_more_than_the_total_limit(refuse, tmp_path, key):
    files = {**FILES, "media/big.bin": BIG}
    refuse(ckpack(tmp_path / "p.ckpack", key, manifest(files), members=files),
           "p.ckpack unpacks to more than 1000 bytes", limits=Limits(max_total_bytes=1000))


def test_folder_holding_more_than_the_total_limit(refuse, tmp_path, key):
    files = {**FILES, "media/big.bin": BIG}
    refuse(folder_pack(tmp_path / "pack", key, manifest(files), files), "holds more than 1000 bytes",
           limits=Limits(max_total_bytes=1000))


# --- pack.json itself -----------------------------------------------------------------------------

def nested_extra(depth: int) -> dict:
    """A node carrying an unchecked field nested `depth` lists deep (kept whole in the catalog)."""
    return changed(lambda d: lesson(d).update(notes=json.loads("[" * depth + "]" * depth)))


BAD_JSON = {
    "not-json": (b'{"format_version": 1, "id": ', "pack.json is not valid JSON"),
    "not-utf8": (json.dumps(manifest(), ensure_ascii=False).encode("utf-16"), "pack.json is not UTF-8"),
    "nan": (encode(changed(lambda d: question(d).update(difficulty=float("nan")))), "NaN is not valid JSON"),
    "infinity": (encode(changed(lambda d: question(d).update(difficulty=float("inf")))),
                 "Infinity is not valid JSON"),
    "number-overflowing-to-infinity": (  # json reads 1e400 as inf; a numeric answer would take it
        encode(changed(lambda d: question(d).update(type="numeric", answer=3.5))).replace(b"3.5", b"1e400"),
        "the number 1e400 is too large"),
    "integer-with-5000-digits": (encode(manifest(grades=[7777777])).replace(b"7777777", b"7" * 5000),
                                 "has more than 20 digits"),
    "duplicate-keys": (b'{"id": "other.pack", ' + encode(manifest())[1:], "the key 'id' appears twice"),
    "nested-100000-deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "unchecked-field-nested-500-deep": (encode(nested_extra(500)), "nested more than 64 levels deep"),
    "lone-surrogate": (encode(manifest(title={"kk": "PLACEHOLDER"})).replace(b"PLACEHOLDER", b"\\ud800"),
                       "unpaired surrogate"),
    "a-list": (b"[]", "pack.json must hold one JSON object"),
    "format-version-2": (encode(manifest(format_version=2)), "format_version 2 is not supported"),
    "bad-id": (encode(manifest(id="../Evil")), "pack.json id: expected a stable id"),
    "bad-version": (encode(manifest(version="1.0.0-beta")), "pack.json version: expected a dotted number"),
    "languages-not-texts": (encode(manifest(languages=[["kk"]])), "pack.json languages: expected a list of"),
    "node-referencing-an-unlisted-file": (
        encode(changed(lambda d: lesson(d)["content"].update(kk="lessons/missing.html"))),
        "node 'intro'.content.kk: 'lessons/missing.html' is not a file listed in 'files'"),
    "topic-with-content-of-an-unlisted-file": (
        encode(changed(lambda d: d["nodes"][0].update(content={"kk": "lessons/missing.html"}))),
        "node 'topic'.content.kk: 'lessons/missing.html' is not a file listed in 'files'"),
    "transcript-on-a-lesson-not-texts": (encode(changed(lambda d: lesson(d).update(transcript=["x"]))),
                                         "node 'intro'.transcript: expected texts by language"),
    "answer-not-a-choice": (encode(changed(lambda d: question(d).update(answer="z"))),
                            r"node 'quiz'.items\[0\].answer: expected the id of the right choice"),
    "answer-a-list-for-single": (encode(changed(lambda d: question(d).update(answer=["a"]))),
                                 r"node 'quiz'.items\[0\].answer: expected the id of the right choice"),
    "multiple-answer-of-objects": (
        encode(changed(lambda d: question(d).update(type="multiple", answer=[{"id": "a"}]))),
        r"node 'quiz'.items\[0\].answer: expected the list of ids"),
    "ordering-answer-of-mixed-types": (
        encode(changed(lambda d: question(d).update(type="ordering", answer=[1, "a"]))),
        r"node 'quiz'.items\[0\].answer: expected every choice id once"),
    "numeric-item-with-broken-choices": (
        encode(changed(lambda d: question(d).update(type="numeric", answer=1, choices=["x"]))),
        r"node 'quiz'.items\[0\].choices\[0\]: expected"),
    "unknown-node-kind": (encode(changed(lambda d: lesson(d).update(kind="applet"))),
                          "node 'intro'.kind: 'applet' is not one of"),
    "skills-not-an-object": (encode(manifest(skills=["fractions.compare"])),
                             "pack.json skills: expected skill tags with their titles by language"),
    "skill-title-for-a-tag-no-item-uses": (  # a misspelt tag would leave the real one untitled
        encode(manifest(skills={"fractions.compare": {"kk": "Салыстыру"}, "fractions.comapre": {"kk": "Салыстыру"}})),
        "pack.json skill 'fractions.comapre': no item of this pack has this skill tag"),
    "skill-title-not-texts": (encode(manifest(skills={"fractions.compare": "Comparing fractions"})),
                              "pack.json skill 'fractions.compare': expected texts by language"),
    "skill-title-empty": (encode(manifest(skills={"fractions.compare": {"kk": "Салыстыру", "ru": "  "}})),
                          "pack.json skill 'fractions.compare'.ru: expected a non-empty text"),
    "skill-title-in-an-unknown-language": (encode(manifest(skills={"fractions.compare": {"de": "Vergleichen"}})),
                                           "pack.json skill 'fractions.compare': language 'de' is not one of"),
}


@pytest.mark.parametrize("raw, message", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_bad_manifest(refuse, tmp_path, key, raw, message):
    refuse(ckpack(tmp_path / "p.ckpack", key, raw=raw), message)


def test_manifest_over_the_size_limit(refuse, tmp_path, key, monkeypatch):
    monkeypatch.setattr(manifest_module, "MAX_MANIFEST_BYTES", 1000)
    raw = encode(manifest())
    assert len(raw) > 1000
    refuse(ckpack(tmp_path / "p.ckpack", key, raw=raw), f"pack.json is {len(raw)} bytes; the limit is 1000")


def test_missing_manifest(refuse, tmp_path, key):
    raw = encode(manifest())
    source = write_zip(tmp_path / "p.ckpack", {"pack.sig": sign(raw, key.private), **FILES})
    refuse(source, "p.ckpack has no pack.json at its top level")


def test_manifest_in_a_subfolder_only(refuse, tmp_path, key):
    raw = encode(manifest())
    source = write_zip(tmp_path / "p.ckpack", {"inner/pack.json": raw, "inner/pack.sig": sign(raw, key.private),
                                               **FILES})
    refuse(source, "p.ckpack has no pack.json at its top level")


# --- Signatures -----------------------------------------------------------------------------------

def test_garbage_signature(refuse, tmp_path, key):
    refuse(ckpack(tmp_path / "p.ckpack", key, sig=b"\x00\xffnot a signature"), "pack.sig is malformed",
           SignatureError)


def test_signature_by_an_untrusted_key(refuse, tmp_path, key):
    stranger = Key(Ed25519PrivateKey.generate(), "")
    refuse(ckpack(tmp_path / "p.ckpack", stranger), "signed by a key this school does not trust", SignatureError)


def test_manifest_changed_after_signing(refuse, tmp_path, key):
    signed = encode(manifest())
    tampered = encode(manifest(license="All rights reserved"))
    refuse(ckpack(tmp_path / "p.ckpack", key, raw=tampered, sig=sign(signed, key.private)),
           "changed after signing", SignatureError)


def test_signature_nested_deeply(refuse, tmp_path, key):
    refuse(ckpack(tmp_path / "p.ckpack", key, sig=b"[" * 4000), "pack.sig is malformed", SignatureError)


# --- What is given as the pack --------------------------------------------------------------------

def test_not_a_zip(refuse, tmp_path):
    source = tmp_path / "lesson.ckpack"
    source.write_text("<html>this is a web page, not a pack</html>")
    refuse(source, "lesson.ckpack is not a readable .ckpack")


def test_empty_file(refuse, tmp_path):
    source = tmp_path / "empty.ckpack"
    source.touch()
    refuse(source, "empty.ckpack is not a readable .ckpack")


def test_path_that_does_not_exist(refuse, tmp_path):
    refuse(tmp_path / "nowhere.ckpack", "nowhere.ckpack does not exist")


def test_folder_that_is_not_a_pack(refuse, tmp_path):
    (tmp_path / "holiday").mkdir()
    (tmp_path / "holiday" / "photo.jpg").write_bytes(b"\xff\xd8")
    refuse(tmp_path / "holiday", "holiday has no pack.json")


def test_zip_entry_name_that_is_not_utf8(refuse, tmp_path, key):
    source = ckpack(tmp_path / "p.ckpack", key, members={**FILES, "media/é.svg": PICTURE})
    source.write_bytes(source.read_bytes().replace("é".encode(), b"\xff\xfe"))  # the UTF-8 flag stays set
    refuse(source, "p.ckpack is not a readable .ckpack")


# --- Downgrades and a good version already installed ----------------------------------------------

def good_version(tmp_path: Path, key: Key, version: str, lesson_text: bytes = LESSON) -> Path:
    files = {"lessons/intro.kk.html": lesson_text, "media/pie.svg": PICTURE}
    return ckpack(tmp_path / f"v{version}.ckpack", key, manifest(files, version=version), members=files)


def served(client, settings) -> dict[str, bytes]:
    """Every file of the installed pack as the server sends it, checked against its hash."""
    result = {}
    for row in ContentFile.select():
        response = client.get(f"/content/pack/test.hostile/{row.path}")
        assert response.status_code == 200, row.path
        body = response.get_data()
        assert sha(body) == row.sha256 == sha(BlobStore(settings.data_dir).path(row.sha256).read_bytes())
        result[row.path] = body
    return result


def test_downgrade_is_refused(refuse, tmp_path, key, settings):
    install_pack(good_version(tmp_path, key, "2.0.0"), settings.data_dir, (key.public,))
    refuse(good_version(tmp_path, key, "1.9.0", b"<p>old</p>"), r"test.hostile 2.0.0 is installed; 1.9.0 is older",
           ImportRefused)
    assert ContentPack.get().version == "2.0.0"


def test_bad_update_leaves_the_good_version_served(refuse, tmp_path, key, settings, client, school):
    install_pack(good_version(tmp_path, key, "1.0.0"), settings.data_dir, (key.public,))
    sign_in_as(client, school, "student")
    before = served(client, settings)
    assert before == FILES
    new_lesson = b"<p>a new lesson, stored first and then taken away again</p>"
    files = {"lessons/intro.kk.html": new_lesson, "media/pie.svg": PICTURE}
    update = manifest(files, version="2.0.0")
    update["files"][1]["sha256"] = sha(OTHER_PICTURE)
    refuse(ckpack(tmp_path / "bad-hash.ckpack", key, update, members=files), "does not match its SHA-256")
    refuse(ckpack(tmp_path / "unlisted.ckpack", key, manifest(files, version="2.0.0"),
                  members={**files, "extra.js": b"alert(1)"}), "not listed in pack.json: extra.js")
    refuse(ckpack(tmp_path / "escape.ckpack", key, manifest(files, version="2.0.0"),
                  members={**files, "../evil.txt": b"evil"}), "escape the pack")
    refuse(ckpack(tmp_path / "tampered.ckpack", key, raw=encode(manifest(files, version="2.0.0")),
                  members=files, sig=sign(encode(manifest(files, version="1.5.0")), key.private)),
           "changed after signing", SignatureError)
    refuse(ckpack(tmp_path / "bad-node.ckpack", key, changed(lambda d: lesson(d).update(kind="applet"),
                                                               files=files, version="2.0.0"), members=files),
           "'applet' is not one of")
    assert ContentPack.get().version == "1.0.0"
    assert served(client, settings) == before


# --- Random damage: refused with InvalidPack, never a crash ----------------------------------------

def test_randomly_damaged_zips_raise_only_invalid_pack(tmp_path, key):
    good = ckpack(tmp_path / "good.ckpack", key).read_bytes()
    damaged = tmp_path / "damaged.ckpack"
    rnd = random.Random(20261101)
    outcomes = set()
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        damaged.write_bytes(bytes(data))
        try:
            with open_pack(damaged) as reader:
                verify_files(reader, read_manifest(reader)[1])
            outcomes.add("read")
        except InvalidPack:
            outcomes.add("refused")
    assert "refused" in outcomes


JUNK = [None, True, -1, 2**40, 0.5, "", "x", "../x", "lessons/intro.kk.html", [], [None], [[]], [{}], {},
        {"kk": 1}, {"xx": "y"}, {"kk": "x"}, {"kk": "lessons/intro.kk.html"}, ["a"],
        [{"id": "a", "text": {"kk": "t"}}]]
OPTIONAL_KEYS = ["content", "transcript", "media", "pdf", "children", "items", "choices", "pairs", "accepted",
                 "answer", "tolerance", "attempts", "hints", "explanation", "description", "body", "date", "skills"]


def key_paths(value, prefix: tuple = ()):
    """Every place in a JSON value, as a tuple of keys and indexes."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for step, child in children:
        yield from key_paths(child, prefix + (step,))


def test_randomly_damaged_manifests_never_crash_the_install(app, settings, tmp_path, key):
    """Junk put anywhere in pack.json (or under an optional key of any object) is refused with InvalidPack or is
    harmless enough to install as unreviewed content: never an AttributeError or TypeError."""
    rnd = random.Random(20261102)
    places = [path for path in key_paths(manifest()) if path]
    outcomes = set()
    for round_ in range(400):
        data = manifest(version=f"1.0.{round_}")
        for _ in range(rnd.randint(1, 3)):
            *parents, last = rnd.choice(places)
            if rnd.random() < 0.4 and isinstance(last, str):
                last = rnd.choice(OPTIONAL_KEYS)  # the same object, another key
            holder = data
            try:
                for step in parents:
                    holder = holder[step]
                holder[last] = copy.deepcopy(rnd.choice(JUNK))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change this round took the way there away
        try:
            install_pack(ckpack(tmp_path / "p.ckpack", key, data), settings.data_dir, (key.public,),
                         allow_unreviewed=True)
            outcomes.add("installed")
        except InvalidPack:
            outcomes.add("refused")
    assert outcomes == {"installed", "refused"}
