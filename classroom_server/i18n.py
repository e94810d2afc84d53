"""Interface language: the user's choice, else the session's, else the browser's, else the setting."""
from __future__ import annotations

import datetime
import functools
import json
from typing import Any, Iterable

from babel import Locale, UnknownLocaleError
from flask import current_app, g, has_app_context, request, session
from jinja2 import pass_context
from markupsafe import Markup
from flask_babel import format_datetime, get_locale, get_timezone, get_translations, gettext, lazy_gettext
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from .settings import LANGUAGES

LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def language_name(code: str) -> str:
    """A content language by its own name: Қазақша, Русский, English, العربية, 日本語 ... (CLDR via Babel)."""
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    try:
        return Locale.parse(code, sep="-").get_display_name(Locale.parse(code, sep="-")) or code
    except (ValueError, UnknownLocaleError):
        return code


def interface_language(default: str = "kk") -> str:
    """The code of the language this request's pages speak (kk, ru or en), or `default` outside one.

    `str(get_locale())` builds the code from the locale's parts on every call, and a page asks a
    dozen times; the interface locales have a language and nothing else."""
    locale = _chosen_locale() or get_locale()
    if locale is None:
        return default
    return locale.language if not (locale.territory or locale.script or locale.variant) else str(locale)


def _chosen_locale() -> Locale | None:
    """The locale Flask-Babel has already chosen for this request (or forced, force_locale), if any.

    Read where Flask-Babel keeps it (`g._flask_babel.babel_locale`), from the `g` object itself:
    its `get_locale()` asks werkzeug's `g` proxy three times a call, and on Python 3.11 every
    attribute read through a proxy first fails (a formatted AttributeError) before the proxy
    forwards it, about 0.6 µs each. Should Flask-Babel keep it elsewhere one day, this finds
    nothing and `get_locale()` answers as before: slower, never wrong."""
    if not has_app_context():
        return None
    chosen = g._get_current_object().__dict__.get("_flask_babel")
    return getattr(chosen, "babel_locale", None)


def catalog(language: str):
    """This request's interface translations: what `flask_babel.get_translations()` gives, kept per
    process for each of LANGUAGES. `language` is this request's, `interface_language()`: the first
    request in each language fills its place with its own catalog."""
    found = _catalogs.get(language)
    if found is None:
        found = get_translations()
        if language in LANGUAGES:  # not whatever code a forced locale names
            _catalogs[language] = found
    return found


_catalogs: dict[str, Any] = {}


# The interface languages as Babel locales, made once: Flask-Babel takes a Locale the selector gives
# as it is (a code it would parse on every request).
_LOCALES = {code: Locale.parse(code) for code in LANGUAGES}


@functools.lru_cache(maxsize=512)
def _browser_language(header: str) -> str | None:
    """The interface language a browser's Accept-Language header asks for first, if any: each
    device sends the same header with every page, so each header is parsed once per process."""
    return parse_accept_header(header, LanguageAccept).best_match(LANGUAGES)


def select_locale() -> Locale:
    user = g._get_current_object().get("user")  # the objects, not the proxies: see _chosen_locale
    if user is not None and user.language in LANGUAGES:
        return _LOCALES[user.language]
    chosen = session._get_current_object().get("lang")
    if chosen in LANGUAGES:
        return _LOCALES[chosen]
    best = _browser_language(request._get_current_object().headers.get("Accept-Language", ""))
    return _LOCALES[best or current_app.config["CLASSROOM_SETTINGS"].i18n_default_language]  # one of LANGUAGES

# Words for the picture-code pictures (see accounts.services.PICTURES), read aloud and shown small.
PICTURE_LABELS = {"cat": lazy_gettext("cat"), "dog": lazy_gettext("dog"), "sun": lazy_gettext("sun"),
                  "tree": lazy_gettext("tree"), "apple": lazy_gettext("apple"), "car": lazy_gettext("car"),
                  "star": lazy_gettext("star"), "fish": lazy_gettext("fish")}


class Problem(ValueError):
    """Input we cannot use, explained: `message` is an English gettext msgid with %(name)s fields
    filled from `params`, so a view shows it in the user's language (error_text) and the CLI in
    English. Subclasses name the area (accounts, rosters, assignments)."""

    def __init__(self, message: str, **params: object):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def error_text(exc: BaseException) -> str:
    """An error that carries a gettext msgid (`message`, `params`) in the user's language.

    A param that is itself such an error is translated too; `where` (InvalidPack's location in a
    pack, e.g. "pack.json node 'intro'.title") is kept as it is, in front.
    """
    message = getattr(exc, "message", None)
    if message is None:
        return str(exc)
    params = {name: error_text(value) if isinstance(value, BaseException) else value
              for name, value in getattr(exc, "params", {}).items()}
    text = gettext(message, **params)
    where = getattr(exc, "where", None)
    return f"{where}: {text}" if where else text


# A title stored as JSON is shown on every page that links to it: parsed once per process.
_stored_texts = functools.lru_cache(maxsize=4096)(json.loads)


