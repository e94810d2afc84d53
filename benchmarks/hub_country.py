"""A country-shaped load, scaled to this machine: many schools whose links come up at once, each sending
its records as its agent does, against 1, 2 and 3 `classroom-hub serve` processes behind nginx
(deploy/hub/classroom-hub-nginx.conf) on one PostgreSQL.

Each run enrols `--schools` new schools (in-process, on the hub's database) and prepares each one's
records as signed-protocol gzip batches (realistic statements, the `hub_ingest` ones); then all the
schools start at once, `--concurrent` at a time (a pool of client threads, each one school's agent
at a time: batches in order, a new signature and nonce for each POST, a failed POST sent again).
Reports records/s, batch p50/p99, errors, the CPU of the hub processes, of PostgreSQL and of the rest
of the machine, and checks that every record is held once. Replaces the `hub_country` section of
docs/BENCHMARKS.md.

    python benchmarks/hub_country.py [--schools 1000 --records 200 --batch 100 --concurrent 48 --postgres URL]
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import (BenchmarkError, NginxProcess, http_session, machine_busy, machine_facts, markdown_table,
                     measured_on, own_cpu, percentile, process_cpu, replace_section, start_server, text_table,
                     wait_until_quiet)
from hub_dashboard import fresh_schema
from hub_ingest import DEFAULT_URL, make_records, postgres_cpu, run_cli

from sync import protocol

NAME = "hub_country"
REPO = Path(__file__).resolve().parent.parent
TRANSIENT = (502, 503, 504)


def prepare(database_url: str, schools: int, records: int, batch: int, tag: str) -> list[tuple[str, str, list[bytes]]]:
    from sync.hub import services
    from sync.hub.db import database, open_database
    open_database(database_url)
    out = []
    for number in range(schools):
        school, secret = services.enrol_school(f"Country school {tag}.{number}", f"Region {number % 17}")
        bodies = [protocol.encode_batch(school.id, "bench", make_records(school.id, first, min(batch, records - first + 1)))
                  for first in range(1, records + 1, batch)]
        out.append((school.id, secret, bodies))
    database.close()
    return out


def nginx_conf(folder: Path, ports: list[int], listen: int) -> Path:
    site = (REPO / "deploy" / "hub" / "classroom-hub-nginx.conf").read_text(encoding="utf-8")
    servers = "\n    ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)
    site = site.replace("@SERVERS@", servers).replace("@LISTEN@", f"127.0.0.1:{listen}")
    (folder / "site.conf").write_text(site)
    conf = folder / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
                    f"events {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n"
                    f"  client_body_temp_path {folder}/body;\n  proxy_temp_path {folder}/proxy;\n"
                    f"  include {folder}/site.conf;\n}}\n")
    return conf


def burst(url: str, schools: list[tuple[str, str, list[bytes]]], concurrent: int) -> dict:
    local = threading.local()
    latencies: list[float] = []
    errors: list[str] = []

    def agent(school_id: str, secret: str, bodies: list[bytes]) -> None:
        session = getattr(local, "session", None) or http_session()
        local.session = session
        for body in bodies:
            for _ in range(20):
                headers = protocol.sign_request(school_id, secret, "POST", "/api/v1/records", body)
                headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
                started = time.perf_counter()
                try:
                    response = session.post(url + "/api/v1/records", data=body, headers=headers, timeout=120)
                    status = response.status_code
                except OSError as exc:
                    status, response = 0, exc
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                    break
                errors.append(f"{status}: {getattr(response, 'text', response)}"[:200])
                if status and status not in TRANSIENT:
                    raise BenchmarkError(errors[-1])
                time.sleep(0.2)
            else:
                raise BenchmarkError(f"school {school_id}: a batch was refused 20 times: {errors[-1]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrent) as pool:
        for done in [pool.submit(agent, *school) for school in schools]:
            done.result()
    return {"wall": time.perf_counter() - started, "latencies": latencies, "errors": errors}


def run_config(args, processes: int, env: dict, database_url: str, run: int) -> dict:
    from contextlib import ExitStack
    print(f"{processes} process(es): preparing {args.schools:,} schools ...", file=sys.stderr)
    schools = prepare(database_url, args.schools, args.records, args.batch, f"{processes}.{run}")
    argv = [sys.executable, "-m", "sync.hub.cli", "serve", "--host", "127.0.0.1", "--port", "0",
            "--threads", str(args.threads)]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="hub-country-nginx-") as folder:
        servers = [stack.enter_context(start_server(argv, env=env)) for _ in range(processes)]
        ports = [int(server.url.rstrip("/").rsplit(":", 1)[1]) for server in servers]
        listen = __import__("socket").create_server(("127.0.0.1", 0))
        port = listen.getsockname()[1]
        listen.close()
        nginx = NginxProcess(Path(folder), nginx_conf(Path(folder), ports, port), ("GET", f"http://127.0.0.1:{port}/healthz"))
        nginx.start()
        try:
            quiet = wait_until_quiet(max_wait=60)
            pids = [server.proc.pid for server in servers]
            hub0, pg0, own0, machine0 = sum(map(process_cpu, pids)), postgres_cpu(), own_cpu(), machine_busy()
            nginx0 = sum(map(process_cpu, nginx.pids()))
            print(f"{processes} process(es): {args.schools:,} schools at once ...", file=sys.stderr)
            result = burst(f"http://127.0.0.1:{port}", schools, args.concurrent)
            wall = result["wall"]
            hub = sum(map(process_cpu, pids)) - hub0
            pg = postgres_cpu() - pg0
            mine = own_cpu() - own0
            ngx = sum(map(process_cpu, nginx.pids())) - nginx0
            other = machine_busy() - machine0 - hub - pg - mine - ngx
        finally:
            nginx.stop()
    records = args.schools * args.records
    return {"processes": processes, "records": records, "wall": wall, "rate": records / wall,
            "p50": percentile(result["latencies"], 50), "p99": percentile(result["latencies"], 99),
            "batches": len(result["latencies"]), "errors": len(result["errors"]),
            "hub": 100 * hub / wall, "pg": 100 * pg / wall, "client": 100 * (mine + ngx) / wall,
            "other": max(0.0, 100 * other / wall), "quiet": quiet, "ids": [s[0] for s in schools]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--records", type=int, default=200, help="records per school")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=48, help="schools sending at the same moment")
    parser.add_argument("--threads", type=int, default=4, help="worker threads per hub process")
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--postgres", default=os.environ.get("CLASSROOM_TEST_POSTGRES_URL") or DEFAULT_URL)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()

    database_url, _schema, drop = fresh_schema(args.postgres)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-country-") as folder:
            env = {**os.environ, "CLASSROOM_HUB_DATA_DIR": folder, "CLASSROOM_HUB_DATABASE_URL": database_url}
            run_cli(env, "init")
            for run, processes in enumerate(int(n) for n in args.processes.split(",")):
                results.append(run_config(args, processes, env, database_url, run))
                print(f"  {results[-1]['rate']:,.0f} records/s, p99 {results[-1]['p99'] * 1000:.0f} ms",
                      file=sys.stderr)
            from sync.hub.db import database, open_database
            open_database(database_url)
            held = database.execute_sql("SELECT count(*), count(DISTINCT (school_id, seq)) FROM record").fetchone()
            acked = database.execute_sql("SELECT sum(acked) FROM school").fetchone()[0]
            database.close()
    finally:
        drop()
    expected = sum(r["records"] for r in results)
    if not (held[0] == held[1] == int(acked) == expected):
        raise BenchmarkError(f"records held {held[0]}, distinct {held[1]}, acked {acked}, expected {expected}")

    header = ["hub processes", "records", "seconds", "records/s", "batch p50", "batch p99", "errors (retried)",
              "hub CPU", "PostgreSQL CPU", "client + nginx CPU", "others' CPU"]
    rows = [[r["processes"], f"{r['records']:,}", f"{r['wall']:.1f}", f"{r['rate']:,.0f}", f"{r['p50'] * 1000:.0f} ms",
             f"{r['p99'] * 1000:.0f} ms", r["errors"], f"{r['hub']:.0f}%", f"{r['pg']:.0f}%", f"{r['client']:.0f}%",
             f"{r['other']:.0f}%"] for r in results]
    print(text_table(header, rows))
    when = datetime.datetime.now(datetime.timezone.utc)
    first = results[0]["rate"]
    body = f"""## A country-shaped burst against 1, 2 and 3 hub processes (`benchmarks/hub_country.py`)

