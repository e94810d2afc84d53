"""National rosters and assignments against the real hub (`classroom-hub serve` on loopback, SQLite or
PostgreSQL when CLASSROOM_TEST_POSTGRES_URL is set), through a real fault-injecting link: people
imported at the hub reach the school, offline edits on both sides converge by the rules of
docs/rosters.md, a cut page is applied whole or not at all, national work reaches the grade's classes
only and stays read-only for teachers, and a school reads only its own feed.
"""
from __future__ import annotations

import datetime
import json

import pytest
import requests
from click.testing import CliRunner

from classroom_server.accounts import services as accounts
from classroom_server.admin.sync import state_row
from classroom_server.learn.records import Interaction, new_device_id, record
from classroom_server.models import (Assignment, AssignmentItem, Classroom, LearningRecord, Membership, RosterState,
                                     SyncLog, SyncState, User)
from sync import protocol
from sync.agent import Agent, SyncFailure
from sync.agent import roster as roster_sync
from sync.agent.client import save_secret
from sync.agent import main as sync_cli

from .helpers import post, sign_in_as
from .faultlink import FaultLink
from .hubprocess import HubProcess

pytestmark = pytest.mark.slow  # a real hub subprocess on loopback

MAX_TRIES = 40


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubProcess(tmp_path_factory.mktemp("hub")) as running:
        yield running


@pytest.fixture
def link(hub):
    with FaultLink(("127.0.0.1", hub.port), latency=0.001) as running:
        yield running


def enrolled_agent(app, settings, hub, link) -> tuple[Agent, str]:
    """The school's agent, enrolled with a new school at the hub (reached through `link`)."""
    enrolment = hub.add_school("Roster school")
    save_secret(settings, enrolment.secret)
    state_row()
    SyncState.update(hub_url=link.url, school_id=enrolment.school_id).where(SyncState.id == 1).execute()
    session = requests.Session()
    session.trust_env = False
    agent = Agent(settings.replace(sync_timeout_seconds=5), session)
    return agent, enrolment.school_id


def import_csv(hub, tmp_path, school_id: str, text: str) -> str:
    path = tmp_path / f"roster-{abs(hash(text))}.csv"
    path.write_text(text, encoding="utf-8")
    return hub.cli("roster", "import", str(path), "--school", school_id)


def sync_until_ok(agent: Agent, link: FaultLink | None = None, cuts: tuple[int, ...] = ()) -> int:
    """Sync, first with the link cut after each of `cuts` bytes, then until a sync goes through; the
    number of failed attempts."""
    failures = 0
    for size in cuts:
        link.cut_after(size)
        if not agent.sync().ok:
            failures += 1
        link.disarm()
    for _ in range(MAX_TRIES):
        outcome = agent.sync()
        if outcome.ok:
            return failures
        failures += 1
    raise AssertionError(f"sync never went through: {outcome.error}")


def national(national_id: str) -> User:
    return User.get(User.national_id == national_id)


def classes_of(user: User) -> set[str]:
    return {name for (name,) in Classroom.select(Classroom.name).join(Membership)
            .where(Membership.user == user.id).tuples()}


def hub_view(hub, school_id: str) -> list[dict]:
    return json.loads(hub.cli("roster", "list", "--school", school_id, "--reported", "--json"))


def hub_people(hub, school_id: str) -> dict[str, dict]:
    return {p["national_id"]: p for p in json.loads(hub.cli("roster", "list", "--school", school_id, "--json"))}


def keyed(entries: list[dict]) -> dict[str, dict]:
    return {e.get("national_id") or e["pseudonym"]: e for e in entries}


ROSTER = """national_id,name,role,class,grade
T1,Гүлнар Ахметова,teacher,7A,7
S1,Әлия Сәрсенова,student,7A,7
S2,Дамир Омаров,student,7A,7
S3,Иван Ким,student,7A,7
S4,Айжан Нұрова,student,7A,7
S5,Марат Беков,student,5B,5
"""


# --- the rules, as a table ------------------------------------------------------------------------------

T0 = datetime.datetime(2026, 3, 1, 9, 0)


@pytest.mark.parametrize("local, national, keep", [
    (None, T0, False),  # never moved here: the national class
    (T0 + datetime.timedelta(seconds=1), T0, True),  # moved here after the national change: the school's
    (T0 - datetime.timedelta(seconds=1), T0, False),  # moved here before it: the national class
    (T0, T0, True),  # the hub adopted the school's move (it takes the move's time)
    (T0, None, True),
])
def test_the_newer_class_change_wins(local, national, keep):
    assert roster_sync.keep_local_class(local, national) is keep


# --- down, offline edits on both sides, convergence -------------------------------------------------------