def localized(texts: dict | str | None, language: str | None = None, fallback: Iterable[str] = ()) -> str:
    """One text out of {"kk": ..., "ru": ..., "en": ...}: the reader's language, else the first of
    `fallback` there is (a pack's own languages, in its order), else kk, ru, en, else any."""
    if isinstance(texts, str):
        texts = _stored_texts(texts)
    if not texts:
        return ""
    language = language or interface_language()
    for choice in (language, *fallback, *LANGUAGES):
        if texts.get(choice):
            return texts[choice]
    return next(iter(texts.values()))


def pack_text(value: dict | str | None, pack: Any = None, language: str | None = None) -> str:
    """A pack's text that may be one text or texts by language (an author, the reviewing body, a
    note): in the reader's language, else in the pack's languages in its order, else any."""
    if value is None or isinstance(value, str):
        return value or ""
    return localized(value, language, pack_languages(pack))


def pack_languages(pack: Any) -> list[str]:
    """The content languages a pack names (`languages` of pack.json), in its order."""
    languages = getattr(pack, "languages", None) if pack is not None else None
    if isinstance(languages, str):
        languages = _stored_texts(languages)
    return list(languages or [])


def localized_key(options: dict, language: str | None = None) -> str | None:
    """Which language of `options` to show: the user's, else the first there is."""
    language = language or interface_language()
    for choice in (language, *LANGUAGES):
        if choice in options:
            return choice
    return next(iter(options), None)


# Subjects packs commonly name; others are shown as the pack writes them.
SUBJECT_LABELS = {
    "mathematics": lazy_gettext("Mathematics"), "algebra": lazy_gettext("Algebra"),
    "geometry": lazy_gettext("Geometry"), "informatics": lazy_gettext("Informatics"),
    "science": lazy_gettext("Natural science"), "physics": lazy_gettext("Physics"),
    "chemistry": lazy_gettext("Chemistry"), "biology": lazy_gettext("Biology"),
    "geography": lazy_gettext("Geography"), "history": lazy_gettext("History"),
    "kazakh": lazy_gettext("Kazakh language"), "russian": lazy_gettext("Russian language"),
    "english": lazy_gettext("English language"), "literature": lazy_gettext("Literature"),
}


KIND_LABELS = {
    "topic": lazy_gettext("Topic"), "lesson": lazy_gettext("Lesson"), "ebook": lazy_gettext("E-textbook"),
    "chapter": lazy_gettext("Chapter"), "media": lazy_gettext("Video or audio"),
    "exercise": lazy_gettext("Exercise"),
}


def subject_name(subject: str) -> str:
    label = SUBJECT_LABELS.get(subject.strip().lower())
    return str(label) if label is not None else subject


def install_template_gettext(env) -> None:
    """Templates translate through the catalog the context processor put in `_translations`.

    Flask-Babel's own callables look the catalog up again for every string; a page has dozens.
    """
    @pass_context
    def template_gettext(context, message: str) -> str:
        return context["_translations"].ugettext(message)

    @pass_context
    def template_ngettext(context, singular: str, plural: str, number: int) -> str:
        return context["_translations"].ungettext(singular, plural, number)

    env.install_gettext_callables(template_gettext, template_ngettext, newstyle=True)

    # What Jinja's newstyle wrappers do (jinja2.ext._make_new_gettext), in one call: `_()` went
    # through three (the `_` alias, the wrapper, the function), and a page says `_()` ~30 times.
    @pass_context
    def gettext(context, message: str, **variables) -> str:
        text = context["_translations"].ugettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    @pass_context
    def ngettext(context, singular: str, plural: str, number: int, **variables) -> str:
        variables.setdefault("num", number)
        text = context["_translations"].ungettext(singular, plural, number)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    env.globals.update(gettext=gettext, _=gettext, ngettext=ngettext)
    env.globals["kind_names"] = KIND_LABELS
    env.filters["when"] = when


def when(moment) -> str:
    """A stored UTC time as the school reads it: short date and time in its time zone."""
    if not moment:
        return ""
    return _when(moment, interface_language(), _school_timezone())


def _school_timezone() -> str:
    """The school's time zone (the app sets no selector, so Flask-Babel's default is it), read off
    the app itself: get_timezone() asks werkzeug's proxies five times (see _chosen_locale)."""
    if not has_app_context():
        return str(get_timezone())
    return current_app._get_current_object().config.get("BABEL_DEFAULT_TIMEZONE", "UTC")  # as Flask-Babel


@functools.lru_cache(maxsize=4096)
def _when(moment: datetime.datetime, locale: str, timezone: str) -> str:
    # Babel formats a date in about 0.1 ms, and a page shows the same few (due dates, a teacher's
    # comment) on every request: remembered by the moment, the language and the time zone, the
    # two things format_datetime reads besides the moment.
    return format_datetime(moment.replace(tzinfo=datetime.timezone.utc), "short")
