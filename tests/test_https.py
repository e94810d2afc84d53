"""HTTPS on the school's LAN with a certificate every phone trusts (docs/https.md), end to end: a real
ACME CA (Pebble) and DNS server (pebble-challtestsrv), the real hub on loopback ordering by DNS-01,
the real agent making its key and CSR and installing what comes back, nginx serving it beside plain
HTTP, renewal while the link is down, and Chromium finding a secure context with a service worker.
"""
from __future__ import annotations

import datetime
import os
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from classroom_server import migrations
from classroom_server.admin import https
from classroom_server.db import database
from classroom_server.settings import load_settings
from sync.agent import certificate
from sync.hub import certificates as hub_certificates

from .acmeca import MISSING, PebbleCA, binaries, free_port, spki_sha256_base64
from .faultlink import FaultLink
from .helpers import issued_certificate, reopen_database, serving
from .hubprocess import HubProcess
from .schoolsync import enroll, open_agent

pytestmark = pytest.mark.slow  # a real hub subprocess and an ACME test CA

REPO = Path(__file__).resolve().parent.parent
DAY = datetime.timedelta(days=1)


# --- pure rules (no CA needed) ------------------------------------------------------------------------

@pytest.mark.parametrize("day, due", [(0, False), (59, False), (60, True), (89, True), (95, True)])
def test_the_hub_renews_once_a_third_of_the_lifetime_is_left(day, due):
    start = datetime.datetime(2026, 1, 1)
    assert hub_certificates.renewal_due(start, start + 90 * DAY, start + day * DAY) is due


def _csr(names, key=None, ip=False):
    key = key or ec.generate_private_key(ec.SECP256R1())
    entries = [x509.DNSName(n) for n in names]
    if ip:
        import ipaddress
        entries.append(x509.IPAddress(ipaddress.ip_address("192.168.1.10")))
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .add_extension(x509.SubjectAlternativeName(entries), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


@pytest.mark.parametrize("csr, message", [
    (lambda: _csr(["sch-other.schools.test"]), "this school's certificate is for exactly sch-abc.schools.test"),
    (lambda: _csr(["sch-abc.schools.test", "evil.example"]), "exactly sch-abc.schools.test"),
    (lambda: _csr(["sch-abc.schools.test"], ip=True), "IP address"),
    (lambda: _csr(["sch-abc.schools.test"], key=ec.generate_private_key(ec.SECP192R1())), "P-256 or P-384"),
    (lambda: "hello", "not a PEM certificate signing request"),
])
def test_the_hub_refuses_a_csr_for_other_names_or_a_weak_key(csr, message):
    with pytest.raises(hub_certificates.CsrError, match=message):
        hub_certificates.check_csr(csr(), ["sch-abc.schools.test"])
    hub_certificates.check_csr(_csr(["sch-abc.schools.test"]), ["sch-abc.schools.test"])


def _self_signed(key, names, days=90, start=None):
    start = start or datetime.datetime.now(datetime.timezone.utc) - DAY
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + days * DAY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))


def test_the_agent_refuses_a_certificate_for_another_key_or_name_or_without_its_chain():
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    names = ["sch-abc.schools.test"]
    pem = lambda cert: cert.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    with pytest.raises(certificate.WrongKey):
        certificate.check_chain(pem(_self_signed(other, names)) * 2, key, names)
    with pytest.raises(certificate.CertificateProblem, match="not sch-abc.schools.test"):
        certificate.check_chain(pem(_self_signed(key, ["sch-xyz.schools.test"])) * 2, key, names)
    with pytest.raises(certificate.CertificateProblem, match="without its CA's chain"):
        certificate.check_chain(pem(_self_signed(key, names)), key, names)
    with pytest.raises(certificate.CertificateProblem, match="not signed by the next"):
        certificate.check_chain(pem(_self_signed(key, names)) + pem(_self_signed(other, ["ca.test"])), key, names)


