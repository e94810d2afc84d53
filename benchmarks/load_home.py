"""Load benchmark: student sign-in and four signed-in student pages, side by side with bare Flask.

Run from the repository root:

    python benchmarks/load_home.py [--connections 50 --duration 20 --threads 8 --rounds 2 --out docs/BENCHMARKS.md]

It makes the demo school in a temporary data folder, starts the real `classroom-server serve` and a
bare Flask + waitress app (`bare_app.py`, serving 5 KB) on free loopback ports, both running for the
whole measurement, signs in N students over HTTP (sequentially, then N at once), checks that every
session cookie opens the student's own home page, then drives with wrk, in turn, in each round: the
bare app, the student home `/learn/`, a lesson, a reader chapter and a practice question (each
connection a signed-in student with its device cookie). Each page's req/s is compared with the
bare app's in the same round. It prints a table and replaces its section of the report. It reports
figures; it asserts none.
"""
from __future__ import annotations

import argparse
import datetime
import html
import re
import sqlite3
import subprocess
import sys
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash, generate_password_hash

from harness import (REPO, BenchmarkError, CpuMeter, CpuUse, Memory, Server, WrkResult, clean_env, console_script,
                     http_session, machine_facts, markdown_table, measured_on, percentile, replace_section, run_wrk,
                     start_server, text_table, wait_until_quiet)

NAME = "load_home"
SESSION_COOKIE = "classroom_session"
BARE_APP = Path(__file__).resolve().parent / "bare_app.py"
DEVICE_COOKIE = "classroom_device"
SETTLE_LIMIT_S = 1.0  # a view's record stored later than this after the load's end counts as missing
PACK = "kz.sample.math5-fractions"
# The pages a student opens most (issue 18), each measured under load: name -> path.
# Pages whose every view stores an `opened` learning record; the benchmark counts that each view's
# record is in the database when its load ends (a server that answered before storing would look
# faster while its writes queued up).
RECORDING_PAGES = ("lesson", "reader chapter")
STUDENT_PAGES = {
    "student home": "/learn/",
    "lesson": f"/library/{PACK}/fractions.lesson.compare",
    "reader chapter": f"/library/{PACK}/fractions.ch1",
    "practice question": f"/learn/practice/{PACK}/fractions.ex.basics",
}
BARE = "bare Flask + waitress"
# Targets from the design brief; reported next to the figures, never asserted.
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
TARGET_IDLE_PSS_MIB = 60.0


@dataclass(frozen=True)
class Student:
    name: str
    path: str  # /signin/class/<cid>/student/<sid>
    form: dict[str, str]  # the class's secret as form fields: pin, or picture0..picture2


@dataclass(frozen=True)
class SignIn:
    student: Student
    cookie: str  # "classroom_session=..." for a Cookie header
    seconds: float  # GET the form + POST the secret


@dataclass(frozen=True)
class SignInRun:
    signins: list[SignIn]
    wall: float
    cpu: CpuUse

    @property
    def rate(self) -> float:
        return len(self.signins) / self.wall

    def pct_ms(self, pct: float) -> float:
        return percentile([s.seconds for s in self.signins], pct) * 1000


@dataclass(frozen=True)
class Load:
    """One wrk run against one URL, with the server's CPU use during it."""
    result: WrkResult
    cpu: CpuUse
    log_lines: int  # lines the server logged during the load (waitress warns of each queued request)
    records: int | None = None  # learning records stored from the load's start to its end (school only)
    # The same once the records stopped coming (school only), and how long after the load's end
    # that was: a page's `opened` record is stored as the page is sent, not before (db.GroupCommit).
    records_after: int | None = None
    settled_s: float | None = None

    @property
    def cpu_per_request_ms(self) -> float:
        return 1000 * self.cpu.server_seconds / max(1, self.result.requests)


@dataclass(frozen=True)
class Figures:
    cold_start: dict[str, float]  # server -> seconds
    idle: dict[str, Memory]
    after_signin: Memory
    after_load: dict[str, Memory]
    rounds: list[dict[str, Load]]  # per round: BARE or a page name -> its load
    sizes: dict[str, int]  # page name -> body bytes
    sequential: SignInRun
    concurrent: SignInRun


