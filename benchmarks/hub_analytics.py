"""The education department's pages at national scale: 7,500 schools on PostgreSQL, a year of learning
aggregates, signed-in operators of each level.

A fresh schema with `classroom-hub init`; the dashboard benchmark's school rows and per-day counters
(hub_dashboard.fill); a school register placing them in 17 regions and about 200 districts; and the
analytics' monthly sums in aggregated form (area_cell: per school 12 months x 2 subject-grades, 12
skills, 3 packs, activity and assignment work; districts, regions and the country summed in SQL), as
`classroom-hub analytics refresh` leaves them after a year of 3.5 million students' statements (the
raw statements themselves do not fit this machine; the refresh job's own rate is measured by the
tests' slice, see docs/hub.md). Then `classroom-hub serve` and timed GETs as a ministry, a region and a
district operator. Prints the figures and replaces the `hub_analytics` section of docs/BENCHMARKS.md.

    python benchmarks/hub_analytics.py [--schools 7500 --requests 30 --postgres URL]
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (BenchmarkError, console_script, http_session, machine_facts, markdown_table, measured_on,
                     replace_section, start_server, text_table)
from hub_dashboard import DEFAULT_URL, REGIONS, fill, fresh_schema, latency_table, time_gets

NAME = "hub_analytics"
TARGET_MS = 500
PASSWORD = "benchmark password 1"
DISTRICTS_PER_REGION = 12
SKILLS = ("fractions.compare", "fractions.add", "fractions.parts", "decimals.read", "decimals.round", "percent.of")


def month_list(count: int) -> list[datetime.date]:
    first = datetime.date.today().replace(day=1)
    out = []
    for back in range(count - 1, -1, -1):
        year, index = divmod(first.year * 12 + first.month - 1 - back, 12)
        out.append(datetime.date(year, index + 1, 1))
    return out


def fill_analytics(url: str, schema: str, schools: int) -> dict:
    import psycopg2
    started = time.perf_counter()
    rng = random.Random(16)
    register, cells = io.StringIO(), io.StringIO()
    rows = 0
    months = month_list(12)
    for number in range(schools):
        school_id = f"sch-b{number:05d}"
        region = REGIONS[number % len(REGIONS)]
        district = f"District {number // len(REGIONS) % DISTRICTS_PER_REGION + 1}"
        students = rng.randint(80, 900)
        register.write(f"KZ-{number:05d}\t{school_id}\tSchool No. {number + 1}\t{region}\t{district}\t\\N\t"
                       f"{'t' if rng.random() < 0.6 else 'f'}\tkk\t{students}\t2026-01-01\n")
        level = rng.uniform(0.45, 0.8)
        for m, month in enumerate(months):
            active = int(students * rng.uniform(0.3, 0.9))
            for subject, grade in (("mathematics", 5), ("mathematics", 6)):
                answers = active * rng.randint(20, 60)
                correct = int(answers * min(0.98, level + 0.01 * m + rng.gauss(0, 0.03)))
                cells.write(f"s:{school_id}\tu\t{subject}\\t{grade}\t{month}\t{answers}\t{correct}\t{active}\t0\t0\n")
                for skill in SKILLS:
                    share = answers // 3
                    right = int(share * min(0.98, level + rng.gauss(0, 0.08)))
                    cells.write(f"s:{school_id}\ts\t{subject}\\t{grade}\\t{skill}\t{month}\t{share}\t{right}\t"
                                f"{active // 2}\t0\t0\n")
                rows += 7
            for pack in ("kz.math.5", "kz.math.6", "kz.reading.5"):
                cells.write(f"s:{school_id}\tp\t{pack}\t{month}\t{active * 40}\t0\t{active // 2}\t{active * 3}\t"
                            f"{active * 3_600_000}\n")
            cells.write(f"s:{school_id}\ta\t\t{month}\t{active * 120}\t0\t{active}\t{active * 9}\t{active * 10_800_000}\n")
            cells.write(f"s:{school_id}\tg\t\t{month}\t{active * 30}\t0\t{active // 2}\t{active * 2}\t0\n")
            rows += 5
    register.seek(0)
    cells.seek(0)
    connection = psycopg2.connect(url, options=f"-csearch_path={schema}")
    sums = ", ".join(f"SUM({c})" for c in ("answers", "correct", "learners", "completions", "time_ms"))
    with connection, connection.cursor() as cursor:
        cursor.copy_expert("COPY register_school (register_id, hub_school_id, name, region, district, locality, rural, "
                           "language, students, imported_at) FROM STDIN", register)
        cursor.copy_expert("COPY area_cell (area, dim, key, month, answers, correct, learners, completions, time_ms) "
                           "FROM STDIN", cells)
        # what analytics.rebuild_areas does, in SQL: the districts, regions and the country
        for area in ("'d:' || r.region || '/' || r.district", "'r:' || r.region", "'c'"):
            cursor.execute(f"INSERT INTO area_cell (area, dim, key, month, answers, correct, learners, completions, "
                           f"time_ms) SELECT {area}, a.dim, a.key, a.month, {sums} FROM area_cell a JOIN register_school "
                           f"r ON a.area = 's:' || r.hub_school_id GROUP BY 1, 2, 3, 4")
        cursor.execute("ANALYZE area_cell")
        cursor.execute("ANALYZE register_school")
        cursor.execute("SELECT COUNT(*) FROM area_cell")
        total = cursor.fetchone()[0]
    connection.close()
    return {"school_rows": rows, "rows": total, "seconds": time.perf_counter() - started}


def signed_in(base: str, username: str):
    client = http_session()
    page = client.get(base + "/ops/login", timeout=60)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post(base + "/ops/login", data={"username": username, "password": PASSWORD, "csrf": csrf},
                         allow_redirects=False, timeout=60)
    if answer.status_code != 303:
        raise BenchmarkError(f"{username} could not sign in: {answer.status_code}")
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=7500)
    parser.add_argument("--requests", type=int, default=30, help="timed GETs per case, after one warm-up")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres", default=os.environ.get("CLASSROOM_TEST_POSTGRES_URL") or DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]  # the machine may be shared: the figures mean little under a high load
    database_url, schema, drop = fresh_schema(args.postgres)
    try:
        with tempfile.TemporaryDirectory(prefix="hub-analytics-bench-") as folder:
            env = {**os.environ, "CLASSROOM_HUB_DATA_DIR": folder, "CLASSROOM_HUB_DATABASE_URL": database_url}

            def cli(*command: str) -> None:
                done = subprocess.run([console_script("classroom-hub"), *command], env=env, capture_output=True,
                                      text=True, timeout=300)
                if done.returncode:
                    raise BenchmarkError(f"classroom-hub {' '.join(command)} failed:\n{done.stderr}")
            cli("init")
            print(f"filling {args.schools:,} schools ...", file=sys.stderr)
            filled = fill(args.postgres, schema, args.schools, 60)
            analytics = fill_analytics(args.postgres, schema, args.schools)
            started = time.perf_counter()
            cli("analytics", "refresh")  # no raw records here: it moves the cursors and finds the warnings
            refresh_seconds = time.perf_counter() - started
            password = Path(folder) / "password"
            password.write_text(PASSWORD + "\n")
            cli("user", "create", "minister", "--level", "ministry", "--password-file", str(password))
            cli("user", "create", "almaty", "--level", "region", "--region", "Almaty", "--password-file", str(password))
            cli("user", "create", "district", "--level", "district", "--region", "Almaty", "--district", "District 3",
                "--password-file", str(password))
            cases = [("minister", "GET /ops/ (7,500 schools, 500 a page)", "/ops/", {}),
                     ("minister", "GET /ops/schools.json", "/ops/schools.json", {}),
                     ("minister", "GET /ops/learning (country)", "/ops/learning", {}),
                     ("minister", "GET /ops/learning.json (country)", "/ops/learning.json", {}),
                     ("minister", "GET /ops/schools.xlsx (7,500 schools)", "/ops/schools.xlsx", {}),
                     ("minister", "GET /ops/learning.csv (country)", "/ops/learning.csv", {}),
                     ("minister", "GET /ops/learning.xlsx (country)", "/ops/learning.xlsx", {}),
                     ("minister", "GET /ops/warnings (country)", "/ops/warnings", {}),
                     ("almaty", "GET /ops/learning (a region)", "/ops/learning", {}),
                     ("almaty", "GET /ops/warnings.json (a region)", "/ops/warnings.json", {}),
                     ("district", "GET /ops/learning (a district)", "/ops/learning", {}),
                     ("district", "GET /ops/learning.xlsx (a district)", "/ops/learning.xlsx", {}),
                     ("district", "GET /ops/learning?area=s:... (a school)", "/ops/learning",
                      {"area": "s:sch-b00037"})]
            results = []
            with start_server([console_script("classroom-hub"), "serve", "--host", "127.0.0.1", "--port", "0",
                               "--threads", str(args.threads)], env=env) as server:
                base = server.url.rstrip("/")
                clients = {}
                for username, label, path, params in cases:
                    client = clients.get(username) or clients.setdefault(username, signed_in(base, username))
                    print(f"{label} x {args.requests} ...", file=sys.stderr)
                    results.append((label, time_gets(client, base, path, params, args.requests)))
                rss = server.memory().rss_mib
                load_after = os.getloadavg()[0]
    finally:
        drop()
    header, rows = latency_table(results, TARGET_MS)
    print(text_table(header, rows))
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    body = "\n".join([
        "## The education department's pages at national scale (`benchmarks/hub_analytics.py`)", "",
        f"How to run: `python benchmarks/hub_analytics.py [--schools {args.schools} --requests {args.requests} "
        "--postgres URL]` (a fresh PostgreSQL schema, dropped afterwards).", "",
        f"{measured_on(when, facts)}, "
        f"PostgreSQL {filled['pg_version']} on the same machine, `classroom-hub serve --threads {args.threads}`. "
        f"{args.schools:,} schools in {len(REGIONS)} regions and {len(REGIONS) * DISTRICTS_PER_REGION} districts "
        f"(the school register), 60 days of per-day counters, and a year of learning sums in aggregated form: "
        f"{analytics['school_rows']:,} school rows and {analytics['rows']:,} area_cell rows in all with the "
        f"districts, regions and country (COPYed and summed in {analytics['seconds']:.0f} s). The raw statements "
        "of 3.5 million students for a year are not generated: the pages never read them. Each request once to "
        f"warm up, then {args.requests} one after another, signed in. Hub RSS afterwards: {rss:.0f} MiB. The "
        "warnings pages read what the last `classroom-hub analytics refresh` pass found for the whole country; "
        f"that pass (here with no new records, 7,500 cursors and the country's warnings) took {refresh_seconds:.1f} s "
        f"including the command's start. Load average (1 min) {load_before:.1f} before the run and {load_after:.1f} "
        "after the requests.", "",
        markdown_table(header, rows),
    ])
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
