"""HTTPS certificates for schools, hub side (docs/https.md).

Browsers give the full offline app (service worker, pages kept ahead) only to a secure context,
and a school's LAN address over plain HTTP is not one. So the national platform holds a domain
([acme] domain), names each school `<school id>.<domain>`, and obtains a certificate for that
name from an ACME CA (RFC 8555) by the DNS-01 challenge: the CA checks a TXT record the hub puts in
the ministry's DNS, so the school's box needs no public address and no open port.

The school's box makes its key and sends a certificate signing request (CSR) over sync; the hub
keeps the CSR and hands out the certificates issued for it, never a private key. A pass
(`classroom-hub certificates issue`, from a timer or with `--loop`) orders a certificate for every
school whose CSR has none yet, or whose certificate has a third of its lifetime left: a school
whose link is down for days still finds a fresh one waiting, well before the old one expires.

The ACME protocol is certbot's library (`acme`); the TXT records go through a small DNS provider
interface (`DnsProvider`): a command the ministry supplies (nsupdate for RFC 2136, or its DNS host's
API), or Pebble's challenge test server in tests.
"""
from __future__ import annotations

import datetime
import fcntl
import hashlib
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from sync import __version__

from .content import _write_private
from .db import database
from .models import School, SchoolCertificate, utcnow
from .settings import HubSettings

log = logging.getLogger(__name__)

ACME_FOLDER = "acme"
ACCOUNT_KEY_NAME = "account-key.pem"
LOCK_NAME = "certificates.lock"
RENEW_WHEN_LEFT = 1 / 3  # renew once a third of the lifetime is left (30 days of a 90-day certificate)
ORDER_SECONDS = 300  # how long one order may take, challenges and finalization included
RETRY_FIRST = datetime.timedelta(minutes=10)  # after a failure; doubles each time
RETRY_MAX = datetime.timedelta(hours=12)
MAX_CSR_BYTES = 16 * 1024
COMMAND_SECONDS = 120


class CertificateError(Exception):
    """A certificate operation refused or failed; the message says why and what to do."""


class CsrError(CertificateError):
    """A school's CSR the hub will not pass on to the CA."""


# --- pure rules ------------------------------------------------------------------------------------

def school_names(school_id: str, domain: str, wildcard: bool = False) -> list[str]:
    """The DNS names a school's certificate covers: `<school id>.<domain>` (and `*.` that)."""
    base = f"{school_id.lower()}.{domain}"
    return [base, f"*.{base}"] if wildcard else [base]


def renewal_due(not_before: datetime.datetime, not_after: datetime.datetime, now: datetime.datetime) -> bool:
    """Whether a certificate valid from `not_before` to `not_after` should be renewed at `now`."""
    return now >= not_after - (not_after - not_before) * RENEW_WHEN_LEFT


def renew_at(not_before: datetime.datetime, not_after: datetime.datetime) -> datetime.datetime:
    return not_after - (not_after - not_before) * RENEW_WHEN_LEFT


def retry_delay(failures: int) -> datetime.timedelta:
    return min(RETRY_MAX, RETRY_FIRST * (2 ** max(0, failures - 1)))


def key_sha256(public_key) -> str:
    """SHA-256 of a public key's DER SubjectPublicKeyInfo (what the school and hub compare)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def dns_names(cert_or_csr) -> list[str]:
    try:
        extension = cert_or_csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in extension.value.get_values_for_type(x509.DNSName)]


def check_csr(pem: str, names: list[str]) -> x509.CertificateSigningRequest:
    """The school's CSR, if it asks for exactly `names` with a sound key and a valid signature."""
    if len(pem.encode("utf-8", "replace")) > MAX_CSR_BYTES:
        raise CsrError(f"the CSR is over {MAX_CSR_BYTES} bytes")
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CsrError("not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)") from None
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not match its key")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise CsrError(f"the CSR's key is on curve {key.curve.name}; CAs take P-256 or P-384")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise CsrError(f"the CSR's RSA key has {key.key_size} bits; at least 2048 are needed")
    else:
        raise CsrError("the CSR's key must be ECDSA (P-256 or P-384) or RSA")
    try:
        extension = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        raise CsrError(f"the CSR names no DNS names; it must ask for exactly {', '.join(names)}") from None
    except ValueError as exc:
        raise CsrError(f"the CSR's extensions cannot be read: {exc}") from None
    if extension.value.get_values_for_type(x509.IPAddress):
        raise CsrError("the CSR asks for an IP address; it must ask for DNS names only")
    asked = dns_names(csr)
    if sorted(set(asked)) != sorted(names) or len(asked) != len(names):
        raise CsrError(f"the CSR asks for {', '.join(asked) or 'nothing'}; this school's certificate is for "
                       f"exactly {', '.join(names)}")
    return csr


