"""Serving the app with waitress: one process, or one worker process per CPU sharing the port.

Python runs one thread at a time, so one process answers with at most one CPU. With `workers`
above 1, the parent opens one listening socket per worker on the same port (SO_REUSEPORT: the
kernel spreads new connections over them), forks the workers, and stays behind to supervise:
a worker that dies is started again on its socket, and SIGTERM or SIGINT stops them all. Each
worker runs its own waitress on one CPU of its own. The workers share nothing but the database,
whose SQLite locking (WAL) keeps their writes apart; the app keeps no state a worker must share
(sessions are signed cookies, rate limits and progress live in the database).
"""
from __future__ import annotations

import ctypes
import errno
import gc
import logging
import os
import signal
import socket
import sys
import time
from typing import Callable

# At the top, not in make_server: imported once by the supervisor before it forks, its pages are
# shared by every worker (imported in each worker after the fork, each would hold a copy of its
# own, and its allocations would dirty the shared heap pages they land in: 8 MiB of idle PSS on
# two workers, measured with benchmarks/load_home.py).
from waitress import create_server

from .db import flush_all

log = logging.getLogger(__name__)

#: Open connections served at once per process. Phones and browsers keep theirs open between
#: requests, and waitress stops accepting at its default of 100: the 101st student would wait.
CONNECTION_LIMIT = 1000
#: a worker that dies sooner than this after starting, twice in a row, is not started again
QUICK_DEATH_SECONDS = 5.0
MAX_AUTO_WORKERS = 4


def usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def worker_count(setting: str | int) -> int:
    """The number of worker processes for the `[server] workers` setting ('auto' or a number)."""
    if setting == "auto":
        return max(1, min(len(usable_cpus()), MAX_AUTO_WORKERS))
    return int(setting)


def pin_to_one_cpu(index: int = 0) -> None:
    """Run this thread, and the threads it starts (waitress's), on one CPU.

    Python runs one thread at a time (the GIL), and every SQLite call lets it go: on two or more
    CPUs, the request threads hand it back and forth between CPUs, each handover a wake-up on the
    other CPU. Measured with 200 students answering (docs/BENCHMARKS.md): on one CPU, twice the
    answers per second for the same CPU time. Worker `index` takes the index-th CPU from the last
    (small boards send network interrupts to CPU 0). Password hashing runs in threads that keep
    every CPU (accounts.services), and the sync agent is a process of its own.
    """
    if not hasattr(os, "sched_setaffinity"):
        return
    cpus = usable_cpus()
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1 - index % len(cpus)]})


def listening_sockets(host: str, port: int, count: int, backlog: int = 1024) -> list[socket.socket]:
    """`count` sockets listening on one address; port 0 picks a free port shared by all."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            address = sock.getsockname()  # the port port 0 picked, for the next ones
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def make_server(app, sock: socket.socket, threads: int, max_request_body_size: int, trusted_proxy: str = ""):
    """A waitress server on `sock`; with `trusted_proxy`, requests from that address are taken to be
    from the device its X-Forwarded-For names (sign-in limits and the audit log count per device)."""
    # At 9:00 every thread is busy for a moment; a warning per queued request would only fill the log.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    proxy = {}
    if trusted_proxy:
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                 "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}}
    # poll(): select() cannot watch more than 1024 sockets.
    return create_server(app, sockets=[sock], threads=threads, ident="classroom-server",
                         connection_limit=CONNECTION_LIMIT, asyncore_use_poll=True,
                         max_request_body_size=max_request_body_size, **proxy)


class _Stopped(SystemExit):
    """SIGTERM or SIGINT reached a serving process. A SystemExit: waitress's loop lets those through
    (any other exception raised in it only closes the connection it was serving)."""


def _raise_stopped(signum, frame):
    raise _Stopped()


def run_until_stopped(server) -> None:
    """Serve until SIGTERM or SIGINT, then close the socket and store the writes still queued.

    A page opened in the last milliseconds has its record queued, not yet stored (db.GroupCommit:
    nobody waits for it); stopping stores it first. Requests in progress end with the process.
    """
    for name in (signal.SIGTERM, signal.SIGINT):
        signal.signal(name, _raise_stopped)
    try:
        server.run()
    except _Stopped:
        pass
    finally:
        server.close()
        flush_all(timeout=5.0)


def freeze_startup_objects() -> None:
    """Take what starting made (modules, the app, its routes: ~80,000 objects) out of the garbage
    collector's view: they live as long as the process, yet every full collection walked them all,
    15-25 ms with the GIL held, during which no request of this process moved (a page's p99 under
    load). Done before forking, it also keeps the collector from writing into the pages the
    workers share with the supervisor (copy-on-write would make each worker's copy its own)."""
    gc.collect()
    gc.freeze()


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the supervisor dies, even by kill -9."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _return_free_memory() -> None:
    """glibc: give the heap's free pages back to the system before a fork.

    Starting frees much of what it allocated (each imported module's compiled file is read whole,
    then dropped; the database's schema check); glibc keeps those free pages, resident, and each
    forked worker would hold them too. 3 MiB of idle PSS on two workers (issue 18). Not glibc:
    nothing to do.
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _run_worker(app, sock: socket.socket, index: int, threads: int, one_cpu: bool,
                max_request_body_size: int, parent: int, trusted_proxy: str) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took hold
        os._exit(0)
    for name in (signal.SIGTERM, signal.SIGINT):  # until run_until_stopped sets its own
        signal.signal(name, signal.SIG_DFL)
    if one_cpu:
        pin_to_one_cpu(index)
    run_until_stopped(make_server(app, sock, threads, max_request_body_size, trusted_proxy))


class _Stop(Exception):
    pass


def serve_workers(app, sockets: list[socket.socket], threads: int, one_cpu: bool,
                  max_request_body_size: int, before_fork: Callable[[], None], trusted_proxy: str = "") -> int:
    """Fork one worker per socket and supervise them until SIGTERM/SIGINT; the exit status."""
    parent = os.getpid()
    workers: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    quick_deaths = [0] * len(sockets)

    def start(index: int) -> None:
        before_fork()  # no database connection may cross a fork
        freeze_startup_objects()
        _return_free_memory()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            status = 0
            try:
                _run_worker(app, sockets[index], index, threads, one_cpu, max_request_body_size, parent,
                            trusted_proxy)
            except BaseException:  # noqa: BLE001 - reported, then the worker ends with status 1
                log.exception("worker %d stopped", index)
                status = 1
            finally:
                os._exit(status)
        workers[pid] = (index, time.monotonic())

    def stop(signum, frame):
        raise _Stop()

    previous = {name: signal.signal(name, stop) for name in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for index in range(len(sockets)):
            start(index)
        while True:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                return 1
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            index, started = workers.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            quick_deaths[index] = quick_deaths[index] + 1 if time.monotonic() - started < QUICK_DEATH_SECONDS else 0
            if quick_deaths[index] >= 2:
                log.error("worker %d keeps stopping (status %s); stopping the server", index, code)
                status = 1
                return status
            log.warning("worker %d stopped (status %s); starting it again", index, code)
            start(index)
    except _Stop:
        return status
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
        for pid in list(workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while workers and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                workers.pop(pid, None)
            else:
                time.sleep(0.05)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for sock in sockets:
            sock.close()
