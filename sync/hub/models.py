"""The hub's tables: enrolled schools, their learning records, per-day counts, and recent request nonces."""
from __future__ import annotations

import datetime
import json
from typing import Any

from peewee import (BigAutoField, BigIntegerField, BooleanField, CharField, CompositeKey, DateField, DateTimeField, Field,
                    IntegerField, Model, TextField, UUIDField)

from .db import database


class JSONField(Field):
    """A JSON document: `json` on PostgreSQL, text on SQLite.

    `json`, not `jsonb`: PostgreSQL checks it on input and keeps the text as sent, and ingest is
    markedly faster without jsonb's conversion (see docs/BENCHMARKS.md); queries can still use
    ->> or cast to jsonb.
    """
    field_type = "JSON"

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def python_value(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, (str, bytes)) else value  # psycopg2 parses json itself


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class School(BaseModel):
    """An enrolled school. `secret` is kept as issued: HMAC verification needs the secret itself."""
    id = CharField(max_length=32, primary_key=True)
    name = CharField(max_length=200)
    region = CharField(max_length=100, null=True)
    secret = CharField(max_length=100)
    created_at = DateTimeField(default=utcnow)
    revoked_at = DateTimeField(null=True)
    acked = BigIntegerField(default=0)  # highest seq n with 1..n all held
    records_received = BigIntegerField(default=0)
    last_contact = DateTimeField(null=True)
    agent_version = CharField(max_length=200, null=True)
    forwarded = BigIntegerField(default=0)  # every seq <= this has reached the external LRS
    forward_error = TextField(null=True)
    forward_attempt_at = DateTimeField(null=True)
    seq_high = BigIntegerField(default=0)  # the highest seq held: a batch above it repeats nothing

    class Meta:
        table_name = "school"


class Record(BaseModel):
    """One learning record as an xAPI statement, identified by (school, seq); (school, uuid) unique.

    On PostgreSQL the table is partitioned by month of `received_at` (sync/hub/partitions.py): each
    partition holds its own unique (school, seq) and (school, uuid) indexes, and ingest keeps a
    school's seqs unique across partitions (docs/scale.md says how). On SQLite it is one table.
    """
    # No foreign key: the school comes from the request's verified signature, and a per-row
    # constraint check would cost ingest speed for nothing.
    school = CharField(max_length=32, column_name="school_id")
    seq = BigIntegerField()
    uuid = UUIDField()
    statement = JSONField()
    received_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "record"
        primary_key = CompositeKey("school", "seq")
        indexes = ((("school", "uuid"), True),)


class Nonce(BaseModel):
    """A request nonce seen within the replay window (pruned once older than NONCE_TTL_SECONDS)."""
    school = CharField(max_length=32, column_name="school_id")
    nonce = CharField(max_length=32)
    seen_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "nonce"
        primary_key = CompositeKey("school", "nonce")


class SchoolDay(BaseModel):
    """Records a school sent that the hub stored on one UTC day, counted in the batch's transaction.

    The dashboard reads these instead of scanning the record table; the key leads with the day so
    "the last 14 days, every school" is one index range.
    """
    day = DateField()
    school = CharField(max_length=32, column_name="school_id")
    records = BigIntegerField(default=0)

    class Meta:
        table_name = "school_day"
        primary_key = CompositeKey("day", "school")


class PackRelease(BaseModel):
    """One published (pack id, version): its signed pack.json and pack.sig blobs, size and targeting.

    Targeting: every school (`target_all`), or the schools of `target_regions` and those named in
    `target_schools` (JSON lists). Withdrawn releases stay, so schools learn to remove them.
    """
    pack_id = CharField(max_length=128)
    version = CharField(max_length=64)
    title = JSONField()
    manifest_sha256 = CharField(max_length=64)
    manifest_size = BigIntegerField()
    signature_sha256 = CharField(max_length=64)
    signature_size = BigIntegerField()
    size = BigIntegerField()  # pack.json + pack.sig + every file
    target_all = BooleanField(default=False)
    target_regions = JSONField(default=list)
    target_schools = JSONField(default=list)
    published_at = DateTimeField(default=utcnow)
    withdrawn_at = DateTimeField(null=True)

    class Meta:
        table_name = "pack_release"
        primary_key = CompositeKey("pack_id", "version")


