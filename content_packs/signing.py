"""Ed25519 signatures over pack.json (the `cryptography` library does the maths)."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .manifest import InvalidPack


class SignatureError(InvalidPack):
    """pack.sig is missing, malformed, wrong, or made by a key the school does not trust."""


@dataclass(frozen=True)
class Signature:
    public_key: str  # base64 of the 32 raw bytes
    signature: bytes


def generate_key() -> tuple[bytes, str]:
    """A new signing key: (PEM private key to keep secret, base64 public key to give to schools)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, public_key_of(key)


def public_key_of(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
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
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(signature.public_key))
    try:
        public.verify(signature.signature, manifest_bytes)
    except InvalidSignature:
        raise SignatureError("pack.sig does not match pack.json: the pack was changed after signing") from None
    if signature.public_key not in trusted_keys:
        raise SignatureError("the pack is signed by a key this school does not trust (%(key)s); add it to "
                             "[content] trusted_keys if it is yours", key=signature.public_key)
    return signature
