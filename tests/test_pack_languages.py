"""A pack's own words in the reader's language: authors, the review's body and note, the licence note.

pack.json may give each of them once, or by language (content_packs/FORMAT.md); a page shows the
reader's language, else the pack's own languages in its order, else any.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import pytest
from markupsafe import escape

from classroom_server.models import ContentPack
from content_packs.manifest import InvalidPack, parse_manifest

from .helpers import post, sign_in_as
from .packs import build, install_signed, pack_source

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/terms/}"

AUTHOR = {"kk": "Ұлттық білім академиясы", "ru": "Национальная академия образования",
          "en": "National Academy of Education"}
BODY = {"kk": "Сараптама кеңесі", "ru": "Экспертный совет", "en": "Review board"}
NOTE = {"kk": "Бағдарламамен салыстырылды.", "ru": "Сверено с программой.", "en": "Checked against the curriculum."}
LICENSE_NOTE = {"kk": "Еркін таратуға болады.", "ru": "Можно свободно распространять.", "en": "Free to share."}


def _with(source, **changes):
    manifest = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key.startswith("review_"):
            manifest["review"][key.removeprefix("review_")] = value
        else:
            manifest[key] = value
    (source / "pack.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return source


@pytest.fixture
def pack(app, settings, tmp_path):
    source = _with(pack_source(tmp_path / "src"), authors=["Айгүл Сейітова", AUTHOR], review_body=BODY,
                   review_note=NOTE, license_note=LICENSE_NOTE, languages=["kk", "ru", "en"])
    install_signed(source, settings.data_dir)
    return ContentPack.get(ContentPack.pack_id == "test.algebra")


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_pack_page_shows_authors_review_and_licence_note_in_the_readers_language(language, client, school, pack):
    sign_in_as(client, school, "student")
    post(client, "/language", {"language": language})
    html = client.get("/library/test.algebra/").get_data(as_text=True)
    for texts in (AUTHOR, BODY, NOTE, LICENSE_NOTE):
        assert str(escape(texts[language])) in html
        for other in {"kk", "ru", "en"} - {language}:
            assert str(escape(texts[other])) not in html
    assert "Айгүл Сейітова" in html  # a name written once is shown as written


def test_a_missing_language_falls_back_to_the_packs_own_order(app, settings, tmp_path, client, school):
    # The pack is Russian first: an English reader sees its Russian texts, not the Kazakh ones the
    # interface's own order (kk, ru, en) would pick.
    body = {"kk": BODY["kk"], "ru": BODY["ru"]}
    source = _with(pack_source(tmp_path / "src"), languages=["ru", "kk"], review_body=body,
                   authors=[{"kk": AUTHOR["kk"], "ru": AUTHOR["ru"]}],
                   title={"kk": "Бөлшектер", "ru": "Дроби"})
    install_signed(source, settings.data_dir)
    sign_in_as(client, school, "student")
    post(client, "/language", {"language": "en"})
    html = client.get("/library/test.algebra/").get_data(as_text=True)
    assert AUTHOR["ru"] in html and BODY["ru"] in html and "<h1>Дроби</h1>" in html
    assert AUTHOR["kk"] not in html and BODY["kk"] not in html
    node = client.get("/library/test.algebra/topic").get_data(as_text=True)
    assert "<h1>Тема</h1>" in node and "Тақырып" not in node
    # The plain column keeps the body in the pack's first language, for what reads it as one text.
    assert ContentPack.get().review_body == BODY["ru"]


def test_opds_feed_names_authors_and_publisher_in_the_feeds_language(client, pack):
    for language in ("kk", "ru", "en"):
        root = ET.fromstring(client.get(f"/opds/all?lang={language}").data)
        [entry] = [e for e in root.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}id") == "urn:classroom:test.algebra:book"]
        assert [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")] == ["Айгүл Сейітова",
                                                                                      AUTHOR[language]]
        assert entry.findtext(f"{DC}publisher") == BODY[language]


def test_a_pack_with_single_texts_still_installs_and_shows_them(client, school, settings, tmp_path):
    # The format before texts by language: one name, one body.
    install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    sign_in_as(client, school, "student")
    html = client.get("/library/test.algebra/").get_data(as_text=True)
    assert "Test reviewers" in html and "<dd>Test</dd>" in html


def _manifest(tmp_path, **changes) -> bytes:
    source = _with(pack_source(tmp_path / "src"), **changes)
    build(source, tmp_path / "p.ckpack", None)
    with zipfile.ZipFile(tmp_path / "p.ckpack") as archive:
        return archive.read("pack.json")


@pytest.mark.parametrize("changes, where, message", [
    ({"authors": [{"kk": ""}]}, "pack.json authors[0].kk", "expected a non-empty text"),
    ({"authors": ["Test", 7]}, "pack.json authors[1]", "expected a list of author names"),
    ({"authors": [{}]}, "pack.json authors[0]", "expected texts by language"),
    ({"review_body": {"kk": "  "}}, "pack.json review.body.kk", "expected a non-empty text"),
    ({"review_body": None}, "pack.json review.body", "an approved pack names the reviewing body"),
    ({"review_note": "Checked"}, "pack.json review.note", "expected texts by language"),
    ({"license_note": {"xx-!": "?"}}, "pack.json license_note", "is not a language tag"),
])
def test_manifest_refuses_bad_texts_by_language_naming_the_field(tmp_path, changes, where, message):
    # build() checks the manifest too: write the bad one after building a good one.
    raw = json.loads(_manifest(tmp_path))
    for key, value in changes.items():
        if key.startswith("review_"):
            raw["review"][key.removeprefix("review_")] = value
        else:
            raw[key] = value
    with pytest.raises(InvalidPack) as refused:
        parse_manifest(json.dumps(raw, ensure_ascii=False).encode())
    assert refused.value.where == where and message in str(refused.value)
