"""The school's HTTPS certificate as the admin page shows it (docs/https.md).

The sync agent (sync/agent/certificate.py) keeps the box's key and the certificate the national platform
obtained for it in `<data-dir>/tls/`; nginx serves HTTPS with them. This module only reads: where
the files are, what the certificate says, and what the agent last noted (a SchoolSetting row).
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from classroom_server.models import SchoolSetting, utcnow

TLS_FOLDER = "tls"
KEY_NAME = "privkey.pem"  # the box's private key: made here, never sent anywhere (mode 0600)
CHAIN_NAME = "fullchain.pem"  # the certificate, then the CA's intermediates (mode 0644)
STATE_SETTING = "https.state"  # the agent's last certificate step: {"checked_at", "names", "error", ...}
WARN_WHEN_LEFT = 1 / 4  # warn once a quarter of the lifetime is left: the hub renews at a third


def tls_folder(data_dir: Path) -> Path:
    return Path(data_dir) / TLS_FOLDER


def key_path(data_dir: Path) -> Path:
    return tls_folder(data_dir) / KEY_NAME


def chain_path(data_dir: Path) -> Path:
    return tls_folder(data_dir) / CHAIN_NAME


@dataclass(frozen=True)
class Certificate:
    names: tuple[str, ...]
    not_before: datetime.datetime  # UTC, naive
    not_after: datetime.datetime
    issuer: str
    self_signed: bool = False  # install.sh's stand-in (nginx needs a file before the real one comes)

    @property
    def name(self) -> str:
        """The name to open the school at (the first name that is not a wildcard)."""
        return next((n for n in self.names if not n.startswith("*.")), self.names[0] if self.names else "")

    def expired(self, now: datetime.datetime | None = None) -> bool:
        return (now or utcnow()) >= self.not_after

    def nearing_expiry(self, now: datetime.datetime | None = None) -> bool:
        """Less than a quarter of its lifetime left: the national platform should have renewed it by now
        (it does at a third), so the new one is not reaching the school."""
        now = now or utcnow()
        return now >= self.not_after - (self.not_after - self.not_before) * WARN_WHEN_LEFT

    def days_left(self, now: datetime.datetime | None = None) -> int:
        return max(0, (self.not_after - (now or utcnow())).days)


def read_certificate(path: Path) -> Certificate | None:
    """The first certificate in a PEM file (None: no file or not a certificate)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    # Imported here, on the admin's HTTPS page: OpenSSL's bindings cost every process about 8 MiB.
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID
    try:
        cert = x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        return None
    try:
        names = tuple(cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
                      .value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return Certificate(names, cert.not_valid_before_utc.replace(tzinfo=None),
                       cert.not_valid_after_utc.replace(tzinfo=None), cert.issuer.rfc4514_string(),
                       cert.issuer == cert.subject)


def installed(data_dir: Path) -> Certificate | None:
    return read_certificate(chain_path(data_dir))


def agent_state() -> dict:
    """What the agent noted at its last certificate step ({} before the first)."""
    row = SchoolSetting.get_or_none(SchoolSetting.key == STATE_SETTING)
    try:
        value = json.loads(row.value) if row is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