def parse_chain(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode("ascii"))


def _naive(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


# --- DNS providers -------------------------------------------------------------------------------------

class DnsProvider(Protocol):
    """Puts and removes the `_acme-challenge` TXT records the CA checks. `name` is a full DNS name
    without the final dot; several values may stand at one name at once (a name and its wildcard)."""

    def set_txt(self, name: str, value: str) -> None: ...

    def clear_txt(self, name: str, value: str) -> None: ...


class CommandProvider:
    """`COMMAND set NAME VALUE` and `COMMAND clear NAME VALUE`: a program the ministry supplies (for
    example nsupdate against its primary server, RFC 2136, or its DNS host's API). Exit status 0 is
    success; anything else, with what it printed, is the failure."""

    def __init__(self, command: str):
        if not command:
            raise CertificateError("[acme] dns_provider is command but [acme] dns_command is empty: name the "
                                   "program that sets TXT records (docs/https.md has an nsupdate example)")
        self.command = command

    def _run(self, action: str, name: str, value: str) -> None:
        try:
            done = subprocess.run([self.command, action, name, value], capture_output=True, text=True,
                                  timeout=COMMAND_SECONDS, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CertificateError(f"[acme] dns_command {self.command} {action} {name}: {exc}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-500:]
            raise CertificateError(f"[acme] dns_command {self.command} {action} {name} failed "
                                   f"({done.returncode}): {said}")

    def set_txt(self, name: str, value: str) -> None:
        self._run("set", name, value)

    def clear_txt(self, name: str, value: str) -> None:
        self._run("clear", name, value)


class ChallTestSrvProvider:
    """Pebble's challenge test server (pebble-challtestsrv), through its management API: for tests."""

    def __init__(self, url: str):
        if not url:
            raise CertificateError("[acme] dns_provider is challtestsrv but [acme] challtestsrv_url is empty")
        self.url = url.rstrip("/")

    def _post(self, path: str, body: dict) -> None:
        try:
            response = requests.post(self.url + path, json=body, timeout=30)
        except requests.RequestException as exc:
            raise CertificateError(f"cannot reach the challenge test server at {self.url}: {exc}") from None
        if response.status_code != 200:
            raise CertificateError(f"the challenge test server answered {path} with HTTP {response.status_code}")

    def set_txt(self, name: str, value: str) -> None:
        self._post("/set-txt", {"host": name + ".", "value": value})

    def clear_txt(self, name: str, value: str) -> None:
        self._post("/clear-txt", {"host": name + "."})


def dns_provider(settings: HubSettings) -> DnsProvider:
    if settings.acme_dns_provider == "challtestsrv":
        return ChallTestSrvProvider(settings.acme_challtestsrv_url)
    return CommandProvider(settings.acme_dns_command)


# --- the school's side of the API ----------------------------------------------------------------------

def offered(settings: HubSettings) -> bool:
    return bool(settings.acme_directory_url and settings.acme_domain)


def names_for(settings: HubSettings, school: School) -> list[str]:
    return school_names(school.id, settings.acme_domain, settings.acme_wildcard)


def state_for(settings: HubSettings, school: School, have: str | None = None) -> dict:
    """What GET /api/v1/certificate answers: the school's names, the key the hub holds a CSR for, and
    the newest certificate (PEM chain) with its dates and the last error. `have` is the SHA-256 of the
    chain the school holds: when it is the newest, the chain is left out (`"unchanged": true`), so a
    school syncing every few minutes over a metered link does not fetch the same kilobytes each time."""
    row = SchoolCertificate.get_or_none(SchoolCertificate.school == school.id)
    answer = {"names": names_for(settings, school), "key_sha256": None, "csr_names": None, "certificate": None,
              "not_before": None, "not_after": None, "renew_at": None, "error": None}
    if row is None:
        return answer
    answer["key_sha256"], answer["csr_names"] = row.key_sha256, row.names
    answer["error"] = row.error
    if row.certificate:
        answer.update(certificate=row.certificate, not_before=_iso(row.not_before), not_after=_iso(row.not_after),
                      renew_at=_iso(renew_at(row.not_before, row.not_after)))
        if have and have == hashlib.sha256(row.certificate.encode("ascii")).hexdigest():
            answer.update(certificate=None, unchanged=True)
    return answer


def store_csr(settings: HubSettings, school: School, pem: str) -> SchoolCertificate:
    """Keep the school's CSR (checked) for the next issuing pass; the certificate issued for an older
    key stays until one for the new key replaces it."""
    names = names_for(settings, school)
    csr = check_csr(pem, names)
    digest = key_sha256(csr.public_key())
    now = utcnow()
    with database.atomic():
        row = SchoolCertificate.get_or_none(SchoolCertificate.school == school.id)
        if row is None:
            row = SchoolCertificate.create(school=school.id, names=names, csr=pem, key_sha256=digest, csr_at=now)
        else:
            changed = row.key_sha256 != digest or sorted(row.names) != sorted(names)
            row.names, row.csr, row.key_sha256, row.csr_at = names, pem, digest, now
            if changed:  # a new key or new names: order at the next pass, whatever an old failure said
                row.failures, row.error, row.next_try_at = 0, None, None
            row.save()
    return row


# --- issuing ---------------------------------------------------------------------------------------------

@dataclass
class PassResult:
    issued: list[str] = field(default_factory=list)  # school ids
    failed: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # failed before; retried later
    current: int = 0  # schools whose certificate needs nothing


def wanted(row: SchoolCertificate, now: datetime.datetime) -> bool:
    """Whether the school needs a new certificate: none yet for its key and names, or renewal is due."""
    if not row.certificate or row.cert_key_sha256 != row.key_sha256:
        return True
    chain = parse_chain(row.certificate)
    if sorted(dns_names(chain[0])) != sorted(row.names):
        return True
    return renewal_due(row.not_before, row.not_after, now)


def _account_key(settings: HubSettings):
    """The hub's ACME account key (P-256, <data-dir>/acme/account-key.pem, mode 0600), made on first use."""
    from josepy import JWKEC
    path = Path(settings.data_dir) / ACME_FOLDER / ACCOUNT_KEY_NAME
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return JWKEC(key=key)


class AcmeClient:
    """An ACME account with the CA at [acme] directory_url, and ordering one certificate."""

    def __init__(self, settings: HubSettings, provider: DnsProvider | None = None):
        from acme import client, errors, messages
        from josepy import ES256
        self.settings = settings
        self.provider = provider or dns_provider(settings)
        self.key = _account_key(settings)
        verify: bool | str = settings.acme_ca_bundle or True
        self.net = client.ClientNetwork(self.key, alg=ES256, verify_ssl=verify,
                                        user_agent=f"classroom-hub/{__version__}")
        try:
            directory = client.ClientV2.get_directory(settings.acme_directory_url, self.net)
        except (requests.RequestException, errors.Error) as exc:
            raise CertificateError(f"cannot read the ACME directory {settings.acme_directory_url}: {exc}") from None
        self.client = client.ClientV2(directory, self.net)
        registration = messages.NewRegistration.from_data(email=settings.acme_email or None,
                                                          terms_of_service_agreed=True)
        try:
            self.client.new_account(registration)
        except errors.ConflictError as exc:  # the account exists: use it
            self.net.account = self.client.query_registration(messages.RegistrationResource(uri=exc.location,
                                                                                            body=messages.Registration()))
        except (requests.RequestException, errors.Error) as exc:
            raise CertificateError(f"the ACME server refused the hub's account: {exc}") from None

    def order(self, csr_pem: str) -> str:
        """A certificate for this CSR by DNS-01: the full chain as PEM."""
        from acme import challenges, errors, messages
        placed: list[tuple[str, str]] = []
        try:
            try:
                order = self.client.new_order(csr_pem.encode("ascii"))
                answers = []
                for authorization in order.authorizations:
                    if authorization.body.status == messages.STATUS_VALID:
                        continue  # the CA still holds a recent validation for this name
                    challenge = next((c for c in authorization.body.challenges
                                      if isinstance(c.chall, challenges.DNS01)), None)
                    if challenge is None:
                        raise CertificateError(f"the CA offers no dns-01 challenge for "
                                               f"{authorization.body.identifier.value}")
                    record = challenge.chall.validation_domain_name(authorization.body.identifier.value)
                    value = challenge.chall.validation(self.key)
                    self.provider.set_txt(record, value)
                    placed.append((record, value))
                    answers.append(challenge)
                if answers and self.settings.acme_propagation_seconds:
                    time.sleep(self.settings.acme_propagation_seconds)
                for challenge in answers:
                    self.client.answer_challenge(challenge, challenge.chall.response(self.key))
                deadline = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_SECONDS)
                done = self.client.poll_and_finalize(order, deadline)
            except errors.ValidationError as exc:
                problems = "; ".join(f"{a.body.identifier.value}: {c.error.detail if c.error else c.status}"
                                     for a in exc.failed_authzrs for c in a.body.challenges if c.error)
                raise CertificateError(f"the CA could not validate the TXT records ({problems}): check that "
                                       f"[acme] dns_command really publishes them, and [acme] "
                                       f"propagation_seconds") from None
            except (requests.RequestException, errors.Error) as exc:
                raise CertificateError(f"the ACME order failed: {exc}") from None
            return done.fullchain_pem
        finally:
            for record, value in placed:
                try:
                    self.provider.clear_txt(record, value)
                except CertificateError as exc:
                    log.warning("could not remove the TXT record %s: %s", record, exc)


def issue_one(client: AcmeClient, row: SchoolCertificate, now: datetime.datetime | None = None) -> SchoolCertificate:
    """Order a certificate for the school's CSR and keep it; CertificateError (also recorded) on failure."""
    now = now or utcnow()
    key = row.key_sha256
    try:
        pem = client.order(row.csr)
        chain = parse_chain(pem)
        leaf = chain[0]
        if key_sha256(leaf.public_key()) != key:
            raise CertificateError("the CA's certificate is not for the key in the school's CSR")
    except CertificateError as exc:
        failures = row.failures + 1
        SchoolCertificate.update(attempt_at=now, failures=failures, error=str(exc),
                                 next_try_at=now + retry_delay(failures)) \
            .where(SchoolCertificate.school == row.school).execute()
        raise
    with database.atomic():
        current = SchoolCertificate.get(SchoolCertificate.school == row.school)
        if current.key_sha256 != key:  # the school sent a new CSR meanwhile: this one is already stale
            raise CertificateError("the school sent a new CSR while this one was being issued; the next pass "
                                   "orders for it")
        SchoolCertificate.update(certificate=pem, cert_key_sha256=key, not_before=_naive(leaf.not_valid_before_utc),
                                 not_after=_naive(leaf.not_valid_after_utc), issued_at=now, attempt_at=now,
                                 failures=0, error=None, next_try_at=None) \
            .where(SchoolCertificate.school == row.school).execute()
    return SchoolCertificate.get(SchoolCertificate.school == row.school)


def issue_pass(settings: HubSettings, now: datetime.datetime | None = None, provider: DnsProvider | None = None,
               say=None) -> PassResult:
    """Order what is due: a first certificate for each new CSR, a renewal at a third of the lifetime
    left. `now` is the moment to judge renewals by (the present by default). One pass at a time."""
    if not offered(settings):
        raise CertificateError("this hub offers no certificates: set [acme] directory_url and [acme] domain "
                               "(docs/https.md)")
    say = say or (lambda line: None)
    now = now or utcnow()
    result = PassResult()
    lock_path = Path(settings.data_dir) / ACME_FOLDER / LOCK_NAME
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CertificateError("another `classroom-hub certificates issue` is running") from None
        active = {s.id for s in School.select(School.id).where(School.revoked_at.is_null())}
        due = []
        for row in SchoolCertificate.select().order_by(SchoolCertificate.school):
            if row.school not in active:
                continue
            if not wanted(row, now):
                result.current += 1
            elif row.next_try_at is not None and row.next_try_at > now:
                result.waiting.append(row.school)
            else:
                due.append(row)
        if not due:
            return result
        client = AcmeClient(settings, provider)
        for row in due:
            try:
                issued = issue_one(client, row, now)
            except CertificateError as exc:
                log.warning("school %s: no certificate: %s", row.school, exc)
                result.failed[row.school] = str(exc)
                say(f"{row.school}: failed: {exc}")
                continue
            result.issued.append(row.school)
            say(f"{row.school}: issued for {', '.join(issued.names)}, valid until {_iso(issued.not_after)}")
    return result


def listing() -> list[dict]:
    rows = []
    for row in SchoolCertificate.select().order_by(SchoolCertificate.school):
        rows.append({"school_id": row.school, "names": row.names, "not_after": _iso(row.not_after),
                     "renew_at": _iso(renew_at(row.not_before, row.not_after)) if row.not_after else None,
                     "current_key": bool(row.certificate) and row.cert_key_sha256 == row.key_sha256,
                     "csr_at": _iso(row.csr_at), "error": row.error, "next_try_at": _iso(row.next_try_at)})
    return rows
