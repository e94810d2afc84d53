"""The hub's settings: one declared list, read from `<data-dir>/classroom-hub.ini` and the environment.

Precedence: `CLASSROOM_HUB_<SECTION>_<KEY>` variable > INI file > default. The data folder comes
from `--data-dir` or `CLASSROOM_HUB_DATA_DIR`.
"""
from __future__ import annotations

import configparser
import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

INI_NAME = "classroom-hub.ini"
ENV_PREFIX = "CLASSROOM_HUB_"
DATA_DIR_ENV = "CLASSROOM_HUB_DATA_DIR"


class SettingsError(Exception):
    """A setting has a value we cannot use; the message names where it came from and what to fix."""


def _text(raw: str) -> str:
    return raw.strip()


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return value
    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not 0 < value <= 86400:
        raise ValueError("expected more than 0 and at most 86400 seconds")
    return value


def _database_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ValueError("expected postgresql://USER@HOST:PORT/NAME (or sqlite:///PATH for a quick local "
                         "try), or empty for a SQLite file in the data folder")
    return value


def _base_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("expected an absolute URL where the blob folder is served, e.g. "
                         "https://content.example.kz/blobs/, or empty for the hub's own /blobs/")
    if value and not value.endswith("/"):
        value += "/"
    return value


def _http_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("expected the LRS's xAPI endpoint, e.g. https://lrs.example.org/xAPI/, or empty "
                         "to forward nothing")
    if value and not value.endswith("/"):
        value += "/"
    return value


def _https_url(raw: str) -> str:
    value = raw.strip()
    if value and not value.startswith("https://"):
        raise ValueError("expected the ACME server's directory URL, e.g. "
                         "https://acme-v02.api.letsencrypt.org/directory, or empty for no school certificates")
    return value


def _domain(raw: str) -> str:
    value = raw.strip().lower().rstrip(".")
    labels = value.split(".") if value else []
    if value and (len(labels) < 2 or len(value) > 200
                  or not all(re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label) for label in labels)):
        raise ValueError("expected a DNS domain the ministry holds, e.g. schools.example.kz (letters, digits "
                         "and hyphens, at least two labels)")
    return value


def _yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("yes", "true", "on", "1"):
        return True
    if value in ("no", "false", "off", "0"):
        return False
    raise ValueError("expected yes or no")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in choices:
            raise ValueError(f"expected one of: {', '.join(choices)}")
        return value
    return parse


