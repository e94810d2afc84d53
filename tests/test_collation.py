"""People's names in Kazakh (and Russian) alphabetical order, by ICU's collation, not character
code: in the teacher's class list, the sign-in list and the admin's list, on SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest

from classroom_server import migrations
from classroom_server.accounts import services as accounts
from classroom_server.collation import name_key
from classroom_server.db import database

from .helpers import sign_in_as
from .pgtesting import URL
from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)

# The Kazakh alphabet: А Ә Б В Г Ғ Д Е Ё Ж З И Й К Қ Л М Н Ң О Ө П Р С Т У Ұ Ү Ф Х Һ Ц Ч Ш Щ Ъ Ы І Ь Э Ю Я
IN_ORDER = ["Арман", "Әлия", "Гүлнар", "Ғалым", "Ербол", "Ёркін", "Кәмила", "Қайрат", "Нұрлан", "Ңаз",
            "Олжас", "Өмір", "Уәли", "Ұлан", "Үміт", "Харис", "Һашим", "Ыдырыс", "Іңкәр", "Юлия"]


def test_the_sort_key_follows_the_kazakh_alphabet():
    assert sorted(reversed(IN_ORDER), key=name_key) == IN_ORDER
    assert sorted(IN_ORDER) != IN_ORDER  # by character code Ә, Ғ, Қ, Ұ, Ү, Һ, І all come after Я


def _class_of_names(room) -> None:
    for name in reversed(IN_ORDER):
        accounts.enrol(accounts.create_user(None, name, "student"), room)


def _listed(html: str) -> list[str]:
    return [name for name in sorted(IN_ORDER, key=lambda n: html.index(n)) if name in html]


def test_lists_of_students_are_in_alphabetical_order(app, school, client):
    room = accounts.create_classroom("5Ә", signin_mode="name")
    _class_of_names(room)
    assert _listed(client.get(f"/signin/class/{room.id}").get_data(as_text=True)) == IN_ORDER
    assert [s.display_name for s in accounts.class_students(room)] == IN_ORDER
    sign_in_as(client, school, "admin")
    assert _listed(client.get(f"/coach/class/{room.id}").get_data(as_text=True)) == IN_ORDER


@pytest.mark.skipif(not URL, reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL")
def test_postgres_sorts_names_the_same_way(pg_app):  # noqa: F811
    migrations.migrate(database.obj)
    with pg_app.app_context():
        room = accounts.create_classroom("5Ә", signin_mode="name")
        _class_of_names(room)
        assert [s.display_name for s in accounts.class_students(room)] == IN_ORDER
    page = pg_app.test_client().get(f"/signin/class/{room.id}").get_data(as_text=True)
    assert _listed(page) == IN_ORDER and re.search("Арман.*Әлия.*Ыдырыс.*Іңкәр", page, re.S)
