"""Shared fixtures: a migrated SQLite school per test, a real waitress server; loopback only.

Helpers that tests import (sign-in, forms, small disks) are in helpers.py."""
from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import flask
import jinja2
import pytest
from werkzeug.security import generate_password_hash

from classroom_server import create_app, migrations
from classroom_server.accounts import services as accounts
from classroom_server.db import database
from classroom_server.models import Classroom, User
from classroom_server.permissions import create_private, make_folder
from classroom_server.settings import load_settings

# Fixtures and checks shared from helper modules assert too: pytest rewrites their asserts (as it does
# in test modules) only if told before they are first imported, which is here.
pytest.register_assert_rewrite(*sorted(f"tests.{path.stem}" for path in Path(__file__).parent.glob("*.py")
                                       if not path.stem.startswith(("test_", "conftest", "__init__"))))

from .helpers import PASSWORD, TEST_HASH_METHOD, EnglishClient, School, serve_in_thread  # noqa: E402


def _is_local(address) -> bool:
    if not isinstance(address, tuple):
        return True  # unix sockets
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pytest_configure(config):
    """Tests talk to loopback only: any other connection is a bug (offline means offline)."""
    _temp_in_memory(config)
    original = socket.socket.connect

    def guarded(self, address):
        if not _is_local(address):
            raise OSError(f"tests may not connect to {address!r}: only loopback is allowed")
        return original(self, address)

    socket.socket.connect = guarded
    # Every Flask app this process makes (one per test) compiles its templates through one shared
    # cache instead of parsing and compiling each page again: Jinja's own bytecode cache mechanism,
    # kept in memory. A template's code is reused only for the same source (its checksum) and the
    # same compile options, so a changed template is compiled again and what a page renders is
    # what a fresh app renders. Tests only: a server makes one app and compiles each page once.
    flask.Flask.jinja_options = {**flask.Flask.jinja_options, "bytecode_cache": SharedTemplateCode()}


def _temp_in_memory(config) -> None:
    """Test folders (tmp_path) in RAM, /dev/shm, when it is there and no one chose another place.

    Each test writes a database with synchronous=FULL, so on a disk every commit waits for an
    fsync: on this machine that was half the fast run's wall time, spent waiting, not computing.
    The code under test is the same (it still asks for each fsync; a tmpfs just answers at once);
    the suites that need a real disk or a full one make their own (tests/helpers.py tmpfs, the
    crash suites). TMPDIR, --basetemp or PYTEST_DEBUG_TEMPROOT keep the usual place; a run keeps
    only its failed tests' folders (setup.cfg tmp_path_retention_policy), so little stays in RAM."""
    memory = Path("/dev/shm")
    if (config.option.basetemp or os.environ.get("TMPDIR") or os.environ.get("PYTEST_DEBUG_TEMPROOT")
            or not memory.is_dir() or not os.access(memory, os.W_OK | os.X_OK)):
        return
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(memory)  # read by pytest's tmp_path_factory, lazily


class SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled template code, kept in memory for the whole test process (see pytest_configure)."""

    def __init__(self) -> None:
        self._code: dict[tuple, object] = {}

    @staticmethod
    def _key(bucket) -> tuple:
        env = bucket.environment
        autoescape = env.autoescape
        # What the compiler reads from the environment besides the source (jinja2.compiler,
        # jinja2.ext): delimiters, whitespace, extensions, gettext style, autoescaping.
        # The language and script root a school app's environment compiles for (rendering.PageEnvironment:
        # their translations and links are written into the code).
        return (bucket.key, bucket.checksum, getattr(env, "variant", None), env.block_start_string, env.block_end_string,
                env.variable_start_string, env.variable_end_string, env.comment_start_string,
                env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
                env.trim_blocks, env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline,
                env.optimized, tuple(sorted(env.extensions)), getattr(env, "newstyle_gettext", None),
                autoescape.__qualname__ if callable(autoescape) else autoescape)

    def load_bytecode(self, bucket) -> None:
        bucket.code = self._code.get(self._key(bucket))

    def dump_bytecode(self, bucket) -> None:
        self._code[self._key(bucket)] = bucket.code


@pytest.fixture
def settings(tmp_path):
    return load_settings(tmp_path / "data", environ={})


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> dict:
    """The school database twice, made once per run by the real migrations and services: migrated and
    empty, and with the test school in it. Each test's database starts as a copy of one of them, so
    a test pays for neither the migrations nor the school's slow password hashes
    (tests/test_migrations.py still migrates an empty database)."""
    settings = load_settings(tmp_path_factory.mktemp("template") / "data", environ={})
    app = create_app(settings)
    path = _sqlite_path(settings)
    database.connect(reuse_if_open=True)
    migrations.migrate(database.obj)
    made = {"empty": _snapshot(path)}
    with app.app_context():
        database.connect(reuse_if_open=True)
        made["school_ids"] = [row.id for row in _make_school()]
        _lighten_hashes(made["school_ids"])
    made["school"] = _snapshot(path)
    database.close()
    return made


def _sqlite_path(settings) -> Path | None:
    url = settings.effective_database_url
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def _snapshot(path: Path) -> bytes:
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    return path.read_bytes()


def _restore(path: Path, content: bytes) -> None:
    make_folder(path.parent)
    create_private(path)
    path.write_bytes(content)
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


@pytest.fixture
def app(settings, templates):
    path = _sqlite_path(settings)
    if path is not None and not path.exists():
        _restore(path, templates["empty"])
    app = create_app(settings)
    app.config["TESTING"] = True
    app.test_client_class = EnglishClient
    database.connect(reuse_if_open=True)
    migrations.migrate(database.obj)  # the copy is current: this only checks it
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return app.test_client()


def _make_school() -> list:
    admin = accounts.create_user("boss", "Admin Person", "admin", PASSWORD)
    teacher = accounts.create_user("teacher", "Айгүл Серікқызы", "teacher", PASSWORD)
    other_teacher = accounts.create_user("other", "Ольга Петровна", "teacher", PASSWORD)
    pin_class = accounts.create_classroom("5А", 5, "pin")
    picture_class = accounts.create_classroom("1Б", 1, "picture")
    other_class = accounts.create_classroom("9В", 9, "name")
    accounts.enrol(teacher, pin_class)
    accounts.enrol(teacher, picture_class)
    accounts.enrol(other_teacher, other_class)
    student = accounts.create_user(None, "Әлия Нұрланқызы", "student")
    accounts.enrol(student, pin_class)
    accounts.set_student_secret(student, pin_class, "4321")
    picture_student = accounts.create_user(None, "Тимур Ахметов", "student")
    accounts.enrol(picture_student, picture_class)
    accounts.set_student_secret(picture_student, picture_class, "cat sun apple")
    other_student = accounts.create_user(None, "Иван Петров", "student")
    accounts.enrol(other_student, other_class)
    return [admin, teacher, other_teacher, pin_class, picture_class, other_class, student, picture_student,
            other_student]


def _lighten_hashes(ids: list[int]) -> None:
    """The template school's stored hashes, remade with helpers.TEST_HASH_METHOD."""
    staff, student, picture_student = [ids[i] for i in (0, 1, 2)], ids[6], ids[7]
    for user_id in staff:
        User.update(password_hash=generate_password_hash(PASSWORD, TEST_HASH_METHOD)).where(User.id == user_id).execute()
    for user_id, secret in ((student, accounts.check_pin("4321")),
                            (picture_student, accounts.check_picture_code("cat sun apple"))):
        User.update(secret_hash=generate_password_hash(secret, TEST_HASH_METHOD)).where(User.id == user_id).execute()


@pytest.fixture
def school(app, settings, templates) -> School:
    """Three staff (admin `boss`, teachers `teacher` and `other`, password PASSWORD), three classes and a
    student in each. Copied from the run's template when nothing was written to this test's database
    yet (the usual case), else made here by the same services."""
    path = _sqlite_path(settings)
    with app.app_context():
        if path is not None and database.connection().total_changes == 0 and not User.select().exists():
            database.close()
            _restore(path, templates["school"])
            database.connect()
            ids = templates["school_ids"]
            models = [User, User, User, Classroom, Classroom, Classroom, User, User, User]
            return School(*(model.get_by_id(row_id) for model, row_id in zip(models, ids)))
        return School(*_make_school())


@pytest.fixture
def live_server(app):
    """The app on a real waitress server on a free loopback port; yields its base URL."""
    url, stop = serve_in_thread(app)
    yield url
    stop()
