"""install.sh for a school server, run for real into a throwaway root (`--root DIR`).

The same code path as `sudo ./install.sh` (only apt-get, the system user and systemctl are left
out, and say what they would do): a real virtual environment on the system's Python, the units,
the nginx site, the mDNS announcement, the installed server answering /healthz, an upgrade, an
upgrade to a deliberately broken version that must roll back, uninstall and purge.

The slow part is building virtual environments (about 10 s each with pip's cache): one install is
shared by the whole module and changed step by step, in the order of the tests below, by
module-scoped fixtures (each test asks for the step it checks, so a single test also runs alone).
Three environments are built in all: the file takes one to two minutes, depending on how busy
the machine is.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"
PASSWORD = "correct-horse-42"
VERSION = re.search(r'^__version__ = "(.*)"$', (REPO / "classroom_server/__init__.py").read_text(), re.M).group(1)

pytestmark = [pytest.mark.slow,  # install.sh into fresh folders and real systemd trees
              pytest.mark.skipif(not sys.platform.startswith("linux") or not Path("/usr/bin/python3").exists(),
                                 reason="install.sh installs onto Debian-like Linux with /usr/bin/python3")]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}


def run_install(*args: str, source: Path = REPO, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """`install.sh ARGS` from `source` (a copy of the repository, for other versions)."""
    extra = ["--wheels", os.environ["CLASSROOM_TEST_WHEELS"]] if os.environ.get("CLASSROOM_TEST_WHEELS") \
        and "--uninstall" not in args else []
    done = subprocess.run(["bash", str(source / "install.sh"), *args, *extra], capture_output=True, text=True,
                          env=clean_env(), timeout=timeout, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        pytest.fail(f"install.sh {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def copy_source(target: Path) -> Path:
    """A copy of what install.sh installs from, to make other versions of it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    target.mkdir(parents=True)
    for name in ("classroom_server", "content_packs", "sync", "deploy"):
        shutil.copytree(REPO / name, target / name, ignore=ignore)
    for name in ("install.sh", "setup.cfg", "pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy2(REPO / name, target / name)
    return target


def set_version(source: Path, version: str) -> None:
    init = source / "classroom_server" / "__init__.py"
    init.write_text(re.sub(r'^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text(), flags=re.M))


@dataclass
class Root:
    """A throwaway root and where install.sh puts things in it."""
    path: Path

    @property
    def prefix(self) -> Path:
        return self.path / "opt/classroom-server"

    @property
    def data(self) -> Path:
        return self.path / "var/lib/classroom-server"

    @property
    def etc(self) -> Path:
        return self.path / "etc/classroom-server"

    @property
    def units(self) -> Path:
        return self.path / "etc/systemd/system"

    @property
    def current(self) -> str:
        return os.readlink(self.prefix / "current")

    def bin(self, name: str) -> str:
        return str(self.prefix / "current" / "bin" / name)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.bin("classroom-server"), *args], capture_output=True, text=True, timeout=120,
                              env={**clean_env(), "CLASSROOM_DATA_DIR": str(self.data), **(env or {})})

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.data / "classroom.sqlite3") as conn:
            return conn.execute(sql).fetchall()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- a server process ----------------------------------------------------------------------------

class Process:
    """A server started from the installed program; its URL read from its "Serving on" line."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.lines: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            match = re.search(r"Serving on (http://127\.0\.0\.1:\d+/)", line)
            if match and not self.url:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait(self, timeout: float = 60) -> str:
        assert self._ready.wait(timeout) and self.url, "".join(self.lines)
        return self.url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def serve(root: Root, *args: str, program: list[str] | None = None, env: dict[str, str] | None = None) -> Process:
    argv = program or [root.bin("classroom-server"), "serve"]
    return Process([*argv, "--host", "127.0.0.1", "--port", "0", *args],
                   {**clean_env(), "CLASSROOM_DATA_DIR": str(root.data), **(env or {})})


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def healthz(url: str) -> dict:
    with http() as client:
        response = client.get(url + "healthz", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# --- the install, step by step --------------------------------------------------------------------

@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Root:
    return Root(tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The repository as it is now: others may edit the work tree while the module runs, and a
    changed source would be a new version to install.sh."""
    return copy_source(tmp_path_factory.mktemp("source") / "src")


@pytest.fixture(scope="module")
def installed(root, source) -> subprocess.CompletedProcess:
    """A new school server: `install.sh --root DIR --name Lab-3`, then its first administrator."""
    done = run_install("--root", str(root.path), "--name", "Lab-3", source=source)
    password = root.path / "password"
    password.write_text(PASSWORD + "\n")
    created = root.cli("init", "--admin", "it", "--password-file", str(password))
    assert created.returncode == 0, created.stderr
    return done


