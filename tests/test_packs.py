"""Content packs: build, verify, install, update, remove; signatures; crash safety."""
from __future__ import annotations

import json
import zipfile

import pytest

from classroom_server.content.services import BlobStore, ImportRefused, install_pack, remove_pack
from classroom_server.models import ContentFile, ContentNode, ContentPack
from content_packs.manifest import InvalidPack
from content_packs.samples import HERE as SAMPLES
from content_packs.signing import SignatureError

from .packs import build, install_signed, make_key, pack_source


@pytest.fixture
def key(tmp_path):
    return make_key(tmp_path)


def test_round_trip_build_install_list(app, settings, tmp_path, key):
    key_path, public = key
    ckpack = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path)
    with zipfile.ZipFile(ckpack) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("pack.json"))
    assert {"pack.json", "pack.sig", "lessons/intro.kk.html", "media/tone.wav"} <= names
    assert {f["path"] for f in manifest["files"]} == names - {"pack.json", "pack.sig"}
    result = install_pack(ckpack, settings.data_dir, (public,))
    assert result.reviewed and result.previous_version is None
    pack = ContentPack.get(ContentPack.pack_id == "test.algebra")
    assert pack.version == "1.0.0" and pack.reviewed
    assert {n.node_id for n in ContentNode.select()} == {"topic", "intro", "book", "book.ch1", "tone", "quiz"}
    store = BlobStore(settings.data_dir)
    for row in ContentFile.select():
        assert store.path(row.sha256).stat().st_size == row.size


def test_folder_pack_installs_like_a_zip(app, settings, tmp_path, key):
    key_path, public = key
    ckpack = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path)
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(ckpack) as archive:
        archive.extractall(folder)
    assert install_pack(folder, settings.data_dir, (public,)).reviewed


def test_unsigned_pack_is_refused_unless_imported_as_unreviewed(app, settings, tmp_path, key):
    _, public = key
    ckpack = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", None)
    with pytest.raises(SignatureError, match="not signed"):
        install_pack(ckpack, settings.data_dir, (public,))
    assert ContentPack.select().count() == 0
    result = install_pack(ckpack, settings.data_dir, (public,), allow_unreviewed=True)
    assert not result.reviewed
    assert not ContentPack.get(ContentPack.pack_id == "test.algebra").reviewed


def test_pack_signed_by_an_untrusted_key_is_refused(app, settings, tmp_path, key):
    key_path, _ = key
    ckpack = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path)
    with pytest.raises(SignatureError, match="does not trust"):
        install_pack(ckpack, settings.data_dir, ())


def test_draft_pack_needs_the_unreviewed_choice(app, settings, tmp_path, key):
    key_path, public = key
    ckpack = build(pack_source(tmp_path / "src", status="draft"), tmp_path / "p.ckpack", key_path)
    with pytest.raises(ImportRefused, match="not approved"):
        install_pack(ckpack, settings.data_dir, (public,))
    assert not install_pack(ckpack, settings.data_dir, (public,), allow_unreviewed=True).reviewed


def test_changed_manifest_breaks_the_signature(app, settings, tmp_path, key):
    key_path, public = key
    ckpack = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key_path)
    tampered = tmp_path / "t.ckpack"
    with zipfile.ZipFile(ckpack) as source, zipfile.ZipFile(tampered, "w") as out:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "pack.json":
                body = body.replace("Test reviewers".encode(), "Other reviewers".encode())
            out.writestr(info, body)
    with pytest.raises(SignatureError, match="changed after signing"):
        install_pack(tampered, settings.data_dir, (public,))


def test_update_keeps_node_ids_dedups_and_collects_old_files(app, settings, tmp_path, key):
    key_path, public = key
    v1 = build(pack_source(tmp_path / "v1"), tmp_path / "v1.ckpack", key_path)
    v2 = build(pack_source(tmp_path / "v2", version="1.1.0", lesson_text="Жаңа мәтін"), tmp_path / "v2.ckpack",
               key_path)
    install_pack(v1, settings.data_dir, (public,))
    store = BlobStore(settings.data_dir)
    before = store.all_hashes()
    result = install_pack(v2, settings.data_dir, (public,))
    assert result.previous_version == "1.0.0"
    assert result.files_stored == 1  # only the changed lesson is new
    after = store.all_hashes()
    assert len(after) == len(before)  # the old lesson's blob was collected
    assert ContentPack.get(ContentPack.pack_id == "test.algebra").version == "1.1.0"
    assert install_pack(v2, settings.data_dir, (public,)).unchanged


