"""The school's own files: what a teacher uploads (a picture for an assignment's instructions).

They live in the content blob store by SHA-256 like pack files, but a `school_file` row refers to
each, so the store's clean-up (`services.collect_garbage`) keeps them, and a backup always holds
them (nothing else has a copy). Each teacher has a quota and so has the whole school; the admin sets
both on the Settings page (kept in the database, in force at once).

A picture is checked by its bytes, never its name: Pillow must read it as PNG, JPEG or WebP, within
MAX_PICTURE_BYTES and MAX_PIXELS; it is then re-encoded (same format, at most MAX_SIDE pixels a side),
which drops whatever else the file carried (camera metadata with a place, a script after the image
data). It is served with its own Content-Type and `nosniff`.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from werkzeug.wrappers import Response
from peewee import fn

from ..accounts.services import get_setting, put_setting
from ..db import database
from ..i18n import Problem
from ..models import Assignment, ContentFile, SchoolFile, User
from .files import send_blob
from .services import BlobStore, write_atomically

MiB = 1024 * 1024
MAX_PICTURE_BYTES = 8 * MiB  # what a phone camera makes; the form refuses more before reading it
MAX_PIXELS = 40_000_000  # a bigger picture is refused before it is decoded (a "decompression bomb")
MAX_SIDE = 1600  # pixels: enough for a projector, small on a student's phone
ALT_LENGTH = 300
PICTURES_PER_ASSIGNMENT = 6
#: Pillow's format name -> what the file is served as
PICTURE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}

TEACHER_QUOTA = "files.teacher_quota_mb"
SCHOOL_QUOTA = "files.school_quota_mb"
DEFAULT_TEACHER_QUOTA_MB = 50
DEFAULT_SCHOOL_QUOTA_MB = 2048


class SchoolFileError(Problem):
    """A school file that cannot be stored as given; the message says what to do."""


@dataclass(frozen=True)
class Usage:
    used: int  # bytes
    quota: int  # bytes

    @property
    def free(self) -> int:
        return max(0, self.quota - self.used)

    @property
    def used_mb(self) -> str:
        return f"{self.used / MiB:.1f}"

    @property
    def quota_mb(self) -> int:
        return self.quota // MiB

    @property
    def free_mb(self) -> str:
        return f"{self.free / MiB:.1f}"


# --- quotas -------------------------------------------------------------------------------------------

def quotas_mb() -> tuple[int, int]:
    """(per teacher, whole school) in MiB, as the admin set them."""
    return (_int_setting(TEACHER_QUOTA, DEFAULT_TEACHER_QUOTA_MB), _int_setting(SCHOOL_QUOTA, DEFAULT_SCHOOL_QUOTA_MB))


def _int_setting(key: str, default: int) -> int:
    value = get_setting(key)
    return int(value) if value is not None and value.isdigit() else default


def set_quotas_mb(teacher: str, school: str) -> tuple[int, int]:
    """Check and save the quotas the admin typed (whole MiB); SchoolFileError saying what to type."""
    teacher, school = teacher.strip(), school.strip()
    if not (teacher.isdigit() and school.isdigit()) or len(teacher) > 7 or len(school) > 7:
        raise SchoolFileError("Type each quota as a whole number of megabytes, like 50.")
    if int(teacher) > int(school):
        raise SchoolFileError("A teacher's quota (%(teacher)s MB) cannot be more than the whole school's "
                              "(%(school)s MB): lower the first or raise the second.", teacher=teacher, school=school)
    with database.atomic():
        put_setting(TEACHER_QUOTA, str(int(teacher)))
        put_setting(SCHOOL_QUOTA, str(int(school)))
    return int(teacher), int(school)


def _used(teacher: User | None = None) -> int:
    """Bytes the distinct files (of this teacher, or the school's) take: a picture on two assignments
    is stored once, and counts once."""
    files = SchoolFile.select(SchoolFile.sha256, SchoolFile.size).distinct()
    if teacher is not None:
        files = files.where(SchoolFile.owner == teacher.id)
    files = files.alias("files")
    return int(SchoolFile.select(fn.COALESCE(fn.SUM(files.c.size), 0)).from_(files).scalar() or 0)


def teacher_usage(teacher: User) -> Usage:
    return Usage(_used(teacher), quotas_mb()[0] * MiB)


def school_usage() -> Usage:
    return Usage(_used(), quotas_mb()[1] * MiB)


def _adds(sha: str, size: int, teacher: User | None = None) -> int:
    """What storing this file would add to the teacher's (or the school's) use: nothing if it is there."""
    held = SchoolFile.select().where(SchoolFile.sha256 == sha)
    if teacher is not None:
        held = held.where(SchoolFile.owner == teacher.id)
    return 0 if held.exists() else size


def file_count() -> int:
    return SchoolFile.select().count()


# --- pictures -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Picture:
    data: bytes  # re-encoded
    content_type: str
    width: int
    height: int


def check_picture(data: bytes) -> Picture:
    """The picture re-encoded, if its bytes are a PNG, JPEG or WebP we accept; SchoolFileError if not."""
    # Pillow (3.4 MiB) is loaded by the first upload, not by every idle server (docs/BENCHMARKS.md).
    from PIL import Image, ImageOps, UnidentifiedImageError
    if len(data) > MAX_PICTURE_BYTES:
        raise SchoolFileError("The picture is %(size)s MB; at most %(limit)d MB is accepted. Save it smaller "
                              "(for example 1600 pixels wide) and try again.",
                              size=f"{len(data) / MiB:.1f}", limit=MAX_PICTURE_BYTES // MiB)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(PICTURE_TYPES))  # reads the header only
            too_big = image.width * image.height > MAX_PIXELS
            if not too_big:
                image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError):
        raise SchoolFileError("This file is not a PNG, JPEG or WebP picture (whatever its name says): "
                              "save it as one of those and try again.") from None
    if too_big:
        raise SchoolFileError("The picture is %(width)d × %(height)d pixels, too big to show: make it "
                              "smaller (for example 1600 pixels wide) and try again.",
                              width=image.width, height=image.height)
    kind = image.format
    image = ImageOps.exif_transpose(image)  # the way the camera held it; the metadata itself is dropped
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    options = {"JPEG": {"quality": 85, "optimize": True}, "PNG": {"optimize": True}, "WEBP": {"quality": 85}}[kind]
    image.save(out, format=kind, **options)
    return Picture(out.getvalue(), PICTURE_TYPES[kind], image.width, image.height)


def check_alt(alt: str) -> str:
    alt = " ".join(alt.split())
    if not alt:
        raise SchoolFileError("Say in a few words what the picture shows: students who cannot see it hear this.")
    if len(alt) > ALT_LENGTH:
        raise SchoolFileError("The description is %(length)d characters; at most %(limit)d.",
                              length=len(alt), limit=ALT_LENGTH)
    return alt


def add_picture(teacher: User, assignment: Assignment, data: bytes, alt: str, data_dir: Path) -> SchoolFile:
    """Attach a picture to the assignment's instructions, within the teacher's and the school's quota."""
    alt = check_alt(alt)
    if SchoolFile.select().where(SchoolFile.assignment == assignment.id).count() >= PICTURES_PER_ASSIGNMENT:
        raise SchoolFileError("An assignment has at most %(count)d pictures: remove one first.",
                              count=PICTURES_PER_ASSIGNMENT)
    picture = check_picture(data)
    sha = hashlib.sha256(picture.data).hexdigest()
    store = BlobStore(data_dir)
    # The store's lock: a clean-up cannot run between the file and the row that keeps it; and two
    # uploads at once are counted against the quota one after the other.
    with store.lock():
        mine, school = teacher_usage(teacher), school_usage()
        size = len(picture.data)
        if mine.used + _adds(sha, size, teacher) > mine.quota:
            raise SchoolFileError(
                "Your school files would pass your quota: you use %(used)s MB of %(quota)d MB and this picture "
                "is %(size)s MB. Remove a picture you no longer need from one of your assignments, or ask the "
                "school's IT person to raise the teachers' quota (admin page, Settings, School files).",
                used=mine.used_mb, quota=mine.quota_mb, size=f"{size / MiB:.1f}")
        if school.used + _adds(sha, size) > school.quota:
            raise SchoolFileError(
                "The school's files would pass the school's quota (%(used)s MB of %(quota)d MB used). Ask the "
                "school's IT person to raise it (admin page, Settings, School files) or to free space.",
                used=school.used_mb, quota=school.quota_mb)
        if not store.has(sha, size):
            write_atomically(store.path(sha), lambda out: out.write(picture.data))
        with database.atomic():
            return SchoolFile.create(sha256=sha, size=size, content_type=picture.content_type, width=picture.width,
                                     height=picture.height, alt=alt, owner=teacher.id, assignment=assignment.id)


