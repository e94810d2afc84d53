"""Wording: who a string speaks to, whole sentences, and button names that match the buttons.

The rules are written for translators in docs/translating.md ("Who a string speaks to", "Whole
sentences", "Naming a button"). These tests read the .po catalogs (the school server's and the
hub's) and fail with the msgid and the word that broke a rule.
"""
from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from babel.messages.catalog import Catalog, Message

from classroom_server.i18n_tools import HUB, po_path, read_catalog

# --- Who reads a string: decided by the files that use it (the .po `#:` lines) ------------------

STUDENT, ADULT, EVERYONE = "student", "adult", "everyone"

# Pages and messages only a signed-in student (or a student signing in) sees.
STUDENT_FILES = (
    "classroom_server/learn/",                               # the student's work, practice, quizzes
    "classroom_server/accounts/templates/accounts/class.html",   # "find your name"
    "classroom_server/accounts/templates/accounts/secret.html",  # "type your PIN"
    "classroom_server/api/views.py",                         # the answers the student's device sends
    "classroom_server/domain/scoring.py",                    # why an answer does not fit its question
    "classroom_server/domain/adaptive.py",                   # why the tutor chose this question
    "classroom_server/content/notes.py",                     # a student's own bookmarks, highlights, notes
    "classroom_server/content/templates/content/note",       # note_*.html, notes*.html: only students
)
# Pages and messages for teachers, the IT person, and the pack author who reads import errors.
ADULT_FILES = (
    "classroom_server/admin/", "classroom_server/coach/", "content_packs/",
    "classroom_server/settings.py", "classroom_server/accounts/services.py",
    "classroom_server/accounts/templates/accounts/setup.html",
    "classroom_server/accounts/templates/accounts/account.html",  # only staff have a password
    "classroom_server/content/services.py",                  # pack import: the admin page and the CLI
    "classroom_server/content/school_files.py",              # teachers' uploads and their quotas
    "classroom_server/opds/", "classroom_server/diskfull.py", "classroom_server/cli.py",
)
# Everything else (the sign-in page, the library and reader, the page frame, error pages) is seen by
# students and adults alike, and so is a msgid used both in a student file and in an adult one.
# Files that hold strings for both, one msgid each: the msgid decides.
BY_MSGID = {
    "That PIN is not right. Try again.": STUDENT,
    "Those pictures are not right. Try again.": STUDENT,
    "Students: choose your class": STUDENT,
    "Send the note as a form or as JSON.": STUDENT,          # content/views.py: only students write notes
    "Say which page of the book the note is on.": STUDENT,
    # content/node.html's notes tools (a macro since notes_tools.html was folded in): only students have them
    "Select words in the book to highlight them or to write a note about them.": STUDENT,
    "Your note (only you see it)": STUDENT,
    "Wrong username or password. Check them and try again.": ADULT,
    "The two passwords differ. Type the same password twice.": ADULT,
    "Could not create the account: %(reason)s": ADULT,
    "The admin account is ready.": ADULT,
    "Your current password is not right.": ADULT,
    "Your password is changed.": ADULT,
    "Teachers and staff": ADULT,
    "Username": ADULT,
    "Password": ADULT,
}


def _audience_of_file(filename: str) -> str:
    if filename.startswith(STUDENT_FILES):
        return STUDENT
    if filename.startswith(ADULT_FILES):
        return ADULT
    return EVERYONE


def audience(message: Message) -> str:
    msgid = _forms(message.id)[0]
    if msgid in BY_MSGID:
        return BY_MSGID[msgid]
    found = {_audience_of_file(PurePosixPath(filename).as_posix()) for filename, _ in message.locations}
    return found.pop() if len(found) == 1 else EVERYONE