def test_rosters_converge_after_offline_edits_on_both_sides(app, settings, school, client, hub, link, tmp_path):
    agent, school_id = enrolled_agent(app, settings, hub, link)
    assert "6 added" in import_csv(hub, tmp_path, school_id, ROSTER)
    assert agent.sync().ok
    assert {u.national_id for u in User.select().where(User.national_id.is_null(False))} == {
        "T1", "S1", "S2", "S3", "S4", "S5"}
    seventh = Classroom.get(Classroom.name == "7A")
    assert seventh.grade == 7 and Classroom.get(Classroom.name == "5B").grade == 5
    assert classes_of(national("S1")) == {"7A"} and classes_of(national("S5")) == {"5B"}
    teacher = national("T1")
    assert teacher.role == "teacher" and teacher.username == "t1" and classes_of(teacher) == {"7A"}
    assert national("S1").display_name == "Әлия Сәрсенова"

    # Offline: the link is down, both sides change things.
    link.down()
    sign_in_as(client, school, "admin")

    def move(who: str, to: str):
        person = national(who)
        now_in = Classroom.select().join(Membership).where(Membership.user == person.id).get()
        return post(client, f"/coach/class/{now_in.id}/student/{person.id}/move",
                    {"to": Classroom.get(Classroom.name == to).id})
    assert move("S5", "7A").status_code == 303  # the school moves S5 first; the hub moves S5 later: the hub wins
    import_csv(hub, tmp_path, school_id, "national_id,name,role,class,grade\n"
                                         "S1,Әлия Сәрсенқызы,student,7A,7\n"  # renamed
                                         "S2,Дамир Омаров,student,7B,7\n"  # moved to a class the school lacks
                                         "S3,Иван Ким,student,5B,5\n"  # moved by the hub, then by the school
                                         "S5,Марат Беков,student,7B,7\n")
    assert move("S3", "9В").status_code == 303  # after the hub's move of S3: the school wins
    assert move("S4", "5B").status_code == 303  # only the school moved S4
    assert post(client, f"/coach/class/{seventh.id}/students", {"name": "Local Learner"}).status_code == 303
    local = User.get(User.display_name == "Local Learner")

    offline = agent.sync()
    assert not offline.ok and offline.code == "link_down"
    assert RosterState.get_by_id(1).cursor == 6  # nothing moved while offline

    # Back up, over a link that keeps cutting the first attempts short.
    link.up()
    assert sync_until_ok(agent, link, cuts=(200, 900, 2500, 6000)) >= 1
    assert agent.sync().ok  # and once more: nothing changes any more

    assert national("S1").display_name == "Әлия Сәрсенқызы"  # identity: the national record
    assert classes_of(national("S2")) == {"7B"} and Classroom.get(Classroom.name == "7B").grade == 7
    assert classes_of(national("S3")) == {"9В"}  # the school's later move
    assert classes_of(national("S4")) == {"5B"}  # the school's move, nothing national against it
    assert classes_of(national("S5")) == {"7B"}  # the hub's later move
    assert classes_of(local) == {"7A"} and local.national_id is None

    school_view = roster_sync.local_roster()
    assert keyed(hub_view(hub, school_id)) == keyed(school_view)  # the hub's view of the school is the school's
    sent_up = json.dumps(hub_view(hub, school_id), ensure_ascii=False)
    assert "Local Learner" not in sent_up and "Әлия" not in sent_up  # no names go up
    assert keyed(school_view)[local.pseudonym]["classes"] == [{"name": "7A", "grade": 7}]
    people = hub_people(hub, school_id)
    assert {nid: p["class"] for nid, p in people.items()} == {
        "T1": "7A", "S1": "7A", "S2": "7B", "S3": "9В", "S4": "5B", "S5": "7B"}
    assert people["S3"]["grade"] == 9
    assert RosterState.get_by_id(1).cursor >= 12  # 6 imported, 4 changed, and the hub's adoptions


