"""Hub ingest throughput on PostgreSQL: signed gzip batches through the real HTTP endpoint, and the store.

Starts `classroom-hub serve` on loopback over a fresh PostgreSQL schema, enrols schools with
`classroom-hub school add`, and sends realistic xAPI statements (built by the school server's own
statement code) in signed, gzip-compressed batches, several schools at once, each school's batches
in order as its agent sends them. Repeats that a few times with new schools (others share this
machine: the median is the figure), re-sends some batches (the duplicate path), and times
`sync.hub.services.store_batch` in-process on its own. Prints the figures and replaces the
`hub_ingest` section of docs/BENCHMARKS.md.

    python benchmarks/hub_ingest.py [--records 100000 --batch 1000 --schools 4 --runs 3 --postgres URL]
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from harness import (BenchmarkError, CpuMeter, console_script, http_session, machine_facts, markdown_table,
                     measured_on, percentile, process_cpu, replace_section, start_server, text_table,
                     wait_until_quiet)

from hub_dashboard import fresh_schema

from classroom_server.domain.statements import PlainRecord, to_statement
from sync import protocol

NAME = "hub_ingest"
PLATFORM = "https://platform.edu.kz"
TARGET = 20_000
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
VERBS = ("opened", "answered", "answered", "answered", "answered", "completed", "progressed", "read")


def make_records(school_id: str, first: int, count: int) -> list[dict]:
    """`count` records as the agent sends them: a school day of 500 students answering and reading."""
    start = datetime.datetime(2025, 3, 3, 3, 0, tzinfo=datetime.timezone.utc)
    out = []
    for seq in range(first, first + count):
        uid = str(uuid.uuid4())
        verb = VERBS[seq % len(VERBS)]
        answered = verb == "answered"
        record = PlainRecord(
            id=uid, device_id=f"dev-{seq % 300:03d}", sequence=seq // 300 + 1,
            timestamp=start + datetime.timedelta(milliseconds=seq * 350), learner=f"p-{seq % 500:05d}",
            school_id=school_id, verb=verb, pack_id=f"kz.math.{5 + seq % 4}", node_id=f"unit-{seq % 37}",
            node_kind="exercise" if answered else "lesson", language=("kk", "ru")[seq % 2],
            item_id=f"q{seq % 15}" if answered else None, class_id=f"{5 + seq % 4}{'АБВ'[seq % 3]}",
            assignment_id=str(uuid.UUID(int=seq % 40 + 1)) if seq % 5 == 0 else None,
            response=str(seq % 7) if answered else None, correct=(seq % 4 != 0) if answered else None,
            score=(1.0 if seq % 4 else 0.0) if answered else None,
            duration_ms=4000 + seq % 50_000 if answered else None,
            progress=0.5 if verb == "progressed" else None, attempt=1 + seq % 3 if answered else None)
        out.append({"seq": seq, "uuid": uid, "statement": to_statement(record, PLATFORM)})
    return out


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process on this machine (server on loopback)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += process_cpu(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue  # a process that ended meanwhile
    return total


class Sender:
    """Signed POSTs of prepared batch bodies, from one thread with a keep-alive session."""

    def __init__(self, base: str, school_id: str, secret: str):
        self.base, self.school_id, self.secret = base, school_id, secret
        self.session = http_session()

    def post(self, body: bytes) -> dict:
        headers = protocol.sign_request(self.school_id, self.secret, "POST", "/api/v1/records", body)
        headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip",
                        "User-Agent": "classroom-sync/bench"})
        response = self.session.post(self.base + "api/v1/records", data=body, headers=headers, timeout=120)
        if response.status_code != 200:
            raise BenchmarkError(f"the hub answered {response.status_code}: {response.text[:300]}")
        return response.json()


def run_cli(env: dict, *args: str) -> str:
    done = subprocess.run([console_script("classroom-hub"), *args], env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise BenchmarkError(f"classroom-hub {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def prepare_schools(env: dict, run: int, records: int, schools: int, batch: int) -> list[tuple[str, str, list[bytes]]]:
    """Enrol `schools` new schools and build their batch bodies, `records` records in all."""
    out = []
    per_school = -(-records // schools)
    for number in range(schools):
        enrolled = json.loads(run_cli(env, "school", "add", f"Benchmark school {run}.{number + 1}", "--json"))
        school_id, secret = enrolled["school_id"], enrolled["secret"]
        count = min(per_school, records - number * per_school)
        bodies = [protocol.encode_batch(school_id, "bench",
                                        make_records(school_id, first, min(batch, count - first + 1)))
                  for first in range(1, count + 1, batch)]
        out.append((school_id, secret, bodies))
    return out


def send_all(url: str, schools: list[tuple[str, str, list[bytes]]], pid: int) -> dict:
    """Each school's batches sent in order by a thread of its own, as each school's agent does."""
    latencies: list[float] = []
    errors: list[str] = []

    def work(school_id: str, secret: str, bodies: list[bytes]) -> None:
        sender = Sender(url, school_id, secret)
        for body in bodies:
            started = time.perf_counter()
            try:
                sender.post(body)
            except (BenchmarkError, OSError) as exc:
                errors.append(str(exc))
                return
            latencies.append(time.perf_counter() - started)

    quiet = wait_until_quiet(max_wait=60)
    meter = CpuMeter(pid)
    pg_before = postgres_cpu()
    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=school) for school in schools]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    cpu = meter.stop()
    pg_seconds = postgres_cpu() - pg_before
    if errors:
        raise BenchmarkError(errors[0])
    records = sum(len(json.loads(gzip.decompress(body))["records"]) for _, _, bodies in schools for body in bodies)
    pg_pct = 100 * pg_seconds / wall
    return {"wall": wall, "records": records, "rate": records / wall, "latencies": latencies, "cpu": cpu,
            "pg_pct": pg_pct, "pg_seconds": pg_seconds, "other_pct": max(0.0, cpu.other - pg_pct),
            "quiet_before": quiet}


def measure_store(database_url: str, records: int, batch: int) -> dict:
    """`services.store_batch` alone, in this process, one batch after another (a school of its own)."""
    from sync.hub import services
    from sync.hub.db import database, open_database
    open_database(database_url)
    school, _ = services.enrol_school("store benchmark")
    wall = 0.0
    decode = []
    for first in range(1, records + 1, batch):
        batch_records = make_records(school.id, first, min(batch, records - first + 1))
        body = protocol.encode_batch(school.id, "bench", batch_records)
        started = time.perf_counter()
        decoded = protocol.decode_batch(body)
        decode.append(time.perf_counter() - started)
        started = time.perf_counter()
        services.store_batch(school.id, decoded.records, "bench")
        wall += time.perf_counter() - started
    acked = services.get_school(school.id).acked
    database.close()
    if acked != records:
        raise BenchmarkError(f"store_batch acked {acked} of {records}")
    return {"wall": wall, "rate": records / wall, "decode_each": statistics.median(decode)}


def report(args, runs: list[dict], repeat: dict, store: dict, final: dict, sizes: dict, facts: dict) -> str:
    median = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
    when = datetime.datetime.now(datetime.timezone.utc)
    header = ["path", "records", "batches", "seconds", "records/s", "batch p50", "batch p99",
              "hub CPU", "PostgreSQL CPU", "others' CPU"]
    rows = []
    for number, run in enumerate(runs, 1):
        rows.append([f"HTTP POST /api/v1/records, {args.schools} schools at once, run {number}",
                     f"{run['records']:,}", len(run["latencies"]), f"{run['wall']:.1f}",
                     f"**{run['rate']:,.0f}**" if run is median else f"{run['rate']:,.0f}",
                     f"{percentile(run['latencies'], 50) * 1000:.0f} ms",
                     f"{percentile(run['latencies'], 99) * 1000:.0f} ms", f"{run['cpu'].server:.0f}%",
                     f"{run['pg_pct']:.0f}%", f"{run['other_pct']:.0f}%"])
    rows.append([f"HTTP, {repeat['batches']} batches sent again (all duplicates)", f"{repeat['duplicates']:,}",
                 repeat["batches"],
                 f"{repeat['wall']:.2f}", f"{repeat['duplicates'] / repeat['wall']:,.0f}", "", "", "", "", ""])
    rows.append(["`services.store_batch` alone, one thread", f"{args.records:,}", -(-args.records // args.batch),
                 f"{store['wall']:.1f}", f"{store['rate']:,.0f}", "", "", "", "", ""])
    print(text_table(header, [[str(c).replace("**", "") for c in row] for row in rows]))
    rate = median["rate"]
    targets = [[f"HTTP ingest >= {TARGET:,} records/s (median of {len(runs)} runs)", f"{rate:,.0f}",
                "yes" if rate >= TARGET else "no"],
               ["every record stored once, each school's acked = its last seq",
                f"acked {final['acked']:,} (sum), rows {final['rows']:,}",
                "yes" if final["acked"] == final["rows"] == final["expected"] else "no"]]
    print()
    print(text_table(["target", "measured", "met"], targets))
    from sync.hub import services
    encoder = "orjson" if services.orjson is not None else "the standard library's json (orjson not installed)"
    hub_ms = median["cpu"].server_seconds / median["records"] * 1e6
    pg_ms = median["pg_seconds"] / median["records"] * 1e6
    lines = [
        "## Hub ingest (`benchmarks/hub_ingest.py`)", "",
        f"How to run: `python benchmarks/hub_ingest.py [--records {args.records} --batch {args.batch} --schools "
        f"{args.schools} --runs {args.runs} --postgres URL]` (PostgreSQL named by `--postgres`, else "
        "`CLASSROOM_TEST_POSTGRES_URL`; a fresh schema, dropped afterwards).", "",
        f"{measured_on(when, facts)}, "
        f"PostgreSQL {final['pg_version']} on the same machine: `classroom-hub serve --threads {args.threads}` on "
        f"loopback. Each run: {args.records:,} realistic xAPI statements (built by "
        f"`classroom_server.domain.statements.to_statement`, {sizes['raw'] / sizes['records']:,.0f} bytes of JSON "
        f"each) in signed batches of {args.batch:,}, gzip {sizes['raw'] / sizes['gz']:.1f}x "
        f"({sizes['gz'] / sizes['batches'] / 1024:,.0f} KiB per batch on the wire), from {args.schools} new "
        "schools at once, each sending its batches one after another as its agent does (a thread per school, "
        "sharing the 2 cores with the hub and PostgreSQL). Each batch: the signature checked, then one "
        "transaction: the nonce recorded, inflate, JSON parse and per-record check, the statements encoded "
        f"for COPY by {encoder}, COPY into the record table (a json column), the school row locked and its "
        "acked cursor advanced. Others work on this machine too: each run waits for a quiet moment, and the "
        "table shows how much CPU the rest of the machine took during it (% of one core); the median run "
        "is the figure.", "",
        markdown_table(header, rows), "",
        f"CPU per 1,000 records in the median run: hub {hub_ms:.0f} ms (decoding the batch, i.e. inflate, parse "
        f"and check, is {store['decode_each'] * 1000:.0f} ms of it), PostgreSQL {pg_ms:.0f} ms. The hub's Python "
        f"work holds one core at a time (the GIL), which bounds one hub process at about "
        f"{1000 / hub_ms * 1000:,.0f} records/s; the two cores together could give about "
        f"{2000 / (hub_ms + pg_ms) * 1000:,.0f}. Hub RSS after the runs: {final['rss']:.0f} MiB.", "",
        markdown_table(["target", "measured", "met"], targets),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per run")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--schools", type=int, default=4, help="schools sending at once, one thread each")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="hub worker threads")
    parser.add_argument("--postgres", default=os.environ.get("CLASSROOM_TEST_POSTGRES_URL") or DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.batch > protocol.MAX_RECORDS_PER_BATCH:
        parser.error(f"--batch must be at most {protocol.MAX_RECORDS_PER_BATCH}")

    database_url, _schema, drop = fresh_schema(args.postgres)
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder:
            env = {**os.environ, "CLASSROOM_HUB_DATA_DIR": folder, "CLASSROOM_HUB_DATABASE_URL": database_url}
            run_cli(env, "init")
            argv_serve = [console_script("classroom-hub"), "serve", "--host", "127.0.0.1", "--port", "0",
                          "--threads", str(args.threads)]
            runs, ids, sizes = [], [], {"raw": 0, "gz": 0, "records": 0, "batches": 0}
            with start_server(argv_serve, env=env) as server:
                for run in range(1, args.runs + 1):
                    print(f"run {run}: building {args.records:,} statements ...", file=sys.stderr)
                    schools = prepare_schools(env, run, args.records, args.schools, args.batch)
                    ids += [school[0] for school in schools]
                    if run == 1:
                        bodies = [body for _, _, school_bodies in schools for body in school_bodies]
                        sizes = {"raw": sum(len(gzip.decompress(b)) for b in bodies),
                                 "gz": sum(len(b) for b in bodies), "records": args.records, "batches": len(bodies)}
                    print(f"run {run}: sending from {args.schools} schools ...", file=sys.stderr)
                    runs.append(send_all(server.url, schools, server.proc.pid))
                    print(f"run {run}: {runs[-1]['rate']:,.0f} records/s", file=sys.stderr)
                # The duplicate path: a school's first 10 batches again (COPY refused, temp table + ON CONFLICT).
                school_id, secret, bodies = schools[0]
                sender = Sender(server.url, school_id, secret)
                started = time.perf_counter()
                duplicates = sum(sender.post(body)["duplicates"] for body in bodies[:10])
                repeat = {"duplicates": duplicates, "wall": time.perf_counter() - started,
                          "batches": len(bodies[:10])}
                rss = server.memory().rss_mib
            from sync.hub.db import database, open_database
            from sync.hub.models import Record, School
            open_database(database_url)
            final = {"acked": sum(School.get_by_id(school_id).acked for school_id in ids),
                     "rows": Record.select().where(Record.school.in_(ids)).count(),
                     "expected": args.records * args.runs, "rss": rss,
                     "pg_version": database.execute_sql("SHOW server_version").fetchone()[0].split()[0]}
            database.close()
            print("store_batch alone ...", file=sys.stderr)
            store = measure_store(database_url, args.records, args.batch)
            body = report(args, runs, repeat, store, final, sizes, machine_facts())
    finally:
        drop()
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
