"""The agent's one hub client: requests to the hub, signed with the school's secret, and the hub's
answers authenticated before anything is done with them; the secret itself, kept in
`<data-dir>/keys/hub-secret`.

Every step (records, roster, certificate, content, trust) talks to the hub through `HubClient`:
nothing the hub says is acted on unless the hub signed that answer for that request (the national
key pinned at enrolment, rotations and an allowed http:// hub are in trust.py).
"""
from __future__ import annotations

import datetime
import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from classroom_server.settings import Settings
from sync import __version__, protocol

from . import trust
from .status import ENROL_AGAIN, duration

USER_AGENT = f"{protocol.USER_AGENT_PREFIX}{__version__}"
SECRET_FILE = Path("keys") / "hub-secret"
MAX_ANSWER_BYTES = 1024 * 1024  # a hub's JSON answer is small; anything bigger is not our hub
PING_PATH = "/api/v1/ping"


class SyncFailure(Exception):
    """A sync that could not finish; `code` is one of classroom_server.admin.sync.ERROR_CODES and the
    message says what happened and what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --- the school's secret ------------------------------------------------------------------------------

def secret_path(settings: Settings) -> Path:
    return settings.data_dir / SECRET_FILE


def save_secret(settings: Settings, secret: str) -> Path:
    """Write the secret to <data-dir>/keys/hub-secret, mode 0600, replacing any old one atomically."""
    path = secret_path(settings)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path


def read_secret(settings: Settings) -> str:
    path = secret_path(settings)
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise SyncFailure("not_enrolled", f"this school is not enrolled ({path} is missing): run `classroom-sync "
                                          f"enroll --hub URL --school-id ID --secret-file F --national-key "
                                          f"FINGERPRINT`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyncFailure("not_enrolled", f"cannot read the school's secret {path}: {exc}; run the agent as the "
                                          f"user that owns the data folder, or enrol again") from None
    if not secret:
        raise SyncFailure("not_enrolled", f"{path} is empty: enrol again with the secret the hub issued")
    return secret


# --- the client -----------------------------------------------------------------------------------------

class HubClient:
    """Talks to the hub for every step. `settings` is the agent's current settings (the agent replaces
    it when the settings file changes); `stopping` is set when the agent stops, and every step that
    waits or loops listens to it."""

    def __init__(self, settings: Settings, session: requests.Session | None = None):
        self.settings = settings
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.stopping = threading.Event()
        self.insecure_hub: str | None = None  # an http:// hub being enrolled with --insecure-http

    @property
    def timeouts(self) -> tuple[float, float]:
        timeout = float(self.settings.sync_timeout_seconds)
        return min(timeout, 30.0), timeout  # (connect, read)

    def request(self, method: str, hub_url: str, path: str, body: bytes = b"", headers: dict | None = None,
                signed: tuple[str, str] | None = None, now: float | None = None) -> tuple[int, dict | None, str]:
        """(status, JSON object or None, a short description of the answer) or SyncFailure('link_down')."""
        url = hub_url.rstrip("/") + path
        if urlsplit(url).scheme != "https" and self.insecure_hub != hub_url.rstrip("/") \
                and not trust.http_allowed(hub_url):
            raise SyncFailure("insecure", f"the hub address {hub_url} is not https://, and plain http:// was not "
                                          f"allowed for it. {ENROL_AGAIN}")
        headers = dict(headers or {})
        if signed is not None:
            school_id, secret = signed
            parts = urlsplit(url)
            signed_path = protocol.path_with_query(parts.path or "/", parts.query)  # the hub signs the query too
            headers.update(protocol.sign_request(school_id, secret, method, signed_path, body, now=now))
        try:
            response = self.session.request(method, url, data=body or None, headers=headers,
                                            timeout=self.timeouts, stream=True, allow_redirects=False)
            try:
                raw = b""
                for chunk in response.iter_content(64 * 1024):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise SyncFailure("hub_error", f"{url} answered more than {MAX_ANSWER_BYTES} bytes: "
                                                       f"this is not the classroom hub; check the hub URL")
            finally:
                response.close()
        except requests.Timeout:
            raise SyncFailure("link_down", f"the hub at {hub_url} did not answer within "
                                           f"{self.settings.sync_timeout_seconds} s ([sync] timeout_seconds)") from None
        except requests.RequestException as exc:
            raise SyncFailure("link_down", f"cannot reach the hub at {hub_url}: {reason(exc)}") from None
        what = f"HTTP {response.status_code} {response.headers.get('Content-Type', '(no type)')}"
        if not raw and response.status_code == 200:
            # The hub never answers 200 with nothing: the link cut the answer short after its first lines.
            raise SyncFailure("link_down", f"the answer from the hub at {hub_url} was cut short ({what}, no body)")
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            data = None
        if not isinstance(data, dict):
            data = None
        if signed is not None and data is not None and 200 <= response.status_code < 300 and \
                not protocol.answer_is_authentic(secret, method, signed_path, headers[protocol.HEADER_NONCE],
                                                 response.status_code, raw,
                                                 response.headers.get(protocol.HEADER_ANSWER_SIGNATURE)):
            # Only the real hub knows the school's secret: an answer it did not sign for this very
            # request (a forgery, or one recorded earlier and played back) changes nothing.
            why = "carries no" if not response.headers.get(protocol.HEADER_ANSWER_SIGNATURE) else "has a wrong"
            message = (f"the answer to {method} {path} from {hub_url} {why} {protocol.HEADER_ANSWER_SIGNATURE}: "
                       f"it was not made by the hub this school is enrolled with for this request (someone on the "
                       f"way answering in its place, an answer played back, or a classroom-hub older than this "
                       f"agent). Nothing was changed")
            trust.note("unauthenticated", message)
            raise SyncFailure("unauthenticated", message)
        return response.status_code, data, what

    def ping(self, hub_url: str) -> tuple[dict, float]:
        """The hub's ping answer and the clock difference (hub - school) in seconds; raises
        SyncFailure for a hub that is not ours or a clock far off."""
        sent = time.time()
        status, data, what = self.request("GET", hub_url, PING_PATH)
        received = time.time()
        if status != 200 or data is None or not is_number(data.get("time")) or "protocol" not in data:
            raise SyncFailure("hub_error", f"{hub_url}{PING_PATH} answered {what}, not the classroom hub's ping: "
                                           f"check the hub URL; a captive portal or a proxy may be in the way")
        if data["protocol"] != protocol.PROTOCOL_VERSION:
            raise SyncFailure("hub_error", f"the hub speaks sync protocol {data['protocol']!r}, this agent "
                                           f"{protocol.PROTOCOL_VERSION}: upgrade classroom-server at the school")
        skew = float(data["time"]) - (sent + received) / 2
        if abs(skew) > protocol.CLOCK_SKEW_SECONDS:
            school = datetime.datetime.fromtimestamp(received, datetime.timezone.utc)
            hub = datetime.datetime.fromtimestamp(float(data["time"]), datetime.timezone.utc)
            raise SyncFailure(
                "clock", f"the school's clock and the hub's differ by {duration(abs(skew))} (school "
                         f"{school:%Y-%m-%d %H:%M} UTC, hub {hub:%Y-%m-%d %H:%M} UTC); the hub refuses requests more "
                         f"than {protocol.CLOCK_SKEW_SECONDS} s off. Set this computer's clock (`timedatectl "
                         f"set-ntp true`, or `date -s`), or tell the national platform if its clock is wrong")
        return data, skew

    def check_signed(self, status: int, data: dict | None, what: str, hub_url: str) -> None:
        """Raise the SyncFailure a refused signed request means (401, 403, 409, 5xx); nothing otherwise."""
        code = (data or {}).get("error")
        message = (data or {}).get("message") or ""
        detail = f" ({message})" if message else ""
        if status == 401:
            if code == "revoked":
                raise SyncFailure("revoked", f"the national platform revoked this school's secret{detail}: ask it "
                                             f"for a new one and enrol again (`classroom-sync enroll`)")
            if code == "stale_timestamp":
                raise SyncFailure("clock", f"the hub refused the request's time{detail}: set this computer's "
                                           f"clock (`timedatectl set-ntp true`)")
            if code == "unknown_school":
                raise SyncFailure("auth", f"the hub does not know this school id{detail}: check the id the "
                                          f"national platform gave and enrol again")
            raise SyncFailure("auth", f"the hub refused this school's signature ({code or what}){detail}: the "
                                      f"secret may be wrong or replaced; enrol again with the current secret")
        if status == 403:
            raise SyncFailure("auth", f"the hub refused this school ({code or what}){detail}")
        if status == 409:
            raise SyncFailure("conflict", f"the hub holds different records under the same numbers{detail}: this "
                                          f"database may have been restored from an old backup, or enrolled with "
                                          f"another school's id. Nothing was lost here; ask the national platform")
        if status >= 500:
            raise SyncFailure("hub_error", f"the hub failed ({what}){detail}; it will be tried again")


# --- checks on what the hub says ------------------------------------------------------------------------

def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, short: 'Connection refused', 'Connection reset by peer'."""
    cause: BaseException | None = exc
    seen = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        nxt = cause.__cause__ or cause.__context__
        if nxt is None and cause.args and isinstance(cause.args[0], BaseException):
            nxt = cause.args[0]
        if nxt is None and cause.args and len(cause.args) > 1 and isinstance(cause.args[1], BaseException):
            nxt = cause.args[1]
        cause = nxt
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
