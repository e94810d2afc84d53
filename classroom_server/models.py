"""The school's tables. Shared by every feature: coach reads what learn writes.

Change the schema only together with a numbered script in `migrations/`.
"""
from __future__ import annotations

import datetime
import uuid

from peewee import (AutoField, BigIntegerField, BooleanField, CharField, DateTimeField, FloatField, ForeignKeyField,
                    IntegerField, Model, TextField)

from .db import database

ROLES = ("admin", "teacher", "student")
SIGNIN_MODES = ("name", "pin", "picture")


def new_pseudonym() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class User(BaseModel):
    # Students may have no username: they sign in by class and name.
    username = CharField(max_length=64, unique=True, null=True)
    display_name = CharField(max_length=120)
    role = CharField(max_length=16, index=True)
    password_hash = CharField(max_length=255, null=True)
    # A student's secret: a PIN or a picture code, hashed like a password.
    secret_hash = CharField(max_length=255, null=True)
    language = CharField(max_length=8, null=True)
    is_active = BooleanField(default=True)
    # Bumped on password change or sign-out everywhere; old session cookies stop working.
    session_version = IntegerField(default=1)
    created_at = DateTimeField(default=utcnow)
    # Random and school-scoped: learning records and the national platform know only this.
    pseudonym = CharField(max_length=32, unique=True, null=True, default=new_pseudonym)
    # Enrolled centrally by the national platform (sync/agent/roster.py): its id there; None for local people.
    national_id = CharField(max_length=64, unique=True, null=True)

    class Meta:
        table_name = "user"


class Classroom(BaseModel):
    name = CharField(max_length=64, unique=True)
    grade = IntegerField(null=True)
    signin_mode = CharField(max_length=16, default="name")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "classroom"


class Membership(BaseModel):
    classroom = ForeignKeyField(Classroom, backref="memberships", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=16)  # teacher or student, within this class

    class Meta:
        table_name = "membership"
        indexes = ((("classroom", "user"), True),)


