"""Assignments and quizzes, quiz attempts, e-textbook reading positions and reader preferences."""
from __future__ import annotations

import datetime
import uuid

from peewee import CharField, DateTimeField, FloatField, ForeignKeyField, IntegerField, Model, TextField


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _new_uuid() -> str:
    return str(uuid.uuid4())


class User(Model):
    class Meta:
        table_name = "user"


class Classroom(Model):
    class Meta:
        table_name = "classroom"


class Assignment(Model):
    """Work a teacher gave a class (or some of its students): lessons, chapters, exercises, or a quiz.

    Its id is a UUID: learning records made for it carry it, and it becomes the xAPI registration.
    """
    id = CharField(max_length=36, primary_key=True, default=_new_uuid)
    classroom = ForeignKeyField(Classroom, backref="assignments", on_delete="CASCADE")
    title = CharField(max_length=200)
    kind = CharField(max_length=8, default="work")  # work | quiz
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=_utcnow)
    starts_at = DateTimeField(null=True)  # hidden from students before this
    due_at = DateTimeField(null=True)
    closed_at = DateTimeField(null=True)  # no more answers after this
    position = IntegerField(default=0)
    # Quizzes only.
    time_limit_minutes = IntegerField(null=True)
    attempts = IntegerField(default=1)
    results = CharField(max_length=16, default="submitted")  # submitted | due | teacher
    released_at = DateTimeField(null=True)  # results="teacher": when the teacher released them

    class Meta:
        table_name = "assignment"
        indexes = ((("classroom", "position"), False),)


class AssignmentItem(Model):
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


class AssignmentStudent(Model):
    """When an assignment has these rows it is for these students only, else for the whole class."""
    assignment = ForeignKeyField(Assignment, backref="students", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")

    class Meta:
        table_name = "assignment_student"
        indexes = ((("assignment", "user"), True),)


class QuizAttempt(Model):
    """One go at a quiz: when it started, its deadline, when it was handed in and its score."""
    assignment = ForeignKeyField(Assignment, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    number = IntegerField()
    started_at = DateTimeField(default=_utcnow)
    deadline = DateTimeField(null=True)
    submitted_at = DateTimeField(null=True)
    right = IntegerField(null=True)
    total = IntegerField(null=True)
    score = FloatField(null=True)

    class Meta:
        table_name = "quiz_attempt"
        indexes = ((("assignment", "user", "number"), True),)


class ReadingPosition(Model):
    """Where a student stopped in an e-textbook: the chapter and how far down it."""
    user = ForeignKeyField(User, on_delete="CASCADE")
    pack_id = CharField(max_length=128)
    book_id = CharField(max_length=128)
    chapter_id = CharField(max_length=128)
    fraction = FloatField(default=0.0)
    updated_at = DateTimeField(default=_utcnow)

    class Meta:
        table_name = "reading_position"
        indexes = ((("user", "pack_id", "book_id"), True),)


class ReaderPreference(Model):
    """A reader's text size and contrast, the same on every device they sign in on."""
    user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    text_size = IntegerField(default=0)  # -1 .. 3 steps from the normal size
    contrast = CharField(max_length=8, default="normal")  # normal | high | dark

    class Meta:
        table_name = "reader_preference"


def up(db):
    models = [Assignment, AssignmentItem, AssignmentStudent, QuizAttempt, ReadingPosition, ReaderPreference]
    with db.bind_ctx(models + [User, Classroom]):
        db.create_tables(models)
