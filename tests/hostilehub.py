"""A hostile hub for tests: a real process on loopback standing between the school and the real hub, as
a DNS takeover, a hostile proxy at a satellite ground station or a mistyped address would.

    with HostileHub(tmp_path / "hostile", upstream=hub.url) as fake:
        fake.set(keys={"keys": [its_own_key], "rotations": []})   # what it does to the next answers
        agent enrolled with fake.url ...

It forwards every request to the real hub and passes the answer back, changed as its rules say (a JSON
file it reads at each request, written by `set`):

- `keys`: the body of every `GET /api/v1/keys` answer;
- `catalog_packs`, `withdraw`: entries added to the catalog's `packs` and `withdrawn`;
  `blob_base_url_self`: the catalog sends blob requests here; `blobs`: a folder whose files it serves
  as `/blobs/<sha256>` in place of the real hub's;
- `roster_changes`: the changes of every roster feed page (with `last` and `more` to match);
- `cursor`, `ack`: the `acked` of every cursor answer, of every answer to a batch of records;
- `replay`: every answer to a path is the first one it saw for that path once replaying (headers and all);
- `strip_signature`: answers lose the hub's answer signature;
- `secret`: the school's secret, leaked: changed answers are signed again with it, as the real hub
  signs (without it, the real hub's signature stays on the changed body and no longer matches).

Run on its own: `python tests/hostilehub.py RULES.json` prints `Serving on http://127.0.0.1:PORT`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the project on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.hubprocess import end, serve
else:
    from .hubprocess import end, serve

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server",
               "date"}


def make_app(rules_path: Path):
    import requests
    from flask import Flask, Response, request

    from sync import protocol

    app = Flask(__name__)
    upstream_session = requests.Session()
    upstream_session.trust_env = False
    seen: dict[str, tuple[int, bytes, dict]] = {}

    def rules() -> dict:
        return json.loads(rules_path.read_text(encoding="utf-8"))

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "HEAD"])
    @app.route("/<path:path>", methods=["GET", "POST", "HEAD"])
    def proxy(path: str):
        rule = rules()
        target = "/" + path
        signed_path = protocol.path_with_query(request.path, request.query_string)
        if target.startswith("/blobs/") and rule.get("blobs"):
            local = Path(rule["blobs"]) / target.rsplit("/", 1)[1]
            if local.is_file():
                return Response(local.read_bytes(), mimetype="application/octet-stream")
        if rule.get("replay") and signed_path in seen:
            status, body, headers = seen[signed_path]
            return Response(body, status=status, headers=headers)
        answer = upstream_session.request(
            request.method, rule["upstream"] + signed_path, data=request.get_data(),
            # the Host header as the school sent it: the hub's catalog then sends blob requests here too
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
            allow_redirects=False, timeout=30)
        body = answer.content
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        changed = _change(rule, target, body, request.host_url)
        if changed is not None:
            body = changed
            if rule.get("secret") and protocol.header(request.headers, protocol.HEADER_NONCE):
                headers[protocol.HEADER_ANSWER_SIGNATURE] = protocol.sign_answer(
                    rule["secret"], request.method, signed_path,
                    protocol.header(request.headers, protocol.HEADER_NONCE), answer.status_code, body)
        if rule.get("strip_signature"):
            headers.pop(protocol.HEADER_ANSWER_SIGNATURE, None)
        if rule.get("replay"):
            seen.setdefault(signed_path, (answer.status_code, body, headers))
        return Response(body, status=answer.status_code, headers=headers)

    return app


def _change(rule: dict, target: str, body: bytes, host_url: str) -> bytes | None:
    """The answer's new body, or None when the rules leave it as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    before = json.dumps(data, sort_keys=True)
    if target == "/api/v1/keys" and rule.get("keys") is not None:
        data = rule["keys"]
    if target == "/api/v1/catalog":
        data["packs"] = data.get("packs", []) + rule.get("catalog_packs", [])
        data["withdrawn"] = data.get("withdrawn", []) + rule.get("withdraw", [])
        if rule.get("blob_base_url_self"):
            data["blob_base_url"] = f"{host_url}blobs/"
    if target == "/api/v1/roster/changes" and rule.get("roster_changes") is not None:
        changes = rule["roster_changes"]
        data.update(changes=changes, last=changes[-1]["seq"] if changes else data.get("last", 0), more=False)
    for path, name in (("/api/v1/records/cursor", "cursor"), ("/api/v1/records", "ack")):
        if target == path and rule.get(name) is not None and "acked" in data:
            data["acked"] = rule[name]
    if json.dumps(data, sort_keys=True) == before:
        return None
    return json.dumps(data).encode("utf-8")


class HostileHub:
    """`python tests/hostilehub.py` as a subprocess on a free loopback port."""

    def __init__(self, folder: Path, upstream: str):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.rules_path = folder / "rules.json"
        self.base = {"upstream": upstream.rstrip("/")}
        self.set()
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log: list[str] = []

    def set(self, **rules) -> None:
        """Replace the rules (none: pass everything through unchanged)."""
        scratch = self.rules_path.with_suffix(".tmp")
        scratch.write_text(json.dumps({**self.base, **rules}), encoding="utf-8")
        os.replace(scratch, self.rules_path)

    def __enter__(self) -> "HostileHub":
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSROOM_")}
        self.proc, self.url = serve([sys.executable, __file__, str(self.rules_path)], env, self.log)
        return self

    def __exit__(self, *exc) -> None:
        end(self.proc)
        self.proc = None


def main() -> None:
    from waitress import create_server
    server = create_server(make_app(Path(sys.argv[1])), host="127.0.0.1", port=0, threads=4)
    print(f"Serving on http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