def test_the_agent_refuses_a_chain_that_leads_to_no_root_phones_trust():
    """A hub (or anyone on the way) that knows the box's public key from its CSR could sign a
    certificate for it with a CA of its own, for any name; the box would then answer that name on the
    LAN. Only a chain to a trusted root is installed."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _self_signed(ca_key, ["Rogue CA"])
    ca = (x509.CertificateBuilder().subject_name(ca.subject).issuer_name(ca.subject).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(ca.not_valid_before_utc).not_valid_after(ca.not_valid_after_utc)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - DAY).not_valid_after(now + 90 * DAY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.google.com")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, ca))
    certificate.check_chain(chain, key, ["www.google.com"])  # the links alone hold
    with pytest.raises(certificate.CertificateProblem, match="does not lead to a root phones trust"):
        certificate.check_chain(chain, key, ["www.google.com"], roots=certificate.trusted_roots())
    certificate.check_chain(chain, key, ["www.google.com"], roots=[ca])  # a root the school was told to trust


# --- with a real CA ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    if binaries() is None:
        pytest.skip(MISSING)
    with PebbleCA(tmp_path_factory.mktemp("pebble")) as running:
        yield running


@pytest.fixture(scope="module")
def hub(ca, tmp_path_factory):
    process = HubProcess(tmp_path_factory.mktemp("hub"))
    process.env.update(ca.hub_env())
    with process:
        process.cli("keys", "generate")  # a school enrols with its fingerprint
        yield process


def new_school(folder: Path, url: str, hub: HubProcess, tmp_path: Path, ca: PebbleCA | None = None):
    """A school enrolled with `hub`; with `ca`, trusting its root as phones would trust a real CA's."""
    if ca is not None:
        https.tls_folder(folder).mkdir(parents=True, exist_ok=True)
        (https.tls_folder(folder) / certificate.EXTRA_ROOTS_NAME).write_text(ca.root_pem())
    settings = load_settings(folder, environ={})
    reopen_database(settings.effective_database_url)
    migrations.migrate(database.obj)
    enrolment = hub.add_school("Test school")
    enroll(hub, folder, url, enrolment, tmp_path)
    return open_agent(folder), enrolment.school_id


def hub_pass(hub: HubProcess, now: datetime.datetime | None = None) -> hub_certificates.PassResult:
    """One issuing pass of the hub, judged at `now` (what `classroom-hub certificates issue` runs)."""
    from sync.hub.db import database as hub_database
    from sync.hub.db import open_database as open_hub_database
    from sync.hub.settings import load_settings as hub_settings
    settings = hub_settings(hub.folder, environ=hub.env)
    open_hub_database(settings.effective_database_url)
    try:
        return hub_certificates.issue_pass(settings, now=now)
    finally:
        hub_database.close()


