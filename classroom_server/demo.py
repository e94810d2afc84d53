"""The demo school: one admin, two teachers, two classes of 20 students, PINs and picture codes."""
from __future__ import annotations

from dataclasses import dataclass

from .accounts import services as accounts
from .db import database
from .models import User

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
                User.update(secret_hash=accounts.hash_secret(check(secret))) \
                    .where(User.id.in_(class_ids)).execute()
            accounts.put_setting("demo_school", "1")
    return DemoLogins(admin="admin", teachers=("aigul", "olga"), password=DEMO_PASSWORD,
                      classes=(("5А", f"PIN {DEMO_PIN}"), ("7Б", f"pictures: {DEMO_PICTURES}")),
                      created=created)
