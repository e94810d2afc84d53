"""Content blobs from a static host: nginx serves the hub's blob folder, `[content] blob_base_url` points the
catalog at it, and a school's agent installs a pack whose files all come from nginx, resuming with HTTP
Range after the link to nginx is cut (docs/hub.md, "Where schools fetch the files").
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from classroom_server.models import ContentPack
from tests import pgcluster
from tests.contentsync import big_pack, catalog_pack, enrolled, publish, run_content
from tests.contentsync import school_dir  # noqa: F401  (fixtures)
from tests.faultlink import FaultLink
from tests.hubprocess import HubProcess

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed: apt-get install nginx-light")]


@pytest.fixture
def static_hub(tmp_path):
    """A hub whose catalog sends schools to nginx (behind a link the test can cut) for the files."""
    hub_folder = tmp_path / "hub"
    hub_folder.mkdir()
    nginx_folder = Path(tempfile.mkdtemp(prefix="classroom-blobs-nginx-"))
    port = pgcluster.free_port()
    (nginx_folder / "nginx.conf").write_text(
        f"pid {nginx_folder}/nginx.pid;\nerror_log {nginx_folder}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log {nginx_folder}/access.log;\n  client_body_temp_path {nginx_folder}/body;\n"
        f"  proxy_temp_path {nginx_folder}/proxy;\n  server {{\n    listen 127.0.0.1:{port};\n"
        f"    location /blobs/ {{\n      alias {hub_folder}/blobs/;\n      default_type application/octet-stream;\n"
        f"      add_header Cache-Control \"public, max-age=31536000, immutable\";\n    }}\n  }}\n}}\n")
    nginx = subprocess.Popen([NGINX, "-c", str(nginx_folder / "nginx.conf"), "-p", str(nginx_folder),
                              "-g", "daemon off; user root;" if os.geteuid() == 0 else "daemon off;"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    static = FaultLink(("127.0.0.1", port), latency=0.001).start()
    hub = HubProcess(hub_folder)
    hub.env["CLASSROOM_HUB_CONTENT_BLOB_BASE_URL"] = f"{static.url}/blobs/"
    try:
        hub.start()
        hub.cli("keys", "generate")
        link = FaultLink(("127.0.0.1", hub.port), latency=0.001).start()
        yield hub, link, static, nginx_folder / "access.log"
        link.close()
    finally:
        hub.stop()
        static.close()
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        shutil.rmtree(nginx_folder, ignore_errors=True)


def test_a_pack_comes_from_nginx_and_resumes_after_cuts(static_hub, school_dir, tmp_path):  # noqa: F811
    hub, link, static, access_log = static_hub
    agent, school_id = enrolled(hub, link, school_dir, tmp_path)
    pack, _ = big_pack(tmp_path, "static.pack", "1.0.0", files=6, size=256 * 1024)  # 1.5 MiB
    publish(hub, pack, school_id)
    static.cut_after(400_000, direction="down", reset=False)
    for _ in range(20):
        run_content(agent)
        if ContentPack.get_or_none(ContentPack.pack_id == "static.pack"):
            break
        if not static.cut_pending():
            static.cut_after(400_000, direction="down", reset=False)
        time.sleep(0.1)
    static.disarm()
    assert ContentPack.get(ContentPack.pack_id == "static.pack").version == "1.0.0"
    served = access_log.read_text().splitlines()
    blob_gets = [line for line in served if '"GET /blobs/' in line]
    assert blob_gets and all('" 200 ' in line or '" 206 ' in line for line in blob_gets), served
    assert any('" 206 ' in line for line in blob_gets)  # a cut file went on from its last byte
    size = catalog_pack("static.pack")["size"]
    assert size <= static.stats.bytes_down < 1.1 * size  # every file came from nginx, each byte about once
    assert link.stats.bytes_down < size / 4  # the hub's own link carried the catalog and answers, not the files