@pytest.fixture(scope="module")
def with_nginx(installed, root, source) -> subprocess.CompletedProcess:
    """The same program re-run with --with-nginx: configuration only, no new build."""
    return run_install("--root", str(root.path), "--with-nginx", source=source)


@pytest.fixture(scope="module")
def upgraded(with_nginx, root, source, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess]:
    """An upgrade to version 0.99.0 (the same code, another version number)."""
    before = root.current
    newer = tmp_path_factory.mktemp("v0990") / "src"
    shutil.copytree(source, newer)
    set_version(newer, "0.99.0")
    return before, run_install("--root", str(root.path), source=newer)


@pytest.fixture(scope="module")
def rolled_back(upgraded, root, source, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess]:
    """An upgrade to a broken 9.9.9: it migrates the database, then fails its health check."""
    before = root.current
    broken = tmp_path_factory.mktemp("broken") / "src"
    shutil.copytree(source, broken)
    break_version(broken)
    return before, run_install("--root", str(root.path), "--health-timeout", "5", source=broken, check=False)


def break_version(source: Path) -> None:
    """Version 9.9.9, with a migration (a new table) and a /healthz that always says error."""
    set_version(source, "9.9.9")
    (source / "classroom_server/migrations/9999_broken_upgrade.py").write_text(
        'def up(db):\n    db.execute_sql("CREATE TABLE broken_upgrade (id INTEGER PRIMARY KEY)")\n')
    with open(source / "classroom_server/health.py", "a") as health:
        health.write("\n\n_working = health_report\n\n\ndef health_report() -> dict:\n"
                     "    report = _working()\n    report['status'] = 'error'\n    return report\n")


@pytest.fixture(scope="module")
def uninstalled(rolled_back, root, source) -> subprocess.CompletedProcess:
    return run_install("--root", str(root.path), "--uninstall", source=source)


# --- without installing -------------------------------------------------------------------------

def options_of_install_sh() -> set[str]:
    return set(re.findall(r"^\s+(--[a-z-]+)(?:=\*)?\)", INSTALL.read_text(), re.M))


def test_help_and_the_install_guide_explain_every_option():
    options = options_of_install_sh()
    assert {"--dev", "--with-nginx", "--root", "--uninstall", "--purge", "--name", "--wheels"} <= options
    shown = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, check=True).stdout
    guide = (REPO / "docs/install.md").read_text()
    for option in sorted(options):
        assert re.search(rf"^\s+{option}\b", shown, re.M), f"--help does not explain {option}"
        assert f"`{option}" in guide, f"docs/install.md does not explain {option}"


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option --bogus"),
    (["--purge"], "--purge goes with --uninstall"),
    (["--name", "my school"], "--name takes a name"),
    (["--health-timeout", "soon"], "--health-timeout takes a number"),
    (["--root"], "--root needs a value"),
])
def test_bad_options_are_usage_errors(args, message):
    done = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=clean_env())
    assert done.returncode == 2 and message in done.stderr


def test_a_school_server_without_root_is_refused_with_the_way_out():
    if os.geteuid() == 0:
        pytest.skip("running as root: install.sh would install for real")
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, env=clean_env())
    assert done.returncode == 1 and "sudo ./install.sh" in done.stderr and "--root DIR" in done.stderr


def test_shellcheck_finds_nothing():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck): install.sh was not checked")
    done = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# --- a new school server --------------------------------------------------------------------------

def test_install_puts_every_file_in_its_place_with_its_mode(installed, root):
    assert root.current.startswith(f"releases/{VERSION}-")
    release = root.prefix / root.current
    assert (release / "bin/python").exists() and (release / "deploy/helper.py").exists()
    # The system's Python, not whatever ran the tests.
    assert "home = /usr/bin" in (release / "pyvenv.cfg").read_text()
    assert mode(root.data) == 0o750 and mode(root.data / "tmp") == 0o700 and mode(root.data / "backups") == 0o750
    assert mode(root.etc) == 0o750
    ini = root.etc / "classroom-server.ini"
    assert mode(ini) == 0o640 and "[server]" in ini.read_text()
    # The server reads <data>/classroom-server.ini: a link to the settings in /etc.
    assert os.readlink(root.data / "classroom-server.ini") == str(ini)
    assert mode(root.data / "classroom.sqlite3") & 0o007 == 0  # nothing for other users
    for script in ("classroom-server", "classroom-sync", "classroom-hub"):
        link = root.path / "usr/local/bin" / script
        assert os.readlink(link) == str(root.prefix / "current/bin" / script)
    for unit in ("classroom-server.service", "classroom-sync.service"):
        text = (root.units / unit).read_text()
        assert mode(root.units / unit) == 0o644
        for line in ("Restart=on-failure", "WantedBy=multi-user.target", "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "PrivateTmp=yes", "ProtectHome=yes", f"ReadWritePaths={root.data}", "User=classroom",
                     f"Environment=CLASSROOM_DATA_DIR={root.data}"):
            assert line in text.splitlines(), f"{unit} lacks {line}"
    assert f"ExecStart={root.prefix}/current/bin/classroom-server serve" in (root.units / "classroom-server.service").read_text()
    assert f"ExecStart={root.prefix}/current/bin/classroom-sync run" in (root.units / "classroom-sync.service").read_text()
    assert not (root.units / "classroom-server.service.d").exists()
    avahi = (root.path / "etc/avahi/services/classroom-server.service").read_text()
    assert "<port>8080</port>" in avahi and "_http._tcp" in avahi
    assert "name=lab-3" in (root.etc / "install.conf").read_text()


