"""Forwarding received records, as xAPI statements, to an external Learning Record Store.

Runs as its own process (`classroom-hub forward` for one pass, `--loop` to keep going), never
inside `serve`. Each school has its own cursor (`school.forwarded`): statements go in seq order and
only up to the school's acked seq, so the cursor is simply "everything up to here reached the LRS".
A POST that fails for a passing reason is retried with exponential backoff and jitter; a batch the
LRS will not take whole (some statements it holds already, after a cut) goes one PUT at a time,
which an LRS answers with 204 for a statement it already holds. A 409 means the LRS holds another
statement under that id: the forwarder asks the LRS for it and counts ours as forwarded only when
it is the same statement (xAPI's statement comparison); otherwise the school's cursor stays and the
difference is reported.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import requests
from peewee import PeeweeException

from sync import __version__, protocol

from .db import database, is_postgres
from .models import Record, School, utcnow
from .settings import HubSettings

log = logging.getLogger(__name__)

XAPI_VERSION = "1.0.3"
ADVISORY_LOCK_KEY = 0x636C6877  # "clhw": one forwarder per hub database
TRANSIENT_STATUSES = {408, 425, 429, 502, 503, 504}


class ForwardError(Exception):
    """This school's statements could not be forwarded now; the message says why."""


class LRSAuthError(ForwardError):
    """The LRS refuses our credentials: no school can be forwarded until the settings are fixed."""


class ForwardLocked(Exception):
    """Another forwarder is running against this hub database."""


@dataclass
class PassResult:
    sent: int = 0
    schools: int = 0
    errors: dict[str, str] = field(default_factory=dict)


