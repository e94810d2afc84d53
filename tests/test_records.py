"""Learning records: durable, ordered per device and for the school, idempotent, xAPI-ready."""
from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections import Counter

import pytest
from peewee import IntegrityError

from classroom_server.db import database
from classroom_server.domain.statements import validate_statement
from classroom_server.accounts import services as accounts
from classroom_server.learn.records import (FIRST_CLASS, Interaction, RecordError, new_device_id, record,
                                            statement_for, store)
from classroom_server.models import LearningRecord, User

ANSWER = Interaction(verb="answered", pack_id="kz.sample.math5-fractions", node_id="fractions.ex1",
                     node_kind="exercise", language="kk", item_id="q1", classroom=1, response="b",
                     correct=True, score=1.0, duration_ms=4200, attempt=1)
OPENED = Interaction(verb="opened", pack_id="kz.sample.math5-fractions", node_id="fractions.lesson1",
                     node_kind="lesson", language="ru")


def test_records_are_numbered_per_device_and_for_the_school(app, school):
    phone, tablet = new_device_id(), new_device_id()
    first, new = record(school.student, phone, OPENED)
    assert new and first.device_sequence == 1
    second, _ = record(school.student, phone, ANSWER)
    other, _ = record(school.picture_student, tablet, OPENED)
    assert second.device_sequence == 2 and other.device_sequence == 1
    assert first.seq < second.seq < other.seq
    assert first.learner == User.get_by_id(school.student.id).pseudonym


def test_the_same_record_twice_is_stored_once(app, school):
    device, record_id = new_device_id(), str(uuid.uuid4())
    stored, new = record(school.student, device, ANSWER, record_uuid=record_id)
    again, new_again = record(school.student, device, ANSWER, record_uuid=record_id)
    assert new and not new_again and again.seq == stored.seq
    assert LearningRecord.select().count() == 1


def test_store_writes_what_record_writes_and_says_whether_it_is_new(app, school):
    device, record_id = new_device_id(), str(uuid.uuid4())
    assert store(school.student, device, OPENED) is True
    assert store(school.student, device, OPENED, record_uuid=record_id) is True
    assert store(school.student, device, OPENED, record_uuid=record_id) is False  # uploaded again
    again, new = record(school.student, device, OPENED, record_uuid=record_id)
    assert not new and again.device_sequence == 2 and LearningRecord.select().count() == 2
    assert (again.verb, again.node_id, again.language, again.learner, again.user_id) == (
        "opened", "fractions.lesson1", "ru", User.get_by_id(school.student.id).pseudonym, school.student.id)


def test_a_value_of_another_type_is_stored_as_peewees_own_insert_stores_it(app, school):
    # records._store converts only what is not of its column's type already; peewee converts all.
    odd = Interaction(verb="answered", pack_id="p", node_id="n", node_kind="exercise", language="kk",  # type: ignore
                      item_id=7, classroom="3", response=b"b", correct=1, score=1, duration_ms=4200.0)
    device = new_device_id()
    ours, _ = record(school.student, device, odd, occurred_at="2026-03-02T08:30:00")  # type: ignore[arg-type]
    theirs = str(uuid.uuid4())
    LearningRecord.insert(
        uuid=theirs, device=device, device_sequence=2, created_at=ours.created_at, occurred_at="2026-03-02T08:30:00",
        user=school.student.id, learner=ours.learner, verb="answered", pack_id="p", node_id="n",
        node_kind="exercise", item_id=7, language="kk", classroom="3", response=b"b", correct=1, score=1,
        duration_ms=4200.0).execute()
    columns = ("occurred_at", "item_id", "classroom", "response", "correct", "score", "duration_ms")
    stored = {row[0]: row[1:] for row in database.execute_sql(
        "SELECT uuid, " + ", ".join(f"{name}, typeof({name})" for name in columns)
        + " FROM learning_record")}
    assert stored[ours.uuid] == stored[theirs]
    assert stored[ours.uuid][:2] == ("2026-03-02 08:30:00", "text")