def test_install_says_what_it_would_do_where_the_address_is_and_what_next(installed):
    out = installed.stderr
    assert "would run systemctl enable classroom-server.service classroom-sync.service" in out
    if not Path("/usr/sbin/avahi-daemon").exists():
        assert "would install the Debian packages avahi-daemon" in out
    assert "http://lab-3.local:8080/" in out
    assert "create the administrator account" in out and "init --admin" in out


def test_the_units_pass_systemd_analyze_verify(installed, root):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the units were not verified")
    done = subprocess.run(["systemd-analyze", "verify", str(root.units / "classroom-server.service"),
                           str(root.units / "classroom-sync.service")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # A setting systemd cannot read (LimitNICE=bogus, a misspelt key) is only warned about, "ignoring".
    assert "ignoring" not in done.stderr, done.stderr


def test_the_avahi_service_file_is_well_formed(installed, root):
    import xml.etree.ElementTree as ET
    tree = ET.parse(root.path / "etc/avahi/services/classroom-server.service")
    assert tree.getroot().tag == "service-group" and tree.find("service/type").text == "_http._tcp"


def test_the_installed_server_starts_and_answers_healthz(installed, root):
    server = serve(root)
    try:
        report = healthz(server.wait())
    finally:
        server.stop()
    assert report["status"] == "ok" and report["database"]["ok"]
    sync = subprocess.run([root.bin("classroom-sync"), "status"], capture_output=True, text=True, timeout=60,
                          env={**clean_env(), "CLASSROOM_DATA_DIR": str(root.data)})
    assert sync.returncode == 0, sync.stderr


def test_running_it_again_with_nothing_new_builds_nothing(installed, root, source):
    before = root.current
    started = time.perf_counter()
    done = run_install("--root", str(root.path), source=source)
    assert "is installed already" in done.stderr and root.current == before
    assert len(list((root.prefix / "releases").iterdir())) == 1
    assert time.perf_counter() - started < 30  # a health check, not a build


# --- nginx in front -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """nginx in the foreground on the installed site, moved to free loopback ports."""

    def __init__(self, root: Root, folder: Path, upstream_port: int):
        site = (root.path / "etc/nginx/sites-available/classroom-server").read_text()
        self.port = free_port()
        site = site.replace("listen 80 default_server;", f"listen 127.0.0.1:{self.port};")
        site = re.sub(r"^\s*listen \[::\]:80.*$", "", site, flags=re.M)
        site = site.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
        (folder / "site.conf").write_text(site)
        user = "user root;" if os.geteuid() == 0 else ""  # else workers are `nobody`, locked out of tmp
        (folder / "nginx.conf").write_text(f"""{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy; fastcgi_temp_path {folder}/f;
    uwsgi_temp_path {folder}/u; scgi_temp_path {folder}/s;
    include {folder}/site.conf;
}}
""")
        self.argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder),
                     "-e", str(folder / "error.log")]
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run([*self.argv, "-t"], capture_output=True, text=True)

    def start(self) -> str:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + 15
        with http() as client:
            while True:
                try:
                    client.get(url + "healthz", timeout=5)
                    return url
                except requests.ConnectionError:
                    assert self.proc.poll() is None and time.monotonic() < deadline, \
                        (self.folder / "error.log").read_text()
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def needs_nginx() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (apt-get install nginx): the --with-nginx site was not run")


