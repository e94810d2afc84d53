"""A refused content pack is explained on the admin page in the IT person's language (kk, ru, en).

The refusal carries an English msgid and its params (InvalidPack.message, .params); the location in
the pack (`where`) stays as it is, since it names keys and files of pack.json.
"""
from __future__ import annotations

import ast
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from markupsafe import escape

from classroom_server.content.services import install_pack
from classroom_server.i18n_tools import ROOT, extract, po_path, read_catalog
from classroom_server.models import ContentPack
from classroom_server.settings import LANGUAGES
from content_packs.manifest import NODE_KINDS, InvalidPack

from .helpers import post, sign_in_as
from .packs import build, make_key, pack_source

NOT_SIGNED = "the pack is not signed (no pack.sig)"
USE_ANYWAY = ("%(problem)s. To use it anyway as local content that students see marked as not reviewed, "
              "import it as unreviewed (--unreviewed).")
# The admin page points at its own control instead of the command-line flag.
ON_THE_PAGE = "%(reason)s. To use it anyway, tick “%(control)s” below and import it again."
CONTROL = "Accept it even if it is not signed by a trusted reviewer (students see it marked as not reviewed)"


@dataclass(frozen=True)
class Refusal:
    """What the page must say: `message` % `params` in the page's language, after `where: `."""
    message: str
    params: dict = field(default_factory=dict)
    where: str | None = None
    words: dict = field(default_factory=dict)  # language -> a word only the translation has

    def text(self, catalogs, language: str) -> str:
        params = {name: value.text(catalogs, language) if isinstance(value, Refusal) else value
                  for name, value in self.params.items()}
        translated = catalogs[language].get(self.message).string
        assert translated, f"{language}: {self.message!r} is not translated"
        text = translated % params if params else translated
        return f"{self.where}: {text}" if self.where else text


@pytest.fixture(scope="module")
def catalogs():
    return {language: read_catalog(po_path(language), language) for language in LANGUAGES}


@pytest.fixture
def key(tmp_path, app, settings):
    """A signing key the school trusts."""
    path, public = make_key(tmp_path)
    app.config["CLASSROOM_SETTINGS"] = settings.replace(content_trusted_keys=(public,))
    return path, public


