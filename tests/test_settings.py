"""The settings spec: INI, variables, defaults, clear errors, and docs for every option."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from classroom_server.settings import OPTIONS, SettingsError, load_settings, render_ini

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def write_ini(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classroom-server.ini").write_text(text, encoding="utf-8")


def test_defaults_without_a_file(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings.server_port == 8080 and settings.server_threads == 8
    assert settings.i18n_default_language == "kk"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'classroom.sqlite3'}"


def test_variable_beats_file_beats_default(tmp_path):
    write_ini(tmp_path, "[server]\nport = 9000\nthreads = 4\n")
    settings = load_settings(tmp_path, environ={"CLASSROOM_SERVER_PORT": "9100"})
    assert settings.server_port == 9100
    assert settings.server_threads == 4
    assert settings.server_host == "0.0.0.0"


@pytest.mark.parametrize("section,key,value,expected", [
    ("server", "port", "eighty", "expected a port number"),
    ("server", "port", "70000", "expected a port number"),
    ("server", "threads", "0", "at least 1"),
    ("server", "secure_cookies", "maybe", "expected yes or no"),
    ("i18n", "default_language", "de", "expected one of kk, ru, en"),
    ("database", "url", "mysql://x", "expected sqlite:///PATH or postgresql://"),
])
def test_bad_file_value_names_file_section_and_fix(tmp_path, section, key, value, expected):
    write_ini(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ={})
    message = str(caught.value)
    assert str(tmp_path / "classroom-server.ini") in message
    assert f"[{section}] {key}" in message and expected in message


def test_bad_variable_is_named(tmp_path):
    with pytest.raises(SettingsError, match="environment variable CLASSROOM_SERVER_THREADS"):
        load_settings(tmp_path, environ={"CLASSROOM_SERVER_THREADS": "lots"})


def test_all_errors_reported_at_once(tmp_path):
    write_ini(tmp_path, "[server]\nport = x\nthreads = y\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path, environ={})
    assert "port" in str(caught.value) and "threads" in str(caught.value)


def test_broken_ini_syntax(tmp_path):
    write_ini(tmp_path, "port = 1\n")  # a key before any [section]
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        load_settings(tmp_path, environ={})


def test_unknown_keys_are_warned_about(tmp_path, caplog):
    write_ini(tmp_path, "[server]\nprot = 1\n")
    with caplog.at_level(logging.WARNING):
        load_settings(tmp_path, environ={"CLASSROOM_SERVER_PROT": "1"})
    assert "[server] prot is not a known setting" in caplog.text
    assert "CLASSROOM_SERVER_PROT is not a known setting" in caplog.text


def test_rendered_ini_reads_back_to_the_defaults(tmp_path):
    write_ini(tmp_path, render_ini())
    assert load_settings(tmp_path, environ={}) == load_settings(tmp_path / "empty", environ={}).replace(
        data_dir=tmp_path)
    text = render_ini()
    for option in OPTIONS:
        assert option.description in text and option.env in text


def test_every_option_is_documented():
    docs = DOCS.read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"`[{option.section}] {option.key}`" in docs, f"{option.section}.{option.key} missing"
        assert option.env in docs