def test_with_nginx_writes_the_site_the_drop_in_and_the_folder_modes(with_nginx, root):
    assert "is installed already" in with_nginx.stderr  # configuration only
    nginx = root.path / "etc/nginx"
    site = (nginx / "sites-available/classroom-server").read_text()
    assert os.readlink(nginx / "sites-enabled/classroom-server") == str(nginx / "sites-available/classroom-server")
    assert f"alias {root.data}/content/blobs/$classroom_ab/$classroom_ab$classroom_rest;" in site
    assert "server 127.0.0.1:8080;" in site and "listen 80 default_server;" in site
    assert "@" not in re.sub(r"@classroom_server|location @\w+", "", site), "a placeholder was left unfilled"
    types = (nginx / "snippets/classroom-server-types.conf").read_text()
    assert re.search(r"^\s+video/mp4 .*\bmp4\b", types, re.M) and "charset utf-8;" in types
    dropin = (root.units / "classroom-server.service.d/nginx.conf").read_text()
    assert "Environment=CLASSROOM_SERVER_HOST=127.0.0.1" in dropin
    assert "Environment=CLASSROOM_SERVER_TRUSTED_PROXY=127.0.0.1" in dropin and "ExecStart" not in dropin
    # nginx may enter the data folder to reach the content files, and nothing else.
    assert mode(root.data) == 0o751
    assert mode(root.data / "content") == 0o2750 and mode(root.data / "content/blobs") == 0o2750
    assert mode(root.data / "classroom.sqlite3") & 0o007 == 0
    assert "<port>80</port>" in (root.path / "etc/avahi/services/classroom-server.service").read_text()
    assert "http://lab-3.local/" in with_nginx.stderr
    assert f"include {nginx}/snippets/classroom-server-https.conf;" in site
    assert "listen" not in (nginx / "snippets/classroom-server-https.conf").read_text()  # HTTPS is off


def test_with_https_and_dnsmasq_serve_the_schools_certificate_and_name_and_go_away_again(with_nginx, root, source):
    done = run_install("--root", str(root.path), "--with-https", "--with-dnsmasq", source=source)
    nginx = root.path / "etc/nginx"
    snippet = (nginx / "snippets/classroom-server-https.conf").read_text()
    assert "listen 443 ssl default_server;" in snippet
    assert f"ssl_certificate {root.data}/tls/fullchain.pem;" in snippet
    assert f"ssl_certificate_key {root.data}/tls/privkey.pem;" in snippet
    # A stand-in until the national platform's certificate comes, so nginx starts; the key is private.
    assert mode(root.data / "tls/privkey.pem") == 0o600 and mode(root.data / "tls/fullchain.pem") == 0o644
    assert "stand-in" in done.stderr
    path_unit = (root.units / "classroom-server-tls.path").read_text()
    assert f"PathChanged={root.data}/tls/fullchain.pem" in path_unit
    assert "try-reload-or-restart nginx.service" in (root.units / "classroom-server-tls.service").read_text()
    dnsmasq = (root.path / "etc/dnsmasq.d/classroom-server.conf").read_text()
    assert f"hostsdir={root.data}/dns" in dnsmasq and mode(root.data / "dns") == 0o755 and mode(root.data) == 0o751
    assert "https://<the school's name>/" in done.stderr
    assert "with_https=yes" in (root.etc / "install.conf").read_text()
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "verify", "classroom-server-tls.path"], capture_output=True,
                                 text=True, env={**clean_env(), "SYSTEMD_UNIT_PATH": f"{root.units}:"})
        assert checked.returncode == 0, checked.stderr
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        nginx_check = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-t", "-q", "-p", str(root.path),
                                      "-c", str(write_test_nginx_conf(root))], capture_output=True, text=True)
        assert nginx_check.returncode == 0, nginx_check.stderr
    refused = run_install("--root", str(root.path), "--without-nginx", "--with-https", source=source, check=False)
    assert refused.returncode == 2 and "--with-https needs nginx" in refused.stderr

    run_install("--root", str(root.path), "--without-https", "--without-dnsmasq", source=source)
    assert "listen" not in (nginx / "snippets/classroom-server-https.conf").read_text()
    assert not (root.units / "classroom-server-tls.path").exists()
    assert not (root.path / "etc/dnsmasq.d/classroom-server.conf").exists() and not (root.data / "dns").exists()


def write_test_nginx_conf(root: Root) -> Path:
    """An nginx.conf around the installed site, to check it with `nginx -t`."""
    conf = root.path / "nginx-test.conf"
    conf.write_text(f"pid {root.path}/nginx.pid;\nerror_log {root.path}/nginx-error.log;\nevents {{}}\n"
                    f"http {{ include /etc/nginx/mime.types; include {root.path}/etc/nginx/sites-enabled/*; }}\n")
    return conf


def test_the_units_with_the_nginx_drop_in_pass_systemd_analyze_verify(with_nginx, root):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the units were not verified")
    done = subprocess.run(["systemd-analyze", "verify", "classroom-server.service"], capture_output=True, text=True,
                          env={**clean_env(), "SYSTEMD_UNIT_PATH": f"{root.units}:"})
    assert done.returncode == 0, done.stderr


def blob(root: Root, body: bytes) -> str:
    sha = hashlib.sha256(body).hexdigest()
    path = root.data / "content/blobs" / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    path.chmod(0o644)  # as the app stores them
    return sha