class LoginFailure(BaseModel):
    """One wrong sign-in; counted per account and per address for rate limiting."""
    key = CharField(max_length=128, index=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "login_failure"


class SchoolSetting(BaseModel):
    """Small key/value facts about this school (its name, whether the demo was made)."""
    key = CharField(max_length=64, primary_key=True)
    value = TextField()

    class Meta:
        table_name = "school_setting"


MODELS = (User, Classroom, Membership, LoginFailure, SchoolSetting)


class ContentPack(BaseModel):
    """One installed pack: its current version. Switching versions rewrites its rows in one transaction."""
    pack_id = CharField(max_length=128, unique=True)
    version = CharField(max_length=32)
    title = TextField()  # JSON: texts by language
    description = TextField(default="{}")
    subject = CharField(max_length=64, index=True)
    grades = TextField()  # JSON list
    languages = TextField()  # JSON list
    license = CharField(max_length=128)
    authors = TextField()  # JSON list
    skill_titles = TextField(default="{}")  # JSON: pack.json `skills`, skill tag -> texts by language
    # JSON: the pack's other texts by language, {"review_body"|"review_note"|"license_note": {"kk": ...}}
    texts = TextField(default="{}")
    review_status = CharField(max_length=16)
    review_body = CharField(max_length=255, null=True)  # in the pack's first language when given by language
    review_date = CharField(max_length=10, null=True)
    # Signed by a key the school trusts and approved by the reviewing body.
    reviewed = BooleanField()
    signer_key = CharField(max_length=64, null=True)
    manifest_sha256 = CharField(max_length=64)
    total_size = IntegerField()
    installed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "content_pack"


class ContentNode(BaseModel):
    pack = ForeignKeyField(ContentPack, backref="nodes", on_delete="CASCADE")
    node_id = CharField(max_length=128)  # stable across versions: progress refers to it
    parent_id = CharField(max_length=128, null=True)
    position = IntegerField()
    kind = CharField(max_length=16)
    title = TextField()  # JSON: texts by language
    data = TextField()  # JSON: the node's other fields (content files, items, media, ...)

    class Meta:
        table_name = "content_node"
        indexes = ((("pack", "node_id"), True),)


class ContentFile(BaseModel):
    pack = ForeignKeyField(ContentPack, backref="files", on_delete="CASCADE")
    path = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    size = IntegerField()

    class Meta:
        table_name = "content_file"
        indexes = ((("pack", "path"), True),)


MODELS = MODELS + (ContentPack, ContentNode, ContentFile)


class Device(BaseModel):
    """A browser that signed in here (an id in a long-lived cookie); numbers its records in order."""
    id = CharField(max_length=36, primary_key=True)
    created_at = DateTimeField(default=utcnow)
    last_sequence = IntegerField(default=0)

    class Meta:
        table_name = "device"


class LearningRecord(BaseModel):
    """One interaction that matters, appended and never changed: maps one-to-one to an xAPI
    statement (domain.statements). `seq` is the school's own order: sync sends records by it."""
    seq = AutoField()
    uuid = CharField(max_length=36, unique=True)
    device = ForeignKeyField(Device, index=False)  # the unique index below leads with it (migration 0023)
    device_sequence = IntegerField()
    created_at = DateTimeField(default=utcnow)  # when this server stored it
    occurred_at = DateTimeField()  # when it happened (a device's clock for answers made offline)
    user = ForeignKeyField(User)  # no cascade: a learner with records can be disabled, not deleted
    learner = CharField(max_length=32)  # the user's pseudonym when it happened
    verb = CharField(max_length=16)
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    node_kind = CharField(max_length=16)
    item_id = CharField(max_length=128, null=True)
    language = CharField(max_length=8)
    classroom = IntegerField(null=True)  # a class id, kept as it was even if the class goes
    assignment = CharField(max_length=36, null=True)
    response = TextField(null=True)  # normalised for scoring and reports ("0.5")
    typed = TextField(null=True)  # a typed answer exactly as the student typed it ("1/2"), else null
    correct = BooleanField(null=True)
    score = FloatField(null=True)
    duration_ms = IntegerField(null=True)
    progress = FloatField(null=True)
    attempt = IntegerField(null=True)

    class Meta:
        table_name = "learning_record"
        indexes = ((("device", "device_sequence"), True), (("user", "pack_id", "node_id"), False),
                   (("pack_id", "node_id", "item_id"), False),
                   # Teachers' reports (migration 0007): counted from the index alone.
                   (("user", "verb", "pack_id", "node_id", "item_id", "correct", "assignment", "score",
                     "created_at", "occurred_at"), False),
                   (("user", "occurred_at", "duration_ms"), False))


MODELS = MODELS + (Device, LearningRecord)


def new_uuid() -> str:
    return str(uuid.uuid4())


class Assignment(BaseModel):
    """Work a teacher gave a class (or some of its students): lessons, chapters, exercises, or a quiz.

    Its id is a UUID: learning records made for it carry it, and it becomes the xAPI registration.
    """
    id = CharField(max_length=36, primary_key=True, default=new_uuid)
    classroom = ForeignKeyField(Classroom, backref="assignments", on_delete="CASCADE")
    title = CharField(max_length=200)
    kind = CharField(max_length=8, default="work")  # work | quiz
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    starts_at = DateTimeField(null=True)  # hidden from students before this
    due_at = DateTimeField(null=True)
    closed_at = DateTimeField(null=True)  # no more answers after this
    position = IntegerField(default=0)
    # Quizzes only.
    time_limit_minutes = IntegerField(null=True)
    attempts = IntegerField(default=1)
    results = CharField(max_length=16, default="submitted")  # submitted | due | teacher
    released_at = DateTimeField(null=True)  # results="teacher": when the teacher released them
    # Sent by the national platform (national_assignment.id): teachers see it but cannot change it.
    national_id = CharField(max_length=36, null=True, index=True)

    class Meta:
        table_name = "assignment"
        indexes = ((("classroom", "position"), False),)


class AssignmentItem(BaseModel):
    """One part of an assignment: a content node, one item of an exercise, or a teacher's own item."""
    assignment = ForeignKeyField(Assignment, backref="parts", on_delete="CASCADE")
    position = IntegerField()
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    item_id = CharField(max_length=128, null=True)  # quizzes: one item of an exercise node
    item_data = TextField(null=True)  # quizzes: a teacher's own item (JSON, the pack item format)

    class Meta:
        table_name = "assignment_item"
        indexes = ((("assignment", "position"), True),)


class AssignmentStudent(BaseModel):
    """When an assignment has these rows it is for these students only, else for the whole class."""
    assignment = ForeignKeyField(Assignment, backref="students", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "assignment_student"
        indexes = ((("assignment", "user"), True),)


class QuizAttempt(BaseModel):
    """One go at a quiz: when it started, its deadline, when it was handed in and its score."""
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    number = IntegerField()
    started_at = DateTimeField(default=utcnow)
    deadline = DateTimeField(null=True)
    submitted_at = DateTimeField(null=True)
    right = IntegerField(null=True)
    total = IntegerField(null=True)
    score = FloatField(null=True)

    class Meta:
        table_name = "quiz_attempt"
        indexes = ((("assignment", "user", "number"), True),)


class ReadingPosition(BaseModel):
    """Where a student stopped in an e-textbook: the chapter and how far down it."""
    user = ForeignKeyField(User, on_delete="CASCADE")
    pack_id = CharField(max_length=128)
    book_id = CharField(max_length=128)
    chapter_id = CharField(max_length=128)
    fraction = FloatField(default=0.0)
    updated_at = DateTimeField(default=utcnow)  # when the place last changed

    class Meta:
        table_name = "reading_position"
        indexes = ((("user", "pack_id", "book_id"), True),)


class ReaderPreference(BaseModel):
    """A reader's text size and contrast, the same on every device they sign in on."""
    user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    text_size = IntegerField(default=0)  # -1 .. 3 steps from the normal size
    contrast = CharField(max_length=8, default="normal")  # normal | high | dark

    class Meta:
        table_name = "reader_preference"


MODELS = MODELS + (Assignment, AssignmentItem, AssignmentStudent, QuizAttempt, ReadingPosition, ReaderPreference)


class ReaderNote(BaseModel):
    """A student's bookmark, highlight or note in an e-textbook: theirs alone (no other role reads it).

    Anchored like a W3C Web Annotation: the chapter's file (`chapter_path`; a PDF textbook's pages
    document with `page`) and a TextQuoteSelector (`exact` with `prefix`/`suffix`; `position`, a
    TextPositionSelector's start, chooses among equally good places), found again in the
    new text when the pack is updated; `lost` when the passage is no longer in the book."""
    id = CharField(max_length=36, primary_key=True, default=lambda: str(uuid.uuid4()))
    user = ForeignKeyField(User, on_delete="CASCADE")
    pack_id = CharField(max_length=128)
    book_id = CharField(max_length=128)
    chapter_id = CharField(max_length=128)
    chapter_path = CharField(max_length=512)
    page = IntegerField(null=True)  # a PDF textbook's page (1-based)
    kind = CharField(max_length=12)  # bookmark | highlight | note
    exact = TextField(default="")
    prefix = CharField(max_length=64, default="")
    suffix = CharField(max_length=64, default="")
    position = IntegerField(default=0)  # where the passage starts in the text (a hint among repeats)
    text = TextField(default="")  # the student's own words (notes)
    lost = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # The id the student's device gave a note it kept while offline (a UUID; None from the plain form):
    # the same note sent again is recognised by it and stored once.
    client_id = CharField(max_length=36, null=True)

    class Meta:
        table_name = "reader_note"
        indexes = ((("user", "pack_id", "book_id", "created_at"), False), (("pack_id",), False),
                   (("user", "client_id"), True))


class DeletedNote(BaseModel):
    """A note the student deleted that their device had sent under an id (`ReaderNote.client_id`):
    that id alone, no words, so that a late repeat of the send (its reply was lost) does not bring
    the note back. The newest `content.notes.KEEP_DELETED` per student are kept."""
    user = ForeignKeyField(User, on_delete="CASCADE", index=False)  # the unique index below leads with it
    client_id = CharField(max_length=36)

    class Meta:
        table_name = "deleted_note"
        indexes = ((("user", "client_id"), True),)


MODELS = MODELS + (ReaderNote, DeletedNote)


class StudentGroup(BaseModel):
    """Some students of a class the teacher works with together (a reading group, a catch-up group)."""
    classroom = ForeignKeyField(Classroom, backref="groups", on_delete="CASCADE")
    name = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "student_group"
        indexes = ((("classroom", "name"), True),)


class GroupMember(BaseModel):
    group = ForeignKeyField(StudentGroup, backref="members", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "group_member"
        indexes = ((("group", "user"), True),)


MODELS = MODELS + (StudentGroup, GroupMember)


class SyncState(BaseModel):
    """The sync agent's one row: where it is enrolled, the acknowledged cursor, and its figures.

    Written only by the agent (`classroom-sync`); the admin page reads it. `acked_seq` moves only to
    what the hub acknowledged: the records after it are the ones still to send.
    """
    id = IntegerField(primary_key=True)  # always 1
    hub_url = CharField(max_length=500, null=True)
    school_id = CharField(max_length=200, null=True)
    acked_seq = BigIntegerField(default=0)
    last_success_at = DateTimeField(null=True)
    last_attempt_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    last_error_code = CharField(max_length=32, null=True)  # what kind of failure: see docs/sync.md
    bytes_sent = BigIntegerField(default=0)
    records_sent = BigIntegerField(default=0)
    batch_size = IntegerField(default=200)
    agent_version = CharField(max_length=64, null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "sync_state"


class SyncRequest(BaseModel):
    """"Sync now", asked for on the admin page; the agent starts a sync and marks it done."""
    id = AutoField()
    requested_at = DateTimeField(default=utcnow)
    requested_by = CharField(max_length=120, null=True)
    done_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "sync_request"


class SyncLog(BaseModel):
    """One sync attempt; the agent keeps the latest few hundred."""
    id = AutoField()
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
    ok = BooleanField(null=True)
    error = TextField(null=True)
    error_code = CharField(max_length=32, null=True)
    records = IntegerField(default=0)
    bytes = BigIntegerField(default=0)

    class Meta:
        table_name = "sync_log"


MODELS = MODELS + (SyncState, SyncRequest, SyncLog)


class AuditLog(BaseModel):
    """One thing an administrator did (or the sync agent's nightly backup): who, what, to what, from where.

    The actor is a plain id with a snapshot of their name: the row reads the same whatever happens
    to the account later. Rows are only added.
    """
    id = AutoField()
    created_at = DateTimeField(default=utcnow)
    actor_id = IntegerField(null=True)  # None: a program (the sync agent), not a person
    actor_name = CharField(max_length=120, null=True)
    action = CharField(max_length=32)  # e.g. user.create, backup.make: see admin/audit.py
    target = CharField(max_length=255, null=True)  # what it was done to, as a person reads it
    details = TextField(default="{}")  # JSON object
    ip = CharField(max_length=64, null=True)

    class Meta:
        table_name = "audit_log"


MODELS = MODELS + (AuditLog,)


DOWNLOAD_STATES = ("waiting_window", "downloading", "verifying", "installed", "failed", "withdrawn")


class ContentDownload(BaseModel):
    """A pack version the sync agent fetches from the national platform, and how far it got.

    Written only by the agent (`classroom-sync`), about once a second while it downloads; the admin
    page reads it. `state` is one of DOWNLOAD_STATES; `bytes_received` counts the pack's bytes held
    (files already in the library count as held), `bytes_downloaded` what came over the link.
    """
    id = AutoField()
    pack_id = CharField(max_length=128)
    version = CharField(max_length=32)
    title = TextField(default="{}")  # JSON: texts by language, from the catalog
    manifest_sha256 = CharField(max_length=64)
    previous_version = CharField(max_length=32, null=True)  # None: a new pack
    state = CharField(max_length=16, default="waiting_window")
    bytes_total = BigIntegerField(default=0)
    bytes_received = BigIntegerField(default=0)
    bytes_downloaded = BigIntegerField(default=0)
    speed = FloatField(default=0.0)  # bytes per second lately
    failures = IntegerField(default=0)
    error = TextField(null=True)
    started_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)

    class Meta:
        table_name = "content_download"
        indexes = ((("pack_id", "version"), True),)


MODELS = MODELS + (ContentDownload,)


class AdaptiveParams(BaseModel):
    """One fit of the adaptive practice model (domain.adaptive.Params as JSON), written by the agent's
    nightly job; the web server reads the latest row. `id` is the version decisions refer to."""
    id = AutoField()
    fitted_at = DateTimeField(default=utcnow)
    records = IntegerField(default=0)  # answers the fit read
    params = TextField()  # JSON: Params.to_dict()
    fit_seconds = FloatField(default=0.0)

    class Meta:
        table_name = "adaptive_params"


class PracticeDecision(BaseModel):
    """One item the tutor chose for a student, with the predicted chance of a right answer and why:
    kept so that the effect of its choices can be studied (join the student's next answer to it)."""
    id = AutoField()
    user = ForeignKeyField(User)  # no cascade, as with learning records
    scope = CharField(max_length=300)  # what the student asked to practise: skill:<tag> or topic:<pack>/<node>
    skill = CharField(max_length=128, null=True)
    pack_id = CharField(max_length=128)
    node_id = CharField(max_length=128)
    item_id = CharField(max_length=128)
    p = FloatField()  # predicted chance of a right answer
    mastery = FloatField(null=True)  # P(mastered) of `skill` when chosen
    kind = CharField(max_length=16)  # new, learn, review, rest, mastered, repeat
    reason = CharField(max_length=255)  # an English msgid (domain.adaptive.Reason)
    reason_params = TextField(default="{}")  # JSON
    params_version = IntegerField(null=True)  # adaptive_params.id; None: the built-in defaults
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "practice_decision"
        indexes = ((("user", "created_at"), False),)


MODELS = MODELS + (AdaptiveParams, PracticeDecision)


class RosterEdit(BaseModel):
    """A class move of a national person made here (by a teacher or an admin): when, and by whom.

    The roster sync compares `class_edited_at` with the national record's last class change; the
    newer one wins (docs/rosters.md). Kept after it is reported: the comparison needs it.
    """
    user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    class_edited_at = DateTimeField(default=utcnow)
    edited_by = IntegerField(null=True)

    class Meta:
        table_name = "roster_edit"


class NationalAssignment(BaseModel):
    """National work as the hub last sent it (JSON); every class of `grade` gets an Assignment for it."""
    id = CharField(max_length=36, primary_key=True)
    grade = IntegerField()
    data = TextField()  # JSON: the hub's whole assignment state
    withdrawn_at = DateTimeField(null=True)
    received_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "national_assignment"


class RosterState(BaseModel):
    """The roster sync's one row: the feed cursor (the hub's last applied change) and its figures.
    Written only by the agent, in the same transaction as each page it applies."""
    id = IntegerField(primary_key=True)  # always 1
    cursor = BigIntegerField(default=0)
    last_pull_at = DateTimeField(null=True)
    last_report_at = DateTimeField(null=True)
    changes_applied = BigIntegerField(default=0)
    last_error = TextField(null=True)
    report_sha256 = CharField(max_length=64, null=True)  # of the last roster the hub took

    class Meta:
        table_name = "roster_state"


MODELS = MODELS + (RosterEdit, NationalAssignment, RosterState)


class RevokedSession(BaseModel):
    """A signed-out session: its cookie (a copy of it, too) signs no one in until it would have
    expired anyway. Only the one browser that signed out: the same person elsewhere stays signed in."""
    sid = CharField(max_length=43, primary_key=True)
    expires_at = DateTimeField(index=True)

    class Meta:
        table_name = "revoked_session"


MODELS = MODELS + (RevokedSession,)


class ExtraTry(BaseModel):
    """More goes at a quiz for one student than the quiz gives everyone (a teacher's "another try")."""
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    extra = IntegerField(default=1)
    granted_by = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    granted_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "extra_try"
        indexes = ((("assignment", "user"), True),)


class TeacherComment(BaseModel):
    """A teacher's note to one student about one assignment; the student sees it on that assignment."""
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    student = ForeignKeyField(User, on_delete="CASCADE")
    author = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    text = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "teacher_comment"
        indexes = ((("assignment", "student", "created_at"), False),)


MODELS = MODELS + (ExtraTry, TeacherComment)


class SchoolFile(BaseModel):
    """A file of the school's own (a teacher's picture for an assignment's instructions): its bytes
    are in the content blob store by SHA-256, and this row keeps them from the store's clean-up."""
    sha256 = CharField(max_length=64, index=True)
    size = IntegerField()
    content_type = CharField(max_length=32)  # what it was checked to be (content.school_files)
    width = IntegerField()
    height = IntegerField()
    alt = CharField(max_length=300)  # what it shows, for those who cannot see it
    owner = ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")  # counted against their quota
    assignment = ForeignKeyField(Assignment, null=True, on_delete="CASCADE", backref="+")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "school_file"


MODELS = MODELS + (SchoolFile,)