class LRSClient:
    """POSTs statement lists to `<forward url>statements` with retries and backoff."""

    def __init__(self, settings: HubSettings, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.url = settings.forward_url + "statements"
        self.session = session or requests.Session()
        self.session.headers.update({"X-Experience-API-Version": XAPI_VERSION,
                                     "User-Agent": f"classroom-hub/{__version__}"})
        if settings.forward_username or settings.forward_password:
            self.session.auth = (settings.forward_username, settings.forward_password)
        self.sleep = sleep

    def send(self, statements: list[dict]) -> None:
        """Store these statements in the LRS, or raise ForwardError."""
        response = self._request("POST", json.dumps(statements, ensure_ascii=False).encode("utf-8"))
        if response.status_code in (200, 204):
            return
        if response.status_code in (400, 409, 500) and (len(statements) > 1 or response.status_code == 409):
            # Not the whole batch at once: typically some statements are there from a pass that was
            # cut before it could move the cursor. One by one, each with its own answer.
            log.info("LRS refused a batch of %d (HTTP %d): sending one at a time", len(statements),
                     response.status_code)
            for statement in statements:
                self._put(statement)
            return
        raise ForwardError(self._refusal(response, statements[0]["id"] if len(statements) == 1 else None))

    def _put(self, statement: dict) -> None:
        body = json.dumps(statement, ensure_ascii=False).encode("utf-8")
        response = self._request("PUT", body, params={"statementId": statement["id"]})
        if response.status_code in (200, 204):
            return
        if response.status_code == 409:
            # The LRS holds a statement with this id. Forwarded only if it is this one: ask for it.
            held = self._held(statement["id"])
            if held is not None and same_statement(held, statement):
                log.info("LRS holds statement %s already (409), the same one; counting it as forwarded",
                         statement["id"])
                return
            which = "a statement it will not show" if held is None else "a different statement"
            raise ForwardError(f"the LRS holds {which} under id {statement['id']} (HTTP 409): the school's record "
                               f"and what the LRS keeps disagree{_difference(held, statement)}. The cursor stays "
                               f"before it; remove the LRS's copy or ask the school why its statement changed")
        raise ForwardError(self._refusal(response, statement["id"]))

    def _held(self, statement_id: str) -> dict | None:
        """The statement the LRS keeps under this id (GET statements?statementId=), or None."""
        try:
            response = self.session.get(self.url, params={"statementId": statement_id},
                                        timeout=self.settings.forward_timeout)
        except requests.RequestException as exc:
            raise ForwardError(f"cannot reach the LRS at {self.url}: {exc}") from None
        if response.status_code != 200:
            return None
        try:
            held = response.json()
        except ValueError:
            return None
        if isinstance(held, dict) and isinstance(held.get("statements"), list):
            # xAPI answers the statement itself; some LRSs (ralph 5) wrap it in a StatementResult.
            held = next((s for s in held["statements"] if isinstance(s, dict)
                         and str(s.get("id", "")).lower() == statement_id.lower()), None)
        return held if isinstance(held, dict) else None

    def _request(self, method: str, body: bytes, params: dict | None = None) -> requests.Response:
        problem = ""
        for attempt in range(self.settings.forward_retries + 1):
            if attempt:
                self.sleep(protocol.backoff(attempt - 1, base=self.settings.forward_backoff, cap=600.0))
            try:
                response = self.session.request(method, self.url, data=body, params=params,
                                                headers={"Content-Type": "application/json"},
                                                timeout=self.settings.forward_timeout)
            except requests.RequestException as exc:
                problem = f"cannot reach the LRS at {self.url}: {exc}"
                continue
            if response.status_code in (401, 403):
                raise LRSAuthError(f"the LRS refuses the hub's credentials (HTTP {response.status_code}): check "
                                   f"[forward] username and password")
            if response.status_code in TRANSIENT_STATUSES:
                problem = f"the LRS answered HTTP {response.status_code}"
                continue
            return response
        raise ForwardError(f"{problem} (tried {self.settings.forward_retries + 1} times; next pass retries)")

    @staticmethod
    def _refusal(response: requests.Response, statement_id: str | None) -> str:
        detail = response.text.strip().replace("\n", " ")[:300]
        which = f"statement {statement_id}" if statement_id else "the statements"
        return f"the LRS refused {which} (HTTP {response.status_code}): {detail}"


#: what xAPI 1.0.3 compares when it asks whether two statements are the same ("Statement Comparison
#: Requirements": authority, stored, timestamp and version are what an LRS may set, so they are left out).
#: The timestamp is compared too, as an instant, because ours carry when the learner acted.
COMPARED = ("id", "actor", "verb", "object", "result", "context", "attachments")


def same_statement(held: dict, ours: dict) -> bool:
    """Whether the LRS's statement is ours, under xAPI's statement comparison."""
    if any(held.get(key) != ours.get(key) for key in COMPARED if key != "id"):
        return False
    if str(held.get("id", "")).lower() != str(ours.get("id", "")).lower():
        return False
    if "timestamp" in held and "timestamp" in ours:
        return _instant(held["timestamp"]) == _instant(ours["timestamp"])
    return True


def _instant(text: Any) -> datetime.datetime | str:
    try:
        moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return moment.astimezone(datetime.timezone.utc) if moment.tzinfo else moment


def _difference(held: dict | None, ours: dict) -> str:
    if held is None:
        return ""
    differing = [key for key in COMPARED if held.get(key) != ours.get(key)]
    if "timestamp" in held and "timestamp" in ours and _instant(held["timestamp"]) != _instant(ours["timestamp"]):
        differing.append("timestamp")
    return f" (they differ in {', '.join(differing)})" if differing else ""


@contextlib.contextmanager
def _only_forwarder(settings: HubSettings) -> Iterator[None]:
    """One forwarder at a time: a PostgreSQL advisory lock, or a lock file next to the SQLite file."""
    if is_postgres():
        got = database.execute_sql("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()[0]
        if not got:
            raise ForwardLocked("another `classroom-hub forward` is running against this database")
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "forward.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ForwardLocked(f"another `classroom-hub forward` is running with {settings.data_dir}") from None
        yield


def forward_pass(settings: HubSettings, client: LRSClient | None = None) -> PassResult:
    """Forward everything acked and not yet forwarded, school by school."""
    client = client or LRSClient(settings)
    result = PassResult()
    with _only_forwarder(settings):
        waiting = list(School.select(School.id).where(School.forwarded < School.acked).order_by(School.id)
                       .tuples())
        for (school_id,) in waiting:
            try:
                result.sent += _forward_school(school_id, client, settings.forward_batch_size)
                result.schools += 1
            except ForwardError as exc:
                result.errors[school_id] = str(exc)
                log.warning("forwarding school %s: %s", school_id, exc)
                School.update(forward_error=str(exc), forward_attempt_at=utcnow()) \
                    .where(School.id == school_id).execute()
                if isinstance(exc, LRSAuthError):
                    break
    return result


def _forward_school(school_id: str, client: LRSClient, batch_size: int) -> int:
    sent = 0
    while True:
        school = School.get_by_id(school_id)
        rows = list(Record.select(Record.seq, Record.statement)
                    .where((Record.school == school_id) & (Record.seq > school.forwarded)
                           & (Record.seq <= school.acked))
                    .order_by(Record.seq).limit(batch_size).tuples())
        if not rows:
            School.update(forward_error=None, forward_attempt_at=utcnow()).where(School.id == school_id).execute()
            return sent
        client.send([statement for _, statement in rows])
        School.update(forwarded=rows[-1][0], forward_error=None, forward_attempt_at=utcnow()) \
            .where(School.id == school_id).execute()
        sent += len(rows)


def run_forever(settings: HubSettings, client: LRSClient | None = None,
                sleep: Callable[[float], None] = time.sleep) -> None:
    """Forward pass after pass: every `interval` seconds when all is well, backing off when not."""
    client = client or LRSClient(settings)
    failures = 0
    while True:
        try:
            result = forward_pass(settings, client)
        except PeeweeException as exc:
            log.error("forwarding: the hub database is unavailable: %s", exc)
            result = PassResult(errors={"*": str(exc)})
        finally:
            if not database.is_closed():
                database.close()
        if result.sent:
            log.info("forwarded %d statement(s) from %d school(s)", result.sent, result.schools)
        failures = failures + 1 if result.errors else 0
        if failures:
            sleep(max(1.0, protocol.backoff(failures - 1, base=settings.forward_backoff,
                                            cap=settings.forward_interval * 10)))
        else:
            sleep(settings.forward_interval)
