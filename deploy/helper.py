"""install.sh's helper: render templates, check /healthz, and read from the app what nginx must copy.

Run by install.sh with the Python of the release it installs (`render --nginx-types` imports the
classroom server to ask it for its headers and file types); the rest uses only the standard library. Not part of the classroom_server package.

    helper.py render [--nginx-types FILE] TEMPLATE OUTPUT KEY=VALUE ...
    helper.py health --url URL [--timeout S]
    helper.py health --serve [--timeout S] -- COMMAND ...
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
BANNER = re.compile(r"Serving on (http://[0-9.]+:\d+/)")
# Headers that describe one response, not the policy nginx must copy.
PER_RESPONSE = {"content-type", "content-length", "date", "etag", "last-modified", "accept-ranges",
                "content-disposition", "server", "content-range", "vary", "set-cookie"}
NGINX_TOKEN = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
WEB_TEXT_TYPES = {"application/atom+xml", "application/javascript", "application/rss+xml", "application/xhtml+xml",
                  "application/xml", "image/svg+xml", "text/calendar", "text/css", "text/csv", "text/javascript",
                  "text/markdown", "text/plain", "text/tab-separated-values", "text/vtt", "text/xml"}


class HelperError(Exception):
    """What went wrong, for install.sh to print."""


# --- render ------------------------------------------------------------------------------------------

def render(template: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise HelperError(f"no value for @{key}@")
        return values[key]
    return PLACEHOLDER.sub(fill, template)


def _nginx_string(value: str, what: str) -> str:
    """`value` in double quotes for an nginx file; refuse what would need escaping there."""
    if any(c in value for c in '"\\$\n\r'):
        raise HelperError(f"{what} {value!r} cannot be written into an nginx file as it is")
    return f'"{value}"'


def _app_examples() -> tuple[dict[str, str], dict[str, str], dict[str, str], str]:
    """Ask the app itself (test client, throwaway data folder) for the headers of a static file, a
    content file and a PDF content file, and where its static folder is."""
    import classroom_server
    from classroom_server import create_app
    from classroom_server.content.services import BlobStore
    from classroom_server.db import database
    from classroom_server.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="classroom-nginx-") as folder:
        settings = load_settings(folder, environ={})
        sha = "ab" + "0" * 62
        blob = BlobStore(Path(folder)).path(sha)
        blob.parent.mkdir(parents=True)
        blob.write_bytes(b"%PDF-1.4\n")
        app = create_app(settings)
        client = app.test_client()
        static_dir = Path(app.static_folder or Path(classroom_server.__file__).parent / "static")
        style = next((p.name for p in sorted(static_dir.iterdir()) if p.suffix == ".css"), None)
        if style is None:
            raise HelperError(f"no stylesheet in {static_dir} to ask the app about")
        answers = {}
        for key, path in (("static", f"/static/{style}"), ("blob", f"/content/{sha}/example.mp4"),
                          ("pdf", f"/content/{sha}/example.pdf")):
            response = client.get(path)
            if response.status_code != 200:
                raise HelperError(f"the app answered {response.status_code} for {path}")
            answers[key] = {k.lower(): v for k, v in response.headers.items() if k.lower() not in PER_RESPONSE}
            response.close()
        if not database.is_closed():
            database.close()
    return answers["static"], answers["blob"], answers["pdf"], str(static_dir)


def _add_headers(headers: dict[str, str], indent: str, override: dict[str, str] | None = None) -> str:
    lines = []
    for name, value in sorted(headers.items()):
        text = (override or {}).get(name) or _nginx_string(value, f"the app's {name} header")
        canonical = "-".join(part.capitalize() for part in name.split("-"))
        lines.append(f"{indent}add_header {canonical} {text};")
    return "\n".join(lines)


def nginx_values(program: str) -> dict[str, str]:
    """Placeholders of the nginx site that come from the app: headers, file types, static folder."""
    import importlib
    import mimetypes

    from werkzeug.utils import get_content_type

    importlib.import_module("classroom_server.content.views")  # registers the app's extra file types

    static, blob, pdf, static_dir = _app_examples()
    if {k: v for k, v in blob.items() if k != "content-security-policy"} != \
            {k: v for k, v in pdf.items() if k != "content-security-policy"}:
        raise HelperError("the app's headers for content files depend on the file type in a way the nginx "
                          "site does not copy (only Content-Security-Policy for PDFs): update deploy/nginx")
    by_type: dict[str, list[str]] = {}
    for ext in sorted({e.lower() for e in mimetypes.types_map}):
        name = ext.lstrip(".")
        if ext in mimetypes.encodings_map or ext in mimetypes.suffix_map or not NGINX_TOKEN.match(name):
            continue
        kind = mimetypes.guess_type("file" + ext)[0]
        if kind and NGINX_TOKEN.match(kind.split("/")[0]) and re.match(r"^[\w.+-]+/[\w.+-]+$", kind):
            by_type.setdefault(kind, []).append(name)
    # nginx always counts text/html, and keeps this list in a small fixed-size hash: the text types
    # of lessons and e-textbooks only (others, rare in packs, go without `; charset=utf-8`).
    charset_types = sorted(k for k in by_type if k in WEB_TEXT_TYPES and get_content_type(k, "utf-8") != k)
    types = "\n".join(
        ["# Written by install.sh from the classroom server's own file types (Python's mimetypes, as the",
         "# app uses them), so nginx sends each content file with the type the app would. Do not edit:",
         "# re-running install.sh rewrites it.",
         "types_hash_max_size 4096;", "types {"]
        + [f"    {kind} {' '.join(exts)};" for kind, exts in sorted(by_type.items())]
        + ["}", "default_type application/octet-stream;",
           "# the app's text types carry `; charset=utf-8` (werkzeug adds it): the same here",
           "charset utf-8;", "charset_types"] + [f"    {kind}" for kind in charset_types] + [";", ""])
    pdf_exts = by_type.get("application/pdf", ["pdf"])
    # nginx serves the static folder of whatever release `current` points at.
    static_path = Path(static_dir)
    release_root = Path(sys.prefix)
    try:
        static_dir = str(Path(program) / static_path.relative_to(release_root))
    except ValueError:
        pass
    return {
        "TYPES": types,
        # a map key: nginx reads `\.` inside quotes as is, and variables are not expanded in keys
        "PDF_URI_RE": '"~*\\.(' + "|".join(pdf_exts) + ')$"',
        "BLOB_CSP": _nginx_string(blob["content-security-policy"], "the app's content CSP"),
        "PDF_CSP": _nginx_string(pdf["content-security-policy"], "the app's PDF CSP"),
        "BLOB_HEADERS": _add_headers(blob, " " * 8, {"content-security-policy": "$classroom_blob_csp"}),
        "STATIC_HEADERS": _add_headers(static, " " * 8),
        "STATIC_DIR": static_dir,
    }


def command_render(args: argparse.Namespace) -> None:
    values = {}
    for pair in args.values:
        key, sep, value = pair.partition("=")
        if not sep:
            raise HelperError(f"expected KEY=VALUE, got {pair!r}")
        values[key] = value
    if args.nginx_types:
        values.update(nginx_values(values.get("PROGRAM", sys.prefix)))
        _write(Path(args.nginx_types), values.pop("TYPES"))
    _write(Path(args.output), render(Path(args.template).read_text(encoding="utf-8"), values))


def _write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


# --- health ------------------------------------------------------------------------------------------

def check_health(url: str, deadline: float) -> dict:
    """Poll `url` until it answers 200 with status ok, or the deadline passes (HelperError)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    last = "no answer"
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                report = json.loads(response.read().decode("utf-8"))
                if report.get("status") == "ok":
                    return report
                last = f"status {report.get('status')!r}"
        except urllib.error.HTTPError as exc:
            try:
                last = f"HTTP {exc.code}: {exc.read().decode('utf-8', 'replace')[:300]}"
            finally:
                exc.close()
        except (OSError, ValueError) as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise HelperError(f"{url} did not answer 200 with status ok: {last}")
        time.sleep(0.25)