def test_downgrade_and_same_version_with_other_content_are_refused(app, settings, tmp_path, key):
    key_path, public = key
    v2 = build(pack_source(tmp_path / "v2", version="1.10.0"), tmp_path / "v2.ckpack", key_path)
    v1 = build(pack_source(tmp_path / "v1", version="1.9.0"), tmp_path / "v1.ckpack", key_path)
    same = build(pack_source(tmp_path / "s", version="1.10.0", lesson_text="другое"), tmp_path / "s.ckpack",
                 key_path)
    install_pack(v2, settings.data_dir, (public,))
    with pytest.raises(ImportRefused, match="downgrade"):
        install_pack(v1, settings.data_dir, (public,))
    with pytest.raises(ImportRefused, match="needs a new version"):
        install_pack(same, settings.data_dir, (public,))
    assert ContentPack.get().version == "1.10.0"


def test_crash_before_the_switch_leaves_the_old_version_and_no_new_files(app, settings, tmp_path, key):
    key_path, public = key
    v1 = build(pack_source(tmp_path / "v1"), tmp_path / "v1.ckpack", key_path)
    v2 = build(pack_source(tmp_path / "v2", version="2.0.0", lesson_text="новый текст"), tmp_path / "v2.ckpack",
               key_path)
    install_pack(v1, settings.data_dir, (public,))
    store = BlobStore(settings.data_dir)
    before = store.all_hashes()

    def power_cut():
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        install_pack(v2, settings.data_dir, (public,), before_switch=power_cut)
    assert ContentPack.get().version == "1.0.0"
    assert store.all_hashes() == before


def test_remove_collects_files_other_packs_do_not_use(app, settings, tmp_path, key):
    key_path, public = key
    first = build(pack_source(tmp_path / "a"), tmp_path / "a.ckpack", key_path)
    second = build(pack_source(tmp_path / "b", pack_id="test.other", lesson_text="басқа"), tmp_path / "b.ckpack",
                   key_path)
    install_pack(first, settings.data_dir, (public,))
    install_pack(second, settings.data_dir, (public,))
    store = BlobStore(settings.data_dir)
    shared = {row.sha256 for row in ContentFile.select().join(ContentPack)
              .where(ContentPack.pack_id == "test.other")}
    remove_pack("test.algebra", settings.data_dir)
    assert ContentPack.select().count() == 1
    assert store.all_hashes() == shared
    with pytest.raises(ImportRefused, match="no pack"):
        remove_pack("test.algebra", settings.data_dir)


def test_bad_manifest_is_named(tmp_path):
    from content_packs.builder import build_pack
    source = pack_source(tmp_path / "src")
    data = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    data["nodes"][0]["children"][0]["content"]["kk"] = "lessons/missing.html"
    (source / "pack.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidPack, match="node 'intro'.content.kk: 'lessons/missing.html' is not a file listed"):
        build_pack(source, tmp_path / "x.ckpack")


def test_skill_titles_are_kept_per_installed_version(app, settings, tmp_path):
    """pack.json `skills` is optional: without it nothing is stored (pages show the tags); with it the titles
    are kept with the pack, and the next version's titles replace them."""
    key_path, public = install_signed(pack_source(tmp_path / "v1"), settings.data_dir)
    assert json.loads(ContentPack.get(ContentPack.pack_id == "test.algebra").skill_titles) == {}
    source = pack_source(tmp_path / "v2", version="1.1.0")
    data = json.loads((source / "pack.json").read_text(encoding="utf-8"))
    titles = {"fractions.add": {"kk": "Бөлшектерді қосу", "ru": "Сложение дробей", "en": "Adding fractions"}}
    data["skills"] = titles
    (source / "pack.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    install_pack(build(source, tmp_path / "v2.ckpack", key_path), settings.data_dir, (public,))
    assert json.loads(ContentPack.get(ContentPack.pack_id == "test.algebra").skill_titles) == titles


def _item_skills(nodes: list) -> list[str]:
    found: list[str] = []
    for node in nodes:
        for item in node.get("items", []):
            found += [tag for tag in item["skills"] if tag not in found]
        found += [tag for tag in _item_skills(node.get("children", [])) if tag not in found]
    return found


@pytest.mark.parametrize("folder", sorted(p.name for p in SAMPLES.iterdir() if (p / "pack.json").is_file()))
def test_sample_packs_title_every_skill_tag_in_kk_ru_and_en(folder):
    data = json.loads((SAMPLES / folder / "pack.json").read_text(encoding="utf-8"))
    assert sorted(data["skills"]) == sorted(_item_skills(data["nodes"]))
    for tag, title in data["skills"].items():
        assert set(title) == {"kk", "ru", "en"} and all(text.strip() for text in title.values()), tag


def test_files_left_by_a_power_cut_mid_copy_are_cleaned_by_the_next_import(app, settings, tmp_path):
    store = BlobStore(settings.data_dir)
    half_written = store.blobs / "ab" / ".partial-abcdef12"
    half_written.parent.mkdir(parents=True)
    half_written.write_bytes(b"half a video")
    install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    assert not half_written.exists()
    assert ".partial-abcdef12" not in store.all_hashes()