class FromAddress(HTTPAdapter):
    """Connect from another loopback address, as another device would."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def staff_signin(base: str, address: str, password: str) -> int:
    with http() as client:
        client.mount("http://", FromAddress(address))
        page = client.get(base + "signin", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return client.post(base + "signin/staff", data={"csrf_token": token, "username": "it", "password": password},
                           allow_redirects=False, timeout=30).status_code


@pytest.fixture(scope="module")
def nginx_front(with_nginx, root, tmp_path_factory):
    """The installed site in a real nginx, in front of the server as the drop-in starts it."""
    needs_nginx()
    # Few wrong sign-ins per address, many per account: what the limit counts is the address.
    server = serve(root, env={"CLASSROOM_SECURITY_ADDRESS_ATTEMPTS": "2", "CLASSROOM_SECURITY_ACCOUNT_ATTEMPTS": "50",
                              "CLASSROOM_SERVER_TRUSTED_PROXY": "127.0.0.1"})
    direct = server.wait()
    nginx = Nginx(root, tmp_path_factory.mktemp("nginx"), int(direct.rsplit(":", 1)[1].strip("/")))
    checked = nginx.check()
    assert checked.returncode == 0, checked.stderr
    try:
        yield direct, nginx.start()
    finally:
        nginx.stop()
        server.stop()


SAME_HEADERS = ("content-type", "content-length", "cache-control", "content-security-policy", "etag",
                "cross-origin-resource-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
                "accept-ranges")


@pytest.mark.parametrize("name, body", [("lesson-video.mp4", os.urandom(200_000)),
                                        ("book.pdf", b"%PDF-1.4 a textbook"),
                                        ("page.html", "<p>Сәлем, әлем!</p>".encode()),
                                        ("picture.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
                                        ("sound.wav", b"RIFF0000WAVE"),
                                        ("no-extension", b"\x00\x01")])
def test_nginx_serves_content_files_with_the_apps_own_headers(nginx_front, root, name, body):
    direct, front = nginx_front
    sha = blob(root, body)
    with http() as client:
        client.headers["Accept-Encoding"] = "identity"  # compression below
        ours = client.get(f"{direct}content/{sha}/{name}", timeout=10)
        theirs = client.get(f"{front}content/{sha}/{name}", timeout=10)
    assert ours.status_code == theirs.status_code == 200
    assert theirs.content == body
    assert "nginx" in theirs.headers.get("Server", "") and "nginx" not in ours.headers.get("Server", "")
    for header in SAME_HEADERS:
        assert ours.headers.get(header) == theirs.headers.get(header), header


def test_nginx_compresses_text_and_still_revalidates_it(nginx_front, root):
    _, front = nginx_front
    body = ("<p>" + "Сәлем, әлем! " * 200 + "</p>").encode()
    sha = blob(root, body)
    with http() as client:
        first = client.get(f"{front}content/{sha}/lesson.html", timeout=10)
        assert first.headers["Content-Encoding"] == "gzip" and first.content == body
        assert first.headers["ETag"] in (f'"{sha}"', f'W/"{sha}"')
        again = client.get(f"{front}content/{sha}/lesson.html", headers={"If-None-Match": first.headers["ETag"]},
                           timeout=10)
        assert again.status_code == 304


def test_nginx_answers_conditional_and_range_requests_like_the_app(nginx_front, root):
    direct, front = nginx_front
    body = os.urandom(100_000)
    sha = blob(root, body)
    cases = [({"If-None-Match": f'"{sha}"'}, 304, b""),
             ({"Range": "bytes=100-199"}, 206, body[100:200]),
             ({"Range": "bytes=100-199", "If-Range": f'"{sha}"'}, 206, body[100:200]),
             ({"Range": "bytes=100-199", "If-Range": '"another"'}, 200, body),
             ({"Range": "bytes=200000-"}, 416, None)]
    with http() as client:
        for headers, status, content in cases:
            for base in (direct, front):
                response = client.get(f"{base}content/{sha}/clip.mp4", headers=headers, timeout=10)
                assert response.status_code == status, (base, headers)
                if content is not None:
                    assert response.content == content, (base, headers)


def test_nginx_leaves_what_it_cannot_serve_to_the_app(nginx_front, root):
    direct, front = nginx_front
    missing = "ab" + "c" * 62
    with http() as client:
        for path in (f"content/{missing}/gone.mp4", f"content/{missing}", "static/nothing-here.css"):
            ours, theirs = client.get(direct + path, timeout=10), client.get(front + path, timeout=10)
            assert ours.status_code == theirs.status_code == 404, path
            # the app's own (translated) page, through nginx (each page has its own script nonce)
            assert re.sub('nonce="[^"]*"', "", ours.text) == re.sub('nonce="[^"]*"', "", theirs.text), path
        style = next(p.name for p in (root.prefix / "current").glob("lib/python3*/site-packages/classroom_server/static/*.css"))
        ours, theirs = client.get(f"{direct}static/{style}", timeout=10), client.get(f"{front}static/{style}", timeout=10)
        assert ours.status_code == theirs.status_code == 200 and ours.content == theirs.content
        for header in ("content-type", "cache-control", "content-security-policy", "x-frame-options"):
            assert ours.headers.get(header) == theirs.headers.get(header), header
        page = client.get(front + "signin", timeout=10)
        assert page.status_code == 200 and "csrf_token" in page.text


def test_behind_nginx_sign_in_limits_still_count_each_device(nginx_front):
    _, front = nginx_front
    # Two wrong passwords from one device lock that device out (address_attempts = 2) ...
    assert [staff_signin(front, "127.0.0.2", "wrong") for _ in range(2)] == [401, 401]
    assert staff_signin(front, "127.0.0.2", PASSWORD) == 429
    # ... and not the rest of the school, although every request reaches waitress from nginx.
    assert staff_signin(front, "127.0.0.3", PASSWORD) == 302


# --- upgrades --------------------------------------------------------------------------------------

def test_an_upgrade_backs_up_migrates_and_switches(upgraded, root):
    before, done = upgraded
    assert root.current != before and root.current.startswith("releases/0.99.0-")
    assert f"upgrading {before.removeprefix('releases/')}" in done.stderr
    backups = list((root.data / "backups").glob("before-upgrade-*.tar.gz"))
    assert len(backups) == 1 and before.removeprefix("releases/") in backups[0].name
    # The previous version stays for a rollback; the choices of earlier runs are kept.
    assert (root.prefix / before / "bin/python").exists()
    assert (root.units / "classroom-server.service.d/nginx.conf").exists()
    assert root.query("SELECT username FROM user WHERE role = 'admin'") == [("it",)]
    server = serve(root)
    try:
        assert healthz(server.wait())["version"] == "0.99.0"
    finally:
        server.stop()


def test_a_broken_upgrade_rolls_back_to_the_previous_version_and_its_data(rolled_back, root):
    before, done = rolled_back
    assert done.returncode == 1, done.stderr
    assert "did not answer 200 with status ok" in done.stderr
    assert "the upgrade to 9.9.9 failed and was undone: version 0.99.0 is running again" in done.stderr
    assert root.current == before
    assert not list((root.prefix / "releases").glob("9.9.9-*"))
    # The broken version's migration ran, and the restore took it back out.
    assert root.query("SELECT name FROM sqlite_master WHERE name = 'broken_upgrade'") == []
    assert max(n for (n,) in root.query("SELECT number FROM migration_history")) < 9999
    assert root.query("SELECT username FROM user WHERE role = 'admin'") == [("it",)]
    aside = list(root.data.glob("before-restore-*"))
    assert len(aside) == 1 and (aside[0] / "classroom.sqlite3").exists()  # kept for a post-mortem
    assert os.readlink(root.data / "classroom-server.ini") == str(root.etc / "classroom-server.ini")
    server = serve(root)
    try:
        assert healthz(server.wait())["version"] == "0.99.0"
    finally:
        server.stop()


# --- uninstall --------------------------------------------------------------------------------------

def test_uninstall_removes_the_program_and_keeps_the_data(uninstalled, root):
    assert not root.prefix.exists()
    assert not (root.units / "classroom-server.service").exists() and not (root.units / "classroom-sync.service").exists()
    assert not (root.units / "classroom-server.service.d").exists()
    assert not (root.path / "etc/nginx/sites-enabled/classroom-server").exists()
    assert not (root.path / "etc/nginx/sites-available/classroom-server").exists()
    assert not (root.path / "etc/avahi/services/classroom-server.service").exists()
    assert not list((root.path / "usr/local/bin").iterdir())
    assert (root.data / "classroom.sqlite3").exists() and (root.etc / "classroom-server.ini").exists()
    assert root.query("SELECT username FROM user WHERE role = 'admin'") == [("it",)]
    assert "kept the data" in uninstalled.stderr


def test_purge_removes_everything(uninstalled, root, source):
    # (Installing again after --uninstall, which finds the data, is run under systemd below.)
    purged = run_install("--root", str(root.path), "--uninstall", "--purge", source=source)
    assert "purged" in purged.stderr
    assert not root.prefix.exists() and not root.data.exists() and not root.etc.exists()
    assert not (root.units / "classroom-server.service").exists()


# --- for real, under systemd (opt-in) ------------------------------------------------------------
# CLASSROOM_TEST_SYSTEMD_ROOT names a tree made once with debootstrap: Debian 12, Ubuntu 22.04 or
# 24.04, for amd64 or (emulated) arm64 (docs/install.md, "A development machine", has the
# commands); CLASSROOM_TEST_SYSTEMD_ROOTS names several, separated by colons, and the tests below
# run on each in turn. A tree is booted with systemd-nspawn, on an overlay that is thrown away at
# the end and with no network but its own loopback, and install.sh runs in it as `sudo ./install.sh`
# would on a school's server: apt packages present, a real systemd, nginx and avahi-daemon.

NSPAWN_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def systemd_trees() -> list[str]:
    trees = [os.environ.get("CLASSROOM_TEST_SYSTEMD_ROOT", "")]
    trees += os.environ.get("CLASSROOM_TEST_SYSTEMD_ROOTS", "").split(":")
    return list(dict.fromkeys(tree for tree in trees if tree)) or [""]


def python_of(tree: str) -> tuple[str, bytes]:
    """The Python version and processor (ELF e_machine) of a tree's /usr/bin/python3."""
    python = Path(tree + "/usr/bin/python3")
    target = os.path.basename(os.readlink(python)) if python.is_symlink() else python.name  # python3.11
    with open(Path(tree + "/usr/bin") / target, "rb") as elf:
        return target, elf.read(20)[18:20]