def copy_pictures(source: Assignment, target: Assignment, teacher: User, data_dir: Path) -> int:
    """Put the source's pictures on its copy, as the copying teacher's (the files are not copied: a
    picture counts once however many assignments show it); those beyond their quota are left out.
    Returns how many were left out."""
    left_out = 0
    with BlobStore(data_dir).lock(), database.atomic():
        for row in pictures_of(source):
            mine, school = teacher_usage(teacher), school_usage()
            if (mine.used + _adds(row.sha256, row.size, teacher) > mine.quota
                    or school.used + _adds(row.sha256, row.size) > school.quota):
                left_out += 1
                continue
            SchoolFile.create(sha256=row.sha256, size=row.size, content_type=row.content_type, width=row.width,
                              height=row.height, alt=row.alt, owner=teacher.id, assignment=target.id)
    return left_out


def remove_picture(row: SchoolFile, data_dir: Path) -> None:
    """Take the picture off its assignment; its file goes when nothing else uses it."""
    store = BlobStore(data_dir)
    with store.lock():
        with database.atomic():
            row.delete_instance()
            used = (SchoolFile.select().where(SchoolFile.sha256 == row.sha256).exists()
                    or ContentFile.select().where(ContentFile.sha256 == row.sha256).exists())
        if not used:
            store.remove(row.sha256)


def pictures_of(assignment: Assignment) -> list[SchoolFile]:
    return list(SchoolFile.select().where(SchoolFile.assignment == assignment.id).order_by(SchoolFile.id))


def picture_of(assignment: Assignment, file_id: int) -> SchoolFile | None:
    return SchoolFile.get_or_none(SchoolFile.id == file_id, SchoolFile.assignment == assignment.id)


def send(row: SchoolFile, data_dir: Path) -> Response:
    """The picture, as what it was checked to be: its Content-Type, never sniffed, never a page; kept
    in the browser's own cache only (it is for the assignment's students)."""
    response = send_blob(BlobStore(data_dir).path(row.sha256), row.sha256, row.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
