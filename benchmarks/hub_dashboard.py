"""The national dashboard at national scale: /dashboard.json and /dashboard with 7,500 schools on PostgreSQL.

Creates a fresh PostgreSQL schema with `classroom-hub init`, bulk-inserts the school rows and the
per-school, per-day counters directly (COPY: what months of ingest would have left behind), starts
`classroom-hub serve` on loopback, and times sequential GETs of the dashboard's JSON and page
(all regions and one region). Prints the figures and replaces the `hub_dashboard` section of
docs/BENCHMARKS.md. Reports figures; asserts no time.

    python benchmarks/hub_dashboard.py [--schools 7500 --history-days 180 --requests 100 --postgres URL]
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from harness import (BenchmarkError, console_script, http_session, machine_facts, markdown_table, measured_on,
                     percentile, replace_section, start_server, text_table)

NAME = "hub_dashboard"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_MS = 500
TOKEN = "bench-" + uuid.uuid4().hex
REGIONS = ("Abai", "Akmola", "Aktobe", "Almaty", "Atyrau", "East Kazakhstan", "Jambyl", "Jetisu",
           "Karaganda", "Kostanay", "Kyzylorda", "Mangystau", "North Kazakhstan", "Pavlodar", "Turkistan",
           "Ulytau", "West Kazakhstan")


def fresh_schema(url: str):
    import psycopg2
    admin = psycopg2.connect(url)
    admin.autocommit = True
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin.cursor().execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        # The hub's pooled connections (this process opened them) hold the schema: close them first.
        from sync.hub.db import database
        if database.obj is not None and hasattr(database.obj, "close_all"):
            database.obj.close_all()
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
    return f"{url}?options=-csearch_path%3D{schema}", schema, drop


PACKS = 24  # packs in the national catalog, each in two versions


def fill(url: str, schema: str, schools: int, history_days: int) -> dict:
    """COPY `schools` school rows and their per-day counters; return row counts and the time taken."""
    import psycopg2
    started = time.perf_counter()
    rng = random.Random(7)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    today = now.date()
    school_rows, day_rows = io.StringIO(), io.StringIO()
    day_count = 0
    for number in range(schools):
        school_id = f"sch-b{number:05d}"
        # Most schools heard from within a day; some a few days ago; a few weeks; 2% never.
        draw = rng.random()
        if draw < 0.02:
            silent = None
        elif draw < 0.80:
            silent = rng.uniform(0, 1)
        elif draw < 0.95:
            silent = rng.uniform(1, 7)
        else:
            silent = rng.uniform(7, 60)
        last = "\\N" if silent is None else (now - datetime.timedelta(days=silent)).isoformat()
        agent = "\\N" if silent is None else f"1.{rng.randint(0, 3)}.0"
        total = 0
        if silent is not None:
            for back in range(int(silent), history_days):
                if rng.random() < 0.85:  # school days, holidays and link outages
                    count = rng.randint(200, 4000)
                    total += count
                    day_rows.write(f"{(today - datetime.timedelta(days=back)).isoformat()}\t{school_id}\t{count}\n")
                    day_count += 1
        school_rows.write(f"{school_id}\tSchool No. {number + 1}\t{REGIONS[number % len(REGIONS)]}\t"
                          f"{uuid.uuid4().hex}\t{now.isoformat()}\t\\N\t{total}\t{total}\t{total}\t{last}\t"
                          f"{agent}\t0\t\\N\t\\N\n")
    # The national catalog: PACKS packs published to every school; each school that has reported
    # holds most of them (some an older version, some not yet), with its disk state.
    release_rows, state_rows = io.StringIO(), io.StringIO()
    for index in range(PACKS):
        for version in ("1.0.0", "1.1.0"):
            release_rows.write(f"kz.bench.pack{index:02d}\t{version}\t{json.dumps({'kk': f'Pack {index}'})}\t"
                               f"{uuid.uuid4().hex * 2}\t2000\t{uuid.uuid4().hex * 2}\t200\t{rng.randint(1, 500) << 20}\t"
                               f"t\t[]\t[]\t{now.isoformat()}\t\\N\n")
    for number in range(schools):
        if rng.random() < 0.02:
            continue  # never reported its state
        packs = {f"kz.bench.pack{index:02d}": rng.choice(("1.0.0", "1.1.0", "1.1.0", "1.1.0"))
                 for index in range(PACKS) if rng.random() < 0.9}
        total_disk = 256 << 30
        free = int(total_disk * rng.uniform(0.03, 0.7))
        state_rows.write(f"sch-b{number:05d}\t1.{rng.randint(0, 3)}.0\t{json.dumps(packs)}\t{free}\t{total_disk}\t"
                         f"{rng.randint(0, 3)}\t{rng.randint(0, 200) << 20}\t{now.isoformat()}\n")
    release_rows.seek(0)
    state_rows.seek(0)
    school_rows.seek(0)
    day_rows.seek(0)
    connection = psycopg2.connect(url, options=f"-csearch_path={schema}")
    with connection, connection.cursor() as cursor:
        cursor.copy_expert("COPY school (id, name, region, secret, created_at, revoked_at, records_received, acked, "
                           "seq_high, last_contact, agent_version, forwarded, forward_error, forward_attempt_at) "
                           "FROM STDIN",
                           school_rows)
        cursor.copy_expert("COPY school_day (day, school_id, records) FROM STDIN", day_rows)
        cursor.copy_expert("COPY pack_release (pack_id, version, title, manifest_sha256, manifest_size, "
                           "signature_sha256, signature_size, size, target_all, target_regions, target_schools, "
                           "published_at, withdrawn_at) FROM STDIN", release_rows)
        cursor.copy_expert("COPY school_state (school_id, agent_version, packs, disk_free_bytes, disk_total_bytes, "
                           "downloads_waiting, downloads_bytes_left, state_at) FROM STDIN", state_rows)
        cursor.execute("ANALYZE school_state")
        cursor.execute("ANALYZE school")
        cursor.execute("ANALYZE school_day")
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split()[0]
    connection.close()
    return {"schools": schools, "day_rows": day_count, "seconds": time.perf_counter() - started,
            "pg_version": version}


def time_gets(client, base: str, path: str, params: dict, count: int) -> dict:
    """`count` sequential GETs of `path` after a first one (checked, not timed): their latencies and size."""
    first = client.get(base + path, params=params, timeout=120)
    if first.status_code != 200:
        raise BenchmarkError(f"GET {path} answered {first.status_code}: {first.text[:300]}")
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(base + path, params=params, timeout=120)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise BenchmarkError(f"GET {path} answered {response.status_code}")
    return {"latencies": latencies, "bytes": len(first.content)}


def latency_table(results: list[tuple[str, dict]], target_ms: float) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a table of time_gets results: size, p50, p99, max, and the target met."""
    header = ["request", "size", "p50", "p99", "max", f"p99 < {target_ms} ms"]
    rows = [[label, f"{r['bytes'] / 1024:,.0f} KiB", f"{percentile(r['latencies'], 50) * 1000:.0f} ms",
             f"{percentile(r['latencies'], 99) * 1000:.0f} ms", f"{max(r['latencies']) * 1000:.0f} ms",
             "yes" if percentile(r["latencies"], 99) * 1000 < target_ms else "no"] for label, r in results]
    return header, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=7500)
    parser.add_argument("--history-days", type=int, default=180, help="days of per-day counters per school")
    parser.add_argument("--requests", type=int, default=100, help="timed GETs per case, after one warm-up")
    parser.add_argument("--threads", type=int, default=4, help="hub worker threads")
    parser.add_argument("--postgres", default=os.environ.get("CLASSROOM_TEST_POSTGRES_URL") or DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)

    database_url, schema, drop = fresh_schema(args.postgres)
    try:
        with tempfile.TemporaryDirectory(prefix="hub-dash-bench-") as folder:
            env = {**os.environ, "CLASSROOM_HUB_DATA_DIR": folder, "CLASSROOM_HUB_DATABASE_URL": database_url,
                   "CLASSROOM_HUB_DASHBOARD_TOKEN": TOKEN}
            done = subprocess.run([console_script("classroom-hub"), "init"], env=env, capture_output=True,
                                  text=True, timeout=120)
            if done.returncode:
                raise BenchmarkError(f"classroom-hub init failed:\n{done.stderr}")
            print(f"filling {args.schools:,} schools x {args.history_days} days ...", file=sys.stderr)
            filled = fill(args.postgres, schema, args.schools, args.history_days)
            argv_serve = [console_script("classroom-hub"), "serve", "--host", "127.0.0.1", "--port", "0",
                          "--threads", str(args.threads)]
            cases = [("GET /dashboard.json", "/dashboard.json", {}),
                     ("GET /dashboard.json?days=30", "/dashboard.json", {"days": 30}),
                     ("GET /dashboard (page 1 of schools)", "/dashboard", {}),
                     ("GET /dashboard?page=40", "/dashboard", {"page": 40}),
                     ("GET /dashboard?region=Almaty", "/dashboard", {"region": "Almaty"}),
                     ("GET /dashboard.json?region=Almaty", "/dashboard.json", {"region": "Almaty"})]
            results = []
            with start_server(argv_serve, env=env) as server:
                with http_session() as client:
                    client.headers["Authorization"] = f"Bearer {TOKEN}"
                    for label, path, params in cases:
                        print(f"{label} x {args.requests} ...", file=sys.stderr)
                        results.append((label, time_gets(client, server.url.rstrip("/"), path, params, args.requests)))
                rss = server.memory().rss_mib
    finally:
        drop()

    header, rows = latency_table(results, TARGET_MS)
    print(text_table(header, rows))
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    body = "\n".join([
        "## Hub dashboard (`benchmarks/hub_dashboard.py`)", "",
        f"How to run: `python benchmarks/hub_dashboard.py [--schools {args.schools} --history-days "
        f"{args.history_days} --requests {args.requests} --postgres URL]` (a fresh PostgreSQL schema, dropped "
        "afterwards).", "",
        f"{measured_on(when, facts)}, "
        f"PostgreSQL {filled['pg_version']} on the same machine; `classroom-hub serve --threads {args.threads}` "
        f"on loopback. {filled['schools']:,} schools in {len(REGIONS)} regions and {filled['day_rows']:,} "
        f"per-day counter rows ({args.history_days} days of history, COPYed in {filled['seconds']:.1f} s), as "
        "months of ingest leave them; 2% of the schools never heard from, 5% silent for weeks; "
        f"{PACKS} packs published to every school in two versions, and 98% of the schools with a reported "
        "state (about 90% of the packs each, a quarter of them at the older version, disk free and downloads "
        "waiting), so the dashboard compares every school's packs with the catalog. Each request "
        f"once to warm up, then {args.requests} one after another (nothing else running against the hub); "
        "the JSON holds every school with 14 (or 30) days of counts, the page 100 schools, the stale list "
        f"(at most 500) and both charts. Hub RSS afterwards: {rss:.0f} MiB.", "",
        markdown_table(header, rows),
    ])
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
