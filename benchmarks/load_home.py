"""Load benchmark: student sign-in and the signed-in student home page `/learn/`, against bare Flask.

Run from the repository root:

    python benchmarks/load_home.py [--connections 50 --duration 20 --threads 8 --out docs/BENCHMARKS.md]

It makes the demo school in a temporary data folder, starts the real `classroom-server serve` on a
free loopback port, signs in N students over HTTP (sequentially, then N at once), checks that every
session cookie opens the student's own home page, and drives `/learn/` with wrk (each connection a
signed-in student). A bare Flask + waitress app (`bare_app.py`) serving 5 KB is measured the same
way. It prints a table and replaces its section of the report. It reports figures; it asserts none.
"""
from __future__ import annotations

import argparse
import datetime
import html
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash, generate_password_hash

from harness import (REPO, BenchmarkError, CpuMeter, CpuUse, Memory, WrkResult, clean_env, console_script,
                     http_session, machine_facts, markdown_table, percentile, replace_section, run_wrk,
                     start_server, text_table, wait_until_quiet)

NAME = "load_home"
SESSION_COOKIE = "classroom_session"
BARE_APP = Path(__file__).resolve().parent / "bare_app.py"
# Targets from the design brief; reported next to the figures, never asserted.
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
TARGET_IDLE_RSS_MIB = 60.0


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
class ServerFigures:
    cold_start: float
    idle: Memory
    after_signin: Memory | None
    after_load: Memory
    load: WrkResult
    cpu: CpuUse  # during the load
    log_lines: int  # lines the server logged during the load (waitress warns of each queued request)


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


def verify_home(base_url: str, signins: list[SignIn]) -> int:
    """Every cookie must get 200 and its own student's name on /learn/; returns the page size in bytes."""
    size = 0
    with http_session() as client:
        for signin in signins:
            page = client.get(base_url + "learn/", headers={"Cookie": signin.cookie}, allow_redirects=False,
                              timeout=30)
            if page.status_code != 200 or html.escape(signin.student.name) not in page.text:
                raise BenchmarkError(f"/learn/ for {signin.student.name}: {page.status_code} "
                                     f"{page.headers.get('Location', '')}; the student's page was expected")
            size = len(page.content)
    return size


def scrypt_check_ms() -> tuple[str, float]:
    """The hash parameters and the time of one check on one core, as the server does per sign-in."""
    hashed = generate_password_hash("1234")
    started = time.perf_counter()
    check_password_hash(hashed, "1234")
    return hashed.split("$", 1)[0], (time.perf_counter() - started) * 1000


# --- the runs -----------------------------------------------------------------------------------

def measure_bare(connections: int, duration: int, threads: int) -> ServerFigures:
    argv = [sys.executable, str(BARE_APP), "--port", "0", "--threads", str(threads)]
    with start_server(argv, health_path="/") as bare:
        idle = bare.memory()
        wait_until_quiet()
        lines, meter = bare.stderr_lines, CpuMeter(bare.proc.pid)
        load = run_wrk(bare.url, connections, duration)
        cpu = meter.stop()
        return ServerFigures(bare.cold_start, idle, None, bare.memory(), load, cpu, bare.stderr_lines - lines)


def measure_school(data_dir: Path, secrets: dict[str, dict[str, str]], connections: int, duration: int,
                   threads: int, workers: str = "auto") -> tuple[ServerFigures, SignInRun, SignInRun, int]:
    argv = [console_script("classroom-server"), "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
            "--port", "0", "--threads", str(threads), "--workers", workers]
    with start_server(argv, env=clean_env()) as school:
        idle = school.memory()
        students = find_students(school.url, secrets)
        wait_until_quiet()
        sequential = sign_in_many(school.url, school.proc.pid, students, connections, workers=1)
        concurrent = sign_in_many(school.url, school.proc.pid, students, connections, workers=connections)
        after_signin = school.memory()
        page_size = verify_home(school.url, concurrent.signins)
        wait_until_quiet()
        lines, meter = school.stderr_lines, CpuMeter(school.proc.pid)
        load = run_wrk(school.url + "learn/", connections, duration, [s.cookie for s in concurrent.signins])
        cpu = meter.stop()
        figures = ServerFigures(school.cold_start, idle, after_signin, school.memory(), load, cpu,
                                school.stderr_lines - lines)
    return figures, sequential, concurrent, page_size