How to run: `python benchmarks/hub_country.py [--schools {args.schools} --records {args.records} --batch {args.batch} --concurrent {args.concurrent} --postgres URL]`.

{measured_on(when, machine_facts())}, shared with other work. For each row, {args.schools:,} new schools (a
country's 7,500 scaled to what the machine can prepare) whose links come up at once, each sending {args.records:,}
records in signed gzip batches of {args.batch} as its agent does (in order, a new signature and nonce for each
POST, a failed POST sent again), {args.concurrent} schools at the same moment from a pool of client threads,
through nginx (deploy/hub/classroom-hub-nginx.conf, one worker) to `classroom-hub serve --threads {args.threads}`
processes on one PostgreSQL. CPU in % of one core over the run; "PostgreSQL" counts every postgres process on
the machine (the server is shared, so others' queries are in it too); "others" is everything else.

{markdown_table(header, rows)}

Every record was held once and every school's cursor was at its last record ({expected:,} records in all).
Relative to one process: {', '.join(f"{r['processes']} processes {r['rate'] / first:.2f}x" for r in results[1:])}.
On 2 cores the machine, not the design, is the limit: the hub processes, PostgreSQL, nginx and the load
generator (Python threads signing and sending) all share the same two cores, so a second process can only take
CPU from the others; the processes share nothing but the database, and on a machine with cores to spare per
process ingest grows with processes until PostgreSQL's disk or CPU is the limit (docs/scale.md).
"""
    replace_section(args.out, NAME, body)
    print(f"\nwrote the {NAME} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
