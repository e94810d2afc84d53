"""The hub's operators' world, shared by the tests of its pages: the real hub on loopback (one per
module, on PostgreSQL when CLASSROOM_TEST_POSTGRES_URL names a server), five enrolled schools with an
operator per level (`world`), a term of answers sent to it (`sent`), learner cells for the pilot
evaluation (`aggregates`) and the troubles the alerts find (`troubles`).

A module using a fixture imports it by name, with the fixtures it stands on (`hub` stands on
tests/hubtesting.py's `hub_database_url`): `from tests.hubworld import hub, world  # noqa: F401`.
"""
from __future__ import annotations

import datetime
import os
import random
import re
import uuid

import pytest
from werkzeug.security import generate_password_hash

from classroom_server.domain.statements import PlainRecord, to_statement
from sync.hub import alerts, analytics, operators, services
from sync.hub.models import AreaCell, LearnerCell, Operator, Record, SchoolDay, utcnow
from tests.helpers import TEST_HASH_METHOD
from tests.hubtesting import PLATFORM, Agent, http, hub_env, hub_on_loopback

PASSWORD = "correct horse 42"


# As Excel saves a register in Russian Windows: Windows-1251, `;` between cells, CRLF lines.
REGISTER = ("Код;Наименование;Область;Район;Населенный пункт;Город/село;Язык обучения;Учащихся;hub_school_id\r\n"
            "KZ-1;Каргалинская СШ №1;Актюбинская;Каргалинский;Бадамша;село;казахский;412;{kar1}\r\n"
            "KZ-2;Каргалинская СШ №2;Актюбинская;Каргалинский;Бадамша;село;русский;198;{kar2}\r\n"
            "KZ-3;Хромтауская СШ №5;Актюбинская;Хромтауский;Хромтау;город;казахский;903;{khr}\r\n"
            "KZ-4;Индерская СШ;Атырауская;Индерский;Индерборский;село;казахский;350;{ind}\r\n"
            "KZ-5;Школа без сервера;Атырауская;Индерский;Индерборский;село;казахский;77;\r\n")


@pytest.fixture(scope="module")
def hub(tmp_path_factory, hub_database_url):
    data_dir = tmp_path_factory.mktemp("hub")
    with hub_on_loopback(data_dir, hub_env(data_dir, hub_database_url)) as running:
        yield running


@pytest.fixture(scope="module")
def world(hub):
    """Five enrolled schools (four in the register, one only with the region given at enrolment) and
    one operator per level, plus a second region's operator."""
    ids, secrets = {}, {}
    for key, name, region in (("kar1", "Kargaly 1", None), ("kar2", "Kargaly 2", None), ("khr", "Khromtau 5", None),
                              ("ind", "Inder", None), ("unreg", "Not in the register", "Актюбинская")):
        school, secrets[key] = services.enrol_school(name, region)
        ids[key] = school.id
    summary = operators.import_register(REGISTER.format(**ids).encode("cp1251"))
    assert summary == operators.RegisterSummary(added=5, changed=0, linked=4)
    people = {"minister": ("ministry", {}), "aktobe": ("region", {"region": "Актюбинская"}),
              "atyrau": ("region", {"region": "Атырауская"}),
              "kargaly": ("district", {"region": "Актюбинская", "district": "Каргалинский"}),
              "director": ("school", {"school": "KZ-1"})}  # by register id
    for username, (level, place) in people.items():
        operators.create_operator(username, PASSWORD, level, **place)
        # Most tests sign one of them in: their stored hashes remade light (helpers.TEST_HASH_METHOD).
        Operator.update(password_hash=generate_password_hash(PASSWORD, TEST_HASH_METHOD)).where(
            Operator.username == username).execute()
    visible = {"minister": set(ids.values()),
               "aktobe": {ids["kar1"], ids["kar2"], ids["khr"], ids["unreg"]},
               "atyrau": {ids["ind"]},
               "kargaly": {ids["kar1"], ids["kar2"]},
               "director": {ids["kar1"]}}
    return {"ids": ids, "secrets": secrets, "visible": visible}


