"""Content downstream, hub side: the national key, publishing, per-school catalogs, blobs and school state.

The real hub (`classroom-hub init`, `keys generate`, `pack publish`, `serve --port 0`) as subprocesses
on loopback, on PostgreSQL when CLASSROOM_TEST_POSTGRES_URL names a server, else on a SQLite file.
Schools talk to it with signed requests, as their agents do.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import stat
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from content_packs import signing
from content_packs.builder import build_pack
from content_packs.samples import HERE as SAMPLES
from sync import protocol
from tests.helpers import check_rfc9110_answers
from tests.hubprocess import HubProcess, console_script
from tests.packs import pack_source

pytestmark = pytest.mark.slow  # a real hub subprocess on loopback

REPO = Path(__file__).resolve().parent.parent
MATH_VERSION = json.loads((SAMPLES / "math5-fractions" / "pack.json").read_text(encoding="utf-8"))["version"]
TOKEN = "content-dashboard-token"


@dataclass
class School:
    school_id: str
    secret: str
    region: str


def run(hub: HubProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([console_script("classroom-hub"), *args], env=hub.env, capture_output=True, text=True,
                          timeout=120)


def ok(hub: HubProcess, *args: str) -> str:
    done = run(hub, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def refused(hub: HubProcess, *args: str) -> str:
    done = run(hub, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stderr


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def signed(hub: HubProcess, school: School, method: str, path: str, body: bytes = b"", secret: str | None = None,
           headers: dict | None = None, sign: bool = True) -> requests.Response:
    sent = {"User-Agent": "classroom-sync/7.7.7-test"}
    if method == "POST":
        sent["Content-Type"] = "application/json"
    if sign:
        sent.update(protocol.sign_request(school.school_id, secret or school.secret, method, path, body))
    sent.update(headers or {})
    return http().request(method, hub.url + path, data=body, headers=sent, timeout=60)


def catalog(hub: HubProcess, school: School, **kwargs) -> dict:
    response = signed(hub, school, "GET", "/api/v1/catalog", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def listed(body: dict) -> dict[str, str]:
    return {p["id"]: p["version"] for p in body["packs"]}


def enrol(hub: HubProcess, name: str, region: str) -> School:
    answer = json.loads(ok(hub, "school", "add", name, "--region", region, "--json"))
    return School(answer["school_id"], answer["secret"], region)


def small_pack(folder: Path, pack_id: str, version: str, status: str = "approved", text: str = "") -> Path:
    source = pack_source(folder / f"src-{pack_id}-{version}-{status}", pack_id=pack_id, version=version,
                         status=status, lesson_text=text or f"{pack_id} {version}")
    out = folder / f"{pack_id}-{version}-{status}.ckpack"
    build_pack(source, out)
    return out


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    process = HubProcess(tmp_path_factory.mktemp("content-hub"))
    process.env["CLASSROOM_HUB_DASHBOARD_TOKEN"] = TOKEN
    with process:
        ok(process, "keys", "generate")
        yield process


@pytest.fixture(scope="module")
def schools(hub) -> dict[str, School]:
    return {"north": enrol(hub, "North school", "North"), "south": enrol(hub, "South school", "South"),
            "listed": enrol(hub, "Listed school", "South")}


@pytest.fixture(scope="module")
def packs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packs")


@pytest.fixture(scope="module")
def math_pack(packs) -> Path:
    """The math sample pack, as the builder makes it (unsigned: the hub signs what it publishes)."""
    out = packs / "math5.ckpack"
    build_pack(SAMPLES / "math5-fractions", out)
    return out


def blob(hub: HubProcess, base: str, sha256: str, **headers) -> requests.Response:
    return http().get(base + sha256, headers=headers, timeout=60)


def trusted_keys(hub: HubProcess, school: School) -> tuple[str, ...]:
    response = signed(hub, school, "GET", "/api/v1/keys")
    assert response.status_code == 200, response.text
    return tuple(response.json()["keys"])


# --- keys ------------------------------------------------------------------------------------------

def test_keys_generate_refuses_to_overwrite_unless_forced(hub, schools):
    key_file = hub.folder / "keys" / "national-signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = ok(hub, "keys", "show").split()[0]
    assert trusted_keys(hub, schools["north"]) == (first,)

    message = refused(hub, "keys", "generate")
    assert "--force" in message and "keys rotate" in message
    assert ok(hub, "keys", "show").split()[0] == first

    second = ok(hub, "keys", "generate", "--force").strip()
    assert second != first and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = ok(hub, "keys", "show")
    assert shown.splitlines()[0].startswith(second) and first in shown.splitlines()[2]
    # The replaced key stays trusted, so packs it signed keep installing; the new one comes first.
    assert trusted_keys(hub, schools["south"]) == (second, first)
    assert signing.public_key_of(signing.load_private_key(key_file)) == second


def test_keys_generate_on_a_fresh_hub_and_forget_old(tmp_path):
    fresh = HubProcess(tmp_path / "fresh")
    try:
        assert "no national signing key" in refused(fresh, "keys", "show")
        first = ok(fresh, "keys", "generate").strip()
        assert len(first) == 44
        second = ok(fresh, "keys", "generate", "--force", "--forget-old").strip()
        shown = ok(fresh, "keys", "show").splitlines()
        assert shown == [f"{second}  current (signs new packs)", f"  fingerprint {signing.fingerprint(second)}"]
    finally:
        fresh.stop()


# --- publishing -----------------------------------------------------------------------------------

def test_publish_refuses_unreviewed_tampered_and_badly_targeted_packs(hub, schools, packs, math_pack):
    draft = small_pack(packs, "test.draft", "1.0.0", status="draft")
    assert "not reviewed" in refused(hub, "pack", "publish", str(draft), "--all-schools")

    tampered = packs / "math5-tampered.ckpack"
    with zipfile.ZipFile(math_pack) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "chapters/ch1.kk.html":
                data = data.replace(b"<p>", b"<P>", 1)  # same size, other bytes
            target.writestr(info, data)
    message = refused(hub, "pack", "publish", str(tampered), "--all-schools")
    assert "does not match its SHA-256" in message

    assert "--all-schools, --region" in refused(hub, "pack", "publish", str(math_pack))
    assert "no enrolled school 'sch-nobody'" in refused(hub, "pack", "publish", str(math_pack), "--school",
                                                        "sch-nobody")
    not_a_pack = packs / "not-a-pack.ckpack"
    not_a_pack.write_bytes(b"hello")
    assert "not a readable .ckpack" in refused(hub, "pack", "publish", str(not_a_pack), "--all-schools")

    for school in schools.values():
        body = catalog(hub, school)
        assert "kz.sample.math5-fractions" not in listed(body) and "test.draft" not in listed(body)
    assert not list((hub.folder / "blobs.incoming").glob("*"))  # nothing half-written left behind


def test_publish_signs_stores_blobs_and_lists_the_pack_for_every_school(hub, schools, math_pack):
    out = ok(hub, "pack", "publish", str(math_pack), "--all-schools")
    assert f"published kz.sample.math5-fractions {MATH_VERSION} to all schools" in out
    again = ok(hub, "pack", "publish", str(math_pack))
    assert "published already with this content" in again and "nothing changed" in again

    school = schools["north"]
    body = catalog(hub, school)
    assert body["protocol"] == 1 and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["generated_at"])
    assert body["blob_base_url"] == hub.url + "/blobs/"
    parsed = protocol.parse_catalog(body)  # what the school's agent reads it with
    assert "kz.sample.math5-fractions" in {p.id for p in parsed.packs}
    entry = next(p for p in body["packs"] if p["id"] == "kz.sample.math5-fractions")
    assert entry["version"] == MATH_VERSION and entry["title"]["kk"].startswith("Математика")

    # The school's whole path: pack.json by its hash, the signature by a trusted key, every file by hash.
    base = body["blob_base_url"]
    manifest = blob(hub, base, entry["manifest_sha256"]).content
    sig = blob(hub, base, entry["signature_sha256"]).content
    assert (len(manifest), len(sig)) == (entry["manifest_size"], entry["signature_size"])
    assert hashlib.sha256(manifest).hexdigest() == entry["manifest_sha256"]
    with zipfile.ZipFile(math_pack) as archive:
        assert manifest == archive.read("pack.json")  # the exact bytes the reviewers approved
    signing.verify(manifest, sig, trusted_keys(hub, school))
    files = json.loads(manifest)["files"]
    total = len(manifest) + len(sig)
    for item in files:
        data = blob(hub, base, item["sha256"]).content
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
        total += item["size"]
    assert entry["size"] == total
    for name in (hub.folder / "blobs").iterdir():
        assert re.match(r"^[0-9a-f]{64}$", name.name)
        assert hashlib.sha256(name.read_bytes()).hexdigest() == name.name


def test_downgrades_and_changed_content_under_one_version_are_refused(hub, schools, packs):
    two = small_pack(packs, "test.versions", "2.0.0")
    ok(hub, "pack", "publish", str(two), "--all-schools")
    older = small_pack(packs, "test.versions", "1.5.0")
    message = refused(hub, "pack", "publish", str(older), "--all-schools")
    assert "2.0.0 is published already and is newer than 1.5.0" in message
    changed = small_pack(packs, "test.versions", "2.0.0", text="other words", status="approved")
    changed_copy = packs / "changed.ckpack"
    changed_copy.write_bytes(changed.read_bytes())
    assert "published already with different content" in refused(hub, "pack", "publish", str(changed_copy),
                                                                  "--all-schools")
    newer = small_pack(packs, "test.versions", "2.0.10")  # 2.0.10 > 2.0.9 > 2.0.0: numbers, not text
    ok(hub, "pack", "publish", str(newer), "--all-schools")
    assert listed(catalog(hub, schools["south"]))["test.versions"] == "2.0.10"


def test_targeting_by_all_region_and_list(hub, schools, packs):
    north, south, chosen = schools["north"], schools["south"], schools["listed"]
    ok(hub, "pack", "publish", str(small_pack(packs, "test.everyone", "1.0.0")), "--all-schools")
    ok(hub, "pack", "publish", str(small_pack(packs, "test.north", "1.0.0")), "--region", "North")
    ok(hub, "pack", "publish", str(small_pack(packs, "test.chosen", "1.0.0")), "--school", chosen.school_id)

    def ours(school):
        return {i for i in listed(catalog(hub, school)) if i in ("test.everyone", "test.north", "test.chosen")}
    assert ours(north) == {"test.everyone", "test.north"}
    assert ours(south) == {"test.everyone"}
    assert ours(chosen) == {"test.everyone", "test.chosen"}

    # The same content again only changes who gets it.
    out = ok(hub, "pack", "publish", str(small_pack(packs, "test.chosen", "1.0.0")), "--school", south.school_id,
             "--region", "North")
    assert "now goes to region North, " + south.school_id in out
    assert ours(chosen) == {"test.everyone"}
    assert ours(south) == {"test.everyone", "test.chosen"}
    assert ours(north) == {"test.everyone", "test.north", "test.chosen"}
    table = ok(hub, "pack", "list")
    assert re.search(r"test\.north\s+1\.0\.0\s+region North", table)
    assert re.search(r"test\.everyone\s+1\.0\.0\s+all schools", table)


def test_withdraw_one_version_then_every_version(hub, schools, packs):
    for version in ("1.0.0", "1.1.0"):
        ok(hub, "pack", "publish", str(small_pack(packs, "test.withdrawn", version)), "--region", "South")
    south, north = schools["south"], schools["north"]
    assert listed(catalog(hub, south))["test.withdrawn"] == "1.1.0"

    assert "withdrew test.withdrawn 1.1.0" in ok(hub, "pack", "withdraw", "test.withdrawn", "--version", "1.1.0")
    body = catalog(hub, south)
    assert listed(body)["test.withdrawn"] == "1.0.0"  # the version before is current again
    assert [(w["id"], w["version"]) for w in body["withdrawn"] if w["id"] == "test.withdrawn"] == \
        [("test.withdrawn", "1.1.0")]
    assert not [w for w in catalog(hub, north)["withdrawn"] if w["id"] == "test.withdrawn"]  # never targeted

    assert "withdrew test.withdrawn 1.0.0" in ok(hub, "pack", "withdraw", "test.withdrawn")
    body = catalog(hub, south)
    assert "test.withdrawn" not in listed(body)
    assert sorted(w["version"] for w in body["withdrawn"] if w["id"] == "test.withdrawn") == ["1.0.0", "1.1.0"]
    assert all(re.match(r"^\d{4}-.*Z$", w["withdrawn_at"]) for w in body["withdrawn"])
    assert "withdrawn on" in refused(hub, "pack", "publish", str(small_pack(packs, "test.withdrawn", "1.1.0")),
                                     "--region", "South")
    assert "no published pack test.nothing" in refused(hub, "pack", "withdraw", "test.nothing")
    rows = {(r["id"], r["version"]): r for r in json.loads(ok(hub, "pack", "list", "--json"))}
    assert rows[("test.withdrawn", "1.0.0")]["withdrawn_at"] and rows[("test.withdrawn", "1.0.0")]["target"] == \
        {"all_schools": False, "regions": ["South"], "schools": []}


def test_a_big_pack_shows_progress_and_shares_blobs_with_its_next_version(hub, schools, packs):
    big = os.urandom(17 * 1024 * 1024)  # over the 16 MiB from which publish shows a progress bar
    source = pack_source(packs / "src-big-1", pack_id="test.big", version="1.0.0", extra_files={"media/big.bin": big})
    build_pack(source, packs / "big-1.ckpack")
    done = run(hub, "pack", "publish", str(packs / "big-1.ckpack"), "--school", schools["listed"].school_id)
    assert done.returncode == 0, done.stderr
    assert "checking and storing test.big" in done.stderr and "new blob(s)" in done.stdout
    sha = hashlib.sha256(big).hexdigest()
    assert (hub.folder / "blobs" / sha).read_bytes() == big
    source = pack_source(packs / "src-big-2", pack_id="test.big", version="1.1.0", extra_files={"media/big.bin": big})
    build_pack(source, packs / "big-2.ckpack")
    out = ok(hub, "pack", "publish", str(packs / "big-2.ckpack"), "--school", schools["listed"].school_id)
    assert "2 new blob(s)" in out  # only pack.json and pack.sig: every file is held already
    assert listed(catalog(hub, schools["listed"]))["test.big"] == "1.1.0"


# --- blobs ----------------------------------------------------------------------------------------

def test_blobs_whole_ranged_immutable_and_404(hub, schools, math_pack):
    ok(hub, "pack", "publish", str(math_pack), "--all-schools")
    entry = next(p for p in catalog(hub, schools["north"])["packs"] if p["id"] == "kz.sample.math5-fractions")
    base, sha = hub.url + "/blobs/", entry["manifest_sha256"]
    whole = blob(hub, base, sha)
    size = entry["manifest_size"]
    assert whole.status_code == 200 and len(whole.content) == size
    assert whole.headers["ETag"] == f'"{sha}"'
    assert whole.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert whole.headers["Accept-Ranges"] == "bytes"

    tail = blob(hub, base, sha, Range="bytes=100-")
    assert tail.status_code == 206 and tail.content == whole.content[100:]
    assert tail.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    middle = blob(hub, base, sha, Range="bytes=10-19")
    assert middle.status_code == 206 and middle.content == whole.content[10:20]
    assert middle.headers["Content-Range"] == f"bytes 10-19/{size}"
    beyond = blob(hub, base, sha, Range=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    assert blob(hub, base, sha, **{"If-None-Match": f'"{sha}"'}).status_code == 304
    head = http().head(base + sha, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(size) and not head.content
    # Conditionals and ranges to the letter, as the school's /content answers them (one helper).
    check_rfc9110_answers(base + sha, f'"{sha}"', whole.content)

    for bad in ("0" * 64, sha.upper(), sha[:63], sha + "0", "..%2Fhub.sqlite3", "%2e%2e", "hub.sqlite3",
                "..%2F..%2Fkeys%2Fnational-signing.pem"):
        response = http().get(base + bad, timeout=30)
        assert response.status_code == 404, bad
        assert b"PRIVATE KEY" not in response.content
    assert http().get(hub.url + "/blobs/../keys/national-signing.pem", timeout=30).status_code == 404


# --- signed endpoints -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("GET", "/api/v1/catalog"), ("GET", "/api/v1/keys"),
                                          ("POST", "/api/v1/state")])
def test_content_endpoints_refuse_unsigned_or_wrongly_signed_requests(hub, schools, method, path):
    school = schools["north"]
    body = b'{"packs": []}' if method == "POST" else b""
    unsigned = signed(hub, school, method, path, body, sign=False)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "unsigned"
    wrong = signed(hub, school, method, path, body, secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["error"] == "bad_signature"
    other = School("sch-nobody", "x", "North")
    assert signed(hub, other, method, path, body).json()["error"] == "unknown_school"
    headers = protocol.sign_request(school.school_id, school.secret, method, path, body)
    assert signed(hub, school, method, path, body, sign=False, headers=headers).status_code == 200
    replay = signed(hub, school, method, path, body, sign=False, headers=headers)
    assert replay.status_code == 401 and replay.json()["error"] == "replayed"


def test_the_default_blob_base_url_is_the_hubs_own_at_the_host_asked_for(hub, schools):
    body = catalog(hub, schools["north"], headers={"Host": "hub.example.kz:8800"})
    assert body["blob_base_url"] == "http://hub.example.kz:8800/blobs/"


def test_blob_base_url_setting_points_the_catalog_at_a_static_host(tmp_path, math_pack):
    other = HubProcess(tmp_path / "static")
    other.env["CLASSROOM_HUB_CONTENT_BLOB_BASE_URL"] = "https://cdn.example.kz/classroom"
    with other:
        ok(other, "keys", "generate")
        school = enrol(other, "School", "West")
        ok(other, "pack", "publish", str(math_pack), "--region", "West")
        body = catalog(other, school)
        assert body["blob_base_url"] == "https://cdn.example.kz/classroom/"
        assert listed(body) == {"kz.sample.math5-fractions": MATH_VERSION}


# --- state and the dashboard ----------------------------------------------------------------------

def dashboard(hub: HubProcess) -> dict:
    response = http().get(hub.url + "/dashboard.json", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert response.status_code == 200, response.text
    return {s["school_id"]: s for s in response.json()["schools"]} | {"": response.json()}


def test_state_is_stored_and_shown_in_the_dashboard(hub, schools, packs):
    ok(hub, "pack", "publish", str(small_pack(packs, "test.state-a", "1.2.0")), "--region", "North")
    ok(hub, "pack", "publish", str(small_pack(packs, "test.state-b", "1.0.0")), "--region", "North")
    north, south = schools["north"], schools["south"]
    targeted = listed(catalog(hub, north))
    held = [{"id": pack_id, "version": version} for pack_id, version in targeted.items()
            if pack_id not in ("test.state-a", "test.state-b")]
    held += [{"id": "test.state-a", "version": "1.1.0"}]  # an older version: still lacking 1.2.0
    state = {"agent_version": "7.7.7-test", "packs": held, "disk_free_bytes": 4 * 1024 ** 3,
             "disk_total_bytes": 64 * 1024 ** 3, "downloads": {"waiting": 2, "bytes_left": 123456}}
    response = signed(hub, north, "POST", "/api/v1/state", json.dumps(state).encode())
    assert response.status_code == 200 and response.json() == {"ok": True}

    rows = dashboard(hub)
    row = rows[north.school_id]
    assert row["content_versions"]["packs"] == {p["id"]: p["version"] for p in held}
    assert row["content_versions"]["lacking"] == 2
    assert row["content_versions"]["reported_at"].endswith("Z")
    assert row["disk"] == {"free_bytes": 4 * 1024 ** 3, "total_bytes": 64 * 1024 ** 3, "free_percent": 6.2,
                           "low": True}
    assert row["downloads"] == {"waiting": 2, "bytes_left": 123456}
    assert row["agent_version"] == "7.7.7-test"
    assert rows[south.school_id]["content_versions"] is None and rows[south.school_id]["disk"] is None
    assert rows[""]["not_reported"] == [] and rows[""]["summary"]["low_disk"] >= 1

    # A newer report replaces the old one.
    state.update(packs=held[:-1] + [{"id": "test.state-a", "version": "1.2.0"},
                                    {"id": "test.state-b", "version": "1.0.0"}], disk_free_bytes=32 * 1024 ** 3)
    assert signed(hub, north, "POST", "/api/v1/state", json.dumps(state).encode()).status_code == 200
    row = dashboard(hub)[north.school_id]
    assert row["content_versions"]["lacking"] == 0 and row["disk"]["low"] is False

    page = http().get(hub.url + "/dashboard", params={"token": TOKEN, "region": "North"}, timeout=60).text
    school_row = re.search(rf'<tr id="school-{north.school_id}">.*?</tr>', page, re.S).group(0)
    assert "test.state-a 1.2.0" in school_row and "32.0 GiB of 64.0 GiB (50.0 %)" in school_row
    assert 'class="low"' not in school_row
    assert signed(hub, north, "POST", "/api/v1/state", json.dumps(dict(state, disk_free_bytes=1)).encode()
                  ).status_code == 200
    page = http().get(hub.url + "/dashboard", params={"token": TOKEN, "region": "North"}, timeout=60).text
    school_row = re.search(rf'<tr id="school-{north.school_id}">.*?</tr>', page, re.S).group(0)
    assert 'class="low"' in school_row and "low: </span>1 Byte of 64.0 GiB (0.0 %)" in school_row


def test_a_gzipped_state_is_accepted(hub, schools):
    school = schools["listed"]
    body = gzip.compress(json.dumps({"packs": [{"id": "x.y", "version": "3"}], "disk_free_bytes": 5,
                                     "disk_total_bytes": 10}).encode())
    response = signed(hub, school, "POST", "/api/v1/state", body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    row = dashboard(hub)[school.school_id]
    assert row["content_versions"]["packs"] == {"x.y": "3"}
    assert row["disk"]["free_percent"] == 50.0 and row["downloads"] == {"waiting": 0, "bytes_left": 0}


@pytest.mark.parametrize("body, content_type, message", [
    (b"not json", "application/json", "not UTF-8 JSON"),
    (b'{"packs": []}', "text/plain", "Content-Type: application/json"),
    (b'{"packs": [{"id": "x"}]}', "application/json", "packs[0].version"),
    (b'{"disk_free_bytes": -1}', "application/json", "disk_free_bytes"),
    (b'{"disk_free_bytes": 10, "disk_total_bytes": 5}', "application/json", "more than disk_total_bytes"),
    (b'{"downloads": {"waiting": "many"}}', "application/json", "downloads.waiting"),
    (b'[1, 2]', "application/json", "JSON object"),
    (b'{"packs": [{"id": "a", "version": "\\ud800"}]}', "application/json", "lone surrogate"),
    (b'{"disk_total_bytes": 1.5}', "application/json", "disk_total_bytes"),
])
def test_malformed_state_is_refused(hub, schools, body, content_type, message):
    response = signed(hub, schools["listed"], "POST", "/api/v1/state", body, headers={"Content-Type": content_type})
    assert response.status_code == 400 and response.json()["error"] == "bad_state"
    assert message in response.json()["message"]


# --- the API description --------------------------------------------------------------------------

def test_every_content_route_is_in_the_openapi_document(tmp_path):
    from sync.hub.app import OPENAPI_PATH, create_app
    from sync.hub.settings import load_settings
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    app = create_app(load_settings(tmp_path, environ={}))
    served = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("content.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item
                 if "content" in item[method].get("tags", [])}
    assert served == described and len(served) == 4
    for path in ("/api/v1/keys", "/api/v1/catalog", "/api/v1/state", "/blobs/{sha256}"):
        assert path in document["paths"]
        assert path.replace("{sha256}", "<sha256>") in (REPO / "sync" / "PROTOCOL.md").read_text(encoding="utf-8")


# --- the dashboard in a real browser --------------------------------------------------------------

@pytest.mark.browser
def test_the_dashboards_content_columns_pass_axe_on_a_phone(hub, schools):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {chromium}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
    axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright", reason="needs axe-playwright-python")
    north = schools["north"]
    state = {"packs": [{"id": "kz.sample.math5-fractions", "version": "1.0.0"}], "disk_free_bytes": 10 ** 9,
             "disk_total_bytes": 10 ** 11, "downloads": {"waiting": 1, "bytes_left": 5 * 10 ** 6}}
    assert signed(hub, north, "POST", "/api/v1/state", json.dumps(state).encode()).status_code == 200
    requested = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{hub.url}/dashboard?token={TOKEN}&region=North")
            row = page.locator(f"#school-{north.school_id}")
            row.locator("summary").click()
            assert "kz.sample.math5-fractions 1.0.0" in row.inner_text()
            assert "low: 953.7 MiB of 93.1 GiB (1.0 %)" in row.inner_text()
            violations = axe_sync.Axe().run(page).response["violations"]
            assert not violations, [(v["id"], [n["html"][:120] for n in v["nodes"]]) for v in violations]
            widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
            assert widths["scroll"] <= widths["inner"], "the dashboard scrolls sideways on a 360 px phone"
        finally:
            browser.close()
    assert requested and all(url.startswith(hub.url + "/") for url in requested)