def rewritten(source: Path, target: Path, name: str, body: bytes) -> Path:
    """A copy of the pack `source` with the entry `name` replaced by `body` (pack.sig kept as it was)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, body if info.filename == name else old.read(info))
    return target


def pack_json(source: Path) -> dict:
    with zipfile.ZipFile(source) as archive:
        return json.loads(archive.read("pack.json"))


# Each case makes a pack the school refuses (given a trusted key and the school's data folder) and
# says what the refusal is.

def wrong_hash(tmp_path: Path, key: tuple, data_dir: Path) -> tuple[Path, Refusal]:
    signed = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key[0])
    with zipfile.ZipFile(signed) as archive:
        picture = archive.read("media/pie.svg")
    changed = picture.replace(b"r='4'", b"r='3'")  # the same size, another hash
    assert len(changed) == len(picture) and changed != picture
    return (rewritten(signed, tmp_path / "changed.ckpack", "media/pie.svg", changed),
            Refusal("%(path)s does not match its SHA-256 in pack.json: the file is damaged or was changed",
                    {"path": "media/pie.svg"}, words={"kk": "бүлінген", "ru": "повреждён"}))


def unsigned(tmp_path: Path, key: tuple, data_dir: Path) -> tuple[Path, Refusal]:
    source = build(pack_source(tmp_path / "src"), tmp_path / "u.ckpack", None)
    return source, Refusal(USE_ANYWAY, {"problem": Refusal(NOT_SIGNED)},
                           words={"kk": "қол қойылмаған", "ru": "не подписан"})


def downgrade(tmp_path: Path, key: tuple, data_dir: Path) -> tuple[Path, Refusal]:
    newer = build(pack_source(tmp_path / "new", version="2.0.0"), tmp_path / "new.ckpack", key[0])
    install_pack(newer, data_dir, (key[1],))
    older = build(pack_source(tmp_path / "old", version="1.0.0"), tmp_path / "old.ckpack", key[0])
    return older, Refusal("%(pack)s %(installed)s is installed; %(version)s is older (a downgrade). "
                          "Remove the pack first to go back.",
                          {"pack": "test.algebra", "installed": "2.0.0", "version": "1.0.0"},
                          words={"kk": "ескі", "ru": "старее"})


def unknown_node_kind(tmp_path: Path, key: tuple, data_dir: Path) -> tuple[Path, Refusal]:
    signed = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key[0])
    data = pack_json(signed)
    data["nodes"][0]["children"][0]["kind"] = "applet"
    return (rewritten(signed, tmp_path / "bad.ckpack", "pack.json", json.dumps(data).encode()),
            Refusal("%(kind)r is not one of %(choices)s", {"kind": "applet", "choices": ", ".join(NODE_KINDS)},
                    where="pack.json node 'intro'.kind", words={"kk": "жарамсыз", "ru": "не подходит"}))


def not_json(tmp_path: Path, key: tuple, data_dir: Path) -> tuple[Path, Refusal]:
    signed = build(pack_source(tmp_path / "src"), tmp_path / "p.ckpack", key[0])
    raw = b'{"format_version": 1, "id": '
    with pytest.raises(json.JSONDecodeError) as error:
        json.loads(raw)
    return (rewritten(signed, tmp_path / "bad.ckpack", "pack.json", raw),
            Refusal("pack.json is not valid JSON: %(error)s at line %(line)d column %(column)d",
                    {"error": error.value.msg, "line": error.value.lineno, "column": error.value.colno},
                    words={"kk": "жарамсыз", "ru": "некорректный"}))


CASES = {"wrong-hash": wrong_hash, "unsigned": unsigned, "downgrade": downgrade,
         "unknown-node-kind": unknown_node_kind, "pack-json-not-json": not_json}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_admin_page_shows_the_refusal_in_the_browser_language(case, language, client, school, settings,
                                                              tmp_path, key, catalogs):
    source, refusal = case(tmp_path, key, settings.data_dir)
    if refusal.message == USE_ANYWAY:
        refusal = Refusal(ON_THE_PAGE, {"reason": refusal.params["problem"], "control": Refusal(CONTROL)},
                          words=refusal.words)
    before = [(p.pack_id, p.version) for p in ContentPack.select()]
    sign_in_as(client, school, "admin")
    response = post(client, "/admin/content/upload", {"file": (io.BytesIO(source.read_bytes()), "pack.ckpack")},
                    content_type="multipart/form-data", headers={"Accept-Language": language})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<html lang="{language}">' in page
    assert str(escape(refusal.text(catalogs, language))) in page
    english = str(escape(refusal.text(catalogs, "en")))
    if language == "en":
        assert english in page and "--unreviewed" not in page
    else:
        assert refusal.words[language] in page and english not in page
    assert [(p.pack_id, p.version) for p in ContentPack.select()] == before


def test_the_english_text_is_str_of_the_refusal(tmp_path, app, settings, catalogs):
    """The CLI and logs print str(exc): the same English the page shows in en, `where` first."""
    key_path, public = make_key(tmp_path)
    for case in CASES.values():
        source, refusal = case(tmp_path / case.__name__, (key_path, public), settings.data_dir)
        with pytest.raises(InvalidPack) as error:
            install_pack(source, settings.data_dir, (public,))
        assert str(error.value) == refusal.text(catalogs, "en")
        assert (error.value.message, error.value.where) == (refusal.message, refusal.where)


def test_pack_refusals_are_extracted_into_the_catalog():
    files = {name for message in extract() for name, _ in message.locations}
    for name in ("content_packs/manifest.py", "content_packs/reader.py", "content_packs/signing.py",
                 "content_packs/epub.py", "content_packs/builder.py", "classroom_server/content/services.py"):
        assert name in files
    extracted = {message.id for message in extract()}
    assert "an exercise needs at least one item" in extracted  # self.fail(where, msgid)
    assert NOT_SIGNED in extracted and USE_ANYWAY in extracted


REFUSALS = {"InvalidPack": 0, "SignatureError": 0, "ImportRefused": 0, "fail": 1}  # name -> msgid argument


class _RefusalCalls(ast.NodeVisitor):
    """Calls that raise a refusal whose msgid is not a string literal."""

    def __init__(self):
        self.wrong: list[int] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name != "fail":  # _Checker.fail hands its callers' literal msgid on to InvalidPack
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in REFUSALS:
            index = REFUSALS[name]
            argument = node.args[index] if len(node.args) > index else None
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                self.wrong.append(node.lineno)
        self.generic_visit(node)


def test_every_refusal_is_raised_with_a_literal_msgid():
    """An f-string or a variable would reach the page untranslated (babel only extracts literals)."""
    wrong = []
    for path in [*sorted((ROOT / "content_packs").glob("*.py")), ROOT / "classroom_server/content/services.py"]:
        calls = _RefusalCalls()
        calls.visit(ast.parse(path.read_text(encoding="utf-8")))
        wrong += [f"{path.relative_to(ROOT)}:{line}" for line in calls.wrong]
    assert wrong == [], f"refusals raised without a literal msgid: {wrong}"
