"""The school server on PostgreSQL: migrations and sign-in on a real server.

Runs when CLASSROOM_TEST_POSTGRES_URL names a server (CI sets it); each test uses its own schema.
"""
from __future__ import annotations

import pytest
from playhouse.db_url import connect

from classroom_server import migrations
from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.models import MODELS

from .helpers import PASSWORD, schema_of, sign_in_staff
from .pgtesting import URL
from .pgtesting import pg_app, pg_schema  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.skipif(
    not URL, reason="no PostgreSQL named: set CLASSROOM_TEST_POSTGRES_URL="
                    "postgresql://postgres@127.0.0.1:5432/test to run these")]


def test_migrations_on_postgres_match_the_models(pg_app, pg_schema):
    assert migrations.migrate(database.obj) == [m.name for m in migrations.available()]
    assert migrations.migrate(database.obj) == []
    direct = connect(pg_schema())
    with direct.bind_ctx(MODELS):
        direct.create_tables(MODELS)
    tables = [m._meta.table_name for m in MODELS]
    assert set(database.get_tables()) == set(tables) | {"migration_history", "content_search"}
    assert schema_of(database.obj, tables) == schema_of(direct, tables)
    direct.close()


def test_sign_in_on_postgres(pg_app):
    migrations.migrate(database.obj)
    with pg_app.app_context():
        accounts.create_user("teacher", "Айгүл", "teacher", PASSWORD)
    client = pg_app.test_client()
    assert sign_in_staff(client, "teacher", "wrong-password").status_code == 401
    assert sign_in_staff(client, "teacher").status_code == 302
    assert client.get("/coach/").status_code == 200
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_school_settings_on_postgres(pg_app):
    """The first-run page names the school, and a later change replaces the name (an upsert that
    was SQLite's alone failed here)."""
    migrations.migrate(database.obj)
    with pg_app.app_context():
        accounts.put_setting("school_name", "Ауыл мектебі")
        accounts.put_setting("school_name", "№ 7 мектеп")
        assert accounts.get_setting("school_name") == "№ 7 мектеп"


def test_packs_install_and_search_on_postgres(pg_app, settings, tmp_path):
    from classroom_server.content.services import remove_pack, search

    from .packs import install_signed, pack_source
    migrations.migrate(database.obj)
    install_signed(pack_source(tmp_path / "src"), settings.data_dir)
    with pg_app.test_request_context():
        assert "intro" in [hit.node_id for hit in search("числитель").hits]
        assert search("бөлшек", grade=5).total >= 1
        assert search("бөлшек", grade=6).total == 0
    remove_pack("test.algebra", settings.data_dir)
    with pg_app.test_request_context():
        assert search("числитель").total == 0


def test_learning_records_on_postgres(pg_app):
    from classroom_server.learn.records import Interaction, new_device_id, record
    from classroom_server.models import LearningRecord
    migrations.migrate(database.obj)
    with pg_app.app_context():
        student = accounts.create_user(None, "Әлия", "student")
    device = new_device_id()
    opened = Interaction("opened", "p", "n", "lesson", "kk")
    first, _ = record(student, device, opened)
    second, _ = record(student, device, Interaction("answered", "p", "n", "exercise", "kk", item_id="q",
                                                    correct=True, score=1.0, response="b"))
    assert (first.device_sequence, second.device_sequence) == (1, 2) and first.seq < second.seq
    stored = LearningRecord.get(LearningRecord.uuid == second.uuid)
    assert stored.correct is True and stored.learner == student.pseudonym


def test_records_name_the_students_first_class_on_postgres(pg_app):
    """The class a record names is looked up by its INSERT (learn.records.FIRST_CLASS): the same SQL
    on PostgreSQL, a class of a lower grade first, none for a student in no class."""
    from classroom_server.learn.records import FIRST_CLASS, Interaction, new_device_id, record, store
    from classroom_server.models import LearningRecord

    migrations.migrate(database.obj)
    with pg_app.app_context():
        later, earlier = accounts.create_classroom("5А", 5), accounts.create_classroom("4Г", 4)
        student = accounts.create_user(None, "Әлия", "student")
        accounts.enrol(student, later)
        accounts.enrol(student, earlier)
        loner = accounts.create_user(None, "Сабина", "student")
        opened = Interaction(verb="opened", pack_id="p", node_id="n", node_kind="lesson", language="kk",
                             classroom=FIRST_CLASS)
        row, new = record(student, new_device_id(), opened)
        assert new and row.classroom == earlier.id
        assert store(loner, new_device_id(), opened)
        assert {r.user_id: r.classroom for r in LearningRecord.select()} == {student.id: earlier.id, loner.id: None}