@dataclasses.dataclass(frozen=True)
class Option:
    section: str
    key: str
    parse: Callable[[str], Any]
    default: str
    description: str

    @property
    def field(self) -> str:
        return f"{self.section}_{self.key}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.key.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option("hub", "name", _text, "classroom-hub",
           "This hub's name, answered by GET /api/v1/ping (e.g. the ministry's platform name)."),
    Option("server", "host", _text, "127.0.0.1",
           "Address to listen on. Keep 127.0.0.1 behind a TLS reverse proxy on the same machine."),
    Option("server", "port", _int_between(0, 65535), "8800", "TCP port; 0 picks a free one."),
    Option("server", "threads", _int_between(1, 256), "8", "Waitress worker threads."),
    Option("database", "url", _database_url, "",
           "postgresql://USER@HOST:PORT/NAME for production; empty for a SQLite file in the data folder "
           "(a quick local try only)."),
    Option("database", "read_url", _database_url, "",
           "postgresql://USER@HOST:PORT/NAME of a streaming standby of the database: the dashboard and "
           "reports read there (writes never do); empty: everything on url."),
    Option("database", "read_max_lag", _seconds, "300",
           "Seconds the standby may be behind before reads go back to the primary (pages say which)."),
    Option("records", "months_ahead", _int_between(1, 24), "3",
           "PostgreSQL: monthly partitions of the record table made ahead of time (by `init`, `serve` and "
           "`classroom-hub partitions ensure`)."),
    Option("records", "retention_months", _int_between(0, 1200), "0",
           "PostgreSQL: months of records kept in the database; older months are exported to "
           "archive_dir by `classroom-hub partitions archive`, checked, and dropped (the dashboard's "
           "counts stay). 0: keep every record."),
    Option("records", "archive_dir", _text, "",
           "Where archived months go as <partition>.jsonl.gz (gzip JSON lines) with a .sha256 beside; "
           "empty: <data-dir>/archive."),
    Option("forward", "url", _http_url, "",
           "xAPI endpoint of an external Learning Record Store (statements go to <url>statements); "
           "empty: forward nothing."),
    Option("forward", "username", _text, "", "HTTP basic-auth key (user name) for the LRS."),
    Option("forward", "password", _text, "", "HTTP basic-auth secret for the LRS."),
    Option("forward", "batch_size", _int_between(1, 5000), "500", "Statements per POST to the LRS."),
    Option("forward", "timeout", _seconds, "60", "Seconds to wait for the LRS to answer one POST."),
    Option("forward", "retries", _int_between(0, 20), "4",
           "Retries of a failing POST within one pass, with exponential backoff and jitter."),
    Option("forward", "backoff", _seconds, "2",
           "Base of the backoff between retries, in seconds (doubles each retry, capped at 10 minutes)."),
    Option("forward", "interval", _seconds, "60",
           "With `forward --loop`: seconds between passes when all is forwarded."),
    Option("dashboard", "token", _text, "",
           "Operator token for GET /dashboard and /dashboard.json (?token= or Authorization: Bearer); "
           "empty: the dashboard is off (404)."),
    Option("content", "blob_base_url", _base_url, "",
           "Where schools fetch pack files (the catalog's blob_base_url): a static host or object store "
           "holding a copy of <data-dir>/blobs/; empty: the hub's own <hub URL>/blobs/."),
    Option("acme", "directory_url", _https_url, "",
           "HTTPS certificates for schools (docs/https.md): the ACME server's directory URL, e.g. "
           "https://acme-v02.api.letsencrypt.org/directory; empty: the hub offers no certificates."),
    Option("acme", "email", _text, "", "Contact address for the ACME account (expiry and policy mail)."),
    Option("acme", "domain", _domain, "",
           "The domain under which each school gets a name, <school id>.<domain> (e.g. schools.example.kz)."),
    Option("acme", "wildcard", _yes_no, "no",
           "yes: each certificate also covers *.<school name>, for names that encode the LAN address "
           "(docs/https.md)."),
    Option("acme", "dns_provider", _choice("command", "challtestsrv"), "command",
           "How the DNS-01 TXT records are set: `command` runs [acme] dns_command; `challtestsrv` talks to "
           "Pebble's challenge test server (tests only)."),
    Option("acme", "dns_command", _text, "",
           "With dns_provider = command: a program run as `COMMAND set NAME VALUE` and `COMMAND clear NAME "
           "VALUE` that adds or removes a TXT record (e.g. with nsupdate, RFC 2136; docs/https.md)."),
    Option("acme", "challtestsrv_url", _text, "",
           "With dns_provider = challtestsrv: its management URL, e.g. http://127.0.0.1:8055."),
    Option("acme", "propagation_seconds", _int_between(0, 3600), "0",
           "Seconds to wait after setting TXT records before asking the CA to check them."),
    Option("acme", "ca_bundle", _text, "",
           "A PEM file of CAs to trust for the ACME server's own HTTPS (a test CA); empty: the system's."),
    Option("acme", "interval", _seconds, "3600",
           "With `certificates issue --loop`: seconds between passes."),
    Option("mail", "host", _text, "",
           "SMTP server that sends the weekly digest to operators who gave an address and opted in "
           "(`classroom-hub digest --send`); empty: no mail."),
    Option("mail", "port", _int_between(1, 65535), "25", "SMTP port (587 with starttls, 25 on a local relay)."),
    Option("mail", "starttls", _yes_no, "no", "yes: upgrade the SMTP connection with STARTTLS before sending."),
    Option("mail", "username", _text, "", "SMTP user name, if the server wants one (with starttls)."),
    Option("mail", "password", _text, "", "SMTP password."),
    Option("mail", "sender", _text, "", "The From address of the digests, e.g. analytics@edu.example.kz."),
    Option("mail", "weekday", _int_between(1, 7), "1",
           "With `digest --send --loop`: the ISO weekday the digests go out on (1 Monday ... 7 Sunday)."),
    Option("mail", "hour", _int_between(0, 23), "6", "With `digest --send --loop`: the UTC hour they go out at."),
)


