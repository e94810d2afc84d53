"""Where a signed-in student's page spends its time: cProfile over the app's WSGI call, in process.

Run from the repository root:

    python benchmarks/profile_pages.py [--requests 400 --top 25 --data-dir DIR] [--page 'student home' ...]

It makes the demo school in a temporary data folder (or uses `--data-dir`, made by
`classroom-server demo --no-serve`), signs in a 5А student over the app's own sign-in form, then
calls the Flask app's WSGI entry point directly (what waitress calls, without the sockets) for each
page: the student home, a lesson, a reader chapter and a practice question. For each it prints the
CPU time per request without the profiler, and the functions that take the most time with it
(`--sort tottime` or `cumulative`). It reports figures; it asserts none.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

from werkzeug.test import EnvironBuilder

from harness import BenchmarkError
from load_home import STUDENT_PAGES

PAGES = STUDENT_PAGES  # the four pages a student opens most (issue 18), as load_home.py loads them


def make_app(data_dir: Path):
    """The app on the demo school in `data_dir` (made when missing)."""
    from classroom_server.app import create_app
    from classroom_server.demo import import_sample_packs, make_demo_school
    from classroom_server.settings import load_settings
    from classroom_server import migrations
    from classroom_server.db import database
    settings = load_settings(data_dir=data_dir)
    app = create_app(settings)
    migrations.migrate(database.obj)
    with app.app_context():
        make_demo_school()
        import_sample_packs(settings)
    return create_app(load_settings(data_dir=data_dir))  # with the trusted key the packs added


def sign_in_student(app) -> str:
    """Sign in the first 5А student through the real form; the Cookie header of the session."""
    from classroom_server.demo import DEMO_PIN
    from classroom_server.models import Classroom, Membership, User
    with app.app_context():
        room = Classroom.get(Classroom.name == "5А")
        student = (User.select().join(Membership).where(Membership.classroom == room, User.role == "student")
                   .order_by(User.id).first())
    client = app.test_client()
    path = f"/signin/class/{room.id}/student/{student.id}"
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    if token is None:
        raise BenchmarkError(f"GET {path}: {page.status_code}, no CSRF token")
    answer = client.post(path, data={"csrf_token": token.group(1), "next": "", "pin": DEMO_PIN})
    cookie = client.get_cookie("classroom_session")
    if answer.status_code != 302 or cookie is None:
        raise BenchmarkError(f"POST {path}: {answer.status_code}, expected 302 with a session cookie")
    return f"classroom_session={cookie.value}"


class Caller:
    """Calls the WSGI app as a server would: a fresh environ per request, the body read to the end."""

    def __init__(self, app, path: str, cookie: str):
        self.app = app
        # A student's browser keeps its device id cookie (learn.practice.DEVICE_COOKIE) between pages.
        cookie += "; classroom_device=00000000-0000-4000-8000-000000000001"
        builder = EnvironBuilder(path=path, headers={"Cookie": cookie, "Accept-Language": "kk",
                                                     "User-Agent": "profile"},
                                 environ_base={"REMOTE_ADDR": "127.0.0.1"})
        self.environ = builder.get_environ()
        self.status = ""

    def _start(self, status, headers, exc_info=None):
        self.status = status

    def __call__(self) -> int:
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(b"")
        body = self.app(environ, self._start)
        try:
            size = sum(len(chunk) for chunk in body)
        finally:
            if hasattr(body, "close"):
                body.close()
        if not self.status.startswith("200"):
            raise BenchmarkError(f"{environ['PATH_INFO']}: {self.status}")
        return size


def cpu_per_request(call: Caller, count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        call()
    return (time.process_time() - started) / count


# Where a function's own time goes, by the file it is in: (label, test on the path), first match wins.
PARTS = [
    ("peewee: building SQL, making rows", lambda f: f.endswith("peewee.py") or "/playhouse/" in f),
    ("SQLite: running queries, commits", lambda f: "sqlite3" in f),
    ("Jinja: rendering templates", lambda f: "/jinja2/" in f or f.endswith(".html") or "/markupsafe/" in f),
    ("translations, dates (Babel, Flask-Babel)", lambda f: "/babel/" in f or "/flask_babel/" in f
     or "gettext" in f),
    ("Flask and werkzeug: request, session, response", lambda f: "/flask/" in f or "/werkzeug/" in f
     or "/itsdangerous/" in f),
    ("classroom_server: views, services, hooks", lambda f: "/classroom_server/" in f),
]


def summary(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own (tottime) CPU seconds per part of the stack, largest first; the rest as 'other'."""
    totals: dict[str, float] = {}
    for (filename, _, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename if filename != "~" else name  # C functions: {method 'execute' of 'sqlite3.Cursor'}
        label = next((label for label, test in PARTS if test(where)), "other (Python, C builtins)")
        totals[label] = totals.get(label, 0.0) + own
    return sorted(totals.items(), key=lambda item: -item[1])


def profile(call: Caller, count: int, top: int, sort: str) -> str:
    profiler = cProfile.Profile(time.process_time)  # CPU time: waiting for the disk is not work
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total = sum(own for own in (row[2] for row in stats.stats.values())) or 1.0  # type: ignore[attr-defined]
    # Python function calls per request do not depend on how busy the machine is: the steadier figure
    # for comparing two versions on a shared machine.
    out.write(f"Python function calls per request: {stats.total_calls / count:,.0f}\n")  # type: ignore[attr-defined]
    out.write("own CPU by part (with the profiler's overhead):\n")
    for label, seconds in summary(stats):
        out.write(f"  {100 * seconds / total:5.1f} %  {label}\n")
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per page, timed and profiled")
    parser.add_argument("--top", type=int, default=25, help="functions shown per page")
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("--data-dir", type=Path, help="a demo school's data folder (default: a fresh one)")
    parser.add_argument("--page", action="append", choices=sorted(PAGES), help="only these pages")
    parser.add_argument("--no-profile", action="store_true", help="CPU per request only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="profile_pages-") as folder:
        data_dir = args.data_dir or Path(folder) / "school"
        app = make_app(data_dir)
        cookie = sign_in_student(app)
        for name in args.page or PAGES:
            call = Caller(app, PAGES[name], cookie)
            size = call()
            for _ in range(50):  # warm: templates compiled, queries prepared, caches filled
                call()
            per = cpu_per_request(call, args.requests)
            print(f"== {name} {PAGES[name]}: {size:,} B, {per * 1000:.3f} ms CPU per request "
                  f"({args.requests} requests, no profiler)", flush=True)
            if not args.no_profile:
                print(profile(call, args.requests, args.top, args.sort), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
