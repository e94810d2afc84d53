"""One school-day of learning records sent to the national hub over a simulated geostationary link.

Run from the repository root:

    python benchmarks/sync_link.py [--students 500 --records 200 --latency 0.3 --mbit 2 --cuts 20
                                    --down 2 --out docs/BENCHMARKS.md]

1. A school: the demo school with the sample packs, then `classroom-server dev simulate --students 500
   --records 200` (100,000 records written through the learn service).
2. The real hub (`classroom-hub serve`, on PostgreSQL when CLASSROOM_TEST_POSTGRES_URL names a server)
   behind tests/faultlink.py: 300 ms each way (600 ms round trip) and 2 Mbit/s each way.
3. Clean: the agent (`classroom-sync`'s code, in this process) sends everything; bytes on the wire
   (what crossed the proxy, HTTP heads included) against the raw JSON of the same statements, and the
   time against the link's own minimum.
4. Cuts: the same records to a newly enrolled school id, while the link is reset `--cuts` times at
   random points of the transfer and stays down `--down` seconds each time; the agent retries as its
   daemon does. Reports what was sent again per cut and the time lost.

It reports figures; it asserts none (it does check that the hub ends with exactly the school's records).
SYNC_LINK_DEBUG=1 prints each attempt of the cut run.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness import (REPO, BenchmarkError, clean_env, console_script, machine_facts, markdown_table, measured_on,
                     replace_section, wait_until_quiet)

sys.path.insert(0, str(REPO))
from tests.faultlink import FaultLink  # noqa: E402  (the test suite's fault-injecting proxy)
from tests.hubprocess import HubProcess  # noqa: E402

NAME = "sync_link"


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise BenchmarkError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def make_school(folder: Path, students: int, records: int) -> float:
    env = {**clean_env(), "CLASSROOM_DATA_DIR": str(folder)}
    run([console_script("classroom-server"), "demo", "--no-serve"], env)
    started = time.perf_counter()
    run([console_script("classroom-server"), "dev", "simulate", "--students", str(students), "--records",
         str(records), "--days", "1", "--seed", "1"], env)
    return time.perf_counter() - started


def enroll(hub: HubProcess, folder: Path, url: str, enrolment, scratch: Path) -> None:
    secret = scratch / f"{enrolment.school_id}.secret"
    secret.write_text(enrolment.secret + "\n")
    env = {**clean_env(), "CLASSROOM_DATA_DIR": str(folder)}
    run([console_script("classroom-sync"), *hub.enroll_args(url, enrolment.school_id, secret)], env)


def raw_json_bytes(school_id: str, platform: str) -> tuple[int, int]:
    """(raw JSON bytes, gzip bytes) of every record's statement in full-size batches, as the agent makes
    them: what a perfect uploader of this protocol would have to send."""
    from sync import protocol
    from sync.agent.records import prepare_batch
    raw = packed = after = 0
    while True:
        batch = prepare_batch(after, protocol.MAX_RECORDS_PER_BATCH, school_id, platform)
        if batch is None:
            return raw, packed
        raw += len(gzip.decompress(batch.body))
        packed += len(batch.body)
        after = batch.last


def open_agent(folder: Path, retry_max: int):
    import requests

    from classroom_server.db import database, open_database
    from classroom_server.settings import load_settings
    from sync.agent import Agent
    settings = load_settings(folder, environ={"CLASSROOM_SYNC_TIMEOUT_SECONDS": "30",
                                              "CLASSROOM_SYNC_RETRY_MAX_SECONDS": str(retry_max)})
    if database.obj is not None and not database.is_closed():
        database.close()
    open_database(settings.effective_database_url)
    database.connect(reuse_if_open=True)
    session = requests.Session()
    session.trust_env = False
    return Agent(settings, session)


def check_hub(hub: HubProcess, school_id: str) -> tuple[int, int]:
    """(records at the hub, records in the school) after checking they are the same ones."""
    from classroom_server.models import LearningRecord
    held = hub.records(school_id)
    school = [(r.seq, r.uuid) for r in LearningRecord.select(LearningRecord.seq, LearningRecord.uuid)
              .order_by(LearningRecord.seq)]
    if held != school or hub.acked(school_id) != school[-1][0]:
        raise BenchmarkError(f"the hub does not hold exactly the school's records: {len(held)} vs {len(school)}")
    return len(held), len(school)


def clean_run(agent, link: FaultLink) -> dict:
    up0, down0 = link.stats.bytes_up, link.stats.bytes_down
    started = time.perf_counter()
    outcome = agent.sync()
    took = time.perf_counter() - started
    if not outcome.ok:
        raise BenchmarkError(f"the clean run failed: {outcome.error}")
    return {"seconds": took, "up": link.stats.bytes_up - up0, "down": link.stats.bytes_down - down0,
            "body": outcome.bytes, "batches": outcome.batches, "records": outcome.records,
            "final_batch": agent.sizer.size}


def cut_run(agent, link: FaultLink, cuts: int, down: float, clean_up_bytes: int, rng: random.Random) -> dict:
    """Sync while a cutter resets the link `cuts` times, each at a random byte of the transfer."""
    done = threading.Event()
    cut_log: list[float] = []

    def cutter() -> None:
        # Budgets spread the cuts over the transfer's bytes: each one fires on live traffic, in a
        # request or in an answer, at a point no one chose.
        spacing = max(2, clean_up_bytes // (cuts + 1))
        for _ in range(cuts):
            direction = rng.choice(["up", "up", "up", "down", "both"])
            budget = rng.randrange(1, spacing) if direction != "down" else rng.randrange(1, 2_000)
            link.cut_after(budget, direction=direction, reset=rng.random() < 0.7)
            while not link.wait_cut(0.2):
                if done.is_set():
                    link.disarm()
                    return
            cut_log.append(time.perf_counter())
            link.down("refuse")
            time.sleep(down)
            link.up()

    up0, down0 = link.stats.bytes_up, link.stats.bytes_down
    thread = threading.Thread(target=cutter, daemon=True)
    started = time.perf_counter()
    thread.start()
    attempts, resent_records, resent_batches, waited = 0, 0, 0, 0.0
    hit_batches = 0  # records in the batches the cuts interrupted, summed over the cuts
    at_risk = 0  # records sent but not acknowledged when the last attempt ended
    worst_share = 0.0  # the most one attempt re-sent, as a share of what was sent but unacknowledged
    from classroom_server.models import LearningRecord, SyncState
    last = LearningRecord.select().count()
    while True:
        outcome = agent.sync()
        attempts += 1
        resent_records += outcome.resent_records
        resent_batches += outcome.resent_batches
        if outcome.resent_records:
            worst_share = max(worst_share, outcome.resent_records / at_risk if at_risk else float("inf"))
        if not outcome.ok:
            hit_batches += outcome.in_flight
        at_risk = max(0, agent.sent_high - SyncState.get_by_id(1).acked_seq)
        if os.environ.get("SYNC_LINK_DEBUG"):
            print(f"    attempt {attempts}: ok={outcome.ok} code={outcome.code} records={outcome.records} "
                  f"batches={outcome.batches} resent={outcome.resent_records} in_flight={outcome.in_flight} "
                  f"sent_high={agent.sent_high} cursor={SyncState.get_by_id(1).acked_seq} {outcome.error or ''}",
                  flush=True)
        if outcome.ok and SyncState.get_by_id(1).acked_seq >= last:
            break
        if not outcome.ok:
            delay = agent.retry_delay()  # what the daemon waits before its next try
            waited += delay
            time.sleep(delay)
    took = time.perf_counter() - started
    done.set()
    thread.join(10)
    return {"seconds": took, "up": link.stats.bytes_up - up0, "down": link.stats.bytes_down - down0,
            "cuts": len(cut_log), "attempts": attempts, "resent_records": resent_records,
            "resent_batches": resent_batches, "hit_batches": hit_batches, "worst_share": worst_share,
            "down_seconds": len(cut_log) * down,
            "waited": waited}


def mib(count: float) -> str:
    return f"{count / 2 ** 20:.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--records", type=int, default=200, help="records per student")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds one way (0.3: geostationary)")
    parser.add_argument("--mbit", type=float, default=2.0, help="link bandwidth each way, Mbit/s")
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--down", type=float, default=2.0, help="seconds the link stays down after a cut")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bandwidth = args.mbit * 1e6 / 8
    rtt = 2 * args.latency

    with tempfile.TemporaryDirectory(prefix="sync-link-") as scratch_name:
        scratch = Path(scratch_name)
        school = scratch / "school"
        print(f"making the school: {args.students} students x {args.records} records ...", flush=True)
        simulate_seconds = make_school(school, args.students, args.records)
        total = args.students * args.records
        print(f"  simulate wrote {total:,} records in {simulate_seconds:.1f} s", flush=True)
        with HubProcess(scratch / "hub") as hub, \
                FaultLink(("127.0.0.1", hub.port), latency=args.latency, bandwidth=bandwidth,
                          seed=args.seed) as link:
            hub.cli("keys", "generate")  # a school enrols with its fingerprint
            first = hub.add_school("Benchmark school")
            enroll(hub, school, link.url, first, scratch)
            agent = open_agent(school, retry_max=4)
            raw, ideal = raw_json_bytes(first.school_id, link.url)
            print(f"  raw JSON {mib(raw)}, gzip in full batches {mib(ideal)}", flush=True)
            busy = wait_until_quiet()
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"clean run (machine busy {busy:.0f} % of a core, load {load}) ...", flush=True)
            clean = clean_run(agent, link)
            check_hub(hub, first.school_id)
            print(f"  {clean['seconds']:.1f} s, {mib(clean['up'])} up, {clean['batches']} batches", flush=True)

            second = hub.add_school("Benchmark school, cut")
            enroll(hub, school, link.url, second, scratch)
            agent = open_agent(school, retry_max=4)
            print(f"cut run: {args.cuts} cuts, {args.down:.0f} s down each ...", flush=True)
            cut = cut_run(agent, link, args.cuts, args.down, clean["up"], rng)
            check_hub(hub, second.school_id)
            print(f"  {cut['seconds']:.1f} s, {cut['cuts']} cuts, {cut['resent_records']} records re-sent", flush=True)
            hub_kind = hub.kind

    batches_min = math.ceil(total / 5000)
    setup_rtts = 3  # TCP handshake, ping, cursor
    link_min = clean["up"] / bandwidth + (setup_rtts + batches_min) * rtt
    strict_min = clean["up"] / bandwidth + setup_rtts * rtt
    per_record = clean["body"] / total
    per_cut = cut["resent_records"] / cut["hit_batches"] if cut["hit_batches"] else 0.0
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)

    lines = [
        "## Sync over a satellite link (`benchmarks/sync_link.py`)", "",
        f"How to run: `python benchmarks/sync_link.py [--students {args.students} --records {args.records} "
        f"--latency {args.latency} --mbit {args.mbit:g} --cuts {args.cuts} --down {args.down:g}]`.", "",
        f"{measured_on(when, facts)} (load "
        f"average before the clean run: {load}; other work shares the machine and slows the agent's and the "
        f"hub's CPU-bound parts): one "
        f"school-day, {args.students} students x {args.records} records = {total:,} learning records "
        f"(`classroom-server dev simulate` wrote them through the learn service in {simulate_seconds:.1f} s), sent by "
        f"the agent to the real `classroom-hub serve` ({hub_kind}) through `tests/faultlink.py` with "
        f"{args.latency * 1000:.0f} ms each way ({rtt * 1000:.0f} ms round trip) and {args.mbit:g} Mbit/s each way. "
        f"Bytes on the wire are what crossed the proxy (HTTP heads and bodies; TCP/IP headers not counted).", "",
        markdown_table(["", "figure"], [
            ["raw JSON of the statements (the batches uncompressed)", mib(raw)],
            ["gzip batches, as sent (body bytes)", f"{mib(clean['body'])} ({per_record:.0f} bytes a record, "
                                                    f"{raw / clean['body']:.1f}x smaller than the JSON)"],
            ["bytes on the wire, up / down", f"{mib(clean['up'])} / {mib(clean['down'])}"],
            ["batches (200 growing to 5,000 records)", f"{clean['batches']} (last size {clean['final_batch']:,})"],
            ["time, clean link", f"{clean['seconds']:.1f} s"],
            [f"link minimum: wire bytes / bandwidth + {setup_rtts} + {batches_min} round trips (a round trip per "
             f"5,000-record batch, the protocol's largest)", f"{link_min:.1f} s"],
            ["**time / link minimum**", f"**{clean['seconds'] / link_min:.2f}x**"],
            [f"(stricter: wire bytes / bandwidth + {setup_rtts} round trips only)",
             f"{strict_min:.1f} s ({clean['seconds'] / strict_min:.2f}x)"],
        ]), "",
        f"With cuts: the same {total:,} records to a newly enrolled school id while the link was reset "
        f"{cut['cuts']} times at random bytes of the transfer (requests and answers), each time staying down "
        f"{args.down:g} s (connections refused); the agent retried as its daemon does (backoff with jitter, at most "
        f"4 s here).", "",
        markdown_table(["", "figure"], [
            ["cuts that hit the transfer", cut["cuts"]],
            ["sync attempts", cut["attempts"]],
            ["records sent again", f"{cut['resent_records']:,} in {cut['resent_batches']} batch(es)"],
            ["records in the batches the cuts interrupted (the batch in flight at each cut, summed)",
             f"{cut['hit_batches']:,}"],
            ["**re-sent / batches in flight at the cuts**", f"**{per_cut:.2f}**"],
            ["most re-sent by one attempt, as a share of what was sent but unacknowledged before it",
             f"{cut['worst_share']:.2f}"],
            ["bytes on the wire, up", f"{mib(cut['up'])} ({cut['up'] / clean['up']:.2f}x the clean run)"],
            ["time", f"{cut['seconds']:.1f} s ({cut['seconds'] - clean['seconds']:.1f} s more than the clean run), "
                     f"with the link down {cut['down_seconds']:.0f} s in all; {cut['waited']:.1f} s were spent "
                     f"waiting to retry (the link down, or back but not yet tried)"],
            ["hub afterwards", "exactly the school's records (none lost, none doubled), cursor at the last"],
        ]), "",
        "Each cut costs the time the link is down, the wait until the next try (jittered backoff), the re-send of "
        "what was in flight, and smaller batches for a while after it (the batch size halves at each failure and "
        "doubles again after three good batches, each batch one more round trip).", "",
        markdown_table(["target", "measured", "met"], [
            ["time within 1.5x of the link minimum", f"{clean['seconds'] / link_min:.2f}x",
             "yes" if clean["seconds"] <= 1.5 * link_min else "no"],
            ["at most one batch re-sent per cut (re-sent records / records in flight at the cuts)",
             f"{per_cut:.2f}", "yes" if per_cut <= 1.0 else "no"],
        ]),
    ]
    body = "\n".join(lines)
    print(body)
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")


if __name__ == "__main__":
    try:
        main()
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
