"""Translations: every interface string in kk, ru and en, compiled, and the language pages speak.

When a catalog test fails: `python -m classroom_server.i18n_tools update`, translate what it lists,
then `python -m classroom_server.i18n_tools compile` (docs/translating.md).
"""
from __future__ import annotations

import dataclasses
import gettext
import re
from collections import Counter

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from flask import render_template, render_template_string
from jinja2 import ChoiceLoader, DictLoader
from markupsafe import escape

from classroom_server.i18n_tools import extract, po_path, read_catalog, untranslated
from classroom_server.models import User
from classroom_server.settings import LANGUAGES

from .helpers import post, sign_in_as

FIX = "run `python -m classroom_server.i18n_tools update`, translate, then `... compile`"
# %(name)s with its conversion: %(count)d and %(count)s are different placeholders.
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return extract()


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {language: read_catalog(po_path(language), language) for language in LANGUAGES}


def _plural_forms_chosen(plural_expr: str) -> list[int]:
    """The plural form a C plural expression picks for n = 0..200, as gettext evaluates it."""
    rule = gettext.c2py(plural_expr)
    return [rule(n) for n in range(201)]


def _forms(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _key(message: Message) -> tuple:
    return _forms(message.id), message.context


def _translated(catalog: Catalog) -> dict[tuple, tuple[str, ...]]:
    """What gettext will use: the non-fuzzy, non-empty translations (write_mo leaves out the rest)."""
    return {_key(m): _forms(m.string) for m in catalog
            if m.id and not m.fuzzy and all(_forms(m.string))}


def _text(catalogs: dict[str, Catalog], language: str, msgid: str) -> str:
    """The msgid in this language, escaped as a page shows it."""
    return str(escape(catalogs[language].get(msgid).string))


def test_extraction_sees_templates_gettext_lazy_gettext_and_account_errors(extracted):
    # An old Babel ignores the per-section keywords in babel.cfg and would silently drop the last two.
    files = {filename for message in extracted for filename, _ in message.locations}
    assert any(name.endswith(".html") for name in files)
    assert "classroom_server/accounts/views.py" in files      # _()
    assert "classroom_server/i18n.py" in files                 # lazy_gettext()
    assert "classroom_server/accounts/services.py" in files    # AccountError()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_is_translated(language, extracted, catalogs):
    catalog = catalogs[language]
    missing = [m.id for m in extracted if m.id and catalog.get(m.id, context=m.context) is None]
    assert not missing, f"{language}: msgids missing from {po_path(language).name}: {missing}; {FIX}"
    todo = untranslated(catalog)
    assert not todo, f"{language}: empty or fuzzy translations: {todo}; {FIX}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language, catalogs):
    wrong = []
    for message in catalogs[language]:
        if not message.id:
            continue
        expected = Counter(PLACEHOLDER.findall(_forms(message.id)[-1]))
        for form in _forms(message.string):
            if form and Counter(PLACEHOLDER.findall(form)) != expected:
                wrong.append((message.id, form))
    assert not wrong, f"{language}: placeholders differ from the msgid's: {wrong}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_headers_name_the_language_and_its_plural_rule(language, catalogs):
    catalog = catalogs[language]
    assert catalog.locale_identifier == language
    # CLDR's rule, via Babel: compared by the form it picks for each n, since Babel releases spell
    # the same rule differently (2.19 reordered the Russian one).
    cldr = Catalog(locale=language)
    assert catalog.num_plurals == cldr.num_plurals
    assert _plural_forms_chosen(catalog.plural_expr) == _plural_forms_chosen(cldr.plural_expr)
    assert not catalog.fuzzy


def test_plural_rules_are_the_usual_ones(catalogs):
    assert catalogs["kk"].plural_forms == "nplurals=2; plural=(n != 1);"
    assert catalogs["ru"].num_plurals == 3
    assert catalogs["ru"].plural_expr == (
        "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)")


@pytest.mark.parametrize("language", LANGUAGES)
def test_mo_is_compiled_from_the_current_po(language, catalogs):
    path = po_path(language).with_suffix(".mo")
    assert path.exists(), f"{path} is missing; run `python -m classroom_server.i18n_tools compile`"
    with path.open("rb") as handle:
        compiled = read_mo(handle)
    assert _translated(compiled) == _translated(catalogs[language]), (
        f"{path.name} is out of date with {po_path(language).name}; "
        "run `python -m classroom_server.i18n_tools compile`")
    assert compiled.plural_forms == catalogs[language].plural_forms


# --- The language a page speaks ------------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_signin_page_speaks_the_browser_language(language, client, school, catalogs):
    html = client.get("/signin", headers={"Accept-Language": f"{language},en;q=0.5"}).get_data(as_text=True)
    assert f'<html lang="{language}">' in html
    assert _text(catalogs, language, "Teachers and staff") in html
    assert _text(catalogs, language, "Sign in") in html
    if language != "en":
        assert "Teachers and staff" not in html


def test_without_accept_language_the_default_language_setting_is_used(app, client, school, settings):
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    assert settings.i18n_default_language == "kk"
    assert '<html lang="kk">' in client.get("/signin").get_data(as_text=True)
    app.config["CLASSROOM_SETTINGS"] = dataclasses.replace(settings, i18n_default_language="ru")
    assert '<html lang="ru">' in client.get("/signin").get_data(as_text=True)


def test_language_button_switches_the_session(client, school, catalogs):
    assert '<html lang="en">' in client.get("/signin").get_data(as_text=True)
    response = post(client, "/language", {"language": "ru", "next": "/signin"})
    assert response.status_code == 302 and response.headers["Location"] == "/signin"
    html = client.get("/signin").get_data(as_text=True)
    assert '<html lang="ru">' in html and _text(catalogs, "ru", "Teachers and staff") in html
    post(client, "/language", {"language": "xx"})  # not a language: ignored
    assert '<html lang="ru">' in client.get("/signin").get_data(as_text=True)
    # The session's choice outlives signing in and out.
    sign_in_as(client, school, "teacher")
    assert '<html lang="ru">' in client.get("/coach/").get_data(as_text=True)
    post(client, "/signout")
    assert '<html lang="ru">' in client.get("/signin").get_data(as_text=True)


def test_signed_in_users_choice_is_stored_and_used_at_next_signin(app, client, school, catalogs):
    sign_in_as(client, school, "teacher")
    assert post(client, "/language", {"language": "ru"}).status_code == 302
    assert User.get_by_id(school.teacher.id).language == "ru"
    assert User.get_by_id(school.other_teacher.id).language is None
    # Another browser that asks for English: the user's own choice wins once they sign in.
    other = app.test_client()
    assert '<html lang="en">' in other.get("/signin").get_data(as_text=True)
    sign_in_as(other, school, "teacher")
    html = other.get("/coach/").get_data(as_text=True)
    assert '<html lang="ru">' in html and _text(catalogs, "ru", "My classes") in html


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_account_errors_are_shown_in_the_users_language(language, client, school, catalogs):
    sign_in_as(client, school, "admin")
    post(client, "/language", {"language": language})
    response = post(client, "/admin/users", {"display_name": "Дина", "role": "teacher", "username": "dina",
                                             "password": "short"})
    assert response.status_code == 400
    reason = catalogs[language].get("a password needs at least %(count)d characters").string % {"count": 8}
    assert str(escape(reason)) in response.get_data(as_text=True)


# One template exercising what classroom_server.rendering writes in at compile time, and what it
# must leave as a call.
FOLDED_SOURCE = (
    '{{ _("Sign out") }}|{{ gettext("Library") }}|{{ _("Hello, %(name)s!", name=who) }}|'
    '{{ _("Answers waiting to be sent: %(count)s.", count="{count}") }}|'
    '{{ url_for("static", filename="style.css") }}|{{ url_for("content.library") }}|'
    '{{ url_for("content.node_page", pack_id=pack, node_id="n 1") }}|{{ _(word) }}|'
    '<a title="{{ _("Sign out") }}">{% set names = {"a": _("Library")} %}{{ names.a }}</a>'
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_templates_compiled_per_language_say_what_the_calls_say(app, language, monkeypatch, catalogs):
    """A template compiled for a language (its fixed words and links written in) renders exactly as
    the same source does with every `_()` and `url_for()` called, fields escaped the same way."""
    env = app.jinja_env
    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader({"folded.html": FOLDED_SOURCE}), env.loader]))
    values = {"who": '<b>"Ада"</b>', "pack": "kz.pack", "word": "Library"}
    with app.test_request_context("/", headers={"Accept-Language": language}):
        folded = render_template("folded.html", **values)
        called = render_template_string(FOLDED_SOURCE, **values)  # compiled as written: every call made
    assert folded == called
    assert "&lt;b&gt;&#34;Ада&#34;&lt;/b&gt;" in folded and "<b>" not in folded
    translated = catalogs[language].get("Sign out")
    expected = translated.string if translated is not None and translated.string else "Sign out"
    assert folded.startswith(f"{escape(expected)}|")
    assert re.search(r"/static/style\.css\?v=[0-9a-f]{12}\|/library/\|/library/kz\.pack/n%201\|", folded)


def test_a_template_is_compiled_once_per_language(app, monkeypatch):
    env = app.jinja_env
    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader({"folded.html": FOLDED_SOURCE}), env.loader]))
    compiled = {}
    for language in ("kk", "ru", "kk"):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            compiled.setdefault(language, set()).add(id(env.get_template("folded.html")))
    assert len(compiled["kk"]) == 1 and compiled["kk"] != compiled["ru"]