def serve_and_check(command: list[str], timeout: float) -> dict:
    """Start `command` (a server printing "Serving on URL" on stderr), check its /healthz, stop it."""
    deadline = time.monotonic() + timeout
    # SIGINT stops the server cleanly, unless it is ignored, as in anything started in the background.
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    found: list[str] = []
    tail: list[str] = []
    listening = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line)
            del tail[:-30]
            match = BANNER.search(line)
            if match and not found:
                found.append(match.group(1))
                listening.set()
        listening.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not listening.wait(max(0.0, deadline - time.monotonic())) or not found:
            raise HelperError(f"the server did not start (exit code {proc.poll()}):\n" + "".join(tail))
        try:
            return check_health(found[0] + "healthz", deadline)
        except HelperError as exc:
            raise HelperError(f"{exc}\nserver log:\n" + "".join(tail)) from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        reader.join(5)


def command_health(args: argparse.Namespace) -> None:
    if args.serve:
        command = [c for c in args.command if c != "--"]
        if not command:
            raise HelperError("health --serve needs a command after --")
        report = serve_and_check(command, args.timeout)
    else:
        report = check_health(args.url, time.monotonic() + args.timeout)
    print(report.get("version", "?"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helper.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("render", help="fill @KEY@ placeholders of a template")
    p.add_argument("template")
    p.add_argument("output")
    p.add_argument("--nginx-types", metavar="FILE",
                   help="also fill in what the app decides (headers, static folder), and write its file types "
                        "for nginx to FILE")
    p.add_argument("values", nargs="*", metavar="KEY=VALUE")
    p.set_defaults(run=command_render)
    p = sub.add_parser("health", help="check /healthz; prints the version that answered")
    p.add_argument("--url")
    p.add_argument("--serve", action="store_true", help="start the server command given after --")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(run=command_health)
    args = parser.parse_args(argv)
    if args.what == "health" and not args.serve and not args.url:
        parser.error("health needs --url or --serve")
    try:
        args.run(args)
    except HelperError as exc:
        print(f"helper.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
