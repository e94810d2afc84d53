"""The analytics job's raw path on a slice: how fast `analytics.refresh` turns stored statements into the
monthly sums, on PostgreSQL.

A fresh schema with `classroom-hub init`; SCHOOLS schools, each with RECORDS statements made the way the
school's agent makes them (answers to a published pack's items, openings and completions, 30 to 60
pseudonymous students a school, three months), COPYed into the record table as ingest leaves them;
then one refresh pass, timed, and a second (nothing new). Prints the figures and replaces the
`hub_analytics_refresh` section of docs/BENCHMARKS.md.

    python benchmarks/hub_analytics_refresh.py [--schools 40 --records 5000 --postgres URL]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import BenchmarkError, console_script, markdown_table, replace_section, text_table  # noqa: E402
from hub_dashboard import DEFAULT_URL, fresh_schema  # noqa: E402

from classroom_server.domain.statements import PlainRecord, to_statement  # noqa: E402

NAME = "hub_analytics_refresh"
PLATFORM = "https://platform.example.kz"
ITEMS = [(f"ex-{n}", f"q{k}") for n in range(6) for k in range(8)]
PACK = {"id": "kz.bench.math5", "subject": "mathematics", "grades": [5], "nodes": [
    {"id": node, "kind": "exercise", "items": [{"id": item, "skills": [f"skill.{node}", f"skill.{item}"]}
                                               for n2, item in ITEMS if n2 == node]}
    for node in sorted({n for n, _ in ITEMS})]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--records", type=int, default=5000, help="statements per school")
    parser.add_argument("--postgres", default=os.environ.get("CLASSROOM_TEST_POSTGRES_URL") or DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    import psycopg2

    from sync.hub import alerts, analytics
    from sync.hub.db import database, open_database
    database_url, schema, drop = fresh_schema(args.postgres)
    try:
        with tempfile.TemporaryDirectory(prefix="hub-refresh-bench-") as folder:
            env = {**os.environ, "CLASSROOM_HUB_DATA_DIR": folder, "CLASSROOM_HUB_DATABASE_URL": database_url}
            done = subprocess.run([console_script("classroom-hub"), "init"], env=env, capture_output=True, text=True,
                                  timeout=120)
            if done.returncode:
                raise BenchmarkError(f"classroom-hub init failed:\n{done.stderr}")
            rng = random.Random(16)
            now = datetime.datetime.now(datetime.timezone.utc)
            first_month = (now.date().replace(day=1) - datetime.timedelta(days=62)).replace(day=1)
            schools, records = io.StringIO(), io.StringIO()
            for number in range(args.schools):
                school_id = f"sch-r{number:05d}"
                schools.write(f"{school_id}\tSchool {number}\tRegion {number % 3}\t{uuid.uuid4().hex}\t"
                              f"{now.replace(tzinfo=None).isoformat()}\t{args.records}\t{args.records}\t0\n")
                students = rng.randint(30, 60)
                for seq in range(1, args.records + 1):
                    uid = str(uuid.uuid4())
                    verb = rng.choice(("answered", "answered", "answered", "answered", "opened", "completed"))
                    node, item = rng.choice(ITEMS)
                    when = datetime.datetime.combine(first_month, datetime.time(8), datetime.timezone.utc) + \
                        datetime.timedelta(minutes=seq * 25)
                    record = PlainRecord(
                        id=uid, device_id="dev-1", sequence=seq, timestamp=when, learner=f"p-{rng.randrange(students):04d}",
                        school_id=school_id, verb=verb, pack_id=PACK["id"], node_id=node,
                        node_kind="exercise", language="kk", item_id=item if verb == "answered" else None,
                        class_id="5A", response="b" if verb == "answered" else None,
                        correct=(rng.random() < 0.65) if verb == "answered" else None,
                        duration_ms=rng.randint(5000, 90000), attempt=1 if verb == "answered" else None)
                    statement = json.dumps(to_statement(record, PLATFORM), separators=(",", ":")).replace("\\", "\\\\")
                    records.write(f"{school_id}\t{seq}\t{uid}\t{statement}\t{now.replace(tzinfo=None).isoformat()}\n")
            schools.seek(0)
            records.seek(0)
            connection = psycopg2.connect(args.postgres, options=f"-csearch_path={schema}")
            with connection, connection.cursor() as cursor:
                cursor.copy_expert("COPY school (id, name, region, secret, created_at, records_received, acked, forwarded) "
                                   "FROM STDIN", schools)
                cursor.copy_expert("COPY record (school_id, seq, uuid, statement, received_at) FROM STDIN", records)
                cursor.execute("ANALYZE record")
            connection.close()
            open_database(database_url)
            database.connect(reuse_if_open=True)
            analytics.index_pack(PACK)
            total = args.schools * args.records
            started = time.perf_counter()
            read = analytics.refresh()
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            again = analytics.refresh()
            idle = time.perf_counter() - started
            started = time.perf_counter()
            found = alerts.save_snapshot()
            snapshot = time.perf_counter() - started
            database.close()
    finally:
        drop()
    if read != total or again != 0:
        raise BenchmarkError(f"refresh read {read} of {total} records, then {again}")
    rate = total / seconds
    header = ["what", "figure"]
    rows = [["statements in the slice", f"{total:,} ({args.schools} schools x {args.records:,})"],
            ["first pass", f"{seconds:.1f} s, {rate:,.0f} statements/s"],
            ["a pass with nothing new", f"{idle * 1000:.0f} ms"],
            ["finding the warnings of the slice", f"{snapshot * 1000:.0f} ms ({found} found)"],
            ["a year of the country at this rate", f"{3_500_000 * 25 * 36 / rate / 3600:,.0f} h of one core "
                                                   "(3.5 million students x 25 statements a week x 36 weeks)"]]
    print(text_table(header, rows))
    body = "\n\n".join([
        "## The analytics job's raw path on a slice (`benchmarks/hub_analytics_refresh.py`)",
        f"How to run: `python benchmarks/hub_analytics_refresh.py [--schools {args.schools} --records {args.records} "
        "--postgres URL]`. Statements made as the school's agent makes them (two thirds answers to a published "
        "pack's items with two skills each, 30 to 60 students a school, three months), COPYed into the record "
        "table; then `analytics.refresh()` in one process on the same machine as PostgreSQL.",
        markdown_table(header, rows),
        "The job keeps up with the country if it runs continuously on one core beside the hub (`analytics refresh "
        "--loop`): the year's statements arrive over the year, not at once."])
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
