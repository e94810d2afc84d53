"""Small packs made on the fly for tests."""
from __future__ import annotations

import json
from pathlib import Path

from classroom_server.content.services import install_pack
from content_packs.builder import build_pack
from content_packs.signing import generate_key, load_private_key


def make_key(folder: Path) -> tuple[Path, str]:
    pem, public = generate_key()
    path = folder / "key.pem"
    path.write_bytes(pem)
    return path, public


def pack_source(folder: Path, pack_id: str = "test.algebra", version: str = "1.0.0",
                lesson_text: str = "Бөлшектер туралы сабақ. Дроби и доли.", status: str = "approved",
                extra_files: dict[str, bytes] | None = None) -> Path:
    """A source folder: one topic with a lesson (kk, ru), an e-textbook chapter and an exercise."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lessons").mkdir(exist_ok=True)
    (folder / "lessons" / "intro.kk.html").write_text(
        f"<!doctype html><html lang='kk'><title>Кіріспе</title><p>{lesson_text}</p><img src='../media/pie.svg' alt='пирог'></html>",
        encoding="utf-8")
    (folder / "lessons" / "intro.ru.html").write_text(
        "<!doctype html><html lang='ru'><title>Введение</title><p>ЧИСЛИТЕЛЬ и знаменатель.</p></html>",
        encoding="utf-8")
    (folder / "media").mkdir(exist_ok=True)
    (folder / "media" / "pie.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'><circle cx='5' cy='5' r='4'/></svg>")
    (folder / "media" / "tone.wav").write_bytes(bytes(range(256)) * 64)
    for rel, body in (extra_files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(body)
    review = {"status": status, "body": "Test reviewers", "date": "2026-11-01"}
    manifest = {
        "format_version": 1, "id": pack_id, "version": version,
        "title": {"kk": "Бөлшектер", "ru": "Дроби"}, "subject": "mathematics", "grades": [5],
        "languages": ["kk", "ru"], "license": "CC-BY-4.0", "authors": ["Test"], "review": review,
        "nodes": [{
            "id": "topic", "kind": "topic", "title": {"kk": "Тақырып", "ru": "Тема"},
            "children": [
                {"id": "intro", "kind": "lesson", "title": {"kk": "Кіріспе", "ru": "Введение"},
                 "content": {"kk": "lessons/intro.kk.html", "ru": "lessons/intro.ru.html"}},
                {"id": "book", "kind": "ebook", "title": {"kk": "Оқулық", "ru": "Учебник"}, "children": [
                    {"id": "book.ch1", "kind": "chapter", "title": {"kk": "1-тарау", "ru": "Глава 1"},
                     "content": {"kk": "lessons/intro.kk.html"}}]},
                {"id": "tone", "kind": "media", "media_type": "audio", "title": {"kk": "Дыбыс"},
                 "media": {"kk": "media/tone.wav"}},
                {"id": "quiz", "kind": "exercise", "title": {"kk": "Жаттығу", "ru": "Упражнение"},
                 "items": [{"id": "q1", "type": "numeric", "prompt": {"kk": "1/2 + 1/4 = ? (ондық бөлшек)"},
                            "answer": 0.75, "tolerance": 0.001, "skills": ["fractions.add"],
                            "hints": [{"kk": "Ортақ бөлім табыңыз"}]}]},
            ]}],
    }
    (folder / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return folder


def build(folder: Path, out: Path, key_path: Path | None) -> Path:
    build_pack(folder, out, load_private_key(key_path) if key_path else None)
    return out


def install_signed(source: Path, data_dir: Path) -> tuple[Path, str]:
    """Build the pack in the folder `source`, signed with a new key, and install it into `data_dir`
    with that key trusted: a reviewed pack as a school gets one. Returns (key file, public key), as
    make_key does, for a next version signed with the same key.

    The key and the built pack go in `<source>-signed/` beside `source`, so a test's own
    make_key(tmp_path) never replaces this key."""
    signed = source.parent / f"{source.name}-signed"
    signed.mkdir(exist_ok=True)
    key_path, public = make_key(signed)
    install_pack(build(source, signed / "pack.ckpack", key_path), data_dir, (public,))
    return key_path, public