@dataclasses.dataclass(frozen=True)
class HubSettings:
    data_dir: Path
    hub_name: str
    server_host: str
    server_port: int
    server_threads: int
    database_url: str
    database_read_url: str
    database_read_max_lag: float
    records_months_ahead: int
    records_retention_months: int
    records_archive_dir: str
    forward_url: str
    forward_username: str
    forward_password: str
    forward_batch_size: int
    forward_timeout: float
    forward_retries: int
    forward_backoff: float
    forward_interval: float
    dashboard_token: str
    content_blob_base_url: str
    acme_directory_url: str
    acme_email: str
    acme_domain: str
    acme_wildcard: bool
    acme_dns_provider: str
    acme_dns_command: str
    acme_challtestsrv_url: str
    acme_propagation_seconds: int
    acme_ca_bundle: str
    acme_interval: float
    mail_host: str
    mail_port: int
    mail_starttls: bool
    mail_username: str
    mail_password: str
    mail_sender: str
    mail_weekday: int
    mail_hour: int

    @property
    def ini_path(self) -> Path:
        return self.data_dir / INI_NAME

    @property
    def archive_folder(self) -> Path:
        return Path(self.records_archive_dir) if self.records_archive_dir else self.data_dir / "archive"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.sqlite3'}"

    def replace(self, **changes: Any) -> "HubSettings":
        return dataclasses.replace(self, **changes)


def default_data_dir(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get(DATA_DIR_ENV):
        return Path(environ[DATA_DIR_ENV])
    base = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "classroom-hub"


def load_settings(data_dir: str | os.PathLike | None = None,
                  environ: dict[str, str] | None = None) -> HubSettings:
    """Read the hub's settings; raise SettingsError naming the file/section or variable at fault."""
    environ = dict(os.environ if environ is None else environ)
    folder = Path(data_dir) if data_dir is not None else default_data_dir(environ)
    ini_path = folder / INI_NAME
    parser = configparser.ConfigParser(interpolation=None)
    if ini_path.exists():
        try:
            with open(ini_path, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise SettingsError(f"{ini_path}: cannot read the settings file: {exc}. Fix the file or write "
                                f"a fresh one with `classroom-hub config init --force`.") from None
    known = {(o.section, o.key) for o in OPTIONS}
    for section in parser.sections():
        for key in parser[section]:
            if (section, key) not in known:
                log.warning("%s: [%s] %s is not a known setting and is ignored", ini_path, section, key)
    variables = {o.env for o in OPTIONS} | {DATA_DIR_ENV}
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in variables:
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
    return HubSettings(**values)


def render_ini(settings: HubSettings | None = None) -> str:
    """A commented INI with every option: its description, default and (if given) current value."""
    lines = ["# classroom-hub settings. Every key can also be set by the variable",
             f"# {ENV_PREFIX}<SECTION>_<KEY>, which wins over this file.", ""]
    section = None
    for option in OPTIONS:
        if option.section != section:
            if section is not None:
                lines.append("")
            section = option.section
            lines.append(f"[{section}]")
        lines.append(f"# {option.description}")
        lines.append(f"# default: {option.default}   variable: {option.env}")
        value = option.default if settings is None else getattr(settings, option.field)
        if option.key in ("password", "token") and value and settings is not None:
            value = "(set)"
        lines.append(f"{option.key} = {value}")
    return "\n".join(lines) + "\n"
