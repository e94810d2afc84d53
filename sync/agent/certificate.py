"""The agent's certificate step: the school's HTTPS certificate from the national platform (docs/https.md).

Runs in every sync after the roster (`Agent.sync`), and never fails the sync: being offline or a hub
without certificates is a normal state, noted for the admin page.

1. `GET /api/v1/certificate` (signed): the names the national platform gave this school
   (`<school id>.<domain>`), the key it holds a signing request for, and the newest certificate.
   A hub that answers 404 offers no certificates: nothing more happens.
2. The box's key is made here, once, and never leaves it (`<data-dir>/tls/privkey.pem`, mode 0600).
   When the hub holds no request for this key, or for other names, the agent sends a CSR
   (`POST /api/v1/certificate`); the hub's next issuing pass orders the certificate.
3. A certificate is installed only if it is for this box's key and exactly the names the hub gave,
   each certificate of the chain is signed by the next up to a root phones trust (certifi's Mozilla
   roots, and `<data-dir>/tls/extra-roots.pem` when a ministry's own CA or a test CA is used), it is
   valid now, and it is newer than the one installed: a wrong answer (from a hub or anyone on the way)
   can at worst be refused, never served.
   It goes to `<data-dir>/tls/fullchain.pem` (mode 0644) by an atomic rename; nginx is reloaded by the
   classroom-server-tls.path unit install.sh sets up (or `nginx -s reload`).
4. With dnsmasq set up (install.sh --with-dnsmasq), the names of the installed certificate (a CA
   phones trust checked them with the domain's owner) are written with this box's LAN addresses to `<data-dir>/dns/classroom-server.hosts`, which dnsmasq reads as they change, so
   phones on the LAN find the box by its certificate's name.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.admin import https
from classroom_server.admin.sync import state_row
from classroom_server.content.services import write_atomically
from classroom_server.db import database
from classroom_server.models import SchoolSetting, utcnow
from classroom_server.settings import SettingsError, load_settings

from .client import HubClient, SyncFailure, read_secret
from .school import open_school
from .status import certificate_lines

log = logging.getLogger(__name__)

CERTIFICATE_PATH = "/api/v1/certificate"
DNS_FOLDER = "dns"
EXTRA_ROOTS_NAME = "extra-roots.pem"  # in <data-dir>/tls: roots to trust besides certifi's
HOSTS_NAME = "classroom-server.hosts"


class CertificateProblem(Exception):
    """The hub's certificate answer cannot be used; the message says why."""


class WrongKey(CertificateProblem):
    """The certificate is for another key (the hub still holds the one issued before this box's key)."""


@dataclass
class CertificateOutcome:
    offered: bool = False
    sent_csr: bool = False
    installed: bool = False
    names: tuple[str, ...] = ()
    not_after: datetime.datetime | None = None  # of the certificate installed now (after the step)
    error: str | None = None


# --- the key and the request -----------------------------------------------------------------------------

def key_sha256(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _write(path: Path, data: bytes, mode: int) -> None:
    write_atomically(path, lambda out: out.write(data), mode=mode)


def box_key(data_dir: Path):
    """The box's private key (ECDSA P-256), made on first use; only this user can read it."""
    path = https.key_path(data_dir)
    if not path.exists():
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        _write(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
        log.info("made this box's HTTPS key %s", path)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def make_csr(key, names: list[str]) -> str:
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False))
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- checking what the hub hands over ----------------------------------------------------------------------

def trusted_roots(data_dir: Path | None = None) -> list[x509.Certificate]:
    """The roots a certificate must lead to: certifi's (Mozilla's, what phones trust) and the data
    folder's tls/extra-roots.pem if there is one."""
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning
    from requests.certs import where  # certifi's bundle, which requests uses too
    with warnings.catch_warnings():  # an old root in the bundle has a serial number RFC 5280 disallows
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        roots = x509.load_pem_x509_certificates(Path(where()).read_bytes())
    if data_dir is not None:
        extra = https.tls_folder(data_dir) / EXTRA_ROOTS_NAME
        if extra.exists():
            roots += x509.load_pem_x509_certificates(extra.read_bytes())
    return roots


