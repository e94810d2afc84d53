"""The demo school: one admin, two teachers, two classes of 20 students, PINs and picture codes."""
from __future__ import annotations

import configparser
import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from content_packs.samples import build_samples
from content_packs.signing import generate_key, load_private_key, public_key_of

from .accounts import services as accounts
from .coach import services as coach
from .content.services import install_pack
from .db import database
from .models import User, utcnow
from .settings import Settings, render_ini

DEMO_PASSWORD = "demo-pass-2026"
DEMO_PIN = "1234"
DEMO_PICTURES = "cat sun apple"

KAZAKH_NAMES = ["Айгерім Сейтқали", "Нұрсұлтан Әбенов", "Дана Жақсылық", "Ерасыл Төлеген",
                "Әсел Қайратқызы", "Бауыржан Омаров", "Жансая Серік", "Арман Нұрланұлы",
                "Мөлдір Сапарова", "Ілияс Бекмұхамбет", "Аружан Тоқтар", "Дәулет Исаев",
                "Гүлназ Рахым", "Айбек Жұмабай", "Томирис Ахмет", "Санжар Қуаныш",
                "Інжу Мұратқызы", "Ерназар Әлім", "Балжан Оспан", "Нұрдәулет Сәрсен"]
RUSSIAN_NAMES = ["Анна Смирнова", "Иван Петров", "Мария Кузнецова", "Дмитрий Волков",
                 "Екатерина Морозова", "Алексей Новиков", "София Лебедева", "Максим Козлов",
                 "Полина Соколова", "Артём Павлов", "Виктория Попова", "Кирилл Васильев",
                 "Дарья Фёдорова", "Никита Михайлов", "Алиса Егорова", "Егор Никитин",
                 "Ксения Орлова", "Михаил Зайцев", "Вероника Белова", "Тимур Ахметов"]


@dataclass(frozen=True)
class DemoLogins:
    admin: str
    teachers: tuple[str, ...]
    password: str
    classes: tuple[tuple[str, str], ...]  # (class name, how its students sign in)
    created: bool


def _demo_assignments(room, teacher) -> None:
    """Work and a quiz for each demo class, on the sample packs (installed right after)."""
    week = utcnow() + datetime.timedelta(days=7)
    if room.grade == 5:
        math = "kz.sample.math5-fractions"
        coach.create_assignment(room, teacher, "Бөлшектер: салыстыру / Дроби: сравнение", [
            (math, "fractions.lesson.compare", None), (math, "fractions.ch1", None),
            (math, "fractions.ex.basics", None)], due_at=week)
        coach.create_assignment(room, teacher, "Бөлшектер: тест / Дроби: тест", [
            (math, "fractions.ex.operations", None)], kind="quiz", due_at=week, time_limit_minutes=15,
            attempts=1, results="teacher")
    else:
        ai = "kz.sample.informatics7-ai"
        coach.create_assignment(room, teacher, "ИИ: правила или примеры", [
            (ai, "ai.lesson.rules-or-examples", None), (ai, "ai.ch1", None), (ai, "ai.ex.basics", None)],
            due_at=week)
        coach.create_assignment(room, teacher, "ИИ: проверочная работа", [(ai, "ai.ex.learning", None)],
                                kind="quiz", due_at=week, time_limit_minutes=20, attempts=2, results="submitted")


def make_demo_school() -> DemoLogins:
    """Create the demo school once; later calls find it and change nothing."""
    created = accounts.get_setting("demo_school") is None
    if created:
        with database.atomic():
            accounts.put_setting("school_name", "Demo school")
            if not User.select().where(User.username == "admin").exists():
                accounts.create_user("admin", "Әкімші / Администратор", "admin", DEMO_PASSWORD)
            aigul = accounts.create_user("aigul", "Айгүл Серікқызы", "teacher", DEMO_PASSWORD, "kk")
            olga = accounts.create_user("olga", "Ольга Петровна", "teacher", DEMO_PASSWORD, "ru")
            for name, grade, mode, teacher, students, secret in (
                    ("5А", 5, "pin", aigul, KAZAKH_NAMES, DEMO_PIN),
                    ("7Б", 7, "picture", olga, RUSSIAN_NAMES, DEMO_PICTURES)):
                room = accounts.create_classroom(name, grade, mode)
                accounts.enrol(teacher, room)
                class_ids = []
                for student_name in students:
                    student = accounts.create_user(None, student_name, "student")
                    accounts.enrol(student, room)
                    class_ids.append(student.id)
                # One hash for the whole class: every demo student shares the same code.
                check = accounts.check_pin if mode == "pin" else accounts.check_picture_code
                User.update(secret_hash=accounts.hash_secret(check(secret), accounts.SECRET_METHOD)) \
                    .where(User.id.in_(class_ids)).execute()
                _demo_assignments(room, teacher)
            accounts.put_setting("demo_school", "1")
    return DemoLogins(admin="admin", teachers=("aigul", "olga"), password=DEMO_PASSWORD,
                      classes=(("5А", f"PIN {DEMO_PIN}"), ("7Б", f"pictures: {DEMO_PICTURES}")),
                      created=created)


def demo_signing_key(data_dir: Path):
    """The demo school's own pack-signing key (a real school trusts the national platform's key)."""
    path = data_dir / "demo-signing-key.pem"
    if not path.exists():
        pem, _ = generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    return load_private_key(path)


def trust_key(settings: Settings, public_key: str) -> Settings:
    """Add a key to [content] trusted_keys in the data folder's INI file (written if missing)."""
    if public_key in settings.content_trusted_keys:
        return settings
    settings = settings.replace(content_trusted_keys=settings.content_trusted_keys + (public_key,))
    parser = configparser.ConfigParser(interpolation=None)
    if settings.ini_path.exists():
        parser.read(settings.ini_path, encoding="utf-8")
        if not parser.has_section("content"):
            parser.add_section("content")
        parser.set("content", "trusted_keys", ", ".join(settings.content_trusted_keys))
        with open(settings.ini_path, "w", encoding="utf-8") as handle:
            parser.write(handle)
    else:
        settings.ini_path.write_text(render_ini(settings), encoding="utf-8")
    return settings


def import_sample_packs(settings: Settings) -> list[str]:
    """Build the sample packs, sign them with the demo key, and install them (once)."""
    key = demo_signing_key(settings.data_dir)
    settings = trust_key(settings, public_key_of(key))
    built = build_samples(settings.data_dir / "demo-packs", key)
    installed = []
    for path in built:
        result = install_pack(path, settings.data_dir, settings.content_trusted_keys)
        installed.append(f"{result.pack_id} {result.version}")
    return installed
