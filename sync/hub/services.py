"""The hub's work: enrolling schools, authenticating signed requests, storing record batches.

`store_batch` is the ingest: one transaction per batch, under the school's row lock. Records the
hub holds already are told apart by seq (no lookup at all when the batch is above the school's
highest held seq, `seq_high`); the rest go in by COPY on PostgreSQL (into the month's partition),
by a multi-row INSERT on SQLite. The school's `acked` column moves in the same transaction, looking
only at seqs above it.
"""
from __future__ import annotations

import datetime
import io
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from urllib.parse import quote, unquote

from peewee import EXCLUDED, IntegrityError, SqliteDatabase

from sync import protocol

from . import partitions
from .db import database, is_postgres
from .models import Nonce, Record, School, SchoolDay, utcnow

log = logging.getLogger(__name__)

SCHOOL_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l/o/0/1: ids get read over the phone
ACK_SCAN_CHUNK = 10_000
NONCE_PRUNE_EVERY = 60.0


class HubError(Exception):
    """A request the hub refuses; `status` and `code` become the JSON error answer."""
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code or self.code


class AuthError(HubError):
    status = 401


class WrongSchool(HubError):
    status = 403
    code = "wrong_school"


class SeqConflict(HubError):
    status = 409
    code = "seq_conflict"


class UnknownSchool(LookupError):
    """No enrolled school has this id."""


@dataclass(frozen=True)
class StoreResult:
    acked: int
    stored: int
    duplicates: int


# --- schools -------------------------------------------------------------------------------------

def new_school_id() -> str:
    return "sch-" + "".join(secrets.choice(SCHOOL_ID_ALPHABET) for _ in range(6))


def enrol_school(name: str, region: str | None = None) -> tuple[School, str]:
    """A new school and its secret (kept by the hub as issued: HMAC needs it to verify)."""
    name = name.strip()
    if not name:
        raise ValueError("a school needs a name")
    secret = protocol.new_secret()
    for _ in range(10):
        try:
            with database.atomic():
                school = School.create(id=new_school_id(), name=name, region=(region or "").strip() or None,
                                       secret=secret)
            return school, secret
        except IntegrityError:  # an id already taken: draw another
            continue
    raise RuntimeError("could not draw a free school id")


def get_school(school_id: str) -> School:
    school = School.get_or_none(School.id == school_id)
    if school is None:
        raise UnknownSchool(school_id)
    return school


def revoke_school(school_id: str) -> School:
    """Refuse the school's requests from now on; its records stay."""
    school = get_school(school_id)
    if school.revoked_at is None:
        school.revoked_at = utcnow()
        school.save(only=[School.revoked_at])
    return school


def schools() -> list[School]:
    return list(School.select().order_by(School.created_at, School.id))


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.replace(microsecond=0).isoformat() + "Z"


def report() -> list[dict[str, Any]]:
    """Per school: what it sent and when it was last heard from (no scan of the record table)."""
    return [{"school_id": s.id, "name": s.name, "region": s.region,
             "status": "revoked" if s.revoked_at else "active",
             "records_received": s.records_received, "acked": s.acked,
             "last_contact": _iso(s.last_contact), "agent_version": s.agent_version,
             "forwarded": s.forwarded, "forward_error": s.forward_error,
             "enrolled_at": _iso(s.created_at), "revoked_at": _iso(s.revoked_at)}
            for s in schools()]


# --- authentication ------------------------------------------------------------------------------

_prune_lock = threading.Lock()
_next_prune = [0.0]


def authenticate(method: str, path: str, body: bytes, headers: Mapping[str, str],
                 now: float | None = None, remember_nonce: bool = True) -> School:
    """The enrolled, active school that signed this request; AuthError(reason) otherwise.

    With `remember_nonce=False` the caller must call `remember_nonce` itself (`ingest` does, in the
    batch's own transaction).
    """
    now = time.time() if now is None else now
    try:
        school_id = protocol.signing_school(headers)
        school = School.get_or_none(School.id == school_id)
        if school is None:
            raise AuthError(f"no school {school_id!r} is enrolled at this hub: check the school id given "
                            f"at enrolment", "unknown_school")
        protocol.verify_signature(school.secret, method, path, body, headers, now=now)
    except protocol.RequestSignatureError as exc:
        raise AuthError(str(exc), exc.reason) from None
    if school.revoked_at is not None:
        raise AuthError("this school's secret was revoked: ask the national platform to enrol the school "
                        "again", "revoked")
    if remember_nonce:
        with database.atomic():
            remember_nonce_of(school.id, headers, now)
    return school


