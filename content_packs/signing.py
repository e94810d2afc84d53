"""Ed25519 signatures over pack.json (the `cryptography` library does the maths)."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .manifest import InvalidPack

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# `cryptography` is imported by the functions that sign or verify, when first called: loading it
# (OpenSSL's bindings) costs about 8 MiB in every process, and a school's web server, which imports
# this module for SignatureError, verifies a signature only when a pack is installed.


class SignatureError(InvalidPack):
    """pack.sig is missing, malformed, wrong, or made by a key the school does not trust."""


@dataclass(frozen=True)
class Signature:
    public_key: str  # base64 of the 32 raw bytes
    signature: bytes


def generate_key() -> tuple[bytes, str]:
    """A new signing key: (PEM private key to keep secret, base64 public key to give to schools)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, public_key_of(key)


def public_key_of(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        return load_private_key_bytes(Path(path).read_bytes(), path)
    except OSError as exc:
        raise SignatureError("cannot read the signing key %(path)s: %(error)s", path=path,
                             error=str(exc)) from None


def load_private_key_bytes(pem: bytes, path: str | Path = "(in memory)") -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError("cannot read the signing key %(path)s: %(error)s", path=path,
                             error=str(exc)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError("%(path)s is not an Ed25519 key; make one with `classroom-server pack keygen`",
                             path=path)
    return key


def sign(manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The contents of pack.sig for these exact pack.json bytes."""
    body = {"algorithm": "ed25519", "public_key": public_key_of(key),
            "signature": base64.b64encode(key.sign(manifest_bytes)).decode("ascii")}
    return (json.dumps(body, indent=1) + "\n").encode("ascii")


def parse_signature(raw: bytes) -> Signature:
    try:
        body = json.loads(raw.decode("ascii"))
        if body.get("algorithm") != "ed25519":
            raise ValueError("algorithm is not ed25519")
        public = body["public_key"]
        signature = base64.b64decode(body["signature"], validate=True)
        if len(base64.b64decode(public, validate=True)) != 32 or len(signature) != 64:
            raise ValueError("wrong key or signature length")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError) as exc:
        raise SignatureError("pack.sig is malformed (%(error)s); rebuild and re-sign the pack",
                             error=str(exc)) from None
    return Signature(public, signature)


def verify(manifest_bytes: bytes, sig_bytes: bytes | None, trusted_keys: tuple[str, ...]) -> Signature:
    """Check that pack.sig signs pack.json with one of `trusted_keys`; raise SignatureError if not."""
    if sig_bytes is None:
        raise SignatureError("the pack is not signed (no pack.sig)")
    signature = parse_signature(sig_bytes)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature.public_key))
    try:
        public.verify(signature.signature, manifest_bytes)
    except InvalidSignature:
        raise SignatureError("pack.sig does not match pack.json: the pack was changed after signing") from None
    if signature.public_key not in trusted_keys:
        raise SignatureError("the pack is signed by a key this school does not trust (%(key)s); add it to "
                             "[content] trusted_keys if it is yours", key=signature.public_key)
    return signature


# --- the national key: fingerprints and rotation statements ------------------------------------------

class RotationError(ValueError):
    """A key rotation statement that is malformed or whose signatures do not hold."""


ROTATION_PREFIX = b"classroom national key rotation v1\n"  # never the start of a pack.json: no mix-ups
_FINGERPRINT_HEX = frozenset("0123456789abcdef")


def fingerprint(public_key: str) -> str:
    """What a ministry hands out with each school's secret: the SHA-256 of the key's 32 raw bytes, in
    16 groups of 4 hex digits (read over the phone, typed at enrolment)."""
    digest = hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def normalize_fingerprint(text: str) -> str | None:
    """A typed fingerprint as 64 lowercase hex digits (spaces, colons and dashes and a leading
    `SHA256:` ignored), or None when it is not one."""
    value = text.strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    value = "".join(c for c in value if c not in " \t:-")
    return value if len(value) == 64 and set(value) <= _FINGERPRINT_HEX else None


def same_fingerprint(public_key: str, typed: str) -> bool:
    wanted = normalize_fingerprint(typed)
    return wanted is not None and fingerprint(public_key).replace(" ", "") == wanted


def _rotation_bytes(previous: str, key: str, made_at: str, kind: str = "rotation") -> bytes:
    body = {"kind": kind, "previous": previous, "key": key, "made_at": made_at}
    return ROTATION_PREFIX + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


def rotation_statement(previous: Ed25519PrivateKey, key: Ed25519PrivateKey, made_at: str) -> dict:
    """"`key` replaces `previous`", signed by both: the old key hands over (so a school that trusts it
    may trust the new one), the new key vouches for its predecessor (so a school pinned to the new key
    keeps installing packs the old one signed)."""
    old, new = public_key_of(previous), public_key_of(key)
    message = _rotation_bytes(old, new, made_at)
    return {"kind": "rotation", "previous": old, "key": new, "made_at": made_at,
            "previous_signature": base64.b64encode(previous.sign(message)).decode("ascii"),
            "key_signature": base64.b64encode(key.sign(message)).decode("ascii")}


def vouch_statement(key: Ed25519PrivateKey, previous: str, made_at: str) -> dict:
    """"`previous` was a national key before `key`", signed by `key` only: for a key replaced without a
    hand-over (its private key is gone), so that schools pinned to `key` still install the packs it
    signed. It links one way only: a school trusting `previous` gains nothing from it."""
    new = public_key_of(key)
    message = _rotation_bytes(previous, new, made_at, "vouch")
    return {"kind": "vouch", "previous": previous, "key": new, "made_at": made_at,
            "key_signature": base64.b64encode(key.sign(message)).decode("ascii")}


def verify_rotation(statement) -> tuple[str, str, bool]:
    """(previous key, new key, whether it links both ways) of a rotation statement whose two signatures
    hold, or of a vouch statement (one way: the new key vouches for the previous) whose signature holds;
    RotationError if not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        previous, key, made_at = statement["previous"], statement["key"], statement["made_at"]
        kind = statement.get("kind")
        if kind not in ("rotation", "vouch") or not all(isinstance(v, str) for v in (previous, key, made_at)):
            raise ValueError("not a rotation statement")
        message = _rotation_bytes(previous, key, made_at, kind)
        signers = ((previous, "previous_signature"), (key, "key_signature")) if kind == "rotation" \
            else ((key, "key_signature"),)
        for public, name in signers:
            raw = base64.b64decode(public, validate=True)
            if len(raw) != 32:
                raise ValueError("a key is not 32 bytes")
            Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(statement[name], validate=True), message)
    except InvalidSignature:
        raise RotationError("a key rotation statement's signature does not hold") from None
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError) as exc:
        raise RotationError(f"a key rotation statement is malformed ({exc})") from None
    return previous, key, kind == "rotation"


@dataclass(frozen=True)
class TrustChange:
    """What a keys answer does to the national keys a school trusts."""
    trusted: tuple[str, ...]  # after: the keys kept, then those added
    added: tuple[tuple[str, str], ...]  # (key, the trusted key whose rotation statement brought it)
    dropped: tuple[str, ...]  # trusted before, no longer published by the national platform
    unvouched: tuple[str, ...]  # published, but no key the school trusts signed a rotation to it
    bad_statements: tuple[str, ...]  # why each refused rotation statement was refused


def extend_trust(trusted, published, rotations, dropped_before=()) -> TrustChange:
    """The keys to trust after a (authenticated) keys answer: those trusted before that the platform still
    publishes, plus every key a valid rotation statement links to one of them (either way: the old key
    signed the hand-over, the new one vouched for its predecessor), and every older key a trusted key
    vouched for (a vouch statement links that way only). Nothing else: a key no trusted key
    signed for is never trusted, however the answer lists it, and a key dropped before (`dropped_before`:
    the platform stopped publishing it, say after a leak) never comes back this way."""
    published = [k for k in dict.fromkeys(published) if k not in dropped_before]
    before = list(dict.fromkeys(trusted))
    links, bad = [], []
    for statement in rotations:
        try:
            links.append(verify_rotation(statement))
        except RotationError as exc:
            bad.append(str(exc))
    # Every key trusted before anchors the walk (a hand-over signed by a key the platform has just
    # stopped publishing still counts); only published keys are trusted after it.
    have, added = list(before), []
    grew = True
    while grew:
        grew = False
        for previous, key, both_ways in links:
            for known, other in ((previous, key), (key, previous)) if both_ways else ((key, previous),):
                if known in have and other not in have:
                    have.append(other)
                    added.append((other, known))
                    grew = True
    return TrustChange(trusted=tuple(k for k in have if k in published),
                       added=tuple((k, by) for k, by in added if k in published),
                       dropped=tuple(k for k in before if k not in published),
                       unvouched=tuple(k for k in published if k not in have), bad_statements=tuple(bad))
