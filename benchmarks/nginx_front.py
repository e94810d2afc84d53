"""nginx in front (install.sh --with-nginx): what it gains over devices talking to waitress directly.

Run from the repository root, with the project installed in the venv and `wrk` and `nginx` on PATH:

    python benchmarks/nginx_front.py [--connections 50] [--duration 10] [--out docs/BENCHMARKS.md]

It makes the demo school in a temporary folder, starts the server the way the --with-nginx
drop-in does (`classroom-server serve` with `[server] trusted_proxy = 127.0.0.1`: trusting nginx's
X-Forwarded-For), renders the nginx site exactly as install.sh does (`deploy/helper.py render`,
headers and file types read from the app) into an nginx with Debian's defaults (worker_processes
auto, sendfile, gzip), and loads the same URLs once on waitress directly and once through nginx:
a 2 MiB video, a 128 KiB Range of it, the stylesheet, and a signed-in student's home page (the
last two with `Accept-Encoding: gzip`, as browsers send). Every response is checked before the
loads. It prints a table and replaces the `nginx` section of the report; it asserts no figure.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from content import Load, free_port, load
from harness import (REPO, BenchmarkError, NginxProcess, clean_env, console_script, http_session, machine_facts,
                     markdown_table, measured_on, replace_section, start_server, text_table)
from load_home import find_students, make_demo, sign_in

NAME = "nginx"
VIDEO_BYTES = 2 * 1024 * 1024
RANGE = "bytes=1048576-1179647"  # 128 KiB from the middle, as benchmarks/content.py
GZIP = {"Accept-Encoding": "gzip"}

NGINX_CONF = """\
# Written by benchmarks/nginx_front.py: Debian's nginx.conf defaults, around the installed site.
%(user)s
worker_processes auto;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/error.log warn;
events { worker_connections 768; }
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    gzip on;
    keepalive_requests 1000000;  # waitress keeps a connection for ever too
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    include %(tmp)s/site.conf;
}
"""


class Nginx(NginxProcess):
    """nginx in the foreground on the site install.sh writes, on a free loopback port."""

    def __init__(self, folder: Path, data_dir: Path, upstream_port: int):
        self.port = free_port()
        helper = REPO / "deploy" / "helper.py"
        done = subprocess.run(
            [sys.executable, str(helper), "render", "--nginx-types", str(folder / "types.conf"),
             str(REPO / "deploy/nginx/classroom-server.conf"), str(folder / "site.conf"), f"PROGRAM={sys.prefix}",
             f"DATA={data_dir}", f"ETC={folder}", f"TYPES_FILE={folder / 'types.conf'}",
             f"PROXY_FILE={REPO / 'deploy/nginx/proxy.conf'}", f"UPSTREAM_PORT={upstream_port}",
             f"LISTEN_PORT={self.port}", f"HTTPS_FILE={REPO / 'deploy/nginx/https-off.conf'}"],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchmarkError(f"rendering the nginx site failed:\n{done.stderr}")
        site = (folder / "site.conf").read_text()
        site = site.replace(f"listen {self.port} default_server;", f"listen 127.0.0.1:{self.port};")
        site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
        (folder / "site.conf").write_text(site)
        user = "user root;" if os.geteuid() == 0 else ""  # else workers are `nobody`, locked out of tmp
        (folder / "nginx.conf").write_text(NGINX_CONF % {"user": user, "tmp": folder})
        self.url = f"http://127.0.0.1:{self.port}/"
        super().__init__(folder, folder / "nginx.conf", ("GET", self.url + "healthz"))


@dataclass(frozen=True)
class Case:
    what: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Pair:
    case: Case
    direct: Load
    front: Load


def put_video(data_dir: Path) -> str:
    body = os.urandom(VIDEO_BYTES)
    sha = hashlib.sha256(body).hexdigest()
    path = data_dir / "content" / "blobs" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(0o644)
    return sha


def check(direct: str, front: str, case: Case) -> None:
    """Both must answer alike before either is loaded: same status, same body once decoded."""
    with http_session() as client:
        ours = client.get(direct + case.path.lstrip("/"), headers=case.headers, timeout=30)
        theirs = client.get(front + case.path.lstrip("/"), headers=case.headers, timeout=30)
    if ours.status_code not in (200, 206) or ours.status_code != theirs.status_code or ours.content != theirs.content:
        raise BenchmarkError(f"{case.path}: waitress {ours.status_code} ({len(ours.content)} B), nginx "
                             f"{theirs.status_code} ({len(theirs.content)} B): not the same answer")
    if "nginx" not in theirs.headers.get("Server", ""):
        raise BenchmarkError(f"{case.path} did not come through nginx")


def measure(data_dir: Path, folder: Path, connections: int, duration: int) -> tuple[list[Pair], str]:
    secrets = make_demo(data_dir)
    sha = put_video(data_dir)
    argv = [console_script("classroom-server"), "serve", "--host", "127.0.0.1", "--port", "0"]
    env = {**clean_env(), "CLASSROOM_DATA_DIR": str(data_dir), "CLASSROOM_SERVER_TRUSTED_PROXY": "127.0.0.1"}
    with start_server(argv, env=env) as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1])
        student = find_students(server.url, secrets)[0]
        cookie = sign_in(server.url, student).cookie
        style = next(p.name for p in (REPO / "classroom_server" / "static").iterdir() if p.suffix == ".css")
        cases = [Case("2 MiB video `/content/<sha256>/clip.mp4`", f"/content/{sha}/clip.mp4", {}),
                 Case("the same, Range 128 KiB", f"/content/{sha}/clip.mp4", {"Range": RANGE}),
                 Case(f"stylesheet `/static/{style}`, gzip accepted", f"/static/{style}", GZIP),
                 Case("student home `/learn/`, signed in, gzip accepted", "/learn/", {**GZIP, "Cookie": cookie})]
        nginx = Nginx(folder, data_dir, port)
        try:
            nginx.start()
            for case in cases:
                check(server.url, nginx.url, case)
            pairs = []
            for case in cases:
                print(f"nginx: {case.what}: waitress, then nginx in front, {duration} s each ...", file=sys.stderr)
                direct = load(server.url.rstrip("/"), case.path, [server.proc.pid], connections, duration, case.headers)
                front = load(nginx.url.rstrip("/"), case.path, [server.proc.pid, *nginx.pids()], connections,
                             duration, case.headers)
                pairs.append(Pair(case, direct, front))
        finally:
            nginx.stop()
    version = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True)
    return pairs, version.stderr.strip().replace("nginx version: ", "") or "nginx"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def report(args: argparse.Namespace, pairs: list[Pair], nginx: str, loadavg: str) -> tuple[str, str]:
    header = ["load", "server", "req/s", "bytes/response", "p50", "p99", "errors", "server CPU",
              "server CPU per request", "other CPU"]
    rows = []
    for pair in pairs:
        for label, run in (("waitress", pair.direct), ("nginx -> waitress", pair.front)):
            result = run.result
            rows.append([pair.case.what, label, f"{result.rps:,.0f}", f"{run.bytes_per_response:,.0f}",
                         _ms(result.p50_ms), _ms(result.p99_ms), run.errors, f"{run.cpu.server:.0f} %",
                         f"{run.cpu.server / 100 / result.rps * 1000:.2f} ms" if result.rps else "",
                         f"{run.cpu.other:.0f} %"])
    gains = [[pair.case.what, f"{pair.front.result.rps / pair.direct.result.rps:.2f}",
              f"{pair.front.bytes_per_response / pair.direct.bytes_per_response:.2f}"
              if pair.direct.bytes_per_response else ""] for pair in pairs]
    facts = machine_facts()
    when = datetime.datetime.now(datetime.timezone.utc)
    markdown = "\n\n".join([
        "## nginx in front (`benchmarks/nginx_front.py`)",
        "How to run: `python benchmarks/nginx_front.py [--connections 50 --duration 10 --out docs/BENCHMARKS.md]` "
        "(needs `wrk` and `nginx`).",
        measured_on(when, facts, memory=True, cpu=True,
                    command=f"python benchmarks/nginx_front.py --connections {args.connections} "
                            f"--duration {args.duration}")
        + f", {facts['wrk']}, {nginx} (load average before the run: {loadavg}), all on loopback, one "
        f"load at a time. The demo school; the server as `install.sh --with-nginx` starts it "
        f"(`classroom-server serve` trusting nginx at 127.0.0.1 for the device's address, 8 threads, `[server] workers = auto`); the nginx site "
        f"rendered by `deploy/helper.py` as install.sh does, in an nginx with Debian's defaults (worker_processes "
        f"auto, sendfile, gzip). The same URLs with the same headers, once on waitress directly and once through "
        f"nginx, each answer checked alike first; `wrk -t2 -c{args.connections} -d{args.duration}s`, client and "
        f"servers sharing the cores. Server CPU is waitress, plus all nginx processes when nginx is in front, in "
        f"percent of one core; other is the rest of the machine (others' work: high means noisy figures).",
        markdown_table(header, rows),
        "Through nginx / direct: req/s, and bytes per response (what crosses the school Wi-Fi):",
        markdown_table(["load", "req/s ratio", "bytes ratio"], gains),
        "nginx serves the video and the stylesheet itself (sendfile), so waitress does no work for them; the "
        "student's page still comes from waitress, through one more hop, and crosses the Wi-Fi gzip-compressed. "
        "Not measured here: many slow phones at once, where nginx holds their downloads and uploads instead of "
        "waitress's connections.",
    ])
    console = text_table(header, rows) + "\n\n" + text_table(["load", "req/s ratio", "bytes ratio"], gains)
    return console, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md",
                        help="the report whose nginx section is replaced")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration < 1:
        parser.error("--connections and --duration must be at least 1")
    loadavg = " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    try:
        with tempfile.TemporaryDirectory(prefix="nginx-bench-") as folder:
            work = Path(folder)
            (work / "nginx").mkdir()
            pairs, nginx = measure(work / "school", work / "nginx", args.connections, args.duration)
    except BenchmarkError as exc:
        print(f"nginx: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nginx: interrupted; servers stopped, temporary files removed", file=sys.stderr)
        return 130
    console, markdown = report(args, pairs, nginx, loadavg)
    print(console)
    replace_section(args.out, NAME, markdown)
    print(f"nginx: wrote the {NAME} section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