def sign_in(hub, username: str, password: str = PASSWORD):
    session = http()
    page = session.get(hub.url + "/ops/login", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = session.post(hub.url + "/ops/login", data={"username": username, "password": password, "csrf": csrf},
                          allow_redirects=False, timeout=30)
    session.answer = answer
    return session


def csrf_of(session, hub) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', session.get(hub.url + "/ops/", timeout=30).text).group(1)


def base_env() -> dict:
    """This process's environment less its CLASSROOM_* variables, for a `classroom-hub` command given
    the hub's own (`hub.env`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}


PACK = {"id": "kz.math.5", "subject": "mathematics", "grades": [5], "nodes": [
    {"id": "fractions", "kind": "topic", "children": [
        {"id": "fractions-1", "kind": "exercise", "items": [
            {"id": "q1", "skills": ["fractions.compare"]},
            {"id": "q2", "skills": ["fractions.add", "fractions.compare"]}]}]}]}
THIS_MONTH = datetime.date.today().replace(day=1)
LAST_MONTH = (THIS_MONTH - datetime.timedelta(days=1)).replace(day=1)


def answer(school_id: str, seq: int, learner: str, item: str, correct: bool, month: datetime.date,
           verb: str = "answered", assignment: str | None = None) -> dict:
    uid = str(uuid.uuid4())
    record = PlainRecord(
        id=uid, device_id="dev-1", sequence=seq,
        timestamp=datetime.datetime(month.year, month.month, 2, 9, tzinfo=datetime.timezone.utc)
        + datetime.timedelta(seconds=seq), learner=learner, school_id=school_id, verb=verb, pack_id="kz.math.5",
        node_id="fractions-1", node_kind="exercise", language="kk", item_id=item if verb == "answered" else None,
        class_id="5A", assignment_id=assignment, response="b" if verb == "answered" else None,
        correct=correct if verb == "answered" else None, duration_ms=60_000,
        attempt=1 if verb == "answered" else None)
    return {"seq": seq, "uuid": uid, "statement": to_statement(record, PLATFORM)}


def answers(school_id: str, learners: int, month: datetime.date, right_of_ten: int, first_seq: int) -> list[dict]:
    """Ten answers per learner (q1 and q2 alternately), `right_of_ten` of them right."""
    out, seq = [], first_seq
    for n in range(learners):
        for k in range(10):
            out.append(answer(school_id, seq, f"p-{n:03d}", "q1" if k % 2 else "q2", k < right_of_ten, month))
            seq += 1
    return out


@pytest.fixture(scope="module")
def sent(hub, world):
    """Kargaly 1: 6 learners, 50 % right last month, 80 % this month; Kargaly 2: 3 learners (a small
    cell), 30 %; Inder (another region): 6 learners, 90 %. Then one pass of the job."""
    analytics.index_pack(PACK)
    agents = {key: Agent(hub, world["ids"][key], world["secrets"][key]) for key in ("kar1", "kar2", "ind")}
    batches = {"kar1": answers(world["ids"]["kar1"], 6, LAST_MONTH, 5, 1)
               + answers(world["ids"]["kar1"], 6, THIS_MONTH, 8, 61),
               "kar2": answers(world["ids"]["kar2"], 3, THIS_MONTH, 3, 1)
               + [answer(world["ids"]["kar2"], 31, "p-000", None, False, THIS_MONTH, "completed", "hw-7")],
               "ind": answers(world["ids"]["ind"], 6, THIS_MONTH, 9, 1)}
    for key, records in batches.items():
        for start in range(0, len(records), 50):
            assert agents[key].send(records[start:start + 50]).status_code == 200
    assert analytics.refresh() == 120 + 31 + 60
    return agents


@pytest.fixture(scope="module")
def aggregates(hub, world):
    """Two pilot schools whose students gain about 15 points, two comparison schools about 3; one small
    school (3 students), to be left out."""
    rng = random.Random(7)
    ids = world["ids"]
    rows = []
    for key, gain, students in (("kar1", 15, 12), ("khr", 14, 10), ("ind", 3, 12), ("unreg", 4, 9), ("kar2", 30, 3)):
        for n in range(students):
            level = rng.uniform(30, 70)
            for month, shift in ((datetime.date(2026, 1, 1), 0), (datetime.date(2026, 3, 1), gain)):
                right = max(0, min(20, round((level + shift + rng.gauss(0, 5)) / 5)))
                rows.append({"school": ids[key], "month": month, "learner": f"p-{n}", "dim": "u",
                             "key": "mathematics\t5", "answers": 20, "correct": right})
    LearnerCell.insert_many(rows).execute()


NEXT_MONTH = (THIS_MONTH + datetime.timedelta(days=32)).replace(day=1)
KHROMTAU = "d:Актюбинская/Хромтауский"


@pytest.fixture(scope="module")
def troubles(hub, world, sent):
    """Kargaly 2 holds a record beyond a gap since two days; Kargaly 1's records fell by 90 % while
    Kargaly 2's grew; Khromtau 5 stalls in mastery while its district grows, and its district is far
    below the country in one skill (sums put straight into the aggregates: the job is tested elsewhere)."""
    ids = world["ids"]
    assert sent["kar2"].send([answer(ids["kar2"], 40, "p-000", "q1", True, THIS_MONTH)]).status_code == 200
    Record.update(received_at=utcnow() - datetime.timedelta(days=2)).where(
        (Record.school == ids["kar2"]) & (Record.seq == 40)).execute()
    today = utcnow().date()
    for school, before, after in ((ids["kar1"], 200, 20), (ids["kar2"], 100, 120)):
        SchoolDay.insert_many([{"day": today - datetime.timedelta(days=20), "school": school, "records": before},
                               {"day": today - datetime.timedelta(days=3), "school": school, "records": after}]).execute()
    rows = []
    for area, month, answers, correct in ((f"s:{ids['khr']}", THIS_MONTH, 100, 70), (f"s:{ids['khr']}", NEXT_MONTH, 100, 65),
                                          (KHROMTAU, THIS_MONTH, 300, 180), (KHROMTAU, NEXT_MONTH, 300, 210)):
        rows.append({"area": area, "dim": "u", "key": "mathematics\t5", "month": month, "answers": answers,
                     "correct": correct, "learners": 8})
    rows.append({"area": KHROMTAU, "dim": "s", "key": "mathematics\t5\tfractions.add", "month": LAST_MONTH,
                 "answers": 100, "correct": 30, "learners": 8})
    AreaCell.insert_many(rows).execute()
    alerts.save_snapshot()  # what each `analytics refresh` pass does; the pages read it
    return ids
