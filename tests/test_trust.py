"""The chain of trust from the national key to the school, against a hostile network: the real hub
(`classroom-hub serve` on loopback) and, in front of it, a hostile hub (tests/hostilehub.py, a process
of its own) that changes answers, plays old ones back, or knows the school's leaked secret.

- enrolment pins the national key by the fingerprint given out of band, and refuses a hub without it;
- a new key is trusted only when a trusted key signed the hand-over (`classroom-hub keys rotate`);
- every hub answer the agent acts on is authenticated: changed, stripped or replayed answers change
  nothing and are reported in `classroom-sync status` and on the admin page;
- an http:// hub needs --insecure-http, and the admin page warns about it in kk, ru and en;
- a refused download leaves nothing in downloads/.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from classroom_server.accounts import services as accounts
from classroom_server.admin.sync import national_keys, state_row, sync_status, trust_config, trust_events
from classroom_server.learn.records import Interaction, new_device_id, record
from classroom_server.models import ContentPack, SchoolSetting, SyncState, User
from content_packs import signing
from sync.agent import Agent, main as sync_cli
from sync.agent.content import Downloader
from sync.agent.status import status_lines

from . import browsertesting
from .browsertesting import PHONE, assert_no_horizontal_scroll, axe_report, expect, sign_in_staff
from .contentsync import hub, school_dir  # noqa: F401  (fixtures)
from .contentsync import open_agent
from .helpers import sign_in_as
from .hostilehub import HostileHub
from .hubprocess import HubProcess
from .packs import build, make_key, pack_source

pytestmark = pytest.mark.slow  # a real hub subprocess on loopback

# The browser fixtures of tests/browsertesting.py (one Chromium per file), for the admin page's trust panel.
browser = browsertesting.browser
new_page = browsertesting.new_page


# --- fixtures and helpers ---------------------------------------------------------------------------

@pytest.fixture
def hostile(hub, tmp_path):
    with HostileHub(tmp_path / "hostile", upstream=hub.url) as running:
        yield running


def enroll(folder: Path, url: str, enrolment, tmp_path: Path, fingerprint: str, *extra: str):
    secret_file = tmp_path / f"secret-{enrolment.school_id}"
    secret_file.write_text(enrolment.secret + "\n", encoding="ascii")
    return CliRunner().invoke(sync_cli, ["--data-dir", str(folder), "enroll", "--hub", url, "--school-id",
                                         enrolment.school_id, "--secret-file", str(secret_file),
                                         "--national-key", fingerprint, *extra])


def enrolled(hub, url: str, folder: Path, tmp_path: Path):
    enrolment = hub.add_school("Trusting school")
    result = enroll(folder, url, enrolment, tmp_path, hub.fingerprint(), "--insecure-http")
    assert result.exit_code == 0, result.output
    return open_agent(folder), enrolment


def small_pack(tmp_path: Path, pack_id: str, key: Path | None = None, files: int = 3) -> Path:
    extra = {f"media/part-{n}.bin": hashlib.sha256(f"{pack_id}-{n}".encode()).digest() * 2000 for n in range(files)}
    source = pack_source(tmp_path / f"src-{pack_id}", pack_id=pack_id, extra_files=extra)
    return build(source, tmp_path / f"{pack_id}.ckpack", key)


def content(agent: Agent, **options):
    return Downloader(agent.client, retry_failed=options.pop("retry_failed", True), **options).run()


def kinds() -> list[str]:
    return [event.kind for event in trust_events(limit=30)]


def downloads_left(agent: Agent) -> list[str]:
    folder = agent.settings.data_dir / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def hostile_pack(tmp_path: Path, blobs: Path, pack_id: str, key: Path) -> dict:
    """A pack signed by `key`, its blobs in `blobs` (as a hostile hub serves them), and its catalog entry."""
    path = small_pack(tmp_path, pack_id, key)
    blobs.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as archive:
        raw, sig = archive.read("pack.json"), archive.read("pack.sig")
        manifest = json.loads(raw)
        size = len(raw) + len(sig)
        for entry in manifest["files"]:
            data = archive.read(entry["path"])
            (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
            size += len(data)
    for data in (raw, sig):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    return {"id": pack_id, "version": manifest["version"], "title": manifest["title"],
            "manifest_sha256": hashlib.sha256(raw).hexdigest(), "manifest_size": len(raw),
            "signature_sha256": hashlib.sha256(sig).hexdigest(), "signature_size": len(sig),
            "size": size, "published_at": "2026-12-01T00:00:00Z"}


# --- the rules (pure) -------------------------------------------------------------------------------

KEYS = [signing.load_private_key_bytes(signing.generate_key()[0]) for _ in range(4)]
A, B, C, D = (signing.public_key_of(k) for k in KEYS)
AB = signing.rotation_statement(KEYS[0], KEYS[1], "2026-01-01T00:00:00Z")
BC = signing.rotation_statement(KEYS[1], KEYS[2], "2026-06-01T00:00:00Z")
FORGED = {**signing.rotation_statement(KEYS[3], KEYS[3], "2026-07-01T00:00:00Z"), "previous": A}
REDATED = {**AB, "made_at": "2027-01-01T00:00:00Z"}
VOUCH = signing.vouch_statement(KEYS[2], A, "2026-08-01T00:00:00Z")


@pytest.mark.parametrize("trusted,published,rotations,after,added,dropped,unvouched,bad,gone", [
    ([A], [C, B, A], [AB, BC], {A, B, C}, {B, C}, set(), set(), 0, ()),  # forward along the hand-overs
    ([C], [C, B, A], [AB, BC], {A, B, C}, {A, B}, set(), set(), 0, ()),  # pinned to the newest: it vouches back
    ([A], [C], [AB, BC], {C}, {C}, {A}, set(), 0, ()),  # through B, which is no longer published
    ([A], [D, A], [], {A}, set(), set(), {D}, 0, ()),  # listed, but nobody handed over to it
    ([A], [D, A], [FORGED], {A}, set(), set(), {D}, 1, ()),  # a hand-over A never signed
    ([A], [B, A], [REDATED], {A}, set(), set(), {B}, 1, ()),  # a signed statement changed afterwards
    ([], [A, B], [AB], set(), set(), set(), {A, B}, 0, ()),  # nothing pinned: nothing trusted
    ([B], [B, A], [AB], {B}, set(), set(), set(), 0, (A,)),  # a key dropped before stays out
    ([C], [C, A], [VOUCH], {A, C}, {A}, set(), set(), 0, ()),  # C vouched for A
    ([A], [C, A], [VOUCH], {A}, set(), set(), {C}, 0, ()),  # ... which makes nobody trusting A trust C
    ([A], [D, A], [{**VOUCH, "key": D}], {A}, set(), set(), {D}, 1, ()),  # a vouch D did not sign
])
def test_trust_follows_only_hand_overs_signed_by_both_keys(trusted, published, rotations, after, added, dropped,
                                                          unvouched, bad, gone):
    change = signing.extend_trust(trusted, published, rotations, dropped_before=gone)
    assert set(change.trusted) == after and {key for key, _ in change.added} == added
    assert set(change.dropped) == dropped and set(change.unvouched) == unvouched
    assert len(change.bad_statements) == bad


@pytest.mark.parametrize("typed,same", [
    ("{fp}", True), ("{fp_upper}", True), ("SHA256:{fp_colons}", True), ("{fp_short}", False), ("", False),
])
def test_a_fingerprint_is_matched_however_it_is_spaced(typed, same):
    printed = signing.fingerprint(A)
    typed = typed.format(fp=printed, fp_upper=printed.upper().replace(" ", ""), fp_colons=printed.replace(" ", ":"),
                         fp_short=printed[:-5])
    assert signing.same_fingerprint(A, typed) is same


@pytest.mark.parametrize("change", ["secret", "method", "path", "nonce", "status", "body"])
def test_an_answer_signature_holds_for_that_answer_to_that_request_only(change):
    from sync import protocol
    answer = dict(secret="s3cret", method="GET", path="/api/v1/catalog", nonce="a" * 32, status=200, body=b"{}")
    given = protocol.sign_answer(**answer)
    assert protocol.answer_is_authentic(**answer, given=given)
    other = {"secret": "other", "method": "POST", "path": "/api/v1/keys", "nonce": "b" * 32, "status": 201,
             "body": b'{"x": 1}'}
    assert not protocol.answer_is_authentic(**{**answer, change: other[change]}, given=given)


# --- pinning at enrolment ---------------------------------------------------------------------------

def test_enrolment_pins_the_key_given_out_of_band_and_refuses_a_hub_without_it(hub, hostile, school_dir, tmp_path):
    enrolment = hub.add_school("Pinned school")
    other = signing.fingerprint(signing.generate_key()[1])
    result = enroll(school_dir, hub.url, enrolment, tmp_path, other, "--insecure-http")
    assert result.exit_code == 1
    assert f"does not publish the national key with fingerprint {other}" in result.output
    assert "Nothing was changed" in result.output
    assert state_row().hub_url is None and not (school_dir / "keys" / "hub-secret").exists() and national_keys() == ()

    # Someone on the way who even has the school's secret (a leaked letter) offers its own key: refused.
    _, its_key = signing.generate_key()
    hostile.set(secret=enrolment.secret, keys={"keys": [its_key], "rotations": []})
    result = enroll(school_dir, hostile.url, enrolment, tmp_path, hub.fingerprint(), "--insecure-http")
    assert result.exit_code == 1 and "does not publish the national key" in result.output
    assert signing.fingerprint(its_key) in result.output and state_row().hub_url is None

    result = enroll(school_dir, hub.url, enrolment, tmp_path, hub.fingerprint().replace(" ", ":").upper(),
                    "--insecure-http")
    assert result.exit_code == 0, result.output
    current = hub.cli("keys", "show").split()[0]
    assert national_keys() == (current,)
    lines = "\n".join(status_lines(sync_status()))
    assert f"{signing.fingerprint(current)}  (pinned)" in lines and "pinned the national key" in lines


def test_a_fingerprint_that_is_not_one_is_refused_saying_what_it_is(hub, school_dir, tmp_path):
    result = enroll(school_dir, hub.url, hub.add_school("Typo school"), tmp_path, "12ab", "--insecure-http")
    assert result.exit_code == 2 and "64 hex digits" in result.output


# --- plain http -------------------------------------------------------------------------------------

def test_an_http_hub_needs_insecure_http_and_stays_refused_without_it(hub, school_dir, tmp_path):
    enrolment = hub.add_school("Lab school")
    result = enroll(school_dir, hub.url, enrolment, tmp_path, hub.fingerprint())
    assert result.exit_code == 2 and "plain http://" in result.output and "--insecure-http" in result.output
    assert state_row().hub_url is None

    result = enroll(school_dir, hub.url, enrolment, tmp_path, hub.fingerprint(), "--insecure-http")
    assert result.exit_code == 0 and "plain http://" in result.output
    agent = open_agent(school_dir)
    assert agent.sync().ok
    assert "WARNING plain http://" in "\n".join(status_lines(sync_status()))

    # The allowance is for that address only: the same school pointed at another http:// address is not.
    SyncState.update(hub_url=hub.url.replace("127.0.0.1", "localhost")).where(SyncState.id == 1).execute()
    outcome = agent.sync()
    assert outcome.code == "insecure" and "not https://" in outcome.error


# --- upgrade ---------------------------------------------------------------------------------------

def test_a_school_enrolled_by_an_older_agent_keeps_working(hub, school_dir, tmp_path):
    agent, enrolment = enrolled(hub, hub.url, school_dir, tmp_path)
    trusted = national_keys()
    # What an older agent leaves: the keys it fetched and an http:// hub, no pin, no allowance, no events.
    SchoolSetting.delete().where(SchoolSetting.key.in_(["sync.trust", "sync.trust_events"])).execute()
    hub.cli("pack", "publish", str(small_pack(tmp_path, "legacy.pack")), "--school", enrolment.school_id)
    assert agent.sync().ok
    assert content(agent).installed == ["legacy.pack 1.0.0"]
    assert national_keys() == trusted and trust_config()["pinned"] == signing.fingerprint(trusted[0])
    assert {"legacy", "insecure"} <= set(kinds())
    assert "WARNING insecure" in "\n".join(status_lines(sync_status()))


# --- key rotation -----------------------------------------------------------------------------------

def test_a_rotated_key_is_followed_and_a_key_nobody_handed_over_to_is_not(school_dir, tmp_path):
    with HubProcess(tmp_path / "rotating-hub") as hub:
        hub.cli("keys", "generate")
        first = hub.cli("keys", "show").split()[0]
        agent, enrolment = enrolled(hub, hub.url, school_dir, tmp_path)
        hub.cli("pack", "publish", str(small_pack(tmp_path, "before.rotation")), "--school", enrolment.school_id)
        assert content(agent).installed == ["before.rotation 1.0.0"]

        second = hub.cli("keys", "rotate").strip()
        hub.cli("pack", "publish", str(small_pack(tmp_path, "after.rotation")), "--school", enrolment.school_id)
        outcome = content(agent)
        assert outcome.installed == ["after.rotation 1.0.0"]
        assert set(national_keys()) == {first, second} and "rotated" in kinds()

        # A key replaced without a hand-over (`generate --force`) is not trusted: its packs are refused,
        # and the keys trusted before stay (the hub still publishes them).
        third = hub.cli("keys", "generate", "--force").strip()
        hub.cli("pack", "publish", str(small_pack(tmp_path, "no.handover")), "--school", enrolment.school_id)
        outcome = content(agent)
        assert outcome.failed == ["no.handover 1.0.0"] and downloads_left(agent) == []
        assert set(national_keys()) == {first, second}
        assert kinds()[0] == "unvouched" and signing.fingerprint(third) in trust_events()[0].message

        # The operator pins the new key, given out of band: its packs install.
        result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "keys", "pin", hub.fingerprint()])
        assert result.exit_code == 0, result.output
        agent = open_agent(school_dir)
        assert third in national_keys() and content(agent).installed == ["no.handover 1.0.0"]

        # A key the platform stops publishing is dropped, and said so.
        hub.cli("keys", "generate", "--force", "--forget-old")
        content(agent)
        assert third not in national_keys() and "dropped" in kinds()
        shown = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "keys", "show"]).output
        assert f"no longer publishes the key {signing.fingerprint(third)}" in shown


def test_a_key_the_platform_stopped_publishing_is_not_taken_back_on_the_hubs_word(school_dir, tmp_path):
    with HubProcess(tmp_path / "forgetting-hub") as hub:
        hub.cli("keys", "generate")
        first = hub.cli("keys", "show").split()[0]
        agent, _ = enrolled(hub, hub.url, school_dir, tmp_path)
        second = hub.cli("keys", "rotate").strip()
        content(agent)
        assert set(national_keys()) == {first, second}
        retired = hub.folder / "keys" / "national-retired-keys.txt"
        retired.write_text("")  # the platform stops publishing the first key (it leaked)
        content(agent)
        assert national_keys() == (second,) and "dropped" in kinds()
        # Published again (by whoever has the leaked key and the school's secret): the rotation statement
        # that linked it to the second key is still there, but a dropped key does not come back.
        retired.write_text(first + "\n")
        content(agent)
        assert national_keys() == (second,)
        assert "which this school dropped" in trust_events()[0].message


def test_a_hub_with_the_leaked_secret_cannot_bring_in_its_own_key_or_pack(hub, hostile, school_dir, tmp_path):
    agent, enrolment = enrolled(hub, hostile.url, school_dir, tmp_path)
    trusted = national_keys()
    key_path, its_key = make_key(tmp_path)
    entry = hostile_pack(tmp_path, tmp_path / "its-blobs", "hostile.pack", key_path)
    # A statement claiming the national key handed over to its key: it cannot make the old key's signature.
    forged = signing.rotation_statement(signing.load_private_key(key_path), signing.load_private_key(key_path),
                                        "2026-12-01T00:00:00Z")
    forged["previous"] = trusted[0]
    hostile.set(secret=enrolment.secret, keys={"keys": [its_key, *trusted], "rotations": [forged]},
                catalog_packs=[entry], blob_base_url_self=True, blobs=str(tmp_path / "its-blobs"))
    outcome = content(agent)
    assert outcome.failed == ["hostile.pack 1.0.0"] and outcome.installed == []
    assert ContentPack.get_or_none(ContentPack.pack_id == "hostile.pack") is None
    assert national_keys() == trusted
    assert {"unvouched", "bad_rotation"} <= set(kinds())
    assert downloads_left(agent) == []  # its pack.json and pack.sig came down and were refused: gone


# --- every answer authenticated ------------------------------------------------------------------------

def test_answers_changed_on_the_way_change_nothing_and_are_reported(hub, hostile, school_dir, tmp_path):
    agent, enrolment = enrolled(hub, hostile.url, school_dir, tmp_path)
    hub.cli("pack", "publish", str(small_pack(tmp_path, "real.pack")), "--school", enrolment.school_id)
    assert content(agent).installed == ["real.pack 1.0.0"] and agent.sync().ok
    trusted, acked = national_keys(), state_row().acked_seq
    _, its_key = signing.generate_key()

    hostile.set(keys={"keys": [its_key], "rotations": []})
    outcome = content(agent)
    assert outcome.code == "unauthenticated" and "GET /api/v1/keys" in outcome.error
    assert national_keys() == trusted

    hostile.set(withdraw=[{"id": "real.pack", "version": "1.0.0"}])
    outcome = content(agent)
    assert outcome.code == "unauthenticated" and "GET /api/v1/catalog" in outcome.error
    assert ContentPack.get_or_none(ContentPack.pack_id == "real.pack") is not None

    person = {"national_id": "FAKE1", "name": "Fake Pupil", "role": "student", "class": "5A", "grade": 5,
              "active": True, "left": False, "version": 1, "class_changed_at": None}
    hostile.set(roster_changes=[{"seq": 1, "kind": "person", "data": person}])
    outcome = agent.sync()
    assert outcome.code == "unauthenticated" and "/api/v1/roster/changes" in outcome.error
    assert User.get_or_none(User.national_id == "FAKE1") is None

    hostile.set(cursor=acked + 1000)
    outcome = agent.sync()
    assert outcome.code == "unauthenticated" and "/api/v1/records/cursor" in outcome.error
    assert state_row().acked_seq == acked

    student = accounts.create_user(None, "Pupil", "student")
    for _ in range(3):
        record(student, new_device_id(), Interaction(verb="opened", pack_id="real.pack", node_id="intro",
                                                     node_kind="lesson", language="kk"))
    hostile.set(ack=acked + 3 + 1000)
    outcome = agent.sync()
    assert outcome.code == "unauthenticated" and "POST /api/v1/records" in outcome.error
    assert state_row().acked_seq == acked  # the hub holds them now, but the agent took no word for it

    hostile.set(strip_signature=True)
    outcome = agent.sync()
    assert outcome.code == "unauthenticated" and "carries no X-Classroom-Answer-Signature" in outcome.error

    lines = "\n".join(status_lines(sync_status()))
    assert "WARNING unauthenticated" in lines and "FAILED (unauthenticated)" in lines
    hostile.set()  # the way is clean again: everything works as before
    assert agent.sync().ok and content(agent).ok and state_row().acked_seq == acked + 3


def test_an_answer_played_back_is_refused(hub, hostile, school_dir, tmp_path):
    agent, enrolment = enrolled(hub, hostile.url, school_dir, tmp_path)
    hub.cli("pack", "publish", str(small_pack(tmp_path, "kept.pack")), "--school", enrolment.school_id)
    hostile.set(replay=True)  # it keeps the first answer per path; those pass, being the hub's own
    assert content(agent).installed == ["kept.pack 1.0.0"]
    hub.cli("pack", "withdraw", "kept.pack", "--version", "1.0.0")
    outcome = content(agent)  # the old catalog, still listing the pack, signed for an earlier request
    assert outcome.code == "unauthenticated" and "has a wrong X-Classroom-Answer-Signature" in outcome.error
    hostile.set()
    assert content(agent).removed == ["kept.pack 1.0.0"]  # the real answer is acted on


# --- downloads refused --------------------------------------------------------------------------------

def test_a_blob_with_a_bad_hash_leaves_nothing_in_downloads(hub, hostile, school_dir, tmp_path):
    agent, enrolment = enrolled(hub, hostile.url, school_dir, tmp_path)
    path = small_pack(tmp_path, "bad.hash", files=4)
    hub.cli("pack", "publish", str(path), "--school", enrolment.school_id)
    with zipfile.ZipFile(path) as archive:
        data = bytearray(archive.read("media/part-2.bin"))
    sha = hashlib.sha256(data).hexdigest()
    data[100] ^= 0xFF  # the same size, one byte changed: only the hash can tell
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / sha).write_bytes(bytes(data))
    hostile.set(blobs=str(tmp_path / "wrong"))
    outcome = content(agent)
    assert outcome.failed == ["bad.hash 1.0.0"]
    assert ContentPack.get_or_none(ContentPack.pack_id == "bad.hash") is None
    assert downloads_left(agent) == []  # not the good files that came with it, nor pack.json and pack.sig


# --- the admin page ---------------------------------------------------------------------------------

@pytest.mark.parametrize("language,insecure,refused", [
    ("en", "reached over plain http://", "An answer that did not come from the national platform was refused"),
    ("ru", "по незащищённому http://", "Отклонён ответ, который пришёл не от национальной платформы"),
    ("kk", "қорғалмаған http://", "Ұлттық платформадан келмеген жауап қабылданбады"),
])
def test_the_admin_page_warns_of_http_and_refused_answers(hub, hostile, settings, client, school, tmp_path,
                                                          language, insecure, refused):
    agent, _ = enrolled(hub, hostile.url, settings.data_dir, tmp_path)
    hostile.set(strip_signature=True)
    assert agent.sync().code == "unauthenticated"
    sign_in_as(client, school, "admin")
    page = client.get("/admin/sync", headers={"Accept-Language": language}).get_data(as_text=True)
    assert insecure in page and refused in page
    assert signing.fingerprint(national_keys()[0]) in page


@pytest.mark.browser
def test_the_trust_panel_passes_axe_and_fits_a_phone_in_every_language(new_page, school, settings):
    from sync.agent import trust
    key, stranger = signing.generate_key()[1], signing.generate_key()[1]
    state_row()
    SyncState.update(hub_url="http://hub.lab:8800", school_id="sch-lab7").where(SyncState.id == 1).execute()
    trust.save_pinned(key, signing.extend_trust([key], [key], []), "http://hub.lab:8800", insecure_http=True)
    trust.note("unvouched", "the hub publishes the key ... but no key this school trusts signed a hand-over to it",
               stranger)
    for _ in range(3):
        trust.note("unauthenticated", "the answer to GET /api/v1/catalog from http://hub.lab:8800 carries no "
                                      "X-Classroom-Answer-Signature: nothing was changed")
    reports = []
    for viewport in ({"width": 1280, "height": 800}, PHONE):
        page = new_page(viewport=viewport)
        sign_in_staff(page, "boss")  # in English: the choice below is the account's, English comes last
        page.goto("/admin/sync")
        for language, button in (("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")):
            page.get_by_role("button", name=button).click()
            expect(page.locator("html")).to_have_attribute("lang", language)
            expect(page.locator("main")).to_contain_text(signing.fingerprint(key))
            if viewport is PHONE:
                assert_no_horizontal_scroll(page, f"admin sync page with trust events ({language})")
            else:
                reports.append(axe_report(page, f"admin sync page with trust events ({language})"))
    found = "\n".join(report for report in reports if report)
    assert not found, "axe-core found accessibility problems:\n" + found


def test_every_sync_error_code_is_explained_in_the_guide_and_on_the_admin_page():
    from classroom_server.admin.sync import ERROR_CODES
    root = Path(__file__).resolve().parent.parent
    guide = (root / "docs" / "sync.md").read_text(encoding="utf-8")
    page = (root / "classroom_server" / "admin" / "templates" / "admin" / "_sync_problems.html").read_text(
        encoding="utf-8")
    assert [code for code in ERROR_CODES if f"| `{code}` |" not in guide] == []
    assert [code for code in ERROR_CODES if f'"{code}": _(' not in page] == []


@pytest.mark.parametrize("method,path,body,status", [
    ("GET", "/api/v1/keys", b"", 200),
    ("GET", "/api/v1/catalog", b"", 200),
    ("GET", "/api/v1/records/cursor", b"", 200),
    ("GET", "/api/v1/roster/changes?after=0&limit=5", b"", 200),
    ("GET", "/api/v1/roster/changes?after=99", b"", 409),  # a refusal after authentication is signed too
    ("POST", "/api/v1/state", b'{"packs": []}', 200),
    ("POST", "/api/v1/state", b'{"packs": 7}', 400),
])
def test_the_hub_signs_every_answer_to_a_signed_request_and_no_other(hub, method, path, body, status):
    import requests

    from sync import protocol
    enrolment = hub.add_school("Signed answers")
    session = requests.Session()
    session.trust_env = False
    headers = protocol.sign_request(enrolment.school_id, enrolment.secret, method, path, body)
    answer = session.request(method, hub.url + path, data=body, timeout=30,
                             headers={**headers, "Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert protocol.answer_is_authentic(enrolment.secret, method, path, headers[protocol.HEADER_NONCE],
                                        answer.status_code, answer.content,
                                        answer.headers.get(protocol.HEADER_ANSWER_SIGNATURE)), answer.text
    refused = session.request(method, hub.url + path, data=body, timeout=30,
                              headers={**protocol.sign_request(enrolment.school_id, "wrong", method, path, body),
                                       "Content-Type": "application/json"})
    assert refused.status_code == 401 and protocol.HEADER_ANSWER_SIGNATURE not in refused.headers
    ping = session.get(hub.url + "/api/v1/ping", timeout=30)
    assert ping.status_code == 200 and protocol.HEADER_ANSWER_SIGNATURE not in ping.headers


def test_a_school_pinned_to_the_current_key_installs_packs_a_key_replaced_before_signed(school_dir, tmp_path):
    """`keys generate --force` (or a hub from before rotation statements) leaves an old key no statement
    links to: `keys vouch` has the current key vouch for it, one way only."""
    with HubProcess(tmp_path / "vouching-hub") as hub:
        hub.cli("keys", "generate")
        old = hub.cli("keys", "show").split()[0]
        early = hub.add_school("Early school")
        hub.cli("pack", "publish", str(small_pack(tmp_path, "old.signed")), "--school", early.school_id)
        hub.cli("keys", "generate", "--force")  # it vouches for the old key by itself now...
        (hub.folder / "keys" / "national-rotations.json").unlink()  # ...a hub from before this version did not
        agent, enrolment = enrolled(hub, hub.url, school_dir, tmp_path)  # pinned to the new key
        # the same pack again, for this school too: it stays signed by the old key
        hub.cli("pack", "publish", str(small_pack(tmp_path, "old.signed")), "--school", enrolment.school_id)
        assert content(agent).failed == ["old.signed 1.0.0"] and old not in national_keys()
        assert f"vouched for {old}" in hub.cli("keys", "vouch")
        assert "nothing to do" in hub.cli("keys", "vouch")
        assert content(agent).installed == ["old.signed 1.0.0"] and old in national_keys()
        assert "rotated" in kinds()
