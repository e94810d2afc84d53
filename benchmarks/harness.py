"""Shared benchmark plumbing: a server on port 0, its memory, wrk runs, and the BENCHMARKS.md report.

Benchmarks report figures; they never assert a time.
"""
from __future__ import annotations

import collections
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import requests

BANNER_RE = re.compile(r"Serving on (http://127\.0\.0\.1:(\d+)/)(?:\s+\((\d+) worker processes)?")
REPO = Path(__file__).resolve().parent.parent


class BenchmarkError(Exception):
    """The benchmark could not measure what it set out to; the message says what went wrong."""


def http_session() -> requests.Session:
    """A requests session that never goes through a proxy from the environment: loopback only."""
    session = requests.Session()
    session.trust_env = False
    return session


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * pct / 100)) - 1]


# --- a server subprocess ------------------------------------------------------------------------

@dataclass(frozen=True)
class Memory:
    rss_mib: float  # VmRSS
    hwm_mib: float  # VmHWM: the peak RSS so far
    pss_mib: float = 0.0  # the sum of the processes' PSS: shared pages counted once (0: not read)


class Server:
    """A server process that prints `Serving on http://127.0.0.1:PORT/` on stderr once it listens."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc
        self.url = ""
        self.cold_start = 0.0  # seconds from process start to the first 200 on the health path
        self.workers = 0  # worker processes the banner announced (0: the server serves in its own process)
        self.stderr_lines = 0  # lines the server has logged so far
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        # Read for the server's whole life: a full stderr pipe would block its threads.
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._tail.append(line)
            self.stderr_lines += 1
            if not self.url:
                match = BANNER_RE.search(line)
                if match:
                    self.url = match.group(1)
                    self.workers = int(match.group(3) or 0)
                    self._listening.set()
        self._listening.set()

    def wait_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout) and bool(self.url)

    def memory(self) -> Memory:
        """Memory of the server and its worker processes together (MiB).

        Worker processes are forked: the pages they still share with the first process would be
        counted once per process in their RSS. So the resident figure of a server with workers is
        the sum of their PSS (each shared page divided among the processes sharing it); a single
        process reports its RSS, as before. The peak is the sum of each process's own peak RSS.
        """
        pids = process_tree(self.proc.pid)
        resident = peak = pss = 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as status:
                    fields = {key: value for key, _, value in (line.partition(":") for line in status)}
                own = int(fields["VmRSS"].split()[0])
                peak += int(fields["VmHWM"].split()[0]) / 1024  # kB -> MiB
                with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                    proportional = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
                pss += proportional / 1024
                resident += (proportional if len(pids) > 1 else own) / 1024
            except (FileNotFoundError, StopIteration):
                continue
        return Memory(resident, peak, pss)

    def stderr_tail(self) -> str:
        return "".join(self._tail)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to stop (SIGINT, as Ctrl-C would), then kill it if it does not."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(5)


@contextmanager
def start_server(argv: Sequence[str], health_path: str = "/healthz", timeout: float = 60.0,
                 env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start `argv`, read its port from the stderr banner, poll `health_path` until 200; stop it on exit."""
    started = time.perf_counter()
    # A session of its own: Ctrl-C reaches only the benchmark, which then stops the server itself.
    server = Server(subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                                     env=env, start_new_session=True))
    try:
        if not server.wait_listening(timeout):
            raise BenchmarkError(f"{argv[0]} printed no 'Serving on' line within {timeout:.0f} s "
                                 f"(exit code {server.proc.poll()}):\n{server.stderr_tail()}")
        health_url = server.url + health_path.lstrip("/")
        deadline = started + timeout
        with http_session() as client:
            while True:
                try:
                    if client.get(health_url, timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                if server.proc.poll() is not None or time.perf_counter() > deadline:
                    raise BenchmarkError(f"{health_url} did not answer 200 (exit code {server.proc.poll()}):"
                                         f"\n{server.stderr_tail()}")
                time.sleep(0.005)  # a poll interval, not a guess at the start-up time
        server.cold_start = time.perf_counter() - started
        # The first worker may answer before the last is forked: memory read now would miss it.
        while len(process_tree(server.proc.pid)) < 1 + server.workers:
            if server.proc.poll() is not None or time.perf_counter() > deadline:
                raise BenchmarkError(f"{argv[0]} did not start its {server.workers} worker processes:"
                                     f"\n{server.stderr_tail()}")
            time.sleep(0.005)
        yield server
    finally:
        server.stop()


# --- CPU use -----------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


class NginxProcess:
    """nginx in the foreground on a config file of our own, with its pid file and logs in `folder`.

    `probe` is the (method, URL) that answers 200 once nginx serves what the benchmark needs.
    """

    def __init__(self, folder: Path, conf: Path, probe: tuple[str, str]):
        self.folder, self.conf, self.probe = folder, conf, probe
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise BenchmarkError("nginx is not installed: apt-get install nginx-light")
        self.proc = subprocess.Popen([binary, "-c", str(self.conf), "-p", str(self.folder), "-e",
                                      str(self.folder / "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        method, url = self.probe
        deadline = time.perf_counter() + timeout
        with http_session() as client:
            while True:
                try:
                    if client.request(method, url, timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass  # not listening yet
                if self.proc.poll() is not None or time.perf_counter() > deadline:
                    log = self.folder / "error.log"
                    raise BenchmarkError(f"nginx did not answer on {url} (exit code {self.proc.poll()}):\n"
                                         + (log.read_text(errors="replace")[-2000:] if log.exists() else ""))
                time.sleep(0.01)

    def pids(self) -> list[int]:
        """The master and its workers, whose CPU time together is nginx's."""
        assert self.proc is not None
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (a server's worker processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    queue.extend(int(child) for child in children.read().split())
        except FileNotFoundError:
            continue
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and the processes below it have used so far."""
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def machine_busy() -> float:
    """CPU seconds the whole machine has spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _TICK


def own_cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (wrk)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class CpuUse:
    """Where the CPU went during a measurement, in percent of one core."""
    server: float
    client: float  # wrk and the benchmark itself
    other: float  # everything else on the machine: other people's work makes figures noisy
    wall: float = 0.0  # seconds measured

    @property
    def server_seconds(self) -> float:
        return self.server / 100 * self.wall


class CpuMeter:
    """Measure the CPU use of a server, of ourselves, and of the rest of the machine over a span."""

    def __init__(self, pid: int):
        self.pid = pid
        self._start = (time.perf_counter(), process_cpu(pid), own_cpu(), machine_busy())

    def stop(self) -> CpuUse:
        wall0, server0, client0, machine0 = self._start
        wall = time.perf_counter() - wall0
        server = process_cpu(self.pid) - server0
        client = own_cpu() - client0
        other = machine_busy() - machine0 - server - client
        return CpuUse(100 * server / wall, 100 * client / wall, max(0.0, 100 * other / wall), wall)


def wait_until_quiet(max_wait: float = 90.0, threshold_pct: float = 25.0) -> float:
    """Wait, at most `max_wait` s, until the machine uses under `threshold_pct` of one core.

    Others share the machine, and a load started while they work gives noisy figures. Returns the
    last second's use of the whole machine, in percent of one core.
    """
    deadline = time.perf_counter() + max_wait
    while True:
        before = machine_busy()
        time.sleep(1)
        busy = 100 * (machine_busy() - before)
        if busy < threshold_pct or time.perf_counter() > deadline:
            return busy


# --- connections a server leaves waiting ----------------------------------------------------------

def accept_queue(port: int) -> int | None:
    """Connections made to the socket listening on `port` that its server has not accepted yet.

    A server at its connection limit stops accepting: the clients it leaves in this queue get no
    reply at all, and wrk reports no error for them (it counts only replies). None: no such socket.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # For a listening socket (state 0A), rx_queue is the number of connections waiting.
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    return None


class AcceptQueueWatch:
    """Sample `accept_queue(port)` while a load runs; `stop()` gives the largest number seen."""

    def __init__(self, port: int, interval: float = 0.25, settle: float = 1.0):
        self.port, self.interval, self.settle, self.largest = port, interval, settle, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        # Skip the first `settle` seconds: every client connects at once when a load starts.
        if self._done.wait(self.settle):
            return
        while not self._done.wait(self.interval):
            self.largest = max(self.largest, accept_queue(self.port) or 0)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.largest


# --- wrk ----------------------------------------------------------------------------------------

LUA_TEMPLATE = """\
-- Generated by benchmarks/harness.py: thread i sends cookies i, i+T, i+2T, ... in turn,
-- and every thread counts the responses that are not 200.
local cookies = {%(cookies)s}
local nthreads = %(threads)d
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  turn = 0
  reqs = {}
  for k = tid + 1, #cookies, nthreads do
    reqs[#reqs + 1] = wrk.format(nil, nil, {["Cookie"] = cookies[k]})
  end
  if #reqs == 0 then
    reqs[1] = wrk.format()
  end
end

function request()
  turn = turn %% #reqs + 1
  return reqs[turn]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("non200")
  end
  io.write(string.format("non-200 responses: %%d\\n", total))
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx_3xx: int
    non_200: int
    socket_errors: dict[str, int]
    output: str


def _ms(number: str, unit: str) -> float:
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Read the figures from `wrk --latency` output and our Lua `done` line."""
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise BenchmarkError(f"wrk output has no match for {pattern!r}:\n{output}")
        return match

    dist = {pct: _ms(num, unit) for pct, num, unit in
            re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)}
    if not {"50", "90", "99"} <= dist.keys():
        raise BenchmarkError(f"wrk output has no latency distribution (run with --latency):\n{output}")
    total = find(r"^\s+(\d+) requests in ")
    latency_max = find(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
        rps=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=dist["50"], p90_ms=dist["90"], p99_ms=dist["99"],
        max_ms=_ms(latency_max.group(1), latency_max.group(2)),
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        non_200=int(find(r"^non-200 responses: (\d+)").group(1)),
        socket_errors=dict(zip(("connect", "read", "write", "timeout"),
                               map(int, errors.groups()))) if errors else {},
        output=output,
    )


def run_wrk(url: str, connections: int, duration: int, cookies: Sequence[str] = (), threads: int = 2,
            timeout_s: int = 30) -> WrkResult:
    """`wrk -t{threads} -c{connections} -d{duration}s --latency --timeout 30s`, each connection a cookie."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchmarkError("wrk is not installed: apt-get install wrk")
    threads = max(1, min(threads, connections))
    for cookie in cookies:
        if not re.fullmatch(r"[\x21-\x7e]+", cookie) or '"' in cookie or "\\" in cookie:
            raise BenchmarkError(f"cookie {cookie!r} cannot be put in a Lua string as is")
    script = LUA_TEMPLATE % {"cookies": ", ".join(json.dumps(c) for c in cookies), "threads": threads}
    with tempfile.TemporaryDirectory(prefix="wrk-") as folder:
        path = Path(folder) / "script.lua"
        path.write_text(script, encoding="ascii")
        argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
                "--timeout", f"{timeout_s}s", "-s", str(path), url]
        try:
            # wrk would end early on Ctrl-C and print a short run as if it were whole: keep it out of
            # the terminal's process group; run() kills it when we are interrupted.
            done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout_s + 30,
                                  start_new_session=True)
        except subprocess.TimeoutExpired:
            raise BenchmarkError(f"wrk did not finish within {duration + timeout_s + 30} s") from None
    if done.returncode != 0:
        raise BenchmarkError(f"wrk failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


# --- the report ---------------------------------------------------------------------------------

INTRO = """\
# Benchmarks

Measured figures for the classroom server. Each benchmark is a script in `benchmarks/` that
starts the real server (and a bare Flask + waitress app or nginx for comparison) on loopback,
measures, prints a table and replaces only its own section of this file (between its
`<!-- NAME:start -->` and `<!-- NAME:end -->` markers). Benchmarks report figures; they do not
assert timings. The load generator (wrk) shares the machine's cores with the server, so load
figures are client+server figures; each section also reports how busy the rest of the machine
was, since other work on it makes the figures noisy.

How to run (from the repository root, with the project installed in the venv and `wrk` on PATH):

- `python benchmarks/load_home.py [--connections 50 --duration 20 --threads 8 --out docs/BENCHMARKS.md]`:
  sign-in throughput (scrypt PIN and picture-code checks) and the signed-in student home page
  `/learn/` under wrk, against a bare Flask + waitress app; RSS and cold start.
- `python benchmarks/content.py [--pack-mib 1024 --connections 50 --duration 20 --out docs/BENCHMARKS.md]`:
  pack import, content files and search (see its section).

"""


def machine_facts() -> dict[str, str]:
    """The facts a reader needs to compare figures: cores, memory, CPU, Python, tool versions."""
    def run(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    memory = next((line.split()[1] for line in run("free", "-h").splitlines() if line.startswith("Mem:")), "?")
    cpu = "?"
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "?")
    except OSError:
        pass
    wrk_line = run("wrk", "--version").splitlines()
    return {"cores (nproc)": run("nproc"), "memory (free -h)": memory, "CPU": cpu,
            "kernel": platform.release(), "Python": platform.python_version(),
            "wrk": wrk_line[0].split(" [")[0] if wrk_line else "?"}


def measured_on(when: datetime.datetime, facts: Mapping[str, str], *, command: str = "",
                memory: bool = False, cpu: bool = False) -> str:
    """How a section of BENCHMARKS.md opens: "Measured 2026-12-07 08:40 UTC on 2 cores, Python 3.11.7".

    `command` adds "with `command`" after the time; `memory` and `cpu` add those facts before Python.
    The time is said in UTC whatever the machine's zone, so that sections measured on different
    machines compare. A fact the machine did not give (missing or empty) is "?".
    """
    def fact(key: str) -> str:
        return facts.get(key) or "?"

    machine = [f"{fact('cores (nproc)')} cores"]
    if memory:
        machine.append(fact("memory (free -h)"))
    if cpu:
        machine.append(fact("CPU"))
    machine.append(f"Python {fact('Python')}")
    run = f" with `{command}`" if command else ""
    return (f"Measured {when.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC{run} "
            f"on {', '.join(machine)}")


def replace_section(path: Path, name: str, body: str) -> None:
    """Put `body` between `<!-- name:start -->` and `<!-- name:end -->`, creating the file or section."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else INTRO
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(out)


def console_script(name: str) -> str:
    """A console script installed next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} is not installed: pip install -e . in the venv that runs this benchmark")
    return found


def clean_env() -> dict[str, str]:
    """The environment without CLASSROOM_* settings, so only the benchmark's flags apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