class SchoolState(BaseModel):
    """The latest state a school's agent reported (POST /api/v1/state): its packs, disk and downloads."""
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    agent_version = CharField(max_length=200, null=True)
    packs = JSONField(default=dict)  # {pack id: version}
    disk_free_bytes = BigIntegerField(null=True)
    disk_total_bytes = BigIntegerField(null=True)
    downloads_waiting = BigIntegerField(default=0)
    downloads_bytes_left = BigIntegerField(default=0)
    state_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "school_state"


MODELS = [School, Record, Nonce, SchoolDay, PackRelease, SchoolState]


class NationalPerson(BaseModel):
    """A student or teacher enrolled centrally (docs/rosters.md). `class_changed_at` is when the national
    record's class last changed (a school's local move that won sets it to the move's time)."""
    national_id = CharField(max_length=64, primary_key=True)
    school = CharField(max_length=32, column_name="school_id", index=True)
    display_name = CharField(max_length=120)
    role = CharField(max_length=16)  # student | teacher
    class_name = CharField(max_length=64, null=True)
    grade = IntegerField(null=True)
    active = BooleanField(default=True)
    version = IntegerField(default=1)
    updated_at = DateTimeField(default=utcnow)
    class_changed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "national_person"


class NationalAssignment(BaseModel):
    """Work sent by the national platform to the classes of one grade in some schools."""
    id = CharField(max_length=36, primary_key=True)
    title = CharField(max_length=200)
    kind = CharField(max_length=8, default="work")  # work | quiz
    grade = IntegerField()
    region = CharField(max_length=100, null=True)
    schools = JSONField(default=list)  # the school ids it was sent to
    parts = JSONField(default=list)  # [{"pack_id", "node_id", "item_id"}]
    starts_at = DateTimeField(null=True)
    due_at = DateTimeField(null=True)
    settings = JSONField(default=dict)  # quizzes: time_limit_minutes, attempts, results
    created_at = DateTimeField(default=utcnow)
    withdrawn_at = DateTimeField(null=True)

    class Meta:
        table_name = "national_assignment"


class RosterChange(BaseModel):
    """One entry of a school's roster feed: a person's or an assignment's whole new state, numbered
    1, 2, ... per school in the order the hub made them."""
    school = CharField(max_length=32, column_name="school_id")
    seq = BigIntegerField()
    kind = CharField(max_length=16)  # person | assignment
    key = CharField(max_length=64)
    data = JSONField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "roster_change"
        primary_key = CompositeKey("school", "seq")


class RosterFeed(BaseModel):
    """Per school: the last feed seq handed out, and when the school last reported its roster."""
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    last_seq = BigIntegerField(default=0)
    pulled_after = BigIntegerField(default=0)  # the highest `after` the school asked with
    reported_at = DateTimeField(null=True)

    class Meta:
        table_name = "roster_feed"


class SchoolRoster(BaseModel):
    """The school's own roster as its agent last reported it: national people by national id, local
    ones by pseudonym only (no names of children leave the school)."""
    school = CharField(max_length=32, column_name="school_id")
    person = CharField(max_length=80)  # "n:<national id>" or "p:<pseudonym>"
    national_id = CharField(max_length=64, null=True)
    pseudonym = CharField(max_length=32, null=True)
    role = CharField(max_length=16)
    active = BooleanField(default=True)
    classes = JSONField(default=list)  # [{"name", "grade"}], by name
    class_edited_at = DateTimeField(null=True)

    class Meta:
        table_name = "school_roster"
        primary_key = CompositeKey("school", "person")


MODELS += [NationalPerson, NationalAssignment, RosterChange, RosterFeed, SchoolRoster]


