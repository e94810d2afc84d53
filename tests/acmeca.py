"""A real ACME CA for tests: Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (the DNS server
whose TXT records the hub sets through its management API), both on loopback ports of their own.

Debian's `pebble` package ships both binaries (.ci/run installs it); where they are missing the tests
that need them are skipped with that message. Pebble checks DNS-01 challenges by asking
challtestsrv, so an order goes through exactly as with a real CA and a real DNS provider: the hub
puts the TXT record, Pebble looks it up, and issues.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY_SECONDS = 90 * 86400  # as Let's Encrypt's certificates


def binaries() -> tuple[str, str] | None:
    pebble = shutil.which("pebble") or ("/usr/bin/pebble" if os.path.exists("/usr/bin/pebble") else None)
    dns = shutil.which("pebble-challtestsrv") or ("/usr/bin/pebble-challtestsrv"
                                                   if os.path.exists("/usr/bin/pebble-challtestsrv") else None)
    return (pebble, dns) if pebble and dns else None


MISSING = ("Pebble is not installed (Debian package `pebble`: pebble and pebble-challtestsrv): "
           "apt-get install pebble, or run .ci/run, which installs it")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A key and self-signed certificate for Pebble's own HTTPS listener (localhost, 127.0.0.1)."""
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "pebble-tls.pem", folder / "pebble-tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class PebbleCA:
    """challtestsrv and Pebble running; `directory_url`, `ca_bundle` (Pebble's own TLS certificate),
    `challtestsrv_url`, and Pebble's root and intermediate certificates."""

    def __init__(self, folder: Path):
        found = binaries()
        if found is None:
            raise RuntimeError(MISSING)
        self.pebble_bin, self.dns_bin = found
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.log: list[str] = []

    def start(self) -> "PebbleCA":
        dns_port, manage_port = free_port(), free_port()
        self.challtestsrv_url = f"http://127.0.0.1:{manage_port}"
        self._spawn([self.dns_bin, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                     "-tlsalpn01", "", "-management", f"127.0.0.1:{manage_port}",
                     "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        self._wait(lambda: requests.post(self.challtestsrv_url + "/clear-txt", json={"host": "probe.test."},
                                         timeout=2).status_code == 200, "pebble-challtestsrv")
        cert, key = self_signed(self.folder)
        self.ca_bundle = cert
        port, pebble_manage = free_port(), free_port()
        config = {"pebble": {"listenAddress": f"127.0.0.1:{port}",
                             "managementListenAddress": f"127.0.0.1:{pebble_manage}",
                             "certificate": str(cert), "privateKey": str(key), "httpPort": free_port(),
                             "tlsPort": free_port(), "ocspResponderURL": "",
                             "externalAccountBindingRequired": False,
                             "certificateValidityPeriod": VALIDITY_SECONDS}}
        config_path = self.folder / "pebble-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        self._spawn([self.pebble_bin, "-config", str(config_path), "-dnsserver", f"127.0.0.1:{dns_port}"], env)
        self.directory_url = f"https://127.0.0.1:{port}/dir"
        self.management_url = f"https://127.0.0.1:{pebble_manage}"
        self._wait(lambda: requests.get(self.directory_url, verify=str(cert), timeout=2).status_code == 200,
                   "pebble")
        return self

    def _spawn(self, command: list[str], env: dict | None = None) -> None:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        self.procs.append(proc)
        threading.Thread(target=self._drain, args=(proc.stdout,), daemon=True).start()

    def _drain(self, stream) -> None:
        for line in stream:
            self.log.append(line)
            del self.log[:-300]

    def _wait(self, ready, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not start:\n{''.join(self.log[-40:])}")
            time.sleep(0.05)

    def root_pem(self) -> str:
        return requests.get(self.management_url + "/roots/0", verify=str(self.ca_bundle), timeout=10).text

    def intermediate_pem(self) -> str:
        return requests.get(self.management_url + "/intermediates/0", verify=str(self.ca_bundle), timeout=10).text

    def hub_env(self, domain: str = "schools.test", wildcard: bool = False) -> dict[str, str]:
        """The hub's [acme] settings for this CA."""
        return {"CLASSROOM_HUB_ACME_DIRECTORY_URL": self.directory_url, "CLASSROOM_HUB_ACME_DOMAIN": domain,
                "CLASSROOM_HUB_ACME_EMAIL": "it@ministry.test", "CLASSROOM_HUB_ACME_CA_BUNDLE": str(self.ca_bundle),
                "CLASSROOM_HUB_ACME_DNS_PROVIDER": "challtestsrv",
                "CLASSROOM_HUB_ACME_CHALLTESTSRV_URL": self.challtestsrv_url,
                "CLASSROOM_HUB_ACME_WILDCARD": "yes" if wildcard else "no"}

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs = []

    def __enter__(self) -> "PebbleCA":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def spki_sha256_base64(pem: str) -> str:
    """What Chromium's --ignore-certificate-errors-spki-list takes: base64 of SHA-256 of the SPKI."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")
