"""Translators' tools: gather the interface strings and build the catalogs.

    python -m classroom_server.i18n_tools update    # sources -> messages.pot -> {kk,ru,en} messages.po
    python -m classroom_server.i18n_tools compile   # messages.po -> messages.mo

Two catalogs: the school server's (classroom_server/translations, babel.cfg) and the national hub's
operator pages (sync/hub/translations, sync/hub/babel.cfg); both commands do both.

See docs/translating.md.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import click
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from . import __version__
from .settings import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# Msgids are written in English, so the English catalog translates each one to itself.
SOURCE_LANGUAGE = "en"
HEADER = ("# Interface strings of the classroom server{language}.\n"
          "# How to add or fix one: docs/translating.md")


@dataclass(frozen=True)
class Target:
    """One catalog: where its strings are found (a babel.cfg) and where its translations live."""
    project: str
    mapping: Path
    translations: Path
    header: str


SCHOOL = Target("classroom-server", MAPPING, TRANSLATIONS, HEADER)
HUB = Target("classroom-hub", ROOT / "sync" / "hub" / "babel.cfg", ROOT / "sync" / "hub" / "translations",
             "# Interface strings of the national hub's operator pages{language}.\n"
             "# How to add or fix one: docs/translating.md")
TARGETS = (SCHOOL, HUB)


def po_path(language: str, target: Target = SCHOOL) -> Path:
    return target.translations / language / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def extract(target: Target = SCHOOL) -> Catalog:
    """Every msgid in the Python sources and templates that the target's babel.cfg names."""
    with target.mapping.open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(target.mapping))
    template = Catalog(project=target.project, version=__version__, charset="utf-8",
                       header_comment=target.header.format(language=""))
    # A `# TRANSLATORS: ...` comment just above a string (`{# TRANSLATORS: ... #}` in a template)
    # reaches the translator as a note on that msgid.
    for filename, lineno, message, comments, context in extract_from_dir(
            ROOT, method_map, options_map, comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _without_date(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if not line.startswith(b'"POT-Creation-Date:')]


def _save(path: Path, catalog: Catalog) -> None:
    """Write a .po/.pot file, leaving it untouched when only its creation date would change."""
    buffer = io.BytesIO()
    # No line numbers and a stable order: an edit elsewhere in a template does not churn the catalogs.
    write_po(buffer, catalog, include_lineno=False, sort_by_file=True, ignore_obsolete=True)
    if path.exists() and _without_date(path.read_bytes()) == _without_date(buffer.getvalue()):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def update(target: Target = SCHOOL) -> Catalog:
    """Extract the msgids into messages.pot and merge them into each language's messages.po."""
    template = extract(target)
    _save(target.translations / "messages.pot", template)
    for language in LANGUAGES:
        path = po_path(language, target)
        if path.exists():
            catalog = read_catalog(path, language)
        else:
            catalog = Catalog(locale=language, project=template.project, version=template.version,
                              charset="utf-8", header_comment=target.header.format(language=f": {language}"))
        catalog.update(template, update_creation_date=False)
        if language == SOURCE_LANGUAGE:
            for message in catalog:
                if message.id and (message.fuzzy or not message.string):
                    message.string = message.id
                    message.flags.discard("fuzzy")
        _save(path, catalog)
    return template


def _done(message: Message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    return not message.fuzzy and all(strings)


def untranslated(catalog: Catalog) -> list[str]:
    """The msgids a translator still has to do: empty or fuzzy."""
    return [str(m.id) for m in catalog if m.id and not _done(m)]


def compile_catalogs(target: Target = SCHOOL) -> None:
    """Write messages.mo next to each messages.po (fuzzy entries are left out, as gettext does)."""
    for language in LANGUAGES:
        path = po_path(language, target)
        catalog = read_catalog(path, language)
        with path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)


@click.group()
def main() -> None:
    """Gather and build the interface translations (kk, ru, en)."""


@main.command("update")
def update_command() -> None:
    """Extract msgids into messages.pot and merge them into every messages.po."""
    for target in TARGETS:
        template = update(target)
        click.echo(f"{len(template)} msgids in {(target.translations / 'messages.pot').relative_to(ROOT)}")
        for language in LANGUAGES:
            todo = untranslated(read_catalog(po_path(language, target), language))
            click.echo(f"{language}: {len(todo)} to translate (empty or fuzzy)")
            for msgid in todo:
                click.echo(f"    {msgid!r}")


@main.command("compile")
def compile_command() -> None:
    """Write messages.mo for every language from its messages.po."""
    for target in TARGETS:
        compile_catalogs(target)
        for language in LANGUAGES:
            todo = untranslated(read_catalog(po_path(language, target), language))
            note = f", {len(todo)} untranslated or fuzzy left out" if todo else ""
            click.echo(f"{language}: wrote {po_path(language, target).with_suffix('.mo').relative_to(ROOT)}{note}")


if __name__ == "__main__":
    main()