def test_a_cut_page_is_applied_whole_or_not_at_all(app, settings, school, hub, link, tmp_path, monkeypatch):
    agent, school_id = enrolled_agent(app, settings, hub, link)
    lines = "".join(f"P{n:03d},Pupil {n},student,6{'AB'[n % 2]},6\n" for n in range(45))
    import_csv(hub, tmp_path, school_id, "national_id,name,role,class,grade\n" + lines)
    monkeypatch.setattr(roster_sync, "PAGE_SIZE", 10)  # five pages
    failures = 0
    for size in range(1500, 40000, 1500):
        link.cut_after(size, direction="down")
        try:
            roster_sync.sync_roster(agent.client)
            break
        except SyncFailure as exc:
            assert exc.code == "link_down"
            failures += 1
        finally:
            link.disarm()
        cursor = RosterState.get_by_id(1).cursor
        assert cursor % 10 == 0 or cursor == 45  # only whole pages (the last one has 5)
        assert User.select().where(User.national_id.is_null(False)).count() == cursor
    assert failures >= 2
    assert RosterState.get_by_id(1).cursor == 45
    assert User.select().where(User.national_id.is_null(False)).count() == 45

    # Pulling the same pages again changes nothing: every change is a person's whole state.
    RosterState.update(cursor=0).where(RosterState.id == 1).execute()
    roster_sync.sync_roster(agent.client)
    assert User.select().where(User.national_id.is_null(False)).count() == 45
    assert Membership.select().join(User).where(User.national_id.is_null(False)).count() == 45
    status = CliRunner().invoke(sync_cli, ["--data-dir", str(settings.data_dir), "status"])
    assert status.exit_code == 0, status.output
    assert "roster cursor:    45 (90 national change(s) applied; 45 national people" in status.output
    status = CliRunner().invoke(sync_cli, ["--data-dir", str(settings.data_dir), "status", "--json"])
    assert json.loads(status.output)["roster"]["cursor"] == 45


def test_a_bad_roster_file_is_refused_whole(hub, tmp_path):
    school_id = hub.add_school("Careful school").school_id
    bad = ("national_id,name,role,class,grade\n"
           "A1,Good Person,student,7A,7\n"
           "A2,,student,7A,7\n"
           "A3,Bad Role,pupil,7A,7\n"
           "A1,Twice,student,7A,7\n"
           "A4,No Grade,student,7A,\n")
    with pytest.raises(RuntimeError) as failed:
        import_csv(hub, tmp_path, school_id, bad)
    message = str(failed.value)
    assert ":3: name must be 1-120 characters" in message
    assert ":4: role must be student or teacher" in message
    assert ":5: national_id A1 is also on line 2" in message
    assert ":6: a class needs its grade" in message
    assert "nothing was imported" in message
    assert hub_people(hub, school_id) == {}
    with pytest.raises(RuntimeError, match="unknown column"):
        import_csv(hub, tmp_path, school_id, "national_id,name,role,shoe size\nA1,X,student,42\n")


# --- national assignments ---------------------------------------------------------------------------------

def test_national_work_reaches_the_grade_and_teachers_cannot_change_it(app, settings, school, client, hub, link,
                                                                         tmp_path):
    agent, school_id = enrolled_agent(app, settings, hub, link)
    room_a = accounts.create_classroom("7А", 7)
    room_b = accounts.create_classroom("7Б", 7)
    accounts.enrol(school.teacher, room_a)
    sent = json.loads(hub.cli("assignment", "send", "--title", "Diagnostic, grade 7", "--pack", "kz.national.diag7",
                              "--node", "diag.quiz", "--grade", "7", "--school", school_id, "--quiz",
                              "--due", "2099-05-20", "--json"))
    other = hub.add_school("Another school").school_id
    hub.cli("assignment", "send", "--title", "Elsewhere", "--pack", "p", "--node", "n", "--grade", "7",
            "--school", other)
    assert sync_until_ok(agent) == 0

    given = list(Assignment.select().where(Assignment.national_id.is_null(False)))
    assert {a.classroom_id for a in given} == {room_a.id, room_b.id}  # grade 7 only, in this school only
    assert {a.national_id for a in given} == {sent["id"]}
    assert all(a.kind == "quiz" and a.due_at == datetime.datetime(2099, 5, 20, 23, 59, 59) for a in given)
    mine = next(a for a in given if a.classroom_id == room_a.id)
    assert [(p.pack_id, p.node_id) for p in AssignmentItem.select().where(AssignmentItem.assignment == mine.id)] == [
        ("kz.national.diag7", "diag.quiz")]

    sign_in_as(client, school, "teacher")
    page = client.get(f"/coach/class/{room_a.id}").get_data(as_text=True)
    assert "National" in page
    page = client.get(f"/coach/assignment/{mine.id}").get_data(as_text=True)
    assert "National" in page and "waiting for content" in page and "edit-heading" not in page
    for action in ("edit", "targets", "close", "own"):
        assert post(client, f"/coach/assignment/{mine.id}/{action}", {"title": "Mine now"}).status_code == 403
    part = AssignmentItem.get(AssignmentItem.assignment == mine.id)
    assert post(client, f"/coach/assignment/{mine.id}/part/{part.id}/remove").status_code == 403
    assert Assignment.get_by_id(mine.id).title == "Diagnostic, grade 7" and part.get_id()

    # A grade-7 class made later gets it too; withdrawing closes it everywhere.
    late = accounts.create_classroom("7В", 7)
    hub.cli("assignment", "withdraw", sent["id"])
    assert sync_until_ok(agent) == 0
    assert Assignment.select().where(Assignment.national_id == sent["id"]).count() == 2
    assert all(a.closed_at is not None for a in Assignment.select().where(Assignment.national_id == sent["id"]))
    assert not Assignment.select().where(Assignment.classroom == late.id).exists()  # withdrawn before it came