class SchoolCertificate(BaseModel):
    """A school's HTTPS certificate (docs/https.md): the CSR its box sent (the key never leaves the
    school), the names the hub gave it, the newest certificate issued for it, and the last attempt."""
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    names = JSONField(default=list)  # the DNS names of the CSR, as the hub assigned them
    csr = TextField()  # PEM
    key_sha256 = CharField(max_length=64)  # SHA-256 of the CSR's public key (DER SubjectPublicKeyInfo)
    csr_at = DateTimeField(default=utcnow)
    certificate = TextField(null=True)  # PEM, the leaf then its chain
    cert_key_sha256 = CharField(max_length=64, null=True)
    not_before = DateTimeField(null=True)
    not_after = DateTimeField(null=True)
    issued_at = DateTimeField(null=True)
    attempt_at = DateTimeField(null=True)
    failures = IntegerField(default=0)  # failed attempts in a row
    error = TextField(null=True)
    next_try_at = DateTimeField(null=True)

    class Meta:
        table_name = "school_certificate"


MODELS += [SchoolCertificate]


class RecordArchive(BaseModel):
    """A month of records exported to a gzip JSON-lines file, checked, and dropped from the database."""
    partition = CharField(max_length=64, primary_key=True)  # record_pYYYY_MM
    starts = DateTimeField()  # received_at from (inclusive) ...
    ends = DateTimeField()  # ... to (exclusive)
    rows = BigIntegerField()
    path = TextField()
    sha256 = CharField(max_length=64)  # of the .jsonl.gz file as written
    archived_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "record_archive"


MODELS += [RecordArchive]


# --- operators, the school register and the audit log (docs/hub.md#operator-accounts) --------------

class RegisterSchool(BaseModel):
    """A school of the national school register: where it is, for scoping operators and comparing.

    `hub_school` links it to the enrolled school whose records it is (null until the school enrols).
    """
    register_id = CharField(max_length=64, primary_key=True)
    hub_school = CharField(max_length=32, column_name="hub_school_id", null=True, unique=True)
    name = CharField(max_length=300)
    region = CharField(max_length=100, index=True)
    district = CharField(max_length=100)
    locality = CharField(max_length=200, null=True)
    rural = BooleanField(null=True)
    language = CharField(max_length=32, null=True)  # language of instruction
    students = IntegerField(null=True)
    imported_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "register_school"
        indexes = ((("region", "district"), False),)


class Operator(BaseModel):
    """A person of the education department: ministry, region, district or school (director, read-only)."""
    username = CharField(max_length=64, primary_key=True)
    display_name = CharField(max_length=120)
    password_hash = CharField(max_length=200)
    level = CharField(max_length=16)  # ministry | region | district | school
    region = CharField(max_length=100, null=True)
    district = CharField(max_length=100, null=True)
    school = CharField(max_length=32, column_name="school_id", null=True)  # a hub school id
    language = CharField(max_length=8, null=True)
    created_by = CharField(max_length=64, null=True)  # null: made on the command line
    created_at = DateTimeField(default=utcnow)
    disabled_at = DateTimeField(null=True)
    email = CharField(max_length=254, null=True)
    digest_email = BooleanField(default=False)  # the weekly digest by e-mail, when they opted in

    class Meta:
        table_name = "operator"


class OperatorSession(BaseModel):
    """A signed-in operator: the SHA-256 of the cookie's token (never the token), and its CSRF token."""
    token_sha256 = CharField(max_length=64, primary_key=True)
    operator = CharField(max_length=64, column_name="operator_id", index=True)
    csrf = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    seen_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "operator_session"


class AuditEntry(BaseModel):
    """One thing an operator did or looked at: who, when, what, from where (kept, never edited)."""
    id = BigAutoField()
    at = DateTimeField(default=utcnow, index=True)
    operator = CharField(max_length=64, column_name="operator_id", null=True, index=True)
    action = CharField(max_length=64)
    detail = JSONField(default=dict)
    address = CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_entry"


MODELS += [RegisterSchool, Operator, OperatorSession, AuditEntry]


# --- learning analytics, kept as aggregates by `analytics.refresh` (docs/hub.md#learning-analytics) -----

class ContentItem(BaseModel):
    """An exercise item of a published pack: its subject, grade and skills (filled at publish)."""
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    item_id = CharField(max_length=128)
    subject = CharField(max_length=100)
    grade = IntegerField()  # -1: the pack is for several grades
    skills = JSONField(default=list)

    class Meta:
        table_name = "content_item"
        primary_key = CompositeKey("pack_id", "node_id", "item_id")


class AnalyticsCursor(BaseModel):
    """Per school, the highest seq the aggregates include (always <= the school's ack)."""
    school = CharField(max_length=32, column_name="school_id", primary_key=True)
    seq = BigIntegerField(default=0)

    class Meta:
        table_name = "analytics_cursor"