def installed_leaf(folder: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(https.chain_path(folder).read_bytes())[0]


def verify_to_root(ca: PebbleCA, folder: Path, name: str) -> None:
    """The installed chain leads to Pebble's root for `name`, as a phone's TLS library checks it."""
    from cryptography.x509.verification import PolicyBuilder, Store
    chain = x509.load_pem_x509_certificates(https.chain_path(folder).read_bytes())
    root = x509.load_pem_x509_certificate(ca.root_pem().encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(name))
    verifier.verify(chain[0], chain[1:])


def test_a_school_gets_its_certificate_by_dns01_and_serves_https_beside_http(ca, hub, tmp_path):
    folder = tmp_path / "school"
    agent, school_id = new_school(folder, hub.url, hub, tmp_path, ca)
    name = f"{school_id}.schools.test"
    (folder / "dns").mkdir(exist_ok=True)  # as install.sh --with-dnsmasq makes it

    lines: list[str] = []
    assert agent.sync(progress=lines.append).ok
    assert any("sent a certificate request" in line for line in lines), lines
    assert stat.S_IMODE(https.key_path(folder).stat().st_mode) == 0o600
    assert not https.chain_path(folder).exists()  # nothing issued yet: the hub's pass orders it
    assert https.agent_state()["names"] == [name]
    assert not (folder / "dns" / certificate.HOSTS_NAME).exists()  # only names a trusted CA checked

    output = hub.cli("certificates", "issue")
    assert f"{school_id}: issued for {name}, valid until" in output and "0 failed" in output, output
    listed = hub.cli("certificates", "list")
    assert name in listed and "valid until" in listed

    lines.clear()
    assert agent.sync(progress=lines.append).ok
    assert any("installed the HTTPS certificate" in line for line in lines), lines
    assert stat.S_IMODE(https.chain_path(folder).stat().st_mode) == 0o644
    leaf = installed_leaf(folder)
    assert certificate.key_sha256(leaf.public_key()) == certificate.key_sha256(
        certificate.box_key(folder).public_key())  # made here; the hub only ever saw the CSR
    verify_to_root(ca, folder, name)
    held = hub._query("SELECT csr, certificate FROM school_certificate WHERE school_id = ?", (school_id,))
    assert "CERTIFICATE REQUEST" in held[0][0] and "PRIVATE KEY" not in "".join(held[0]) + "".join(hub.log)
    hosts = (folder / "dns" / certificate.HOSTS_NAME).read_text()
    assert hosts.startswith("# Written by classroom-sync")
    assert all(f"{address} {name}\n" in hosts for address in certificate.lan_addresses())
    current = https.installed(folder)
    assert current.name == name and abs(current.not_after - current.not_before - 90 * DAY).total_seconds() <= 1
    assert not current.nearing_expiry()

    lines.clear()
    outcome = certificate.sync_certificate(agent.client, lines.append)  # nothing new: nothing sent, nothing installed
    assert outcome.offered and not outcome.sent_csr and not outcome.installed
    # What the box holds is not sent again at every sync (a metered link): only when it changed.
    from sync.agent.client import read_secret
    signed = (school_id, read_secret(agent.settings))
    _, same, _ = agent.client.request("GET", hub.url, certificate.CERTIFICATE_PATH + certificate._have(folder), signed=signed)
    assert same["unchanged"] is True and same["certificate"] is None and same["not_after"]
    _, other, _ = agent.client.request("GET", hub.url, certificate.CERTIFICATE_PATH + "?have=" + "0" * 64, signed=signed)
    assert "unchanged" not in other and other["certificate"] == https.chain_path(folder).read_text()
    assert school_id not in hub.cli("certificates", "issue")  # current: no new order at the CA

    with school_server(folder) as upstream, SchoolNginx(tmp_path / "nginx", folder, upstream) as nginx:
        assert https_get(ca, name, nginx.https_port, "/healthz").startswith("HTTP/1.1 200")
        import requests
        assert requests.get(f"http://127.0.0.1:{nginx.http_port}/healthz", timeout=10).status_code == 200


def test_renewed_while_the_link_is_down_and_installed_when_it_comes_back_before_the_old_expires(ca, hub, tmp_path):
    with FaultLink(("127.0.0.1", hub.port), latency=0.002) as link:
        folder = tmp_path / "school"
        agent, school_id = new_school(folder, link.url, hub, tmp_path, ca)
        assert agent.sync().ok
        assert school_id in hub_pass(hub).issued
        assert certificate.sync_certificate(agent.client).installed
        old = https.installed(folder)

        link.down()
        # Days go by at the hub: at 50 days nothing is due; at 61 (29 days left) it renews.
        assert school_id not in hub_pass(hub, now=old.not_before + 50 * DAY).issued
        renewed_at = old.not_after - 29 * DAY
        assert school_id in hub_pass(hub, now=renewed_at).issued
        down = agent.sync()
        assert not down.ok and down.code == "link_down"
        assert https.installed(folder) == old  # still the old one while the link is down

        link.up()
        assert agent.sync().ok
        new = https.installed(folder)
        assert new.not_after > old.not_after and new != old
        # The hub had it ready with 29 days of the old certificate left: a link down for up to four
        # weeks still brings it in time; it is installed at the first sync that gets through.
        assert datetime.datetime.utcnow() < old.not_after
        assert school_id not in hub_pass(hub).issued  # the new one is current: no order for it


def test_a_new_box_key_gets_a_new_certificate_and_a_hub_without_acme_offers_none(ca, hub, tmp_path):
    folder = tmp_path / "school"
    agent, school_id = new_school(folder, hub.url, hub, tmp_path, ca)
    agent.sync()
    hub_pass(hub)
    assert certificate.sync_certificate(agent.client).installed
    first = installed_leaf(folder)
    https.key_path(folder).unlink()  # the box was reinstalled without its key
    outcome = certificate.sync_certificate(agent.client)
    assert outcome.sent_csr and not outcome.installed  # the old certificate is for the old key
    assert school_id in hub_pass(hub).issued
    assert certificate.sync_certificate(agent.client).installed
    assert installed_leaf(folder).public_key() != first.public_key()

    with HubProcess(tmp_path / "plain-hub") as plain:
        plain.cli("keys", "generate")
        other = tmp_path / "other"
        agent, _ = new_school(other, plain.url, plain, tmp_path)
        lines: list[str] = []
        assert agent.sync(progress=lines.append).ok
        assert "the national platform offers no HTTPS certificate" in lines
        assert not https.key_path(other).exists()


# --- nginx and a browser -----------------------------------------------------------------------------------

class school_server:
    """`classroom-server serve` on the school's data folder, on a free loopback port."""

    def __init__(self, folder: Path):
        self._context = serving(folder)

    def __enter__(self) -> str:
        return self._context.__enter__()[1]

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)


