"""One declared list of settings; read from `<data-dir>/classroom-server.ini` and the environment.

Precedence: `CLASSROOM_<SECTION>_<KEY>` variable > INI file > default.
"""
from __future__ import annotations

import base64
import configparser
import contextlib
import dataclasses
import datetime
import ipaddress
import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import pytz  # Flask-Babel's time zone library

log = logging.getLogger(__name__)

INI_NAME = "classroom-server.ini"
LANGUAGES = ("kk", "ru", "en")


class SettingsError(Exception):
    """A setting has a value we cannot use; the message names where it came from and what to fix."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError("expected yes or no (true/false, 1/0, on/off)")


def parse_workers(raw: str) -> str | int:
    """`auto` or a whole number of processes from 1 to 64."""
    text = raw.strip().lower()
    if text == "auto":
        return "auto"
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise ValueError("expected auto or a whole number of processes from 1 to 64")
    return int(text)


def _proxy_address(raw: str) -> str:
    """An IP address (the proxy's, as the server sees it), or empty."""
    text = raw.strip()
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError("expected the IP address the proxy connects from, e.g. 127.0.0.1, or nothing") from None
    return text


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if value < 1:
        raise ValueError("expected a number of at least 1")
    return value


def _port(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("expected a port number (0-65535)") from None
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number (0-65535)")
    return value


def _language(raw: str) -> str:
    value = raw.strip().lower()
    if value not in LANGUAGES:
        raise ValueError("expected one of " + ", ".join(LANGUAGES))
    return value


def _timezone(raw: str) -> str:
    value = raw.strip()
    try:
        pytz.timezone(value)
    except pytz.UnknownTimeZoneError:
        raise ValueError("expected a time zone name such as Asia/Almaty or Asia/Aqtobe") from None
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST:PORT/NAME, or empty for the "
                         "SQLite file in the data folder")
    return value


def _platform_iri(raw: str) -> str:
    """An http(s) address without query or fragment (no trailing slash), or empty."""
    value = raw.strip().rstrip("/")
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
                or any(c.isspace() for c in value):
            raise ValueError("expected an address like http://school.local:8080 (http or https, a host name, no "
                             "query), or nothing")
    return value


def _text(raw: str) -> str:
    return raw.strip()


def _paths(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _public_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.replace("\n", ",").split(",") if k.strip())
    for key in keys:
        try:
            if len(base64.b64decode(key, validate=True)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError(f"{key[:16]!r}... is not an Ed25519 public key (44 base64 characters, as "
                             f"`classroom-server pack keygen` prints)") from None
    return keys


def _non_negative_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("expected a whole number (0 or more)") from None
    if value < 0:
        raise ValueError("expected a whole number (0 or more)")
    return value


def hour_windows(spec: str) -> list[tuple[int, int]]:
    """`"00:00-07:30, 18:00-24:00"` as minutes of the day [(0, 450), (1080, 1440)]; a window may
    cross midnight (`"18:00-06:00"`). Raises ValueError with what is expected."""
    windows = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", part)
        if match is None:
            raise ValueError("expected hours like 00:00-24:00, or several like 00:00-07:30, 18:00-24:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start > 1440 or end > 1440 or start == end:
            raise ValueError(f"{part.strip()!r} is not a window of the day (HH:MM-HH:MM, 00:00 to 24:00)")
        windows.append((start, end))
    return windows


def _hours(raw: str) -> str:
    hour_windows(raw)
    return ", ".join(part.strip().replace(" ", "") for part in raw.split(","))


def _hours_or_same(raw: str) -> str:
    """Hour windows, or empty for "the same as [sync] hours"."""
    return _hours(raw) if raw.strip() else ""


def _time_of_day(raw: str) -> str:
    """`HH:MM` (24-hour), or `off`."""
    value = raw.strip().lower()
    if value == "off":
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError("expected a time of day like 02:30 (24-hour clock), or off")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


@dataclasses.dataclass(frozen=True)
class Option:
    section: str
    key: str
    parse: Callable[[str], Any]
    default: str
    description: str
    secret: bool = False  # shown masked on the admin page

    @property
    def field(self) -> str:
        return f"{self.section}_{self.key}"

    @property
    def env(self) -> str:
        return f"CLASSROOM_{self.section.upper()}_{self.key.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option("server", "host", _text, "0.0.0.0",
           "Address to listen on; 0.0.0.0 lets devices on the school Wi-Fi connect."),
    Option("server", "port", _port, "8080", "TCP port of the web server; 0 picks a free port."),
    Option("server", "threads", _positive_int, "8",
           "Waitress worker threads; 8 suits a 2-core mini-PC serving a whole school."),
    Option("server", "workers", parse_workers, "auto",
           "Web server processes: 'auto' (one per CPU, up to 4) or a number; each answers on one CPU."),
    Option("server", "trusted_proxy", _proxy_address, "",
           "Address of a reverse proxy in front (127.0.0.1 for install.sh --with-nginx) whose "
           "X-Forwarded-For and X-Forwarded-Proto headers are believed; empty: none is."),
    Option("server", "secure_cookies", _parse_bool, "no",
           "Send session cookies only over HTTPS; turn on when a TLS proxy sits in front."),
    Option("server", "session_hours", _positive_int, "12",
           "Hours a sign-in stays valid (12: a school day)."),
    Option("database", "url", _database_url, "",
           "Empty for the SQLite file in the data folder, or a database URL "
           "(sqlite:///PATH or postgresql://USER@HOST:PORT/NAME).", secret=True),
    Option("security", "account_attempts", _positive_int, "5",
           "Wrong sign-ins at one account from one device address before waits begin: then 1 minute, "
           "doubling with each further wrong try (other devices are not locked out)."),
    Option("security", "address_attempts", _positive_int, "30",
           "Wrong sign-ins allowed per device address (at any accounts) within lockout_minutes."),
    Option("security", "lockout_minutes", _positive_int, "15",
           "The window for address_attempts, and the longest wait between tries at one account."),
    Option("i18n", "default_language", _language, "kk",
           "Interface language when neither the user nor the browser chooses one: kk, ru or en."),
    Option("i18n", "timezone", _timezone, "Asia/Almaty",
           "The school's time zone (an IANA name such as Asia/Almaty or Asia/Aqtobe): due dates and times "
           "on pages are shown in it."),
    Option("content", "trusted_keys", _public_keys, "",
           "Public keys (base64 Ed25519, comma-separated) whose signed, approved packs count as reviewed; "
           "enrolment with the national platform adds its key."),
    Option("content", "usb_roots", _paths, "/media, /mnt, /run/media",
           "Folders where USB drives get mounted; the admin page looks there for packs to import."),
    Option("content", "disk_reserve_mb", _non_negative_int, "1024",
           "Megabytes of disk the sync agent always leaves free: it starts or goes on with a pack download "
           "only while the pack still fits with this much to spare."),
    Option("sync", "platform_iri", _platform_iri, "",
           "The address that names this school's learners and content in xAPI statements (the teacher's "
           "records.json) before the school is enrolled, e.g. http://school.local:8080; empty: "
           "http://classroom-server.invalid. Once enrolled, the national platform's address is used, as the "
           "sync agent sends them. Never the address a browser happened to use."),
    Option("sync", "interval_seconds", _positive_int, "300",
           "Seconds between syncs with the national platform while the link is up."),
    Option("sync", "hours", _hours, "00:00-24:00",
           "When the sync agent may use the link ([i18n] timezone), e.g. 00:00-07:30, 18:00-24:00; "
           "\"sync now\" on the admin page works at any hour."),
    Option("sync", "bandwidth_bytes_per_second", _non_negative_int, "0",
           "Most bytes per second the sync agent sends or downloads on average; 0 for no cap."),
    Option("sync", "download_hours", _hours_or_same, "",
           "When the sync agent may download content packs ([i18n] timezone), e.g. 00:00-06:00 for the night "
           "on a metered link; empty: the same as [sync] hours."),
    Option("sync", "timeout_seconds", _positive_int, "120",
           "Seconds the sync agent waits for the hub to answer a request before it counts the link as down."),
    Option("sync", "retry_max_seconds", _positive_int, "900",
           "Longest wait between tries while the link is down (the waits grow from a few seconds)."),
    Option("sync", "warn_after_days", _positive_int, "3",
           "Days without a successful sync after which the admin page warns, with what to check in order."),
    Option("backup", "time", _time_of_day, "02:30",
           "When the sync agent makes the nightly backup into <data-dir>/backups ([i18n] timezone), "
           "or off for none."),
    Option("backup", "keep", _positive_int, "7",
           "Nightly backups kept; older ones are removed after each nightly backup (backups made on the "
           "admin page stay until removed there)."),
    Option("adaptive", "fit_time", _time_of_day, "03:30",
           "When the sync agent fits the adaptive practice model to the school's answers each night "
           "([i18n] timezone), or off for never (the tutor then keeps the last fit, or the defaults)."),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    server_host: str
    server_port: int
    server_threads: int
    server_workers: str | int
    server_trusted_proxy: str
    server_secure_cookies: bool
    server_session_hours: int
    database_url: str
    security_account_attempts: int
    security_address_attempts: int
    security_lockout_minutes: int
    i18n_default_language: str
    i18n_timezone: str
    content_trusted_keys: tuple[str, ...]
    content_usb_roots: tuple[str, ...]
    content_disk_reserve_mb: int
    sync_platform_iri: str
    sync_interval_seconds: int
    sync_hours: str
    sync_bandwidth_bytes_per_second: int
    sync_download_hours: str
    sync_timeout_seconds: int
    sync_retry_max_seconds: int
    sync_warn_after_days: int
    backup_time: str
    backup_keep: int
    adaptive_fit_time: str

    @property
    def ini_path(self) -> Path:
        return self.data_dir / INI_NAME

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'classroom.sqlite3'}"

    def school_now(self) -> datetime.datetime:
        """The wall time at the school ([i18n] timezone), for what people read: file names, the clock."""
        import pytz
        return datetime.datetime.now(pytz.timezone(self.i18n_timezone))

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def default_data_dir() -> Path:
    env = os.environ.get("CLASSROOM_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "classroom-server"


def _read_ini(ini_path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if ini_path.exists():
        try:
            with open(ini_path, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise SettingsError(f"{ini_path}: cannot read the settings file: {exc}. "
                                f"Fix the file or write a fresh one with `classroom-server config init`.") from None
    return parser


def load_settings(data_dir: str | os.PathLike | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Read settings for `data_dir`; raise SettingsError naming the file/section or variable at fault."""
    environ = os.environ if environ is None else environ
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    ini_path = folder / INI_NAME
    parser = _read_ini(ini_path)
    known = {(o.section, o.key) for o in OPTIONS}
    for section in parser.sections():
        for key in parser[section]:
            if (section, key) not in known:
                log.warning("%s: [%s] %s is not a known setting and is ignored", ini_path, section, key)
    for name in environ:
        if name.startswith("CLASSROOM_") and name not in ("CLASSROOM_DATA_DIR",) \
                and name not in {o.env for o in OPTIONS} and not name.startswith("CLASSROOM_TEST_"):
            log.warning("environment variable %s is not a known setting and is ignored", name)

    values: dict[str, Any] = {"data_dir": folder}
    errors = []
    for option in OPTIONS:
        if option.env in environ:
            raw, origin = environ[option.env], f"environment variable {option.env}"
        elif parser.has_option(option.section, option.key):
            raw, origin = parser.get(option.section, option.key), f"{ini_path} [{option.section}] {option.key}"
        else:
            raw, origin = option.default, None
        try:
            values[option.field] = option.parse(raw)
        except ValueError as exc:
            if origin is None:  # a default that does not parse is our bug, not the user's
                raise
            errors.append(f"{origin} = {raw!r}: {exc}")
    if errors:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
    return Settings(**values)


def render_ini(settings: Settings | None = None) -> str:
    """A commented INI with every option: its description, default and (if given) current value."""
    lines = ["# Classroom server settings. Every key can also be set by the variable",
             "# CLASSROOM_<SECTION>_<KEY>, which wins over this file.", ""]
    section = None
    for option in OPTIONS:
        if option.section != section:
            if section is not None:
                lines.append("")
            section = option.section
            lines.append(f"[{section}]")
        lines.append(f"# {option.description}")
        lines.append(f"# default: {option.default!s}   variable: {option.env}")
        if settings is None:
            lines.append(f"{option.key} = {option.default}")
        else:
            value = getattr(settings, option.field)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, tuple):
                value = ", ".join(value)
            lines.append(f"{option.key} = {value}")
    return "\n".join(lines) + "\n"


# --- where values come from, and changing the file (the admin page) --------------------------------

@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a setting's value comes from: `kind` is "environment", "file" or "default"."""
    kind: str
    where: str | None  # the variable's name or the file's path


def origins(data_dir: str | os.PathLike, environ: dict[str, str] | None = None) -> dict[str, Origin]:
    """For each option (by field name): where load_settings would take its value from now."""
    environ = os.environ if environ is None else environ
    ini_path = Path(data_dir) / INI_NAME
    parser = _read_ini(ini_path)
    found = {}
    for option in OPTIONS:
        if option.env in environ:
            found[option.field] = Origin("environment", option.env)
        elif parser.has_option(option.section, option.key):
            found[option.field] = Origin("file", str(ini_path))
        else:
            found[option.field] = Origin("default", None)
    return found


def shown_value(option: Option, value: Any) -> str:
    """A value as the INI file would hold it, with any password masked."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, tuple):
        text = ", ".join(value)
    else:
        text = str(value)
    if option.secret and text:
        # postgresql://user:password@host/db -> postgresql://user:***@host/db
        text = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)
    return text


_INI_LOCK = threading.Lock()
_KEY_LINE = re.compile(r"^([^\s=:#;\[][^=:]*?)\s*[=:]")
_SECTION_LINE = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def edit_ini(text: str, changes: dict[tuple[str, str], str]) -> str:
    """`text` with each (section, key) set to its value; comments, order and other keys kept.

    A key already there is changed where it is (its continuation lines dropped); a missing key is
    added after the last key of its section; a missing section is added at the end.
    """
    pending = {(section, key.lower()): value for (section, key), value in changes.items()}
    out: list[str] = []
    insert_at: dict[str, int] = {}  # section -> index in `out` after its last key (or its header)
    section = None
    skipping = False  # the continuation lines of a value being replaced
    for line in text.splitlines():
        if skipping and line[:1].isspace() and line.strip():
            continue
        skipping = False
        header = _SECTION_LINE.match(line)
        if header:
            section = header.group(1).strip()
            out.append(line)
            insert_at[section] = len(out)
            continue
        key = _KEY_LINE.match(line)
        if section is not None and key:
            name = key.group(1).strip().lower()
            if (section, name) in pending:
                out.append(f"{name} = {pending.pop((section, name))}")
                skipping = True
            else:
                out.append(line)
            insert_at[section] = len(out)
            continue
        out.append(line)
    additions: dict[int, list[str]] = {}
    missing_sections: dict[str, list[str]] = {}
    for (section_name, name), value in pending.items():
        line = f"{name} = {value}"
        if section_name in insert_at:
            additions.setdefault(insert_at[section_name], []).append(line)
        else:
            missing_sections.setdefault(section_name, []).append(line)
    for index in sorted(additions, reverse=True):
        out[index:index] = additions[index]
    for section_name, lines in missing_sections.items():
        if out and out[-1].strip():
            out.append("")
        out += [f"[{section_name}]"] + lines
    return "\n".join(out) + "\n"


def change_settings(data_dir: str | os.PathLike, changes: dict[tuple[str, str], str]) -> Path:
    """Set these (section, key) options in `<data_dir>/classroom-server.ini`, atomically.

    Each value is checked as load_settings would; SettingsError says what is wrong, or why the file
    cannot be written. A symlinked file is changed where it really is. Returns the file's path.
    """
    by_key = {(o.section, o.key): o for o in OPTIONS}
    errors = []
    for (section, key), raw in changes.items():
        option = by_key.get((section, key))
        if option is None:
            raise SettingsError(f"[{section}] {key} is not a known setting")
        if "\n" in raw or "\r" in raw:
            errors.append(f"[{section}] {key}: one line only")
            continue
        try:
            option.parse(raw)
        except ValueError as exc:
            errors.append(f"[{section}] {key} = {raw!r}: {exc}")
    if errors:
        raise SettingsError("; ".join(errors))
    path = (Path(data_dir) / INI_NAME).resolve()
    with _INI_LOCK:
        try:
            text = path.read_text(encoding="utf-8")
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            text, mode = ("# Classroom server settings: `classroom-server config init` writes every option "
                          "with its description.\n"), 0o640
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read {path}: {exc}") from None
        new_text = edit_ini(text, changes)
        check = configparser.ConfigParser(interpolation=None)
        try:
            check.read_string(new_text, source=str(path))
        except configparser.Error as exc:
            raise SettingsError(f"{path} cannot be changed safely ({exc}); change it by hand") from None
        scratch = None
        try:
            fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new_text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(scratch, mode)
            os.replace(scratch, path)
            scratch = None
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as exc:
            raise SettingsError(f"cannot write {path}: {exc.strerror or exc}. Change the file by hand "
                                f"(as the user that owns it) or fix its folder's permissions") from None
        finally:
            if scratch is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(scratch)
    return path