class LearnerCell(BaseModel):
    """One pseudonymous learner's answers in one cell of one month: what counts each cell's students."""
    school = CharField(max_length=32, column_name="school_id")
    month = DateField()
    learner = CharField(max_length=64)
    dim = CharField(max_length=1)
    key = CharField(max_length=300)
    answers = IntegerField(default=0)
    correct = IntegerField(default=0)

    class Meta:
        table_name = "learner_cell"
        primary_key = CompositeKey("school", "month", "learner", "dim", "key")


class AreaCell(BaseModel):
    """Sums for one area (country `c`, region `r:R`, district `d:R/D`, school `s:ID`), one kind of cell
    (`dim`: s skill, u subject and grade, p pack, a any activity, g assignment work), one key, one month."""
    area = CharField(max_length=260)
    dim = CharField(max_length=1)
    key = CharField(max_length=300)
    month = DateField()
    answers = BigIntegerField(default=0)
    correct = BigIntegerField(default=0)
    learners = BigIntegerField(default=0)
    completions = BigIntegerField(default=0)
    time_ms = BigIntegerField(default=0)

    class Meta:
        table_name = "area_cell"
        primary_key = CompositeKey("area", "dim", "key", "month")


MODELS += [ContentItem, AnalyticsCursor, LearnerCell, AreaCell]


class AlertSnapshot(BaseModel):
    """The whole country's warnings as the last `analytics refresh` found them (pages filter by scope)."""
    id = IntegerField(primary_key=True)  # always 1
    computed_at = DateTimeField(default=utcnow)
    alerts = JSONField(default=list)

    class Meta:
        table_name = "alert_snapshot"


MODELS += [AlertSnapshot]


# --- pilot programmes, weekly activity, operators' e-mail (migration 0009; docs/hub.md#pilot-programmes) ---

class PilotProgramme(BaseModel):
    """A programme tried in some schools and evaluated against comparison schools. Its place (region,
    district) is its creator's: operators see the programmes of their scope."""
    id = BigAutoField()
    name = CharField(max_length=200)
    subjects = JSONField(default=list)  # subjects as the packs name them
    grades = JSONField(default=list)  # whole numbers
    start = DateField()
    baseline_months = IntegerField(default=3)  # months before the start measured, and months from it
    outcome = CharField(max_length=16, default="mastery")  # mastery | diagnostic
    diagnostic_before = CharField(max_length=36, null=True)  # national assignment ids
    diagnostic_after = CharField(max_length=36, null=True)
    matching = CharField(max_length=16, default="chosen")  # chosen | matched (on the register's fields)
    plan_students = IntegerField(null=True)  # expected active students per pilot school per week
    plan_sessions = IntegerField(null=True)  # expected sessions (a student's day of work) per school per week
    region = CharField(max_length=100, null=True)
    district = CharField(max_length=100, null=True)
    created_by = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "pilot_programme"


class PilotSchool(BaseModel):
    programme = BigIntegerField(column_name="programme_id")
    school = CharField(max_length=32, column_name="school_id")
    role = CharField(max_length=12)  # pilot | comparison

    class Meta:
        table_name = "pilot_school"
        primary_key = CompositeKey("programme", "school")


class LearnerWeek(BaseModel):
    """One pseudonymous learner's days of work in one ISO week (bit 0 Monday): active students and sessions
    per school and week, for the programmes' plans (filled by `analytics.refresh`)."""
    school = CharField(max_length=32, column_name="school_id")
    week = DateField()  # the week's Monday
    learner = CharField(max_length=64)
    days = IntegerField(default=0)

    class Meta:
        table_name = "learner_week"
        primary_key = CompositeKey("school", "week", "learner")


class DigestSent(BaseModel):
    """A weekly digest mailed to an operator (one per operator and ISO week: a job run twice sends once)."""
    operator = CharField(max_length=64, column_name="operator_id")
    week = CharField(max_length=8)  # 2026-W49
    sent_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "digest_sent"
        primary_key = CompositeKey("operator", "week")


MODELS += [PilotProgramme, PilotSchool, LearnerWeek, DigestSent]