# --- the demo school and its students -----------------------------------------------------------

def make_demo(data_dir: Path) -> dict[str, dict[str, str]]:
    """Create the demo school; return each class's secret as form fields, read from the printed logins."""
    done = subprocess.run([console_script("classroom-server"), "--data-dir", str(data_dir), "demo", "--no-serve"],
                          capture_output=True, text=True, timeout=300, env=clean_env())
    if done.returncode != 0:
        raise BenchmarkError(f"classroom-server demo failed (exit {done.returncode}):\n{done.stderr}")
    secrets: dict[str, dict[str, str]] = {}
    for line in done.stdout.splitlines():
        match = re.search(r"students of (.+?): .*then (?:PIN (\d+)|pictures: (.+))$", line)
        if match and match.group(2):
            secrets[match.group(1)] = {"pin": match.group(2)}
        elif match:
            pictures = match.group(3).split()
            secrets[match.group(1)] = {f"picture{i}": key for i, key in enumerate(pictures)}
    if not secrets:
        raise BenchmarkError(f"classroom-server demo printed no student logins:\n{done.stdout}")
    return secrets


def find_students(base_url: str, secrets: dict[str, dict[str, str]]) -> list[Student]:
    """Walk the sign-in pages as a child would: the classes, then each class's names."""
    students: list[Student] = []
    with http_session() as client:
        page = client.get(base_url + "signin", timeout=30)
        page.raise_for_status()
        classes = re.findall(r'<a class="tile" href="(/signin/class/\d+)[^"]*">([^<]+)</a>', page.text)
        for path, class_name in classes:
            form = secrets.get(html.unescape(class_name).strip())
            if form is None:
                continue
            names = client.get(base_url + path.lstrip("/"), timeout=30)
            names.raise_for_status()
            for student_path, name in re.findall(
                    r'<a class="tile" href="(/signin/class/\d+/student/\d+)[^"]*">([^<]+)</a>', names.text):
                students.append(Student(html.unescape(name).strip(), student_path, form))
    if not students:
        raise BenchmarkError(f"no student links found under {base_url}signin")
    return students


def sign_in(base_url: str, student: Student) -> SignIn:
    """GET the student's secret page (session cookie + CSRF token), POST the secret, expect 302 to /learn/."""
    url = base_url + student.path.lstrip("/")
    with http_session() as client:
        started = time.perf_counter()
        page = client.get(url, timeout=60)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or token is None:
            raise BenchmarkError(f"GET {student.path}: {page.status_code}, CSRF token found: {token is not None}")
        answer = client.post(url, data={"csrf_token": token.group(1), "next": "", **student.form},
                             allow_redirects=False, timeout=60)
        seconds = time.perf_counter() - started
    target = urlsplit(answer.headers.get("Location", "")).path
    cookie = answer.cookies.get(SESSION_COOKIE)
    if answer.status_code != 302 or target != "/learn/" or not cookie:
        raise BenchmarkError(f"POST {student.path} for {student.name}: {answer.status_code} to {target!r}, "
                             f"expected 302 to /learn/ with a session cookie")
    return SignIn(student, f"{SESSION_COOKIE}={cookie}", seconds)


