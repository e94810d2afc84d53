"""learning_record loses its index on device_id alone: the unique index on (device_id,
device_sequence) leads with that column and answers every query the lone one did.

Every record written updates each of the table's indexes, and every index leaf page it changes is
written again to the write-ahead log at its commit: one index fewer is about one 4 KB page fewer a
record (12 to 11, measured on the demo school with fifty students writing), on the SD card of a
small board too.
"""
from __future__ import annotations


def up(db):
    db.execute_sql('DROP INDEX IF EXISTS "learningrecord_device_id"')