def test_national_deactivation_keeps_the_records(app, settings, school, hub, link, tmp_path):
    agent, school_id = enrolled_agent(app, settings, hub, link)
    import_csv(hub, tmp_path, school_id, "national_id,name,role,class,grade\nD1,Leaving Pupil,student,8A,8\n")
    assert agent.sync().ok
    pupil = national("D1")
    record(pupil, new_device_id(), Interaction(verb="opened", pack_id="p", node_id="n", node_kind="lesson",
                                               language="kk"))
    hub.cli("roster", "deactivate", "D1")
    assert agent.sync().ok
    pupil = national("D1")
    assert not pupil.is_active
    assert LearningRecord.select().where(LearningRecord.user == pupil.id).count() == 1
    assert classes_of(pupil) == {"8A"}
    view = keyed(hub_view(hub, school_id))
    assert view["D1"]["active"] is False
    hub.cli("roster", "deactivate", "D1", "--undo")
    assert agent.sync().ok and national("D1").is_active



def test_a_roster_failure_is_its_own_and_leaves_the_records_sync_a_success(app, settings, school, hub, link, tmp_path):
    """The records went through: a roster step that fails after them is reported as the roster's, the
    sync itself (sync_state, sync_log, the backoff) is a success."""
    agent, school_id = enrolled_agent(app, settings, hub, link)
    pupil = accounts.create_user(None, "Local Pupil", "student")
    for _ in range(3):
        record(pupil, new_device_id(), Interaction(verb="opened", pack_id="p", node_id="n", node_kind="lesson",
                                                   language="kk"))
    roster_sync.state()
    RosterState.update(cursor=10_000).where(RosterState.id == 1).execute()  # past the hub's feed: a real 409

    lines: list[str] = []
    outcome = agent.sync(progress=lines.append)
    assert outcome.ok and outcome.code is None and outcome.error is None
    assert outcome.records == 3 and state_row().acked_seq == 3  # the hub acknowledged them
    assert outcome.roster_error and outcome.roster_error.startswith("conflict:")
    assert any(line.startswith("roster: failed (conflict)") for line in lines)
    state = state_row()
    assert state.last_error is None and state.last_error_code is None and state.last_success_at is not None
    newest = SyncLog.select().order_by(SyncLog.id.desc()).get()
    assert newest.ok and newest.error is None
    assert agent.failures == 0
    assert RosterState.get_by_id(1).last_error.startswith("conflict:")
    status = CliRunner().invoke(sync_cli, ["--data-dir", str(settings.data_dir), "status"])
    assert "FAILED" not in status.output and "roster error:     conflict:" in status.output
    once = CliRunner().invoke(sync_cli, ["--data-dir", str(settings.data_dir), "once"])
    assert once.exit_code == 1 and "roster: failed (conflict)" in once.output  # a step failed: it says so

    RosterState.update(cursor=0).where(RosterState.id == 1).execute()
    outcome = agent.sync()
    assert outcome.ok and outcome.roster_error is None and RosterState.get_by_id(1).last_error is None

# --- permissions ------------------------------------------------------------------------------------------

def test_a_school_reads_only_its_own_feed(hub):
    mine, theirs = hub.add_school("Mine"), hub.add_school("Theirs")
    session = requests.Session()
    session.trust_env = False

    def get(path: str, school_id: str, secret: str) -> requests.Response:
        headers = protocol.sign_request(school_id, secret, "GET", path, b"")
        return session.get(hub.url + path, headers=headers, timeout=10)

    assert get("/api/v1/roster/changes?after=0", mine.school_id, mine.secret).status_code == 200
    refused = get(f"/api/v1/roster/changes?after=0&school={theirs.school_id}", mine.school_id, mine.secret)
    assert refused.status_code == 403 and refused.json()["error"] == "wrong_school"
    forged = get("/api/v1/roster/changes?after=0", theirs.school_id, mine.secret)
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    assert session.get(hub.url + "/api/v1/roster/changes?after=0", timeout=10).status_code == 401
    # The signature covers the query: a cursor changed on the way is refused.
    headers = protocol.sign_request(mine.school_id, mine.secret, "GET", "/api/v1/roster/changes?after=0", b"")
    assert session.get(hub.url + "/api/v1/roster/changes?after=5", headers=headers, timeout=10).status_code == 401