def check_chain(pem: str, key, names: list[str], now: datetime.datetime | None = None,
                roots: list[x509.Certificate] | None = None) -> list[x509.Certificate]:
    """The certificates of `pem` if the first is for `key` and exactly `names`, valid at `now`, each
    signed by the next, and (with `roots`) the chain leads to one of them; CertificateProblem otherwise."""
    try:
        chain = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateProblem("the hub's certificate is not PEM") from None
    leaf = chain[0]
    if key_sha256(leaf.public_key()) != key_sha256(key.public_key()):
        raise WrongKey("the certificate is not for this box's key")
    try:
        got = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        raise CertificateProblem("the certificate names no DNS names") from None
    if sorted(n.lower() for n in got.get_values_for_type(x509.DNSName)) != sorted(names):
        raise CertificateProblem(f"the certificate is for {', '.join(got.get_values_for_type(x509.DNSName))}, "
                                 f"not {', '.join(names)}")
    now = now or utcnow()
    if not leaf.not_valid_before_utc.replace(tzinfo=None) <= now < leaf.not_valid_after_utc.replace(tzinfo=None):
        raise CertificateProblem(f"the certificate is not valid now (from {leaf.not_valid_before_utc:%Y-%m-%d} "
                                 f"to {leaf.not_valid_after_utc:%Y-%m-%d}); check this computer's clock")
    if len(chain) < 2:
        raise CertificateProblem("the hub sent the certificate without its CA's chain; phones need it")
    for child, parent in zip(chain, chain[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateProblem(f"{child.subject.rfc4514_string()} is not signed by the next certificate "
                                     f"of the chain ({parent.subject.rfc4514_string()})") from None
    if roots is not None:
        from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
        verifier = (PolicyBuilder().store(Store(roots)).time(now.replace(tzinfo=datetime.timezone.utc))
                    .build_server_verifier(x509.DNSName(names[0].removeprefix("*."))))
        try:
            verifier.verify(leaf, chain[1:])
        except VerificationError as exc:
            raise CertificateProblem(f"the certificate does not lead to a root phones trust ({exc}); a ministry "
                                     f"CA of its own goes in tls/{EXTRA_ROOTS_NAME}") from None
    return chain


# --- the step --------------------------------------------------------------------------------------------

def sync_certificate(client: HubClient, say: Callable[[str], None] | None = None) -> CertificateOutcome:
    """Ask the hub for this school's certificate, send a CSR when it needs one, install a newer
    certificate. Never raises for the link or the hub: the outcome and the admin page say what happened."""
    say = say or (lambda line: None)
    outcome = CertificateOutcome()
    settings = client.settings
    row = state_row()
    if not (row.hub_url and row.school_id):
        return outcome
    hub = row.hub_url
    try:
        signed = (row.school_id, read_secret(settings))
        status, data, what = client.request("GET", hub, CERTIFICATE_PATH + _have(settings.data_dir), signed=signed)
        if status == 404:  # a hub without [acme], or older than certificates
            say("the national platform offers no HTTPS certificate")
            _note(outcome)
            return outcome
        client.check_signed(status, data, what, hub)
        names = (data or {}).get("names")
        if status != 200 or not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise CertificateProblem(f"{hub}{CERTIFICATE_PATH} answered {what} without the school's names")
        names = [n.lower() for n in names]
        outcome.offered, outcome.names = True, tuple(names)
        key = box_key(settings.data_dir)
        ours = key_sha256(key.public_key())
        held = (data or {}).get("key_sha256")
        pem = (data or {}).get("certificate")
        asked = (data or {}).get("csr_names")
        if held != ours or not isinstance(asked, list) or sorted(asked) != sorted(names):
            body = json.dumps({"csr": make_csr(key, names)}).encode("utf-8")
            status, answer, what = client.request("POST", hub, CERTIFICATE_PATH, body,
                                                  {"Content-Type": "application/json"}, signed=signed)
            client.check_signed(status, answer, what, hub)
            if status != 202:
                detail = (answer or {}).get("message") or what
                raise CertificateProblem(f"the hub refused this box's certificate request: {detail}")
            outcome.sent_csr = True
            say(f"sent a certificate request for {', '.join(names)}; the national platform orders it")
        if isinstance(pem, str) and pem:
            _maybe_install(settings.data_dir, pem, key, names, outcome, say)
        if (data or {}).get("error"):
            outcome.error = f"the national platform could not obtain the certificate: {data['error']}"
        installed = https.installed(settings.data_dir)
        if installed is not None and not installed.self_signed:  # names a trusted CA checked
            write_hosts(settings.data_dir, list(installed.names))
    except SyncFailure as exc:
        outcome.error = f"{exc.code}: {exc}"
    except (CertificateProblem, OSError, ValueError) as exc:
        outcome.error = str(exc)
    if outcome.error:
        say(f"certificate: {outcome.error}")
    current = https.installed(settings.data_dir)
    outcome.not_after = current.not_after if current else None
    _note(outcome)
    return outcome


def _have(data_dir: Path) -> str:
    """`?have=<SHA-256 of the installed chain>`: the hub leaves out a chain the box holds already."""
    try:
        return f"?have={hashlib.sha256(https.chain_path(data_dir).read_bytes()).hexdigest()}"
    except OSError:
        return ""


def _maybe_install(data_dir: Path, pem: str, key, names: list[str], outcome: CertificateOutcome,
                   say: Callable[[str], None]) -> None:
    try:
        chain = check_chain(pem, key, names, roots=trusted_roots(data_dir))
    except WrongKey:
        say("the hub holds a certificate for an older key; waiting for one for this box's key")
        return
    leaf = chain[0]
    current = https.installed(data_dir)
    new_after = leaf.not_valid_after_utc.replace(tzinfo=None)
    path = https.chain_path(data_dir)
    if current is not None and current.not_after >= new_after and sorted(current.names) == sorted(names) \
            and _same_key(path, key):
        return  # what is installed is as new
    _write(path, pem.encode("ascii"), 0o644)
    outcome.installed = True
    log.info("installed the HTTPS certificate for %s, valid until %s", ", ".join(names), new_after)
    say(f"installed the HTTPS certificate for {', '.join(names)}, valid until {new_after:%Y-%m-%d %H:%M} UTC")


def _same_key(path: Path, key) -> bool:
    try:
        leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return False
    return key_sha256(leaf.public_key()) == key_sha256(key.public_key())


def _note(outcome: CertificateOutcome) -> None:
    value = json.dumps({"checked_at": utcnow().isoformat(timespec="seconds"), "offered": outcome.offered,
                        "names": list(outcome.names), "sent_csr": outcome.sent_csr, "error": outcome.error})
    try:
        with database.atomic():
            SchoolSetting.insert(key=https.STATE_SETTING, value=value).on_conflict(
                conflict_target=[SchoolSetting.key], update={SchoolSetting.value: value}).execute()
    except PeeweeDatabaseError as exc:
        log.error("cannot record the certificate step: %s", exc)


# --- the LAN name (dnsmasq) ---------------------------------------------------------------------------------

def lan_addresses() -> list[str]:
    """This box's global IPv4 and IPv6 addresses (`ip -json address`); [] where `ip` is missing."""
    binary = shutil.which("ip") or ("/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else None)
    if binary is None:
        return []
    try:
        done = subprocess.run([binary, "-json", "address", "show", "scope", "global"], capture_output=True,
                              text=True, timeout=10)
        interfaces = json.loads(done.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    found = []
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            try:
                address = ipaddress.ip_address(info.get("local", ""))
            except ValueError:
                continue
            if not (address.is_loopback or address.is_link_local):
                found.append(str(address))
    return found


def write_hosts(data_dir: Path, names: list[str], addresses: list[str] | None = None) -> bool:
    """Write the names with this box's addresses for dnsmasq (only where install.sh made the dns folder);
    True if the file changed."""
    folder = Path(data_dir) / DNS_FOLDER
    if not folder.is_dir():
        return False
    addresses = lan_addresses() if addresses is None else addresses
    plain = [n for n in names if not n.startswith("*.")]
    text = "# Written by classroom-sync: the school's HTTPS name on this box (docs/https.md).\n" + "".join(
        f"{address} {' '.join(plain)}\n" for address in addresses)
    path = folder / HOSTS_NAME
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    _write(path, text.encode("utf-8"), 0o644)
    return True


# --- the command line (classroom-sync https ...) -----------------------------------------------------------

@click.group("https")
def https_command() -> None:
    """The school's HTTPS certificate (docs/https.md)."""


@https_command.command("placeholder")
@click.pass_obj
def placeholder(obj) -> None:
    """Make this box's key and, if no certificate is installed yet, a self-signed stand-in, so nginx can
    start with HTTPS before the national platform's certificate arrives (install.sh --with-https runs it)."""
    try:
        settings = load_settings(obj.data_dir)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    key = box_key(settings.data_dir)
    path = https.chain_path(settings.data_dir)
    if path.exists():
        click.echo(f"{path} exists; nothing to do")
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "classroom-server stand-in")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    _write(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    click.echo(f"wrote a self-signed stand-in {path}; the school's certificate replaces it at the first sync "
               f"after the national platform issued it")


@https_command.command("show")
@click.pass_obj
def show(obj) -> None:
    """The certificate installed: names, validity, and the agent's last certificate step."""
    settings = open_school(obj.data_dir)
    lines = certificate_lines(settings)
    click.echo("\n".join(lines) if lines else "no certificate from the national platform: it offers none yet (or the "
                                               "agent has not synced since it does)")