def remember_nonce_of(school_id: str, headers: Mapping[str, str], now: float | None = None) -> None:
    """Record a verified request's nonce; AuthError('replayed') if it was seen before."""
    now = time.time() if now is None else now
    seen_at = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)
    try:
        with database.atomic():  # a savepoint inside a batch's transaction
            Nonce.insert(school=school_id, nonce=protocol.header(headers, protocol.HEADER_NONCE).strip(),
                         seen_at=seen_at).execute()
    except IntegrityError:
        raise AuthError("this request was sent before (its nonce is used): sign every request afresh",
                        "replayed") from None
    with _prune_lock:
        due = now >= _next_prune[0]
        if due:
            _next_prune[0] = now + NONCE_PRUNE_EVERY
    if due:
        cutoff = seen_at - datetime.timedelta(seconds=protocol.NONCE_TTL_SECONDS)
        Nonce.delete().where(Nonce.seen_at < cutoff).execute()


def touch(school: School, agent_version: str | None) -> None:
    """Note that the school was heard from (and with which agent version)."""
    changes: dict = {School.last_contact: utcnow()}
    if agent_version:
        changes[School.agent_version] = agent_version
    School.update(changes).where(School.id == school.id).execute()


# --- ingest --------------------------------------------------------------------------------------

def _transaction():
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic(lock_type="IMMEDIATE")  # take the write lock before reading
    return database.atomic()


def store_batch(school_id: str, records: list[dict], agent_version: str | None = None) -> StoreResult:
    """Store checked records (seq ascending) for a school in one transaction; return the new ack.

    Idempotent by (school, uuid): records the hub holds already count as duplicates. A seq held
    with another uuid (or a uuid held at another seq) raises SeqConflict and stores nothing.
    """
    with _transaction():
        return _store(school_id, records, agent_version)


def _store(school_id: str, records: list[dict], agent_version: str | None) -> StoreResult:
    # Lock the school's row first: a school's batches are stored one at a time, so which of its seqs
    # the hub holds is known exactly here. No unique index can say it on PostgreSQL, where records
    # are partitioned by month of receipt and a repeat may come months after the first copy.
    locked = School.select(School.acked, School.seq_high).where(School.id == school_id)
    row = (locked.for_update() if is_postgres() else locked).tuples().first()
    if row is None:
        raise UnknownSchool(school_id)
    acked, high = row
    fresh = _fresh(school_id, records, acked, high)
    stored = _insert(school_id, fresh) if fresh else 0
    duplicates = len(records) - stored
    if any(r["seq"] == acked + 1 for r in fresh):  # acked+1 is never held between batches
        acked = _advance(school_id, acked)
    changes: dict = {School.acked: acked, School.records_received: School.records_received + stored,
                     School.last_contact: utcnow()}
    if fresh:
        changes[School.seq_high] = max(high, max(r["seq"] for r in fresh))
    if agent_version:
        changes[School.agent_version] = agent_version
    School.update(changes).where(School.id == school_id).execute()
    if stored:  # after the school's row lock: batches of one school never race on their day's row
        SchoolDay.insert(day=utcnow().date(), school=school_id, records=stored).on_conflict(
            conflict_target=[SchoolDay.day, SchoolDay.school],
            update={SchoolDay.records: SchoolDay.records + EXCLUDED.records}).execute()
    return StoreResult(acked, stored, duplicates)


def _fresh(school_id: str, records: list[dict], acked: int, high: int) -> list[dict]:
    """The records the hub does not hold yet; SeqConflict if a sent seq is held with another uuid.

    A batch wholly above the school's highest held seq (the usual case) needs no lookup at all.
    Otherwise the seqs are looked up in every partition; a seq at or below the ack that is not
    found was held in a month archived since (its uuid can no longer be compared).
    """
    if not records or min(r["seq"] for r in records) > high:
        return records
    held = _held(school_id, [r["seq"] for r in records if r["seq"] <= high])
    fresh = []
    for record in records:
        seq, uid = record["seq"], record["uuid"]
        if seq in held:
            if held[seq] != uid:
                raise _clash(seq, uid, f"seq {seq} is uuid {held[seq]}")
        elif seq > acked:
            fresh.append(record)
    moved = _held_uuids(school_id, [r["uuid"] for r in fresh])
    if moved:
        uid, seq = next(iter(moved.items()))
        raise _clash(next(r["seq"] for r in fresh if r["uuid"] == uid), uid, f"uuid {uid} is held at seq {seq}")
    return fresh