# --- the report ---------------------------------------------------------------------------------

def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _mib(memory: Memory | None, peak: bool = False) -> str:
    if memory is None:
        return ""
    return f"{memory.hwm_mib if peak else memory.rss_mib:.1f} MiB"


def _cpu_per_request(figures: ServerFigures) -> float:
    """Server CPU seconds per request during the load."""
    return figures.cpu.server_seconds / max(1, figures.load.requests)


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def report(args: argparse.Namespace, school: ServerFigures, bare: ServerFigures, sequential: SignInRun,
           concurrent: SignInRun, page_size: int, scrypt: tuple[str, float], loadavg: str) -> tuple[str, str]:
    """The console text and the Markdown section."""
    n = args.connections
    wrk_line = f"wrk -t{min(2, n)} -c{n} -d{args.duration}s --latency --timeout 30s"
    ratio = school.load.rps / bare.load.rps
    loads = ((f"bare Flask + waitress ({args.threads} threads), 5 KB string at /", bare, 5120),
             (f"student home /learn/, {n} signed-in sessions", school, page_size))
    load_header = ["load", "req/s", "p50", "p90", "p99", "max", "requests", "non-200", "non-2xx/3xx",
                   "socket errors"]
    load_rows = [[what, f"{f.load.rps:,.0f}", _ms(f.load.p50_ms), _ms(f.load.p90_ms), _ms(f.load.p99_ms),
                  _ms(f.load.max_ms), f"{f.load.requests:,}", f.load.non_200, f.load.non_2xx_3xx,
                  ", ".join(f"{k} {v}" for k, v in f.load.socket_errors.items() if v) or "0"]
                 for what, f, _size in loads]
    use_header = ["load", "body", "server CPU", "server CPU per request", "wrk CPU", "other CPU",
                  "server log lines"]
    use_rows = [[what, f"{size:,} B", _pct(f.cpu.server), f"{1000 * _cpu_per_request(f):.2f} ms", _pct(f.cpu.client),
                 _pct(f.cpu.other), f"{f.log_lines:,}"] for what, f, size in loads]
    cpu_ratio = _cpu_per_request(bare) / _cpu_per_request(school)
    signin_header = ["sign-in (GET form + POST secret)", "sign-ins", "wall", "sign-ins/s", "p50", "p99",
                     "server CPU", "other CPU"]
    signin_rows = [[name, len(run.signins), f"{run.wall:.2f} s", f"{run.rate:.1f}", _ms(run.pct_ms(50)),
                    _ms(run.pct_ms(99)), _pct(run.cpu.server), _pct(run.cpu.other)]
                   for name, run in (("one at a time", sequential), (f"{n} at once", concurrent))]
    memory_header = ["server", "cold start", "idle RSS", "RSS after sign-ins", "RSS after load", "peak RSS (VmHWM)"]
    memory_rows = [["classroom-server", f"{school.cold_start:.2f} s", _mib(school.idle), _mib(school.after_signin),
                    _mib(school.after_load), _mib(school.after_load, peak=True)],
                   ["bare Flask + waitress", f"{bare.cold_start:.2f} s", _mib(bare.idle), "",
                    _mib(bare.after_load), _mib(bare.after_load, peak=True)]]

    def verdict(ok: bool) -> str:
        return "yes" if ok else "**no**"

    target_header = ["target", "measured", "met"]
    target_rows = [[f"student home req/s / bare req/s >= {TARGET_RATIO}", f"{ratio:.2f}",
                    verdict(ratio >= TARGET_RATIO)],
                   [f"student home p99 < {TARGET_P99_MS:.0f} ms at {n} connections", _ms(school.load.p99_ms),
                    verdict(school.load.p99_ms < TARGET_P99_MS)],
                   [f"idle RSS < {TARGET_IDLE_RSS_MIB:.0f} MiB", _mib(school.idle),
                    verdict(school.idle.rss_mib < TARGET_IDLE_RSS_MIB)]]
    tables = [(load_header, load_rows), (use_header, use_rows), (signin_header, signin_rows),
              (memory_header, memory_rows), (target_header, target_rows)]
    facts = machine_facts()
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    scrypt_note = f"one scrypt check ({scrypt[0]}) takes {scrypt[1]:.0f} ms on one core"
    parts = scrypt[0].split(":")
    if parts[0] == "scrypt" and len(parts) == 4:  # werkzeug's "scrypt:N:r:p" uses 128 * N * r bytes
        scrypt_note += f" and {128 * int(parts[1]) * int(parts[2]) / 2**20:.0f} MiB of memory"

    console = "\n\n".join([f"load_home: {wrk_line}, server threads {args.threads}, loopback"]
                          + [text_table(h, [[str(c).replace("**", "") for c in r] for r in rows])
                             for h, rows in tables] + [scrypt_note])
    markdown = "\n".join([
        "## Student home page under load (`benchmarks/load_home.py`)",
        "",
        f"Measured {when} with `python benchmarks/load_home.py --connections {n} --duration {args.duration} "
        f"--threads {args.threads}` "
        f"on {facts['cores (nproc)']} cores, {facts['memory (free -h)']}, Python {facts['Python']} "
        f"(load average before the run: {loadavg}): the demo school, `classroom-server serve --threads "
        f"{args.threads}` on loopback, one load at a time, `{wrk_line}` (client and server share the "
        f"cores). Each wrk connection sends one of {n} session cookies "
        f"({len(set(s.student.path for s in concurrent.signins))} distinct students, signed in over HTTP); "
        "every cookie was first checked to get 200 and its own student's name on `/learn/`.",
        "",
        markdown_table(load_header, load_rows),
        "",
        f"Student home req/s / bare req/s = **{ratio:.2f}**; bare CPU per request / student home CPU per "
        f"request = {cpu_ratio:.2f} (the same ratio measured in server CPU time, which other work on the "
        "machine disturbs less than it disturbs req/s).",
        "",
        "CPU is in percent of one core (this machine has "
        f"{facts['cores (nproc)']} × 100 %): \"other\" is the rest of the machine (other people's work; "
        "when it is high the figures are noisy). \"server log lines\" counts what the server wrote to "
        "stderr during the load: waitress logs a `Task queue depth is N` warning for each request that "
        "waits for a thread.",
        "",
        markdown_table(use_header, use_rows),
        "",
        "Sign-in: the demo classes' PIN (5А) and picture code (7Б), checked with scrypt, every attempt right "
        f"(the rate limit counts failures only); {scrypt_note} in the benchmark process.",
        "",
        markdown_table(signin_header, signin_rows),
        "",
        f"Memory (VmRSS and VmHWM of the server process; with `--workers {args.workers}`, worker processes "
        "forked from the first one: the resident figure is then the sum of the processes' PSS, so that the "
        "pages they share count once, and the peak the sum of their peaks) and cold start (process start to "
        "the first 200 "
        f"on `/healthz`, or `/` for the bare app); up to {args.threads} sign-ins are checked at once, each "
        "with its own scrypt memory:",
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
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md",
                        help="the report whose load_home section is replaced")
    args = parser.parse_args(argv)
    if min(args.connections, args.duration, args.threads) < 1:
        parser.error("--connections, --duration and --threads must be at least 1")
    loadavg = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    try:
        with tempfile.TemporaryDirectory(prefix="load_home-") as folder:
            data_dir = Path(folder) / "school"
            print("making the demo school ...", file=sys.stderr)
            secrets = make_demo(data_dir)
            print(f"bare Flask + waitress: wrk for {args.duration} s ...", file=sys.stderr)
            bare = measure_bare(args.connections, args.duration, args.threads)
            print(f"classroom-server: {args.connections} sign-ins twice, then wrk for {args.duration} s ...",
                  file=sys.stderr)
            school, sequential, concurrent, page_size = measure_school(data_dir, secrets, args.connections,
                                                                       args.duration, args.threads, args.workers)
    except BenchmarkError as exc:
        print(f"load_home: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load_home: interrupted; servers stopped", file=sys.stderr)
        return 130
    console, markdown = report(args, school, bare, sequential, concurrent, page_size, scrypt_check_ms(), loadavg)
    print(console)
    replace_section(args.out, "machine", machine_section())
    replace_section(args.out, NAME, markdown)
    print(f"\nwrote the {NAME} section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
