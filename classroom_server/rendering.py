"""Templates compiled once per interface language, with their fixed words and links written in.

A student page says `_("...")` thirty to fifty times and `url_for(...)` twenty times, and Jinja calls
each through its per-call machinery on every request (`Context.call`, argument inspection, escaping):
about a third of a page's CPU, for text that is the same on every request in that language. So the
app's Jinja environment keeps one compiled copy of each template per (language, script root) and,
while compiling it, replaces

- `_("literal")` / `gettext("literal", name=...)` by the catalog's translation of that language (the
  `%(name)s` fields are still filled, and escaped, on each request), and
- `url_for('endpoint', key='literal', ...)` with only literal arguments by the link it builds
  (the same link `url_for` would give under this script root: the app's routes do not change),

which is what the calls returned, now computed once. Anything else (a message or an argument that
is an expression, `ngettext`, `url_for` of a relative endpoint or with `_external` and the like)
stays a call. A template rendered outside a request (no language, no script root) is compiled
unchanged. The translations cannot change while the process runs: the catalogs are files compiled
at release time (docs/translating.md).
"""
from __future__ import annotations

import threading

from flask import has_request_context, request
from flask.templating import Environment as FlaskEnvironment
from flask_babel import get_translations
from jinja2 import Template, nodes
from jinja2.visitor import NodeTransformer
from markupsafe import escape
from werkzeug.routing import BuildError

from .i18n import interface_language

try:
    from markupsafe import _escape_inner  # markupsafe 3's escaping, without the Markup around the result
except ImportError:  # another markupsafe: its public escape, the same text
    def _escape_inner(text: str) -> str:
        return str(escape(text))

GETTEXT_NAMES = ("_", "gettext")


def _literal(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, (str, int, float, bool))


class _Folder(NodeTransformer):
    """Rewrites a parsed template for one language: see the module's docstring."""

    def __init__(self, translations, build_url):
        self.translations = translations
        self.build_url = build_url

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        node = self.generic_visit(node)
        callee = node.node
        if not isinstance(callee, nodes.Name) or node.dyn_args is not None or node.dyn_kwargs is not None:
            return node
        if callee.name in GETTEXT_NAMES:
            return self._translated(node)
        if callee.name == "url_for":
            return self._link(node)
        return node

    def _translated(self, node: nodes.Call) -> nodes.Node:
        if len(node.args) != 1 or not isinstance(node.args[0], nodes.Const) or not isinstance(node.args[0].value, str):
            return node
        text = self.translations.ugettext(node.args[0].value)
        if not node.kwargs:
            try:
                text = text % {}  # what the call does to a message without fields ("%%" -> "%")
            except (KeyError, ValueError, TypeError):
                return node  # it would fail on each request as it does now: keep the call
            return nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno)
        # The translation is trusted markup (as the call made it); the fields are escaped by `%`.
        fields = nodes.Dict([nodes.Pair(nodes.Const(keyword.key), keyword.value, lineno=node.lineno)
                             for keyword in node.kwargs], lineno=node.lineno)
        return nodes.Mod(nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno), fields,
                         lineno=node.lineno)

    def _link(self, node: nodes.Call) -> nodes.Node:
        if len(node.args) != 1 or not _literal(node.args[0]) or not all(_literal(k.value) for k in node.kwargs):
            return node
        endpoint = node.args[0].value
        if not isinstance(endpoint, str) or endpoint.startswith(".") or any(k.key.startswith("_") for k in node.kwargs):
            return node  # relative to the request's blueprint, or external, anchored ...: per request
        try:
            url = self.build_url(endpoint, **{keyword.key: keyword.value.value for keyword in node.kwargs})
        except BuildError:
            return node  # fails on each request as before, with the same error
        return nodes.Const(url, lineno=node.lineno)


def output_escape(value: object) -> str:
    """What `{{ value }}` writes into a page: markupsafe's `escape`, but as a plain string.

    A compiled template calls `escape` for every value it writes (sixty a chapter page), and
    markupsafe's wraps each result in a new `Markup`, a Python-level constructor that cost more than
    the escaping itself. Jinja only ever joins these pieces (`concat`: a page, a block, a macro's
    result, which it then wraps in `Markup` once), so the wrapper served nothing. The same text
    comes out: markupsafe's own escaping, and a value that is already markup (`__html__`) as it is.
    """
    if type(value) is str:
        return _escape_inner(value)
    html = getattr(value, "__html__", None)
    if html is not None:
        return html()
    return _escape_inner(str(value))


class PageTemplate(Template):
    """A compiled template whose `{{ ... }}` writes with `output_escape`."""

    @classmethod
    def from_code(cls, environment, code, globals, uptodate=None):
        template = super().from_code(environment, code, globals, uptodate)
        # The namespace the compiled module ran in: every block and macro of it looks `escape` up there.
        template.root_render_func.__globals__["escape"] = output_escape
        return template


class PageEnvironment(FlaskEnvironment):
    """Flask's Jinja environment, with one overlay per (language, script root) that compiles and keeps
    each template for it (Jinja's `overlay`: the same loader, globals and filters, a cache of its own).

    A template a request asks for is looked up in its variant's overlay; the templates that one
    extends and includes are asked of the overlay itself, so the variant is worked out once a page."""

    #: the (language, script root) this environment compiles for; None: the app's own, which
    #: compiles templates as written (outside a request) and hands requests to the overlays
    variant: tuple[str, str] | None = None
    template_class = PageTemplate

    def __init__(self, app, **options):
        super().__init__(app, **options)
        self._overlays: dict[tuple[str, str], PageEnvironment] = {}
        self._overlays_made = threading.Lock()

    def for_variant(self, variant: tuple[str, str]) -> PageEnvironment:
        found = self._overlays.get(variant)
        if found is None:
            with self._overlays_made:
                found = self._overlays.get(variant)
                if found is None:
                    found = self.overlay(cache_size=800)  # every template of the app, with room
                    found.variant = variant
                    found._overlays = {}
                    self._overlays[variant] = found
        return found

    def _load_template(self, name, globals):
        if self.variant is None and has_request_context():
            variant = (interface_language(""), request._get_current_object().script_root)  # not the proxy:
            return self.for_variant(variant)._load_template(name, globals)  # security.load_user says why
        return super()._load_template(name, globals)

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        if self.variant is None:
            return tree
        # Compiled inside a request of this variant: its catalog is this language's.
        return _Folder(get_translations(), self.globals["url_for"]).visit(tree)