def _clash(seq: int, uid: str, why: str) -> SeqConflict:
    return SeqConflict(
        f"seq {seq} with uuid {uid} clashes with what the hub holds for this school ({why}): the school's "
        f"record sequence was reset or rewritten (restored from an old backup?). Nothing of this batch was "
        f"stored; ask the national platform to look into it.")


def _held(school_id: str, seqs: list[int]) -> dict[int, str]:
    """{seq: uuid} of the given seqs the hub holds for the school (one index range per partition)."""
    wanted = set(seqs)
    held: dict[int, str] = {}
    if not wanted:
        return held
    query = (Record.select(Record.seq, Record.uuid)
             .where((Record.school == school_id) & Record.seq.between(min(wanted), max(wanted))).tuples())
    held.update((seq, str(uid)) for seq, uid in query if seq in wanted)
    return held


def _held_uuids(school_id: str, uuids: list[str]) -> dict[str, int]:
    """{uuid: seq} of the given uuids the hub holds for the school."""
    held: dict[str, int] = {}
    for start in range(0, len(uuids), 1000):
        query = (Record.select(Record.uuid, Record.seq)
                 .where((Record.school == school_id) & Record.uuid.in_(uuids[start:start + 1000])).tuples())
        held.update((str(uid), seq) for uid, seq in query)
    return held


def _insert(school_id: str, records: list[dict]) -> int:
    """Insert records the hub does not hold; a (school, uuid) held at another seq in the same month
    is a clash (the unique index of the month's partition finds it)."""
    try:
        with database.atomic():  # a savepoint: the clash is reported, the transaction rolled back
            if is_postgres():
                return _copy_insert(school_id, records)
            now = utcnow()
            for start in range(0, len(records), 500):  # well under SQLite's bound-parameter limit
                Record.insert_many([{"school": school_id, "seq": r["seq"], "uuid": r["uuid"],
                                     "statement": r["statement"], "received_at": now}
                                    for r in records[start:start + 500]]).execute()
            return len(records)
    except IntegrityError:
        moved = _held_uuids(school_id, [r["uuid"] for r in records])
        uid, seq = next(iter(moved.items())) if moved else ("?", "?")
        sent = next((r["seq"] for r in records if r["uuid"] == uid), "?")
        raise _clash(sent, uid, f"uuid {uid} is held at seq {seq}") from None


_stdlib_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

try:  # optional (the `hub` extra): encodes statements ~15x faster, a third of the hub's CPU per batch
    import orjson
except ImportError:  # pragma: no cover - the stdlib encoder gives the same JSON, only slower
    orjson = None


def statement_json(statement: dict) -> bytes:
    """A statement as compact UTF-8 JSON, every control character escaped."""
    if orjson is not None:
        try:
            return orjson.dumps(statement)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits: JSON allows it, orjson does not
            pass
    return _stdlib_dumps(statement).encode("utf-8")


def _copy_rows(school_id: str, records: list[dict], encode=statement_json,
               received_at: datetime.datetime | None = None) -> io.BytesIO:
    # COPY text format: tab-separated, backslash escaped. JSON escapes every control character,
    # so a backslash is the only character to double. school_id is our own slug.
    head = school_id.encode("ascii") + b"\t"
    tail = f"\t{(received_at or utcnow()).isoformat()}\n".encode("ascii")
    buffer = io.BytesIO()
    buffer.writelines(b"%s%d\t%s\t%s%s" % (head, r["seq"], r["uuid"].encode("ascii"),
                                             encode(r["statement"]).replace(b"\\", b"\\\\"), tail)
                      for r in records)
    buffer.seek(0)
    return buffer


def _copy_insert(school_id: str, records: list[dict]) -> int:
    """COPY records the hub does not hold into the record table (the month's partition)."""
    # SQL text here is fixed (table and column names from the model), never built from input:
    # peewee cannot express COPY, and COPY is what makes ingest fast.
    import psycopg2  # only ever reached on PostgreSQL
    import psycopg2.errors

    received_at = utcnow()
    partitions.ensure_for_ingest(received_at)
    try:
        database.cursor().copy_expert(f"COPY {Record._meta.table_name} (school_id, seq, uuid, statement, "
                                      f"received_at) FROM STDIN", _copy_rows(school_id, records, received_at=received_at))
    except psycopg2.errors.CheckViolation:  # no partition for this month (made in a batch rolled back since)
        partitions.forget_made()
        raise
    except psycopg2.IntegrityError as exc:  # the raw cursor's error, not peewee's
        raise IntegrityError(str(exc)) from None
    return len(records)


