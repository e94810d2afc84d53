"""Content downstream at the school: the catalog logic (pure, tables of cases), and the agent bringing
packs down from the real hub (`classroom-hub serve` on loopback) through the real fault proxy: cuts
at many points resume from the last byte and install once, several files come at once and each
resumes from its own last byte after a cut, a tampered blob or an untrusted signature
installs nothing, an update moves only the changed files, the disk reserve, the download hours, the
bandwidth cap, withdrawn packs, and what `classroom-sync status` and the admin pages show.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import threading
import time

import pytest
from click.testing import CliRunner

from classroom_server.admin.sync import next_window_start, sync_status
from classroom_server.models import ContentDownload, ContentPack, SchoolSetting, utcnow
from classroom_server.settings import load_settings
from content_packs.manifest import parse_manifest
from sync import protocol
from sync.agent import main as sync_cli
from sync.agent.content import Downloader
from sync.agent.school import school_now
from sync.agent.status import content_lines

from .contentsync import big_pack, catalog_pack, enrolled, publish, run_content
from .contentsync import hub, school_dir  # noqa: F401  (fixtures)
from .faultlink import FaultLink
from .helpers import sign_in_as

pytestmark = pytest.mark.slow  # a real hub subprocess on loopback

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


# --- the catalog (pure) ---------------------------------------------------------------------------------

def catalog_entry(pack_id="maths.5", version="1.0.0", manifest=SHA_A, signature=SHA_B, size=1000, **extra):
    return {"id": pack_id, "version": version, "title": {"kk": "Математика", "ru": "Математика"},
            "manifest_sha256": manifest, "manifest_size": 300, "signature_sha256": signature,
            "signature_size": 200, "size": size, "published_at": "2026-03-01T10:00:00Z", **extra}


def catalog(packs=None, withdrawn=None, **extra):
    return {"protocol": 1, "generated_at": "2026-03-02T00:00:00Z", "blob_base_url": "http://hub.example/blobs/",
            "packs": [catalog_entry()] if packs is None else packs, "withdrawn": withdrawn or [], **extra}


@pytest.mark.parametrize("document,message", [
    ([], "JSON object"),
    (catalog(protocol=2), "protocol 2 is not supported"),
    (catalog(blob_base_url="ftp://hub/blobs/"), "blob_base_url"),
    (catalog(blob_base_url="http://hub/blobs"), "ending in '/'"),
    (catalog(packs={}), "must be lists"),
    (catalog(packs=[catalog_entry(pack_id="../etc")]), r"packs\[0\]\.id"),
    (catalog(packs=[catalog_entry(pack_id="Maths")]), r"packs\[0\]\.id"),
    (catalog(packs=[catalog_entry(version="1.0-beta")]), r"packs\[0\]\.version"),
    (catalog(packs=[catalog_entry(manifest="A" * 64)]), "manifest_sha256"),
    (catalog(packs=[catalog_entry(signature="b" * 63)]), "signature_sha256"),
    (catalog(packs=[catalog_entry(size=-1)]), r"packs\[0\]\.size"),
    (catalog(packs=[catalog_entry(size=True)]), r"packs\[0\]\.size"),
    (catalog(packs=[catalog_entry(size=10)]), "less than its pack.json"),
    (catalog(packs=[catalog_entry(manifest_size=-5)]), "manifest_size"),
    (catalog(packs=[catalog_entry(title="Maths")]), "title"),
    (catalog(packs=[catalog_entry(), catalog_entry()]), "listed twice"),
    (catalog(withdrawn=[{"id": "x/y", "version": "1"}]), r"withdrawn\[0\]\.id"),
])
def test_a_malformed_catalog_is_refused_saying_what(document, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse_catalog(document)


def test_a_good_catalog_parses():
    parsed = protocol.parse_catalog(catalog(withdrawn=[{"id": "old", "version": "2.0", "withdrawn_at": "x"}]))
    assert parsed.pack("maths.5").manifest == protocol.Blob(SHA_A, 300)
    assert parsed.withdrawn[0].id == "old" and parsed.blob_base_url.endswith("/blobs/")


def installed(version, sha=SHA_A):
    return protocol.Installed("maths.5", version, sha)


@pytest.mark.parametrize("mine,held,fetch,blobs,conflicts", [
    ([], set(), [("maths.5", None)], [SHA_A, SHA_B], 0),  # new pack
    ([], {SHA_A}, [("maths.5", None)], [SHA_B], 0),  # pack.json came before a cut
    ([installed("0.9.0", SHA_C)], set(), [("maths.5", "0.9.0")], [SHA_A, SHA_B], 0),  # an update
    ([installed("1.0.0")], set(), [], [], 0),  # up to date
    ([installed("1.10.0", SHA_C)], set(), [], [], 0),  # newer here (1.10 > 1.0): left alone
    ([installed("1.0.0", SHA_C)], set(), [], [], 1),  # same version, other content: a conflict
])
def test_plan_fetches_what_is_new_or_newer(mine, held, fetch, blobs, conflicts):
    result = protocol.plan(protocol.parse_catalog(catalog()), mine, lambda sha, size: sha in held)
    assert [(f.pack.id, f.previous_version) for f in result.fetch] == fetch
    assert [b.sha256 for b in result.blobs] == blobs and len(result.conflicts) == conflicts
    assert result.bytes == sum(300 if sha == SHA_A else 200 for sha in blobs)


def test_plan_lists_installed_packs_the_hub_withdrew():
    parsed = protocol.parse_catalog(catalog(packs=[], withdrawn=[{"id": "maths.5", "version": "1.0.0"}]))
    assert protocol.plan(parsed, [installed("1.0.0")], lambda *a: False).withdraw == (installed("1.0.0"),)
    assert protocol.plan(parsed, [installed("1.1.0")], lambda *a: False).withdraw == ()


@pytest.mark.parametrize("files,held,expected", [
    ([(SHA_A, 1), (SHA_B, 2)], set(), [SHA_A, SHA_B]),
    ([(SHA_A, 1), (SHA_A, 1), (SHA_B, 2)], set(), [SHA_A, SHA_B]),  # the same bytes twice come once
    ([(SHA_A, 1), (SHA_B, 2), (SHA_C, 3)], {SHA_A, SHA_C}, [SHA_B]),  # an update: only what changed
    ([], set(), []),
])
def test_missing_blobs_are_deduplicated_and_skip_what_is_held(files, held, expected):
    blobs = [protocol.Blob(sha, size) for sha, size in files]
    assert [b.sha256 for b in protocol.missing_blobs(blobs, lambda sha, size: sha in held)] == expected


def test_the_token_bucket_paces_to_the_cap():
    now = [0.0]
    bucket = protocol.TokenBucket(1000, burst=1000, clock=lambda: now[0])
    waited = 0.0
    for _ in range(100):  # 100 x 100 bytes = 10,000 bytes at 1,000 bytes/s: 9 s after the 1 s burst
        pause = bucket.spend(100)
        waited += pause
        now[0] += pause
    assert waited == pytest.approx(9.0)
    now[0] += 60  # idle: the bucket refills only up to the burst
    assert bucket.spend(1000) == 0 and bucket.spend(500) == pytest.approx(0.5)


def test_one_token_bucket_shared_by_several_threads_paces_their_sum():
    bucket = protocol.TokenBucket(1000, burst=1000, clock=lambda: 0.0)  # no time passes: nothing refills
    pauses: list[float] = []

    def spend() -> None:
        pauses.extend(bucket.spend(100) for _ in range(500))
    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 4 x 500 x 100 bytes = 200,000 bytes, 1,000 of them in the burst: whoever spent last waits for
    # all of it at 1,000 bytes/s, and no thread's bytes went unpaid
    assert max(pauses) == pytest.approx(199.0) and sorted(pauses)[:10] == [0.0] * 10


@pytest.mark.parametrize("spec,hour,minute,expected", [
    ("00:00-24:00", 12, 0, None), ("00:00-06:00", 12, 0, "00:00"), ("00:00-06:00", 3, 0, None),
    ("22:00-06:00", 12, 0, "22:00"), ("01:00-02:00, 13:00-14:00", 12, 30, "13:00"),
    ("01:00-02:00, 13:00-14:00", 14, 30, "01:00"),
])
def test_next_window_start(spec, hour, minute, expected):
    assert next_window_start(spec, datetime.datetime(2026, 3, 2, hour, minute)) == expected


# --- the real hub ---------------------------------------------------------------------------------------


@pytest.fixture
def link(hub):
    with FaultLink(("127.0.0.1", hub.port), latency=0.001) as running:
        yield running


def row(pack_id: str) -> ContentDownload:
    return ContentDownload.select().where(ContentDownload.pack_id == pack_id).order_by(ContentDownload.id.desc()).get()


def test_enrol_stores_the_national_keys(hub, link, school_dir, tmp_path):
    agent, _ = enrolled(hub, link, school_dir, tmp_path)
    current = hub.cli("keys", "show").split()[0]
    assert current in json.loads(SchoolSetting.get(SchoolSetting.key == "sync.national_keys").value)


def test_a_pack_cut_at_many_points_resumes_from_the_last_byte_and_installs_once(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "cut.pack", "1.0.0", files=12, size=256 * 1024)  # 3 MiB
    publish(hub, pack, school_id)
    every = 150_000
    done = threading.Event()

    def cutter() -> None:  # a cut after every ~150 kB that crosses the link, all along the transfer
        while not done.is_set():
            # FIN: what the link delivered reaches the agent (a reset would also throw away what sat
            # unread in the socket, which is the link's loss, not a re-download)
            link.cut_after(every, direction="down", reset=False)
            while not link.wait_cut(0.05) and not done.is_set():
                pass
    thread = threading.Thread(target=cutter, daemon=True)
    before = link.stats.bytes_down
    thread.start()
    installs, crashed = [], []

    def crash_once() -> None:  # a power cut between the last byte and the install
        installs.append(1)
        if not crashed:
            crashed.append(1)
            raise KeyboardInterrupt("power cut")
    try:
        outcomes = []
        for _ in range(60):
            downloader = Downloader(agent.client)
            downloader.before_install = crash_once
            try:
                outcomes.append(downloader.run())
            except KeyboardInterrupt:
                continue
            if ContentPack.get_or_none(ContentPack.pack_id == "cut.pack"):
                break
    finally:
        done.set()
        thread.join(5)
        link.disarm()
    assert ContentPack.get(ContentPack.pack_id == "cut.pack").version == "1.0.0"
    size = catalog_pack("cut.pack")["size"]
    received = link.stats.bytes_down - before
    assert link.stats.cuts >= 15, link.stats.cuts
    # every byte of the pack came once: what crossed the link is the pack plus HTTP heads and the small
    # JSON answers (catalog, keys, state) of each try, nothing sent twice
    overhead = received - size
    assert 0 < overhead < 0.08 * size, (received, size, link.stats.cuts)
    assert row("cut.pack").bytes_downloaded == size  # the agent's own count: each byte written once
    assert sum(len(o.installed) for o in outcomes) == 1 and len(installs) == 2 and len(crashed) == 1
    assert row("cut.pack").state == "installed" and row("cut.pack").error is None
    first = ContentPack.get(ContentPack.pack_id == "cut.pack").installed_at
    _, again = run_content(agent)
    assert again.ok and again.installed == [] and again.bytes == 0  # nothing more to fetch or install
    assert ContentPack.get(ContentPack.pack_id == "cut.pack").installed_at == first
    downloads = agent.settings.data_dir / "downloads"
    assert not list(downloads.glob("*.part")) and not list(downloads.glob("pack-*"))


def test_several_files_come_at_once_and_after_a_cut_each_resumes_from_its_own_last_byte(hub, link, school_dir,
                                                                                      tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "parallel.pack", "1.0.0", files=8, size=512 * 1024, seed=11)
    publish(hub, pack, school_id)
    asked: list[tuple[str, int]] = []  # (blob, first byte asked for) of each blob request, as the link saw it

    def watch(segment: bytes) -> bytes:  # the link reads the requests going up and changes nothing
        for head in segment.split(b"\r\n\r\n"):
            blob = re.search(rb"^GET /blobs/([0-9a-f]{64}) ", head)
            if blob:
                start = re.search(rb"\r\nRange: bytes=(\d+)-", head, re.IGNORECASE)
                asked.append((blob.group(1).decode(), int(start.group(1)) if start else 0))
        return segment
    link.tamper(watch, direction="up")
    link.set(bandwidth=4_000_000)  # the files' bytes share the link, as on a real one
    # Once 40% of the files have crossed, the link is cut (FIN: what crossed reaches the agent) and
    # the agent is stopped before it retries, so the files it was fetching stay as they were cut.
    link.cut_after(int(0.4 * 8 * 512 * 1024), direction="down", reset=False)

    def stop_at_the_cut() -> None:
        if link.wait_cut(60):
            agent.stopping.set()
    thread = threading.Thread(target=stop_at_the_cut, daemon=True)
    thread.start()
    _, first = run_content(agent)
    thread.join(5)
    # the agent stopped (its workers too), and the cut had several connections to cut
    assert first.code == "link_down" and first.installed == [] and link.stats.cuts >= 2
    assert not [t for t in threading.enumerate() if t.name.startswith("content-download")]
    downloads = agent.settings.data_dir / "downloads"
    manifest = parse_manifest((downloads / catalog_pack("parallel.pack")["manifest_sha256"]).read_bytes())
    sizes = {entry.sha256: entry.size for entry in manifest.files}
    cut = {path.name.removesuffix(".part"): path.stat().st_size for path in downloads.glob("*.part")}
    # several files were on their way at the moment of the cut: one request at a time leaves one
    assert len([sha for sha, size in cut.items() if 0 < size < sizes[sha]]) >= 2, cut
    whole = {path.name for path in downloads.iterdir() if path.name in sizes}
    assert {sha for sha, start in asked} >= set(cut) | whole and all(start == 0 for sha, start in asked)

    agent.stopping.clear()
    link.disarm()
    asked.clear()
    _, second = run_content(agent)
    assert second.installed == ["parallel.pack 1.0.0"]
    # each cut file was asked for from its own last byte, once; the whole ones were not asked for again
    assert sorted(asked) == sorted([(sha, cut.get(sha, 0)) for sha in sizes if sha not in whole]), (asked, cut)
    assert second.bytes == sum(sizes.values()) - sum(cut.values()) - sum(sizes[sha] for sha in whole)
    assert row("parallel.pack").bytes_downloaded == catalog_pack("parallel.pack")["size"]  # each byte once
    assert not list(downloads.glob("*.part"))


def test_a_tampered_blob_is_refused_and_nothing_installs(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, extra = big_pack(tmp_path, "tampered.pack", "1.0.0", files=3, size=40_000, seed=3)
    publish(hub, pack, school_id)
    import hashlib
    sha = hashlib.sha256(extra["media/part-001.bin"]).hexdigest()
    blob = hub.folder / "blobs" / sha
    data = bytearray(blob.read_bytes())
    data[20_000] ^= 0xFF  # same size, one byte changed: only the hash can tell
    blob.write_bytes(bytes(data))
    _, outcome = run_content(agent)
    assert outcome.failed == ["tampered.pack 1.0.0"]
    assert ContentPack.get_or_none(ContentPack.pack_id == "tampered.pack") is None
    failed = row("tampered.pack")
    assert failed.state == "failed" and sha in failed.error and "2 times" in failed.error
    downloads = agent.settings.data_dir / "downloads"
    assert not (downloads / f"{sha}.part").exists() and not (downloads / sha).exists()
    # the daemon does not fetch it again and again; `classroom-sync content` (retry_failed) does
    _, later = run_content(agent)
    assert later.bytes == 0 and later.failed == ["tampered.pack 1.0.0"]


def test_a_pack_signed_by_a_key_the_school_does_not_trust_is_refused_before_its_files(hub, link, school_dir,
                                                                                     tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "unsigned.pack", "1.0.0", files=4, size=100_000, seed=4)
    publish(hub, pack, school_id)
    # The national key leaked and was replaced without keeping the old one: the school learns the new
    # key at its next step and must refuse what the old key signed.
    hub.cli("keys", "generate", "--force", "--forget-old")
    try:
        _, outcome = run_content(agent)
    finally:
        hub.cli("keys", "generate", "--force")  # later tests publish with a key schools are told about
    entry = catalog_pack("unsigned.pack")
    assert outcome.failed == ["unsigned.pack 1.0.0"]
    assert outcome.bytes == entry["manifest_size"] + entry["signature_size"]  # pack.json and pack.sig only
    failed = row("unsigned.pack")
    assert failed.state == "failed" and "does not trust" in failed.error and "nothing else was downloaded" in failed.error
    assert ContentPack.get_or_none(ContentPack.pack_id == "unsigned.pack") is None


def test_an_update_changing_5_percent_of_the_files_moves_only_those_bytes(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    v1, _ = big_pack(tmp_path, "update.pack", "1.0.0", files=40, size=50_000, seed=5)
    publish(hub, v1, school_id)
    _, first = run_content(agent)
    assert first.installed == ["update.pack 1.0.0"]
    v2, _ = big_pack(tmp_path, "update.pack", "1.1.0", files=40, size=50_000, seed=5, changed=2)
    publish(hub, v2, school_id)
    _, second = run_content(agent)
    assert second.installed == ["update.pack 1.1.0"]
    entry = catalog_pack("update.pack")
    assert second.bytes == 2 * 50_000 + entry["manifest_size"] + entry["signature_size"]
    assert second.bytes < 0.06 * entry["size"]
    assert row("update.pack").previous_version == "1.0.0"


def test_the_disk_reserve_stops_a_download_with_what_to_free(hub, link, school_dir, tmp_path):
    stats = os.statvfs(school_dir)
    # A reserve above what is free now, with room to spare: the disk is shared (a PostgreSQL schema dropped
    # by an earlier test can free megabytes while this one runs).
    free_mb = stats.f_bavail * stats.f_frsize // 2 ** 20 + 256
    agent, school_id = enrolled(hub, link, school_dir, tmp_path, CLASSROOM_CONTENT_DISK_RESERVE_MB=str(free_mb))
    pack, _ = big_pack(tmp_path, "big.pack", "1.0.0", files=2, size=1024 * 1024, seed=6)
    publish(hub, pack, school_id)
    _, outcome = run_content(agent)
    entry = catalog_pack("big.pack")
    assert outcome.failed == ["big.pack 1.0.0"]
    assert outcome.bytes == entry["manifest_size"] + entry["signature_size"]
    failed = row("big.pack")
    assert failed.state == "failed" and "not enough disk space for big.pack 1.0.0: 2.0 MiB still to download" \
        in failed.error and "disk_reserve_mb" in failed.error and "Free at least" in failed.error
    # with room again, the next step fetches it (a disk refusal is not held against the pack)
    agent.settings = agent.settings.replace(content_disk_reserve_mb=1)
    _, outcome = run_content(agent)
    assert outcome.installed == ["big.pack 1.0.0"]


def test_outside_the_download_hours_nothing_big_comes_and_status_says_it_waits(hub, link, school_dir, tmp_path):
    hour = school_now(load_settings(school_dir, environ={})).hour
    closed = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    agent, school_id = enrolled(hub, link, school_dir, tmp_path, CLASSROOM_SYNC_DOWNLOAD_HOURS=closed)
    pack, _ = big_pack(tmp_path, "night.pack", "1.0.0", files=2, size=200_000, seed=7)
    publish(hub, pack, school_id)
    _, outcome = run_content(agent)
    entry = catalog_pack("night.pack")
    assert outcome.waiting == ["night.pack 1.0.0"]
    assert outcome.bytes == entry["manifest_size"] + entry["signature_size"]
    assert row("night.pack").state == "waiting_window"
    env = {"CLASSROOM_SYNC_DOWNLOAD_HOURS": closed}
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "status"], env=env)
    assert result.exit_code == 0, result.output
    assert "night.pack 1.0.0: 0 B of" not in result.output  # pack.json and pack.sig are held
    assert f"waits for the download hours (from {(hour + 2) % 24:02d}:00)" in result.output
    assert "content updates:  1 in the catalog" in result.output
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "status", "--json"], env=env)
    state = json.loads(result.output)
    assert state["downloads"][0]["state"] == "waiting_window"
    assert state["download_window_opens_at"] == f"{(hour + 2) % 24:02d}:00"
    assert state["updates"][0]["pack_id"] == "night.pack"
    # `classroom-sync content --any-hour` fetches it now
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(school_dir), "content", "--any-hour"],
                                env={**env, "CLASSROOM_CONTENT_DISK_RESERVE_MB": "1"})
    assert result.exit_code == 0, result.output
    assert "installed night.pack 1.0.0" in result.output and "1 installed" in result.output


def test_the_bandwidth_cap_holds_the_download_back(hub, link, school_dir, tmp_path):
    cap = 200_000
    agent, school_id = enrolled(hub, link, school_dir, tmp_path,
                                CLASSROOM_SYNC_BANDWIDTH_BYTES_PER_SECOND=str(cap))
    pack, _ = big_pack(tmp_path, "capped.pack", "1.0.0", files=4, size=200_000, seed=8)
    publish(hub, pack, school_id)
    started = time.monotonic()
    downloader, outcome = run_content(agent)
    elapsed = time.monotonic() - started
    assert outcome.installed == ["capped.pack 1.0.0"]
    # Beyond the first second's burst, the average stays at the cap (a lower bound on the time taken,
    # set by the pacing's own waits, so it holds however slow the machine is).
    assert (outcome.bytes - downloader.bucket.burst) / elapsed <= cap * 1.2


def test_a_pack_the_hub_withdraws_is_removed_and_the_admin_told(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "withdrawn.pack", "1.0.0", files=1, size=10_000, seed=9)
    publish(hub, pack, school_id)
    _, outcome = run_content(agent)
    assert outcome.installed == ["withdrawn.pack 1.0.0"]
    hub.cli("pack", "withdraw", "withdrawn.pack", "--version", "1.0.0")
    _, outcome = run_content(agent)
    assert outcome.removed == ["withdrawn.pack 1.0.0"]
    assert ContentPack.get_or_none(ContentPack.pack_id == "withdrawn.pack") is None
    assert row("withdrawn.pack").state == "withdrawn"
    lines = "\n".join(content_lines(sync_status(), agent.settings))
    assert "withdrawn:        withdrawn.pack 1.0.0: withdrawn by the national platform" in lines


def test_the_hub_keeps_the_school_state(hub, link, school_dir, tmp_path):
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "state.pack", "1.0.0", files=1, size=1000, seed=10)
    publish(hub, pack, school_id)
    _, outcome = run_content(agent)
    assert outcome.installed == ["state.pack 1.0.0"]
    rows = hub._query("SELECT packs, disk_free_bytes FROM school_state WHERE school_id = ?", (school_id,))
    assert rows and "state.pack" in str(rows[0][0]) and int(rows[0][1]) > 0


# --- what the admin pages show -------------------------------------------------------------------------

def test_admin_pages_show_downloads_and_updates_waiting(client, school):
    now = utcnow()
    ContentDownload.create(pack_id="maths.5", version="2.0.0", title=json.dumps({"en": "Maths 5"}),
                           manifest_sha256=SHA_A, previous_version="1.0.0", state="downloading",
                           bytes_total=10 * 2 ** 20, bytes_received=4 * 2 ** 20, speed=100_000.0,
                           started_at=now, updated_at=now)
    ContentDownload.create(pack_id="video.7", version="1.0.0", title=json.dumps({"en": "Video lessons"}),
                           manifest_sha256=SHA_B, state="waiting_window", bytes_total=3 * 2 ** 30, updated_at=now)
    ContentDownload.create(pack_id="bad.pack", version="1.0.0", manifest_sha256=SHA_C, state="failed",
                           error="the file abc came down wrong 2 times", bytes_total=1000, updated_at=now)
    stored = {"fetched_at": now.isoformat() + "Z", "catalog": catalog(packs=[
        catalog_entry("maths.5", "2.0.0", size=10 * 2 ** 20), catalog_entry("video.7", "1.0.0", size=3 * 2 ** 30)])}
    SchoolSetting.create(key="sync.catalog", value=json.dumps(stored))
    sign_in_as(client, school, "admin")
    page = client.get("/admin/sync").get_data(as_text=True)
    assert "Content downloads" in page
    assert '<progress id="download-0" max="10485760" value="4194304">40%</progress>' in page
    assert '<label for="download-0">' in page
    assert "4 MB of 10 MB · 97.7 KB/s · About 63 seconds left" in page
    assert "Waits for the download hours" in page
    assert 'role="alert">Stopped: <small lang="en">the file abc' in page
    home = client.get("/admin/").get_data(as_text=True)
    assert "Content downloads" in home
    content = client.get("/admin/content").get_data(as_text=True)
    assert "Updates waiting" in content and "video.7" in content and "3 GB" in content