def _forms(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


# --- The two forms of address, as words ---------------------------------------------------------
# Each pattern matches whole words (lowercased). A pattern that could also match an ordinary word
# has that word in its exceptions, with the reason.

WORD = re.compile(r"[\w\-]+")

KK_POLITE = [
    # сіз and its cases: сіз, сізге, сізді, сіздің, сізбен, сізде, сіздер.
    re.compile(r"сіз\w*"),
    # -ңыз/-ңіз (+ case endings): your (атыңыз), past (алдыңыз), imperative (басыңыз),
    # conditional (алсаңыз) in the polite form.
    re.compile(r"\w+ң[ыі]з\w*"),
    # present/future tense, polite: аласыз, көресіз, ойлайсыз (a vowel or й before -сыз/-сіз).
    re.compile(r"\w+[аейоөуүыіяю]с[ыі]з(дар|дер)?"),
]
KK_POLITE_EXCEPTIONS = {
    # -ңыз inside a word's own root: importance, sea.
    "маңыз", "маңызды", "маңызы", "маңызын", "теңіз",
    # -сыз/-сіз meaning "without" after a noun ending in a vowel: "without a signature", ...
    "қолтаңбасыз", "қатесіз", "мағынасыз", "шектеусіз", "тексерусіз", "атаусыз", "ақысыз",
    "белгісіз", "қажетсіз", "желісіз", "иесіз", "жауапсыз", "кодсыз", "ортасыз", "сараптамасыз",
    "мұғалімсіз", "тізімсіз", "мерзімсіз", "құпиясөзсіз", "сыныпсыз",
}
KK_FAMILIAR = [
    # сен and its cases (not сенім "trust", сену "believe").
    re.compile(r"сен|сені|сенің|саған|сенде|сенен|сендер\w*"),
    # present/future tense, familiar: аласың, көресің.
    re.compile(r"\w+[аейоөуүыіяю]с[ыі]ң(дар|дер)?"),
    # conditional, familiar: алсаң, көрсең.
    re.compile(r"\w+с[ае]ң"),
    # "your" (familiar) followed by a case ending: атыңды, сыныбыңа, жауабыңнан, мұғаліміңе.
    re.compile(r"\w+[ыі]ң(ды|ді|ға|ге|а|е|нан|нен|да|де|мен)"),
    # "your" (familiar) after a plural: жауаптарың, беттеріңді.
    re.compile(r"\w+(ла|ле|да|де|та|те)р[ыі]ң(?![ыі]з)\w*"),
    # imperatives a page tells someone to do, in the familiar (bare stem) form.
    re.compile(r"қал|таңда|енгіз|тексер|жібер|ауыстыр|қайтала|тап|орал|сұра|айт|баста|жалғастыр|ізде"),
]
KK_FAMILIAR_EXCEPTIONS = {
    "жаңа", "жаңе",           # "new": -ңа is the root's
    "соңына", "соңында",      # "at its end": the root соң
    "алаңда", "алаңға",       # "in/to the area": the root алаң
    "мыңға", "мыңда",         # a thousand
}

RU_POLITE = [
    re.compile(r"вы|вас|вам|вами|ваш\w*"),
    # imperative, polite: нажмите, введите, откройте, проверьте, попробуйте.
    re.compile(r"\w+(ите|йте|ьте)(сь)?"),
    # present/future, polite: можете, будете, найдёте, увидите (-ите above).
    re.compile(r"\w+[её]те(сь)?"),
]
RU_POLITE_EXCEPTIONS = {
    # Nouns in the prepositional case that end like a verb: "on the site", "in the answer" ...
    "сайте", "ответе", "пакете", "предмете", "интернете", "совете", "планшете", "бюджете",
    "кабинете", "портрете", "объекте", "элементе", "документе", "проекте", "отчёте", "отчете",
    "аспекте", "комплекте", "ракете", "газете", "анкете", "пикете", "паркете", "буклете",
    "минуте", "секунде", "теме", "букете", "билете", "пакете", "сюжете", "скелете", "куплете",
    "приоритете", "авторитете", "факультете", "университете", "лимите", "кредите", "визите",
    "транзите", "граните", "магните", "тексте", "контексте",
}
RU_FAMILIAR = [
    re.compile(r"ты|тебя|тебе|тобой|тво\w+"),
    # present/future, familiar: можешь, найдёшь, видишь (+ -ся).
    re.compile(r"\w+(ешь|ёшь|ишь)(ся)?"),
    # imperatives a page tells someone to do, in the familiar form.
    re.compile(r"нажми|введи|выбери|открой|попробуй|сохрани|проверь|скажи|спроси|начни|вернись|"
               r"отметь|укажи|подожди|ответь|переходи|возвращайся|найди|попроси|загрузи|удали|оставайся|"
               r"позанимайся|потренируйся|открывай|помни"),
]
RU_FAMILIAR_EXCEPTIONS = {
    "лишь",                   # "only"
}

FORMS = {
    ("kk", "polite"): (KK_POLITE, KK_POLITE_EXCEPTIONS),
    ("kk", "familiar"): (KK_FAMILIAR, KK_FAMILIAR_EXCEPTIONS),
    ("ru", "polite"): (RU_POLITE, RU_POLITE_EXCEPTIONS),
    ("ru", "familiar"): (RU_FAMILIAR, RU_FAMILIAR_EXCEPTIONS),
}


def address_words(text: str, language: str, form: str) -> list[str]:
    """The words of `text` that speak to the reader in `form` ("polite" or "familiar")."""
    patterns, exceptions = FORMS[language, form]
    # Placeholders, HTML tags and `code` are not words of the sentence.
    text = re.sub(r"%\(\w+\)\w|\{\w*\}|<[^>]*>|`[^`]*`", " ", text).lower()
    found = []
    for word in WORD.findall(text):
        for part in word.split("-"):
            if part and part not in exceptions and any(p.fullmatch(part) for p in patterns):
                found.append(part)
    return found


# The forms each audience must not be given.
WRONG_FORMS = {STUDENT: ("polite",), ADULT: ("familiar",), EVERYONE: ("polite", "familiar")}


@pytest.fixture(scope="module")
def school_catalogs() -> dict[str, Catalog]:
    return {language: read_catalog(po_path(language), language) for language in ("kk", "ru")}


@pytest.fixture(scope="module")
def hub_catalogs() -> dict[str, Catalog]:
    return {language: read_catalog(po_path(language, HUB), language) for language in ("kk", "ru")}


def _wrong_address(catalog: Catalog, language: str, audience_of=audience) -> list[tuple]:
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        who = audience_of(message)
        for text in _forms(message.string):
            for form in WRONG_FORMS[who]:
                words = address_words(text, language, form)
                if words:
                    wrong.append((who, form, words, _forms(message.id)[0], text))
    return wrong


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_school_strings_speak_to_each_reader_in_their_form(language, school_catalogs):
    wrong = _wrong_address(school_catalogs[language], language)
    assert not wrong, (
        f"{language}: students are spoken to as сен/ты, adults as сіз/вы, and a string both read "
        "speaks to nobody (docs/translating.md, 'Who a string speaks to'):\n"
        + "\n".join(f"  {who} reads {form} {words}: {msgid!r} -> {text!r}"
                    for who, form, words, msgid, text in wrong))


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_hub_strings_speak_to_operators_as_siz_and_vy(language, hub_catalogs):
    wrong = _wrong_address(hub_catalogs[language], language, audience_of=lambda message: ADULT)
    assert not wrong, f"{language}: the hub's operators are spoken to as сіз/вы: {wrong}"


@pytest.mark.parametrize("language, text, form, words", [
    ("kk", "Батырманы басыңыз", "polite", ["басыңыз"]),
    ("kk", "Сіз бұл тестті бастадыңыз", "polite", ["сіз", "бастадыңыз"]),
    ("kk", "Келесі сабақта көресіз", "polite", ["көресіз"]),
    ("kk", "Қолтаңбасыз пакет, маңызды қате, белгісіз баған", "polite", []),
    ("kk", "Сыныбыңды таңда", "familiar", ["сыныбыңды", "таңда"]),
    ("kk", "Сен бұл тестті бастадың; оны кейін жалғастыра аласың", "familiar", ["сен", "аласың"]),
    ("kk", "Жаңа сенімді кілт", "familiar", []),
    ("ru", "Нажмите «Сохранить», и вы увидите ваш отчёт", "polite", ["нажмите", "вы", "увидите", "ваш"]),
    ("ru", "Ошибка в ответе на сайте, в тексте", "polite", []),
    ("ru", "Нажми «Начать», и ты увидишь свой результат", "familiar", ["нажми", "ты", "увидишь"]),
    ("ru", "Это лишь твой черновик", "familiar", ["твой"]),
    ("ru", "Показать %(count)d ответов", "familiar", []),
])
def test_address_words_finds_the_forms_and_not_their_look_alikes(language, text, form, words):
    assert address_words(text, language, form) == words


@pytest.mark.parametrize("filename, msgid, expected", [
    ("classroom_server/learn/templates/learn/quiz.html", "Start the quiz", STUDENT),
    ("classroom_server/coach/templates/coach/class.html", "Assign", ADULT),
    ("classroom_server/content/templates/content/node.html", "Contents", EVERYONE),
    ("classroom_server/accounts/views.py", "That PIN is not right. Try again.", STUDENT),
])
def test_audience_follows_the_files_that_use_a_string(filename, msgid, expected):
    assert audience(Message(msgid, locations=[(filename, None)])) == expected
    # A string both a student page and a teacher page use speaks to nobody in particular.
    if expected != EVERYONE and msgid not in BY_MSGID:
        other = "classroom_server/admin/views.py" if expected == STUDENT else "classroom_server/learn/views.py"
        assert audience(Message(msgid, locations=[(filename, None), (other, None)])) == EVERYONE


# --- Whole sentences ----------------------------------------------------------------------------

def _ending(text: str) -> str:
    """How a text ends: a sentence (. ! ?), a lead-in (:), an ellipsis, or a label (nothing)."""
    text = text.rstrip()
    if text.endswith(("…", "...")):
        return "ellipsis"
    if text.endswith((".", "!", "?")):
        return "sentence"
    if text.endswith(":"):
        return "lead-in"
    return "label"


BRACES = re.compile(r"\{\w*\}")  # {n}, {count}: filled in by the page's script (static/app.js)


@pytest.mark.parametrize("catalog", ["school", "hub"])
@pytest.mark.parametrize("language", ["kk", "ru"])
def test_translations_end_as_their_msgid_ends_and_keep_script_placeholders(language, catalog, school_catalogs,
                                                                          hub_catalogs):
    # A translation that stops mid-phrase, or turns a sentence into a label, ends differently; a
    # lost {n} leaves the student's device printing the number nowhere.
    # (The %(name)s placeholders are checked by test_i18n.test_translations_keep_the_placeholders.)
    wrong = []
    for message in (school_catalogs if catalog == "school" else hub_catalogs)[language]:
        if not message.id:
            continue
        source = _forms(message.id)[-1]
        for text in _forms(message.string):
            if _ending(text) != _ending(source):
                wrong.append((f"ends as a {_ending(text)}, not a {_ending(source)}", source, text))
            if sorted(BRACES.findall(text)) != sorted(BRACES.findall(source)):
                wrong.append(("{} placeholders differ", source, text))
    assert not wrong, f"{language}:\n" + "\n".join(f"  {why}: {source!r} -> {text!r}" for why, source, text in wrong)


@pytest.mark.parametrize("text, ending", [
    ("Saved.", "sentence"), ("Right!", "sentence"), ("Why this question:", "lead-in"),
    ("Choose…", "ellipsis"), ("Sign in", "label"), ("Type it: ", "lead-in"),
])
def test_ending_classes(text, ending):
    assert _ending(text) == ending


# --- Naming a button ----------------------------------------------------------------------------
# English names a button, link, page or section in curly quotes: press “Start the quiz”. Kazakh
# and Russian quote it in «…», exactly as the button is translated (no case ending inside the
# quotes: «Практика» бөлімін / раздел «Практика», not «Практику»).

EN_QUOTE = re.compile(r"“([^”]+)”")  # straight quotes are JSON and code in messages
GUILLEMETS = re.compile(r"«([^»]*)»")

# English quotes that are not labels of this interface: words other messages show, examples.
ENGLISH_QUOTES_NOT_LABELS = {
    "3 of the last 4 Comparing fractions items wrong",  # an example of a tutor's reason
}
# Kazakh/Russian quotes that are not labels of this interface, and why.
QUOTED_NOT_LABELS = {
    "kk": {
        "CSV UTF-8", "Мәтін",                      # a spreadsheet's file type and cell format
        "Басып шығару",                            # the browser's Print command
        "Бөлшектерді салыстыру бойынша соңғы 4 сұрақтың 3-і қате",  # an example
        "байланыс жоқ", "кері қайтарылды", "қабылданбады",  # words of the sync log's errors
        "мақұлданған", "сараптамадан өтпеген", "тексерілмеген", "мұғалімсіз",  # states, not controls
    },
    "ru": {
        "CSV UTF-8", "Текстовый",                  # a spreadsheet's file type and cell format
        "Печать",                                  # the browser's Print command
        "3 из последних 4 заданий на сравнение дробей — неверно",  # an example
        "нет связи", "отозвано", "не принято",     # words of the sync log's errors
        "одобрен", "не проверено", "без учителя",  # states, not controls
    },
}


def _labels(catalog: Catalog) -> dict[str, str]:
    """msgid (casefolded) -> its translation, for the single-form strings a page shows as labels."""
    return {message.id.casefold(): message.string for message in catalog
            if message.id and isinstance(message.id, str) and message.string}


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_a_quoted_label_is_the_labels_own_translation(language, school_catalogs):
    catalog = school_catalogs[language]
    labels = _labels(catalog)
    wrong = []
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        quoted = {q.casefold() for q in GUILLEMETS.findall(message.string)}
        for label in EN_QUOTE.findall(message.id):
            translation = labels.get(label.casefold())
            if translation is not None and translation.casefold() not in quoted:
                wrong.append((message.id, label, translation, message.string))
    assert not wrong, f"{language}: a text names a button by another word than the button's:\n" + "\n".join(
        f"  {msgid!r} quotes “{label}”: expected «{translation}» in {text!r}"
        for msgid, label, translation, text in wrong)


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_quoted_words_are_labels_of_this_interface(language, school_catalogs):
    catalog = school_catalogs[language]
    translations = {text.casefold() for text in _labels(catalog).values()}
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        for text in _forms(message.string):
            for quoted in GUILLEMETS.findall(text):
                if (quoted.casefold() in translations or quoted in QUOTED_NOT_LABELS[language]
                        or re.fullmatch(r"%\(\w+\)\w", quoted)):
                    continue
                wrong.append((quoted, _forms(message.id)[-1], text))
    assert not wrong, (f"{language}: «…» names no button, page or section of the interface (an inflected "
                       "label? a renamed button?):\n" + "\n".join(f"  «{q}» in {t!r} ({m!r})" for q, m, t in wrong))


def test_english_quotes_name_labels_that_exist(school_catalogs):
    msgids = {message.id.casefold() for message in school_catalogs["kk"] if isinstance(message.id, str)}
    wrong = []
    for message in school_catalogs["kk"]:
        if not message.id or not isinstance(message.id, str):
            continue
        for label in re.findall(r"“([^”]+)”", message.id):
            if label[0].isupper() and label.casefold() not in msgids and label not in ENGLISH_QUOTES_NOT_LABELS:
                wrong.append((label, message.id))
    assert not wrong, f"quoted labels that are no button, page or section: {wrong}"