class SchoolNginx:
    """nginx on the site install.sh --with-nginx --with-https writes (rendered by deploy/helper.py), on
    free loopback ports: plain HTTP and HTTPS with the school's certificate."""

    def __init__(self, folder: Path, data_dir: Path, upstream: str):
        sys.path.insert(0, str(REPO / "benchmarks"))
        from harness import NginxProcess
        from nginx_front import NGINX_CONF  # Debian's nginx.conf defaults around the site
        folder.mkdir(parents=True)
        self.http_port, self.https_port = free_port(), free_port()
        helper = [sys.executable, str(REPO / "deploy" / "helper.py"), "render"]
        for args in ([str(REPO / "deploy/nginx/https.conf"), str(folder / "https.conf"), f"DATA={data_dir}",
                      f"HTTPS_PORT={self.https_port}"],
                     ["--nginx-types", str(folder / "types.conf"), str(REPO / "deploy/nginx/classroom-server.conf"),
                      str(folder / "site.conf"), f"PROGRAM={sys.prefix}", f"DATA={data_dir}",
                      f"TYPES_FILE={folder / 'types.conf'}", f"PROXY_FILE={REPO / 'deploy/nginx/proxy.conf'}",
                      f"UPSTREAM_PORT={upstream.rsplit(':', 1)[1]}", f"LISTEN_PORT={self.http_port}",
                      f"HTTPS_FILE={folder / 'https.conf'}"]):
            done = subprocess.run(helper + args, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        for name, port, ssl_flag in (("site.conf", self.http_port, ""), ("https.conf", self.https_port, " ssl")):
            text = (folder / name).read_text().replace(f"listen {port}{ssl_flag} default_server;",
                                                       f"listen 127.0.0.1:{port}{ssl_flag};")
            (folder / name).write_text("\n".join(line for line in text.splitlines() if "listen [::]" not in line))
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(NGINX_CONF % {"user": user, "tmp": folder})
        self.process = NginxProcess(folder, folder / "nginx.conf", ("GET", f"http://127.0.0.1:{self.http_port}/healthz"))

    def reload(self) -> None:
        import signal
        self.process.proc.send_signal(signal.SIGHUP)

    def __enter__(self) -> "SchoolNginx":
        import shutil
        if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
            pytest.skip("nginx is not installed: apt-get install nginx-light (.ci/run does)")
        self.process.start()
        return self

    def __exit__(self, *exc) -> None:
        self.process.stop()


def https_get(ca: PebbleCA, name: str, port: int, path: str) -> str:
    """GET over TLS to 127.0.0.1:port as a device that trusts only Pebble's root and asks for `name`."""
    context = ssl.create_default_context(cadata=ca.root_pem())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    return answer.decode("utf-8", "replace")


@pytest.mark.browser
def test_chromium_finds_a_secure_context_and_a_service_worker_at_the_schools_https_name(ca, hub, tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"browser tests need Debian's Chromium at {chromium} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
    from .browsertesting import CHROMIUM_ARGS
    folder = tmp_path / "school"
    agent, school_id = new_school(folder, hub.url, hub, tmp_path, ca)
    name = f"{school_id}.schools.test"
    agent.sync()
    assert school_id in hub_pass(hub).issued
    assert certificate.sync_certificate(agent.client).installed
    database.close()  # the server process has the school from here on
    # A phone trusts the CA's root already; this Chromium is told to trust Pebble's intermediate (sent
    # in the chain) by its key, and finds the school's name at the box (dnsmasq's job on a LAN).
    args = CHROMIUM_ARGS + [f"--host-resolver-rules=MAP {name} 127.0.0.1",
                            f"--ignore-certificate-errors-spki-list={spki_sha256_base64(ca.intermediate_pem())}"]
    with school_server(folder) as upstream, SchoolNginx(tmp_path / "nginx", folder, upstream) as nginx, \
            sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=args)
        try:
            page = browser.new_page()
            origin = f"https://{name}:{nginx.https_port}"
            assert page.goto(origin + "/").ok
            assert page.evaluate("window.isSecureContext") is True
            scope = page.evaluate("navigator.serviceWorker.ready.then(registration => registration.scope)")
            assert scope == origin + "/"
            assert page.evaluate("typeof crypto.randomUUID") == "function"
            # The same box over plain HTTP still works, and is not a secure context.
            plain = browser.new_page()
            assert plain.goto(f"http://{name}:{nginx.http_port}/").ok
            assert plain.evaluate("window.isSecureContext") is False
        finally:
            browser.close()


# --- the admin page ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("days_ago, warned", [(10, False), (70, True), (95, True)])
def test_the_admin_page_shows_the_name_and_expiry_and_warns_near_the_end(app, client, school, settings,
                                                                         days_ago, warned):
    from .helpers import sign_in_as
    now = datetime.datetime.now(datetime.timezone.utc)
    https.chain_path(settings.data_dir).parent.mkdir(parents=True)
    https.chain_path(settings.data_dir).write_bytes(issued_certificate(["sch-abc.schools.test"], now - days_ago * DAY, 90))
    sign_in_as(client, school, "admin")
    for page in ("/admin/", "/admin/sync"):
        html = client.get(page).get_data(as_text=True)
        assert "https://sch-abc.schools.test/" in html and "Valid until" in html
        assert ("no newer one has arrived" in html or "has expired" in html) is warned
    assert ("has expired" in html) is (days_ago > 90)


def test_the_admin_page_says_the_certificate_is_coming_and_shows_nothing_without_one(app, client, school, settings):
    from .helpers import sign_in_as
    sign_in_as(client, school, "admin")
    assert "Secure address" not in client.get("/admin/").get_data(as_text=True)
    with app.app_context():
        certificate._note(certificate.CertificateOutcome(offered=True, names=("sch-abc.schools.test",)))
    html = client.get("/admin/").get_data(as_text=True)
    assert "Secure address" in html and "is obtaining this school's certificate" in html


def test_a_stand_in_certificate_lets_nginx_start_and_the_real_one_replaces_it(ca, hub, tmp_path):
    from click.testing import CliRunner

    from sync.agent import main as sync_cli
    folder = tmp_path / "school"
    agent, school_id = new_school(folder, hub.url, hub, tmp_path, ca)
    result = CliRunner().invoke(sync_cli, ["--data-dir", str(folder), "https", "placeholder"])
    assert result.exit_code == 0 and "stand-in" in result.output, result.output
    stand_in = https.installed(folder)
    assert stand_in.self_signed and stat.S_IMODE(https.key_path(folder).stat().st_mode) == 0o600
    shown = CliRunner().invoke(sync_cli, ["--data-dir", str(folder), "https", "show"]).output
    assert "no certificate from the national platform" in shown
    agent.sync()
    assert school_id in hub_pass(hub).issued
    assert certificate.sync_certificate(agent.client).installed  # same key as the stand-in, the CA's certificate now
    assert not https.installed(folder).self_signed
    shown = CliRunner().invoke(sync_cli, ["--data-dir", str(folder), "https", "show"]).output
    assert f"https:            {school_id}.schools.test, valid until" in shown
    import json
    status = json.loads(CliRunner().invoke(sync_cli, ["--data-dir", str(folder), "status", "--json"]).output)
    assert status["https"]["names"] == [f"{school_id}.schools.test"] and status["https"]["nearing_expiry"] is False
    assert status["https"]["last_step"]["offered"] is True


# --- the name on the LAN (dnsmasq) ----------------------------------------------------------------------

def dns_query(port: int, name: str) -> list[str]:
    """The IPv4 addresses a DNS server on 127.0.0.1:port answers for `name` (one A query over UDP)."""
    import random
    import struct
    ident = random.randrange(65536)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(packet, ("127.0.0.1", port))
        answer = udp.recv(4096)
    count = struct.unpack(">H", answer[6:8])[0]
    offset, found = 12 + len(question) + 4, []
    for _ in range(count):
        offset += 2 if answer[offset] & 0xC0 == 0xC0 else answer.index(b"\0", offset) + 1 - offset
        kind, _, _, length = struct.unpack(">HHIH", answer[offset:offset + 10])
        offset += 10
        if kind == 1:
            found.append(".".join(str(b) for b in answer[offset:offset + length]))
        offset += length
    return found


def test_dnsmasq_answers_the_schools_name_with_the_address_the_agent_writes_and_follows_changes(tmp_path):
    import shutil
    import time
    binary = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
    if binary is None:
        pytest.skip("dnsmasq is not installed: apt-get install dnsmasq-base (.ci/run does)")
    data = tmp_path / "data"
    (data / "dns").mkdir(parents=True)
    names = ["sch-abc.schools.test", "*.sch-abc.schools.test"]
    assert certificate.write_hosts(data, names, ["192.168.1.10", "10.5.0.2"])
    assert not certificate.write_hosts(data, names, ["192.168.1.10", "10.5.0.2"])  # unchanged: not rewritten
    conf = tmp_path / "dnsmasq.conf"
    done = subprocess.run([sys.executable, str(REPO / "deploy/helper.py"), "render",
                           str(REPO / "deploy/dnsmasq/classroom-server.conf"), str(conf), f"DATA={data}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # The installed file as it is, but on a loopback port for the test (it leaves loopback alone).
    text = conf.read_text()
    assert f"hostsdir={data}/dns" in text and "localise-queries" in text
    conf.write_text("\n".join(line for line in text.splitlines() if line not in ("bind-dynamic", "except-interface=lo")))
    port = free_port()
    proc = subprocess.Popen([binary, "--keep-in-foreground", f"--conf-file={conf}", f"--port={port}",
                             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                             "--user=root", "--pid-file=", "--log-facility=-"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                found = dns_query(port, "sch-abc.schools.test")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
                time.sleep(0.1)
        assert sorted(found) == ["10.5.0.2", "192.168.1.10"]
        # The box got another address: the agent rewrites the file, dnsmasq follows without a restart.
        assert certificate.write_hosts(data, names, ["192.168.1.20"])
        while dns_query(port, "sch-abc.schools.test") != ["192.168.1.20"]:
            assert time.monotonic() < deadline + 30, "dnsmasq did not read the changed file"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_wildcard_certificate_also_covers_names_that_encode_the_lan_address(ca, tmp_path):
    hub = HubProcess(tmp_path / "wildcard-hub")
    hub.env.update(ca.hub_env(wildcard=True))
    with hub:
        hub.cli("keys", "generate")
        folder = tmp_path / "school"
        (folder / "dns").mkdir(parents=True)
        agent, school_id = new_school(folder, hub.url, hub, tmp_path, ca)
        name = f"{school_id}.schools.test"
        agent.sync()
        assert school_id in hub_pass(hub).issued  # two TXT values at one name: the name and its wildcard
        assert certificate.sync_certificate(agent.client).installed
        assert sorted(https.installed(folder).names) == sorted([name, f"*.{name}"])
        assert https.installed(folder).name == name
        verify_to_root(ca, folder, f"192-168-1-10.{name}")
        assert f"*.{name}" not in (folder / "dns" / certificate.HOSTS_NAME).read_text()  # no wildcard in hosts


def test_the_hub_api_refuses_a_csr_for_another_schools_name_and_unsigned_requests(ca, hub, tmp_path):
    import json

    import requests

    from sync.agent.client import read_secret
    agent, school_id = new_school(tmp_path / "school", hub.url, hub, tmp_path, ca)
    other = hub.add_school("Another school").school_id
    body = json.dumps({"csr": _csr([f"{other}.schools.test"])}).encode()
    status, data, _ = agent.client.request("POST", hub.url, certificate.CERTIFICATE_PATH, body,
                                     {"Content-Type": "application/json"}, signed=(school_id, read_secret(agent.settings)))
    assert status == 400 and data["error"] == "bad_csr"
    assert f"this school's certificate is for exactly {school_id}.schools.test" in data["message"]
    assert requests.post(hub.url + certificate.CERTIFICATE_PATH, data=body, timeout=10).status_code == 401
    assert requests.get(hub.url + certificate.CERTIFICATE_PATH, timeout=10).status_code == 401