def _advance(school_id: str, acked: int) -> int:
    """The highest contiguous seq, looking only at seqs above the current ack."""
    while True:
        seqs = [seq for (seq,) in Record.select(Record.seq)
                .where((Record.school == school_id) & (Record.seq > acked))
                .order_by(Record.seq).limit(ACK_SCAN_CHUNK).tuples()]
        new = protocol.contiguous_ack(acked, seqs)
        if len(seqs) < ACK_SCAN_CHUNK or new != seqs[-1]:
            return new
        acked = new


# --- each school speaks only for itself ----------------------------------------------------------

_SCHOOL_IN_IRI = re.compile(r"/schools/([^/?#]+)")


def _iris_naming_schools(statement: dict) -> Iterator[tuple[str, str]]:
    """(where, IRI) for every place a statement names a school: the actor, the object, the context's
    activities, instructor, team and extension keys. Not result.response, which is a learner's text."""
    def accounts(agent: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(agent, dict):
            account = agent.get("account")
            if isinstance(account, dict) and isinstance(account.get("homePage"), str):
                yield f"{where}.account.homePage", account["homePage"]
            for index, member in enumerate(agent.get("member") or []):
                yield from accounts(member, f"{where}.member[{index}]")

    yield from accounts(statement.get("actor"), "actor")
    obj = statement.get("object")
    if isinstance(obj, dict):
        if isinstance(obj.get("id"), str):
            yield "object.id", obj["id"]
        yield from accounts(obj, "object")
    context = statement.get("context")
    if not isinstance(context, dict):
        return
    for key in ("instructor", "team"):
        yield from accounts(context.get(key), f"context.{key}")
    activities = context.get("contextActivities")
    if isinstance(activities, dict):
        for kind, listed in activities.items():
            for index, activity in enumerate(listed if isinstance(listed, list) else [listed]):
                if isinstance(activity, dict) and isinstance(activity.get("id"), str):
                    yield f"context.contextActivities.{kind}[{index}].id", activity["id"]
    extensions = context.get("extensions")
    if isinstance(extensions, dict):
        for key in extensions:
            yield "context.extensions key", key


def claim_for_school(school: School, records: list[dict]) -> None:
    """Check that every statement speaks only of the signing school, and set its xAPI authority.

    Refused (WrongSchool, nothing stored) rather than rewritten: a statement naming another school
    is a bug or an attack, and storing it under our school would keep a statement the school never
    made; refusing shows the fault in the school's sync status until it is mended.
    """
    own = quote(school.id, safe="")
    for index, record in enumerate(records):
        statement = record["statement"]
        where = f"records[{index}] (seq {record['seq']}, statement {record['uuid']})"
        actor = statement.get("actor")
        home = actor.get("account", {}).get("homePage") if isinstance(actor, dict) else None
        if not (isinstance(home, str) and home.endswith(f"/schools/{own}")):
            raise WrongSchool(f"{where}: actor.account.homePage must be <platform>/schools/{own}, the school that "
                              f"signed the batch, not {home!r}. Nothing of this batch was stored.", "foreign_statement")
        for place, iri in _iris_naming_schools(statement):
            for named in _SCHOOL_IN_IRI.findall(iri):
                if named != own:
                    raise WrongSchool(f"{where}: {place} {iri!r} names school {unquote(named)!r}, but the batch was "
                                      f"signed by {school.id!r}: a school sends statements about its own learners "
                                      f"and classes only. Nothing of this batch was stored.", "foreign_statement")
        # xAPI authority: who asserts the statement is true. The hub vouches for the signing school,
        # whatever the statement said before.
        statement["authority"] = {"objectType": "Agent",
                                  "account": {"homePage": home[:-len(own)].rstrip("/"), "name": school.id}}


def ingest(school: School, body: bytes, headers: Mapping[str, str]) -> StoreResult:
    """Decode a signed batch body and store it for the signing school, all in one transaction.

    The request's nonce is recorded in that transaction too: one commit per batch, and a batch that
    fails leaves nothing behind.
    """
    with _transaction():
        remember_nonce_of(school.id, headers)
        try:
            batch = protocol.decode_batch(body)
        except protocol.BatchError as exc:
            raise HubError(str(exc), "bad_batch") from None
        if batch.school_id != school.id:
            raise WrongSchool(f"this batch is for school {batch.school_id!r} but was signed by {school.id!r}: "
                              f"a school can only send its own records")
        claim_for_school(school, batch.records)
        version = batch.agent_version or protocol.agent_version_from_user_agent(headers.get("User-Agent"))
        return _store(school.id, batch.records, version)
