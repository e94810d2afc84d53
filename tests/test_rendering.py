"""Pages are written as Jinja would write them: rendering.output_escape and the language a request speaks."""
from __future__ import annotations

import pytest
from flask import render_template
from flask_babel import force_locale, get_translations, lazy_gettext
from jinja2 import ChoiceLoader, DictLoader, Environment
from markupsafe import Markup, escape

from classroom_server.i18n import catalog, interface_language
from classroom_server.rendering import output_escape


class _Html:
    def __html__(self) -> str:
        return "<i>trusted</i>"

    def __repr__(self) -> str:  # the test's id, the same in every pytest-xdist worker
        return "_Html()"


VALUES = ["plain", "<b>\"Ада\" & 'Әлия'</b>", Markup("<em>kept</em>"), 42, 2.5, None, True, _Html()]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_output_escape_writes_what_markupsafe_escape_writes(value):
    assert output_escape(value) == str(escape(value))


def test_output_escape_translates_lazy_text_as_escape_does(app):
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        text = lazy_gettext("cat")
        assert output_escape(text) == str(escape(text)) != ""


# Every way Jinja gathers what `{{ }}` writes: the page, a block, a macro, a call block, a set
# block, an include, a loop, a filter block and a part with escaping off. Markup from one of them
# written again must not be escaped twice; text with markup characters must be escaped once.
PAGES = {
    "page.html": """{% extends "frame.html" %}
{% macro cell(v) %}<td>{{ v }}</td>{% endmacro %}
{% block body %}{{ cell(who) }}|{% call wrap() %}{{ who }}{% endcall %}|{% set kept %}<p>{{ who }}</p>{% endset %}{{ kept }}{{ kept }}|
{% include "part.html" %}|{% for v in values %}{{ v }};{% endfor %}|{% filter upper %}{{ who }}{% endfilter %}|
{% autoescape false %}{{ raw }}{% endautoescape %}|{{ who ~ "&" }}|{{ safe }}{% endblock %}""",
    "frame.html": """{% macro wrap() %}<div>{{ caller() }}</div>{% endmacro %}<main>{% block body %}{% endblock %}</main>{{ who }}""",
    "part.html": "<span>{{ who }}</span>",
}
CONTEXT = {"who": "<b>\"Ада\" & Әлия</b>", "values": VALUES[:-1], "raw": "<hr>", "safe": Markup("<br>")}


def test_pages_come_out_as_plain_jinja_writes_them(app, monkeypatch):
    env = app.jinja_env
    monkeypatch.setattr(env, "loader", ChoiceLoader([DictLoader(PAGES), env.loader]))
    plain = Environment(autoescape=True, loader=DictLoader(PAGES))  # markupsafe's own escape
    with app.test_request_context("/"):
        ours = render_template("page.html", **CONTEXT)
    expected = plain.get_template("page.html").render(**CONTEXT)
    assert ours == expected
    assert "&lt;b&gt;&#34;Ада&#34; &amp; Әлия&lt;/b&gt;" in ours and "&amp;lt;" not in ours and "<b>" not in ours
    assert "<hr>" in ours and "<br>" in ours


def test_a_forced_language_is_the_language_of_the_request_while_it_lasts(app):
    """interface_language reads the locale Flask-Babel chose; force_locale (the OPDS feed) changes it."""
    with app.test_request_context("/", headers={"Accept-Language": "kk"}):
        assert interface_language() == "kk"
        assert catalog("kk").ugettext("Sign out") == get_translations().ugettext("Sign out") != "Sign out"
        with force_locale("ru"):
            assert interface_language() == "ru"
            assert catalog("ru") is catalog(interface_language())
            assert catalog("ru").ugettext("Sign out") == get_translations().ugettext("Sign out") != "Sign out"
        assert interface_language() == "kk"
    assert interface_language("en") == "en"  # outside a request: the default asked for
