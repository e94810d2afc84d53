"""`classroom-server serve` under a classroom's load: every connection served, threads on one CPU."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from classroom_server.serving import CONNECTION_LIMIT

from .helpers import PASSWORD, serve_until_ready, serving


def cpus_of_threads(pid: int) -> dict[int, str]:
    """Each thread of a process and the CPUs it may run on (as /proc lists them: "0-1", "1")."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        found[int(task.name)] = re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.MULTILINE).group(1)
    return found


@pytest.mark.slow  # a real server process loaded with 150 idle connections
def test_more_students_than_waitress_serves_by_default_all_get_answers(tmp_path):
    # Phones keep their connections open between requests; waitress's default stops accepting at 100.
    assert CONNECTION_LIMIT > 150
    with serving(tmp_path) as (_, url):
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(150)]
        try:
            assert requests.get(url + "/healthz", timeout=10).status_code == 200
            # An open connection that sends its request late is served too.
            idle[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert idle[-1].recv(64).startswith(b"HTTP/1.1 200")
        finally:
            for connection in idle:
                connection.close()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and two CPUs or more")
@pytest.mark.slow  # real server processes, their threads' CPUs read from /proc
def test_request_threads_share_one_cpu_and_password_hashing_uses_them_all(tmp_path):
    every = os.sched_getaffinity(0)
    (tmp_path / "password").write_text(PASSWORD)
    subprocess.run([sys.executable, "-m", "classroom_server.cli", "--data-dir", str(tmp_path), "init",
                    "--admin", "boss", "--password-file", str(tmp_path / "password")], check=True,
                   capture_output=True)
    with serving(tmp_path, "--workers", "1") as (pid, url):
        before = cpus_of_threads(pid)
        assert len(set(before.values())) == 1 and "-" not in next(iter(before.values()))
        with requests.Session() as browser:  # a staff sign-in checks a password hash (scrypt)
            page = browser.get(url + "/signin", timeout=10).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            signed_in = browser.post(url + "/signin/staff", allow_redirects=False, timeout=30,
                                     data={"username": "boss", "password": PASSWORD, "csrf_token": token})
            assert signed_in.status_code == 302
        hashing = {tid: cpus for tid, cpus in cpus_of_threads(pid).items() if tid not in before}
        assert hashing and all(set(parse_cpus(cpus)) == every for cpus in hashing.values())
    with serving(tmp_path, "--all-cpus", "--workers", "1") as (pid, _):
        assert all(set(parse_cpus(cpus)) == every for cpus in cpus_of_threads(pid).values())


def parse_cpus(listing: str) -> list[int]:
    cpus = []
    for part in listing.split(","):
        low, _, high = part.partition("-")
        cpus += range(int(low), int(high or low) + 1)
    return cpus


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def wait_until(condition, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)  # polling a condition, not guessing a duration


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and two CPUs or more")
@pytest.mark.slow  # crashes a worker process on purpose and waits for it to come back
def test_worker_processes_share_the_port_each_on_its_own_cpu_and_come_back_after_a_crash(tmp_path):
    with serving(tmp_path, "--workers", "2") as (pid, url):
        workers = wait_until(lambda: (lambda found: found if len(found) == 2 else None)(children_of(pid)))
        def each_pinned_to_one_cpu():  # a worker pins itself once started: on a busy machine, a moment later
            pinned = [set(cpus_of_threads(worker).values()) for worker in workers]
            return pinned if all(len(cpus) == 1 and "-" not in next(iter(cpus)) for cpus in pinned) else None
        pinned = wait_until(each_pinned_to_one_cpu)
        assert pinned[0] != pinned[1]  # each worker on a CPU of its own
        # Many fresh connections: the kernel spreads them over both workers, all answered.
        assert all(requests.get(url + "/healthz", timeout=10).status_code == 200 for _ in range(40))
        os.kill(workers[0], signal.SIGKILL)
        replaced = wait_until(lambda: (lambda found: found if len(found) == 2 and workers[0] not in found
                                       else None)(children_of(pid)))
        assert workers[1] in replaced
        assert all(requests.get(url + "/healthz", timeout=10).status_code == 200 for _ in range(20))
    # terminate() stopped the supervisor: it stops its workers too.
    assert not any(alive(worker) for worker in replaced)


@pytest.mark.slow  # kills the supervisor process and waits for its workers to go
def test_workers_die_with_a_killed_supervisor_and_free_the_port(tmp_path):
    with serving(tmp_path, "--workers", "2") as (pid, url):
        workers = wait_until(lambda: (lambda found: found if len(found) == 2 else None)(children_of(pid)))
        os.kill(pid, signal.SIGKILL)  # a power cut of the supervisor alone
        wait_until(lambda: not any(alive(worker) for worker in workers))
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/healthz", timeout=5)


def test_bad_workers_value_is_refused_with_the_fix(tmp_path):
    done = subprocess.run([sys.executable, "-m", "classroom_server.cli", "--data-dir", str(tmp_path), "serve",
                           "--port", "0", "--workers", "many"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "expected auto or a whole number" in done.stderr


@pytest.mark.slow  # starts real worker processes
def test_serve_warns_when_sign_ins_under_way_could_reach_the_address_limit(tmp_path):
    # 2 workers check up to 4 sign-ins at once, each counted as wrong until checked: a limit of 4
    # could refuse a class behind one router with every PIN right.
    (tmp_path / "classroom-server.ini").write_text("[security]\naddress_attempts = 4\n")
    said = serve_until_ready(tmp_path, "--workers", "2")
    assert any("address_attempts is 4: raise it above 4" in line for line in said), said


def staff_signin(url: str, password: str, forwarded_for: str) -> int:
    with requests.Session() as client:
        page = client.get(url + "/signin", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return client.post(url + "/signin/staff", data={"csrf_token": token, "username": "boss", "password": password},
                           headers={"X-Forwarded-For": forwarded_for}, allow_redirects=False, timeout=30).status_code


@pytest.mark.slow  # a real server process per case, behind a pretend proxy
@pytest.mark.parametrize("trusted", [False, True])
def test_x_forwarded_for_counts_only_from_the_trusted_proxy(tmp_path, trusted):
    (tmp_path / "password").write_text(PASSWORD)
    subprocess.run([sys.executable, "-m", "classroom_server.cli", "--data-dir", str(tmp_path), "init",
                    "--admin", "boss", "--password-file", str(tmp_path / "password")], check=True,
                   capture_output=True)
    settings = "[security]\naddress_attempts = 2\naccount_attempts = 50\n"
    if trusted:
        settings += "[server]\ntrusted_proxy = 127.0.0.1\n"
    (tmp_path / "classroom-server.ini").write_text(settings)
    with serving(tmp_path, "--workers", "1") as (_, url):
        # Two wrong passwords "from" 10.0.0.2 lock that address out.
        assert [staff_signin(url, "wrong", "10.0.0.2") for _ in range(2)] == [401, 401]
        assert staff_signin(url, PASSWORD, "10.0.0.2") == 429
        # Another device behind a trusted proxy is not locked out; without a trusted proxy the header
        # is anyone's to write, so the limit counted the real peer (127.0.0.1) and holds for it.
        assert staff_signin(url, PASSWORD, "10.0.0.3") == (302 if trusted else 429)


def test_a_server_starts_without_the_libraries_only_some_requests_need(tmp_path):
    """What `serve` imports before it forks its workers is shared by them (waitress included); ICU
    (sorting names), nh3 (a book's chapter), Pillow (a picture upload) and cryptography wait for
    their first use: each was megabytes of every idle server's memory (issue 18)."""
    code = ("import sys; from classroom_server.cli import Context; Context(sys.argv[1]).app(); "
            "from classroom_server import serving; "
            "print(*sorted(m for m in ('icu', 'nh3', 'PIL', 'cryptography', 'waitress') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["waitress"]