@dataclass
class Container:
    pid: int

    def run(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "-t", str(self.pid), "-a", "env", "-i", NSPAWN_PATH, "HOME=/root",
                               "LANG=C.UTF-8", "bash", "-c", command], capture_output=True, text=True, timeout=timeout)

    def ok(self, command: str, timeout: float = 300) -> str:
        done = self.run(command, timeout)
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module", params=systemd_trees(), ids=lambda tree: Path(tree).name or "no-tree")
def container(request, tmp_path_factory):
    tree = request.param
    if not tree:
        pytest.skip("CLASSROOM_TEST_SYSTEMD_ROOT (or CLASSROOM_TEST_SYSTEMD_ROOTS, colon-separated) is not set: "
                    "install.sh was not run under a real systemd (docs/install.md says how to make a Debian 12, "
                    "Ubuntu 22.04 or Ubuntu 24.04 tree)")
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("nsenter") is None:
        pytest.skip("booting the tree needs root, systemd-nspawn (apt-get install systemd-container) "
                    "and nsenter")
    folder = tmp_path_factory.mktemp("systemd")
    snapshot = copy_source(folder / "src")
    wheels = os.environ.get("CLASSROOM_TEST_WHEELS")
    if python_of(tree) != python_of(""):
        # Another Python (Ubuntu 22.04 has 3.10, 24.04 has 3.12) or processor (an arm64 tree, run
        # by qemu-user) needs its own wheels: made in the tree itself, as docs/install.md tells
        # schools (--download-wheels on the same kind of machine), on a throwaway overlay that has
        # this machine's network. pip there trusts the certificate authorities this machine trusts
        # (a proxy's own, say).
        wheels = str(folder / "wheels")
        os.mkdir(wheels)
        certificates = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
        trust = [f"--bind-ro={certificates}:/root/host-certificates.crt"] if certificates.is_file() else []
        done = subprocess.run(["systemd-nspawn", "--quiet", "--directory", tree, "--register=no", "--keep-unit",
                               "--volatile=overlay", "--resolv-conf=replace-host", "--timezone=off", "--console=pipe",
                               f"--bind-ro={snapshot}:/root/src", f"--bind={wheels}:/root/wheels", *trust, "--",
                               "/usr/bin/env", "-i", NSPAWN_PATH, "HOME=/root", "LANG=C.UTF-8",
                               *(["PIP_CERT=/root/host-certificates.crt"] if trust else []),
                               "/root/src/install.sh", "--download-wheels", "/root/wheels"],
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"--download-wheels in {tree}:\n{done.stdout}\n{done.stderr}"
    elif not wheels:  # the container has no network: its Python packages come from a folder
        wheels = str(folder / "wheels")
        run_install("--download-wheels", wheels)
    broken = folder / "broken"
    shutil.copytree(snapshot, broken)
    break_version(broken)
    log = open(folder / "nspawn.log", "w")
    proc = subprocess.Popen(["systemd-nspawn", "--boot", "--directory", tree, "--private-network", "--register=no",
                             "--keep-unit", "--volatile=overlay", "--console=pipe",
                             f"--machine=classroom-test-{os.getpid()}", f"--bind-ro={snapshot}:/root/src",
                             f"--bind-ro={wheels}:/root/wheels", f"--bind-ro={broken}:/root/broken"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        children: list[str] = []
        state = ""
        while state not in ("running", "degraded"):  # the container's init, then its boot, finished
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"state {state!r}\n" + (folder / "nspawn.log").read_text()
            time.sleep(0.2)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == "systemd":
                state = Container(int(children[0])).run("systemctl is-system-running --wait", timeout=120).stdout.strip()
        box = Container(int(children[0]))
        yield box
    finally:
        if proc.poll() is None:
            if children:
                Container(int(children[0])).run("systemctl poweroff", timeout=30)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                if children:  # the container's init: with it goes everything in the container
                    os.kill(int(children[0]), signal.SIGKILL)
                proc.kill()
                proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def systemd_install(container) -> str:
    done = container.run("cd /root/src && ./install.sh --wheels /root/wheels --with-nginx --name lab")
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_under_systemd_the_services_run_hardened_behind_nginx_and_mdns(systemd_install, container):
    assert "is installed and running" in systemd_install
    assert container.ok("systemctl is-active classroom-server classroom-sync nginx avahi-daemon").split() == \
        ["active"] * 4
    report = json.loads(container.ok("curl -sf http://127.0.0.1/healthz"))
    assert report["status"] == "ok"
    # waitress listens on loopback only; devices come through nginx on port 80.
    listening = container.ok("ss -ltn")
    assert "127.0.0.1:8080" in listening and "0.0.0.0:8080" not in listening
    for unit in ("classroom-server", "classroom-sync"):
        assert container.ok(f"ps -o user= -p $(systemctl show -p MainPID --value {unit})").split() == ["classroom"]
    journal = container.ok("journalctl -u classroom-server -u avahi-daemon --no-pager")
    assert "Serving on http://127.0.0.1:8080/" in journal
    assert "Host name is lab.local" in journal and 'Service "Classroom server on lab"' in journal
    for unit in ("classroom-server", "classroom-sync"):
        exposure = container.ok(f"systemd-analyze security {unit}.service --no-pager | tail -n 1")
        assert re.search(r"exposure level for .*: [0-2]\.\d OK", exposure), exposure


def test_under_systemd_nginx_serves_content_with_the_server_stopped(systemd_install, container):
    container.ok("classroom-server pack build /root/src/content_packs/samples/math5-fractions -o /tmp/m.ckpack "
                 "&& chmod 644 /tmp/m.ckpack && (umask 027; runuser -u classroom -- env "
                 "CLASSROOM_DATA_DIR=/var/lib/classroom-server classroom-server pack import --unreviewed /tmp/m.ckpack)")
    sha = container.ok("basename $(find /var/lib/classroom-server/content/blobs -type f | head -n 1)").strip()
    container.ok("systemctl stop classroom-server")
    try:
        status = container.ok(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1/content/{sha}/page.html")
        assert status == "200"  # nginx (www-data) reads the blob store by itself
    finally:
        container.ok("systemctl start classroom-server")


def test_under_systemd_a_broken_upgrade_rolls_back(systemd_install, container):
    container.ok("echo correct-horse-42 > /tmp/pw && chmod 644 /tmp/pw && runuser -u classroom -- env "
                 "CLASSROOM_DATA_DIR=/var/lib/classroom-server classroom-server init --admin it --password-file /tmp/pw")
    before = container.ok("readlink /opt/classroom-server/current")
    done = container.run("cd /root/broken && ./install.sh --wheels /root/wheels --health-timeout 10")
    assert done.returncode == 1 and "failed and was undone" in done.stderr, done.stderr
    assert container.ok("readlink /opt/classroom-server/current") == before
    assert container.ok("systemctl is-active classroom-server classroom-sync").split() == ["active"] * 2
    assert json.loads(container.ok("curl -sf http://127.0.0.1/healthz"))["version"] != "9.9.9"
    users = container.ok("runuser -u classroom -- env CLASSROOM_DATA_DIR=/var/lib/classroom-server "
                         "classroom-server user list --role admin")
    assert "\tit\t" in users


def test_under_systemd_uninstall_puts_nginx_and_avahi_back_and_keeps_the_school(systemd_install, container):
    container.ok("cd /root/src && ./install.sh --uninstall")
    assert container.run("systemctl cat classroom-server").returncode != 0
    assert container.ok("ls /etc/nginx/sites-enabled").split() == ["default"]
    assert container.ok("grep -c '^host-name=lab' /etc/avahi/avahi-daemon.conf || true").strip() == "0"
    assert container.ok("test -f /var/lib/classroom-server/classroom.sqlite3 && id -u classroom")
    # Installing again finds the school as it was, and the choices of the first install.
    again = container.ok("cd /root/src && ./install.sh --wheels /root/wheels 2>&1")
    assert "backing up the data" in again and "http://lab.local/" in again
    assert container.ok("systemctl is-active classroom-server nginx").split() == ["active"] * 2
    assert "\tit\t" in container.ok("runuser -u classroom -- env CLASSROOM_DATA_DIR=/var/lib/classroom-server "
                                    "classroom-server user list --role admin")
    container.ok("cd /root/src && ./install.sh --uninstall --purge </dev/null")
    assert container.run("id classroom").returncode != 0
    assert container.run("test -e /var/lib/classroom-server").returncode != 0
