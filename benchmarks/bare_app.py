"""The baseline: a bare Flask app on waitress (8 threads) that serves a 5 KB string at `/`.

Run as `python benchmarks/bare_app.py [--port 0] [--threads 8]`; like `classroom-server serve` it
prints `Serving on http://127.0.0.1:PORT/` on stderr once it listens.
"""
from __future__ import annotations

import argparse
import sys

from flask import Flask
from waitress import create_server

# 5 KB, about the size of a small HTML page.
LINE = "<p>The quick brown fox jumps over the lazy dog.</p>\n"
PAGE = ("<!doctype html>\n<title>bare</title>\n" + LINE * 100)[:5120]


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return PAGE

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    server = create_server(create_app(), host="127.0.0.1", port=args.port, threads=args.threads,
                           ident="bare-app")
    print(f"Serving on http://127.0.0.1:{server.effective_port}/", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