def sign_in_many(base_url: str, server_pid: int, students: list[Student], count: int, workers: int) -> SignInRun:
    """Sign in `count` sessions (students taken in turn, so some twice) with `workers` at once."""
    chosen = [students[i % len(students)] for i in range(count)]
    meter = CpuMeter(server_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        signins = list(pool.map(lambda student: sign_in(base_url, student), chosen))
    return SignInRun(signins, time.perf_counter() - started, meter.stop())


def verify_pages(base_url: str, signins: list[SignIn], cookies: list[str]) -> dict[str, int]:
    """Every cookie must get 200 and its own student's name on /learn/, and every page 200 (these
    first visits also give each device its first records); returns each page's size in bytes."""
    sizes: dict[str, int] = {}
    with http_session() as client:
        for signin, cookie in zip(signins, cookies):
            page = client.get(base_url + "learn/", headers={"Cookie": cookie}, allow_redirects=False, timeout=30)
            if page.status_code != 200 or html.escape(signin.student.name) not in page.text:
                raise BenchmarkError(f"/learn/ for {signin.student.name}: {page.status_code} "
                                     f"{page.headers.get('Location', '')}; the student's page was expected")
            for name, path in STUDENT_PAGES.items():
                page = client.get(base_url + path.lstrip("/"), headers={"Cookie": cookie}, allow_redirects=False,
                                  timeout=30)
                if page.status_code != 200:
                    raise BenchmarkError(f"{path} for {signin.student.name}: {page.status_code}")
                sizes[name] = len(page.content)
    return sizes


def scrypt_check_ms() -> tuple[str, float]:
    """The hash parameters and the time of one check on one core, as the server does per sign-in."""
    hashed = generate_password_hash("1234")
    started = time.perf_counter()
    check_password_hash(hashed, "1234")
    return hashed.split("$", 1)[0], (time.perf_counter() - started) * 1000


# --- the runs -----------------------------------------------------------------------------------

def last_record(data_dir: Path) -> int:
    """The school's newest learning record's number (seq only grows), read beside the running server."""
    with sqlite3.connect(data_dir / "classroom.sqlite3", timeout=30) as db:
        return db.execute("SELECT COALESCE(MAX(seq), 0) FROM learning_record").fetchone()[0]


def _load(server: Server, url: str, connections: int, duration: int, cookies: list[str], quiet_wait: float,
          data_dir: Path | None = None) -> Load:
    wait_until_quiet(quiet_wait)
    lines, meter = server.stderr_lines, CpuMeter(server.proc.pid)
    before = last_record(data_dir) if data_dir else None
    result = run_wrk(url, connections, duration, cookies)
    cpu = meter.stop()
    if data_dir is None or before is None:
        return Load(result, cpu, server.stderr_lines - lines)
    ended = time.monotonic()
    records = last_record(data_dir) - before
    after, settled = records, 0.0
    while after < result.requests and time.monotonic() - ended < SETTLE_LIMIT_S:
        time.sleep(0.005)
        after, settled = last_record(data_dir) - before, time.monotonic() - ended
    return Load(result, cpu, server.stderr_lines - lines, records, after, settled)


def measure(data_dir: Path, secrets: dict[str, dict[str, str]], args: argparse.Namespace) -> Figures:
    """Both servers run together; each round loads the bare app, then each student page in turn."""
    n = args.connections
    bare_argv = [sys.executable, str(BARE_APP), "--port", "0", "--threads", str(args.threads)]
    school_argv = [console_script("classroom-server"), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
                   "--port", "0", "--threads", str(args.threads), "--workers", args.workers]
    with start_server(bare_argv, health_path="/") as bare, start_server(school_argv, env=clean_env()) as school:
        servers = {BARE: bare, "classroom-server": school}
        idle = {name: server.memory() for name, server in servers.items()}
        students = find_students(school.url, secrets)
        wait_until_quiet(args.quiet_wait)
        sequential = sign_in_many(school.url, school.proc.pid, students, n, workers=1)
        concurrent = sign_in_many(school.url, school.proc.pid, students, n, workers=n)
        after_signin = school.memory()
        # A browser keeps its device id cookie (learn.practice): each connection is one device.
        cookies = [f"{s.cookie};{DEVICE_COOKIE}={uuid.uuid4()}" for s in concurrent.signins]
        sizes = verify_pages(school.url, concurrent.signins, cookies)
        rounds = []
        for number in range(args.rounds):
            print(f"round {number + 1} of {args.rounds}: bare, then {len(STUDENT_PAGES)} pages, "
                  f"{args.duration} s each ...", file=sys.stderr)
            loads = {BARE: _load(bare, bare.url, n, args.duration, [], args.quiet_wait)}
            for name, path in STUDENT_PAGES.items():
                loads[name] = _load(school, school.url + path.lstrip("/"), n, args.duration, cookies, args.quiet_wait,
                                    data_dir)
            rounds.append(loads)
        after_load = {name: server.memory() for name, server in servers.items()}
        cold = {name: server.cold_start for name, server in servers.items()}
    # A school's release installs no PostgreSQL driver (only the postgres, hub and test extras do),
    # but peewee imports psycopg2 whenever it is there, as in this development venv: the same server
    # once more with it hidden, for its idle memory as a school runs it.
    hidden = ("import sys; sys.modules['psycopg2'] = sys.modules['psycopg'] = None; "
              "from classroom_server.cli import main; main()")
    with start_server([sys.executable, "-c", hidden, *school_argv[1:]], env=clean_env()) as release:
        idle["classroom-server, no psycopg2 (as a school installs it)"] = release.memory()
        cold["classroom-server, no psycopg2 (as a school installs it)"] = release.cold_start
    return Figures(cold, idle, after_signin, after_load, rounds, sizes, sequential, concurrent)


# --- the report ---------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _mib(memory: Memory | None, pss: bool = False, peak: bool = False) -> str:
    if memory is None:
        return ""
    return f"{memory.hwm_mib if peak else memory.pss_mib if pss else memory.rss_mib:.1f} MiB"


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def ratios(figures: Figures) -> dict[str, list[float]]:
    """Each page's req/s over the bare app's in the same round, per round."""
    return {name: [loads[name].result.rps / loads[BARE].result.rps for loads in figures.rounds]
            for name in STUDENT_PAGES}


def report(args: argparse.Namespace, figures: Figures, scrypt: tuple[str, float], loadavg: str) -> tuple[str, str]:
    """The console text and the Markdown section."""
    n = args.connections
    wrk_line = f"wrk -t{min(2, n)} -c{n} -d{args.duration}s --latency --timeout 30s"
    what = {BARE: f"{BARE} ({args.threads} threads), 5 KB string at /",
            **{name: f"{name} {path}" for name, path in STUDENT_PAGES.items()}}
    sizes = {BARE: 5120, **figures.sizes}
    load_header = ["round", "load", "body", "req/s", "/ bare", "p50", "p90", "p99", "max", "requests", "non-200",
                   "socket errors", "records stored", "server CPU", "server CPU per request", "other CPU"]
    load_rows = []
    for number, loads in enumerate(figures.rounds, 1):
        for name, load in loads.items():
            f = load.result
            load_rows.append([number, what[name], f"{sizes[name]:,} B", f"{f.rps:,.0f}",
                              f"{f.rps / loads[BARE].result.rps:.2f}" if name != BARE else "",
                              _ms(f.p50_ms), _ms(f.p90_ms), _ms(f.p99_ms), _ms(f.max_ms), f"{f.requests:,}",
                              f.non_200, ", ".join(f"{k} {v}" for k, v in f.socket_errors.items() if v) or "0",
                              f"{load.records:,}" if load.records is not None else "", _pct(load.cpu.server), f"{load.cpu_per_request_ms:.2f} ms", _pct(load.cpu.other)])
    per_page = ratios(figures)
    worst_p99 = {name: max(loads[name].result.p99_ms for loads in figures.rounds) for name in STUDENT_PAGES}
    cpu_ms = {name: statistics.median(loads[name].cpu_per_request_ms for loads in figures.rounds)
              for name in (BARE, *STUDENT_PAGES)}
    signin_header = ["sign-in (GET form + POST secret)", "sign-ins", "wall", "sign-ins/s", "p50", "p99",
                     "server CPU", "other CPU"]
    signin_rows = [[name, len(run.signins), f"{run.wall:.2f} s", f"{run.rate:.1f}", _ms(run.pct_ms(50)),
                    _ms(run.pct_ms(99)), _pct(run.cpu.server), _pct(run.cpu.other)]
                   for name, run in (("one at a time", figures.sequential), (f"{n} at once", figures.concurrent))]
    school, bare = "classroom-server", BARE
    memory_header = ["server", "cold start", "idle PSS", "idle RSS", "RSS after sign-ins", "RSS after load",
                     "peak RSS (VmHWM)"]
    memory_rows = [[school, f"{figures.cold_start[school]:.2f} s", _mib(figures.idle[school], pss=True),
                    _mib(figures.idle[school]), _mib(figures.after_signin), _mib(figures.after_load[school]),
                    _mib(figures.after_load[school], peak=True)],
                   *[[name, f"{figures.cold_start[name]:.2f} s", _mib(figures.idle[name], pss=True),
                      _mib(figures.idle[name]), "", "", ""] for name in figures.idle if name not in (school, bare)],
                   [bare, f"{figures.cold_start[bare]:.2f} s", _mib(figures.idle[bare], pss=True),
                    _mib(figures.idle[bare]), "", _mib(figures.after_load[bare]),
                    _mib(figures.after_load[bare], peak=True)]]

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    target_header = ["target", "measured", "met"]
    target_rows = []
    for name in STUDENT_PAGES:
        middle = statistics.median(per_page[name])
        target_rows.append([f"{name}: req/s / bare req/s >= {TARGET_RATIO} (median of the rounds)",
                            f"{middle:.2f} ({', '.join(f'{r:.2f}' for r in per_page[name])})",
                            verdict(middle >= TARGET_RATIO)])
        target_rows.append([f"{name}: p99 < {TARGET_P99_MS:.0f} ms at {n} connections (worst round)",
                            _ms(worst_p99[name]), verdict(worst_p99[name] < TARGET_P99_MS)])
    for name in RECORDING_PAGES:
        # wrk counts answered requests; each answered view's record must be in the database soon after.
        loads_of = [(number, loads[name]) for number, loads in enumerate(figures.rounds, 1)
                    if loads[name].records_after is not None]
        short = [(number, load) for number, load in loads_of if load.records_after < load.result.requests]
        target_rows.append([f"{name}: every answered view's record stored within {SETTLE_LIMIT_S:.0f} s of its "
                            "load's end (each round)",
                            "; ".join(f"round {number}: {load.records_after:,} of {load.result.requests:,}"
                                      for number, load in short)
                            or "; ".join(f"round {number}: {load.records:,} at the end, all "
                                         f"{load.result.requests:,} {load.settled_s * 1000:.0f} ms after"
                                         for number, load in loads_of),
                            verdict(not short)])
    for name in figures.idle:
        if name != bare:
            target_rows.append([f"idle PSS <= {TARGET_IDLE_PSS_MIB:.0f} MiB: {name}", _mib(figures.idle[name], pss=True),
                                verdict(figures.idle[name].pss_mib <= TARGET_IDLE_PSS_MIB)])
    cpu_header = ["load", "server CPU per request (median)", "/ bare"]
    cpu_rows = [[what[name], f"{cpu_ms[name]:.2f} ms", f"{cpu_ms[name] / cpu_ms[BARE]:.1f}×" if name != BARE else ""]
                for name in (BARE, *STUDENT_PAGES)]
    tables = [(load_header, load_rows), (cpu_header, cpu_rows), (signin_header, signin_rows),
              (memory_header, memory_rows), (target_header, target_rows)]
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    scrypt_note = f"one scrypt check ({scrypt[0]}) takes {scrypt[1]:.0f} ms on one core"
    parts = scrypt[0].split(":")
    if parts[0] == "scrypt" and len(parts) == 4:  # werkzeug's "scrypt:N:r:p" uses 128 * N * r bytes
        scrypt_note += f" and {128 * int(parts[1]) * int(parts[2]) / 2**20:.0f} MiB of memory"
    other = statistics.median(load.cpu.other for loads in figures.rounds for load in loads.values())

    console = "\n\n".join([f"load_home: {wrk_line}, server threads {args.threads}, loopback"]
                          + [text_table(h, [[str(c).replace("**", "") for c in r] for r in rows])
                             for h, rows in tables] + [scrypt_note])
    markdown = "\n".join([
        "## Student pages under load (`benchmarks/load_home.py`)",
        "",
        measured_on(when, facts, memory=True,
                    command=f"python benchmarks/load_home.py --connections {n} --duration {args.duration} "
                            f"--threads {args.threads} --rounds {args.rounds}")
        + f" (load average before the run: {loadavg}; other people's work took a median {other:.0f} % of one "
        "core during the loads, see \"other CPU\"): the demo school, "
        f"`classroom-server serve --threads {args.threads} --workers {args.workers}` and the bare app running "
        f"together on loopback, one load at a time, `{wrk_line}` (client and server share the cores). Each "
        f"round loads the bare app, then each student page; a page's \"/ bare\" is its req/s over the bare "
        f"app's in the same round. Each wrk connection sends one of {n} session cookies "
        f"({len(set(s.student.path for s in figures.concurrent.signins))} distinct students, signed in over "
        "HTTP) with its own device cookie; every cookie was first checked to get 200 and its own student's "
        "name on `/learn/`, and 200 on each page. The lesson and the chapter store an `opened` record on every "
        "view (synchronous=FULL, group-committed), and the chapter reads and keeps the reading place, as for a "
        "real student. The page does not wait for that record's commit when a group is being written "
        "(it is stored as the page is sent: `records.store_soon`); \"records stored\" counts the learning "
        "records stored from a load's start to its end, and the targets say how long after the end every "
        "answered view's record was in the database.",
        "",
        markdown_table(load_header, load_rows),
        "",
        "CPU is in percent of one core (this machine has "
        f"{facts['cores (nproc)']} × 100 %): \"other\" is the rest of the machine (other people's work; "
        "when it is high the figures are noisy). Server CPU per request is the figure other work disturbs "
        "least:",
        "",
        markdown_table(cpu_header, cpu_rows),
        "",
        "Sign-in: the demo classes' PIN (5А) and picture code (7Б), checked with scrypt, every attempt right "
        f"(the rate limit counts failures only); {scrypt_note} in the benchmark process.",
        "",
        markdown_table(signin_header, signin_rows),
        "",
        f"Memory and cold start (process start to the first 200 on `/healthz`, or `/` for the bare app). "
        f"PSS is the sum over the server's processes (with `--workers {args.workers}`, the supervisor and its "
        "forked workers) of each one's proportional set size, so that pages they share count once; RSS "
        "columns are that same PSS sum when there are several processes, the process's VmRSS when one; the "
        f"peak is the sum of their VmHWM. Up to {args.threads} sign-ins are checked at once, each with its "
        "own scrypt memory:",
        "",
        markdown_table(memory_header, memory_rows),
        "",
        markdown_table(target_header, target_rows),
    ])
    return console, markdown


def machine_section() -> str:
    facts = machine_facts()
    return "\n".join(["## Machine of the latest run", ""] + [f"- {key}: {value}" for key, value in facts.items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50, help="wrk connections = signed-in sessions")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each wrk run")
    parser.add_argument("--threads", type=int, default=8, help="worker threads of both servers")
    parser.add_argument("--workers", default="auto", help="classroom-server worker processes (auto: one per CPU)")
    parser.add_argument("--rounds", type=int, default=2, help="times the bare app and every page are loaded in turn")
    parser.add_argument("--quiet-wait", type=float, default=90.0,
                        help="seconds to wait, before each load, for the rest of the machine to go quiet")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md",
                        help="the report whose load_home section is replaced")
    args = parser.parse_args(argv)
    if min(args.connections, args.duration, args.threads, args.rounds) < 1:
        parser.error("--connections, --duration, --threads and --rounds must be at least 1")
    loadavg = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    try:
        with tempfile.TemporaryDirectory(prefix="load_home-") as folder:
            data_dir = Path(folder) / "school"
            print("making the demo school ...", file=sys.stderr)
            secrets = make_demo(data_dir)
            print(f"both servers: {args.connections} sign-ins twice, then the loads ...", file=sys.stderr)
            figures = measure(data_dir, secrets, args)
    except BenchmarkError as exc:
        print(f"load_home: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load_home: interrupted; servers stopped", file=sys.stderr)
        return 130
    console, markdown = report(args, figures, scrypt_check_ms(), loadavg)
    print(console)
    replace_section(args.out, "machine", machine_section())
    replace_section(args.out, NAME, markdown)
    print(f"\nwrote the {NAME} section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