@pytest.mark.parametrize("interaction,record_id,device,message", [
    (Interaction("clicked", "p", "n", "lesson", "kk"), None, None, "unknown verb"),
    (Interaction("answered", "p", "n", "exercise", "kk"), None, None, "names its item"),
    (Interaction("opened", "p", "n", "lesson", "kk", item_id="q1"), None, None, "names its item"),
    (OPENED, "not-a-uuid", None, "a record id is a lowercase UUID"),
    (OPENED, None, "my-phone", "a device id is a lowercase UUID"),
    (Interaction("answered", "p", "n", "exercise", "kk", item_id="q", response="x" * 3000), None, None,
     "too long"),
])
def test_bad_records_are_refused_and_nothing_is_stored(app, school, interaction, record_id, device, message):
    with pytest.raises(RecordError, match=message):
        record(school.student, device or new_device_id(), interaction, record_uuid=record_id)
    assert LearningRecord.select().count() == 0


def test_many_answers_at_once_from_one_device_get_distinct_consecutive_numbers(app, school):
    device, errors = new_device_id(), []

    def answer_many():
        try:
            for _ in range(25):
                record(school.student, device, ANSWER)
        except Exception as exc:  # collected and shown by the assertion below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=answer_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(r.device_sequence for r in LearningRecord.select())
    assert numbers == list(range(1, 201))


def test_a_record_made_at_the_school_names_the_students_first_class_when_it_is_stored(app, school):
    # school.student is in 5А (grade 5); a second class of a lower grade comes first, as the
    # student's classes are listed (by grade, then name); a student in no class names none.
    earlier = accounts.create_classroom("4Г", 4)
    accounts.enrol(school.student, earlier)
    loner = accounts.create_user(None, "Сабина Ержанқызы", "student")
    opened = dataclasses.replace(OPENED, classroom=FIRST_CLASS)
    device = new_device_id()
    stored, _ = record(school.student, device, opened)
    assert stored.classroom == earlier.id
    assert store(loner, new_device_id(), opened)
    assert store(school.picture_student, new_device_id(), opened)
    rows = {row.user_id: row.classroom for row in LearningRecord.select()}
    assert rows == {school.student.id: earlier.id, loner.id: None,
                    school.picture_student.id: school.picture_class.id}


def test_students_storing_together_each_name_their_own_first_class(app, school):
    # Records that arrive together are written as one group (db.GroupCommit), their classes looked
    # up together: each must still name its own student's. Beside them, records that give their
    # class (a quiz's) or none, in the same groups: each keeps its own.
    students = [school.student, school.picture_student, school.other_student]
    given = school.other_class.id  # not the first class of two of the three
    errors = []

    def open_many(student, classroom):
        try:
            device, opened = new_device_id(), dataclasses.replace(OPENED, classroom=classroom)
            for _ in range(20):
                store(student, device, opened)
        except Exception as exc:  # collected and shown by the assertion below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=open_many, args=(student, classroom))
               for student in students for classroom in (FIRST_CLASS, given, None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    first = {school.student.id: school.pin_class.id, school.picture_student.id: school.picture_class.id,
             school.other_student.id: school.other_class.id}
    found = Counter((row.user_id, row.classroom) for row in LearningRecord.select())
    expected = Counter()
    for student in students:
        expected[(student.id, first[student.id])] += 20
        expected[(student.id, given)] += 20
        expected[(student.id, None)] += 20
    assert found == expected


def test_a_stored_record_is_a_valid_xapi_statement_without_the_childs_name(app, school):
    stored, _ = record(school.student, new_device_id(), ANSWER)
    statement = statement_for(stored, "school-42", "https://platform.example.kz")
    assert validate_statement(statement) == []
    assert statement["result"]["success"] is True and statement["result"]["response"] == "b"
    assert "Әлия" not in json.dumps(statement, ensure_ascii=False)


def test_answers_are_written_with_full_synchronous_durability(app):
    assert database.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_learner_with_records_cannot_be_deleted(app, school):
    record(school.student, new_device_id(), OPENED)
    with pytest.raises(IntegrityError):
        with database.atomic():
            User.delete().where(User.id == school.student.id).execute()
    assert LearningRecord.select().count() == 1
