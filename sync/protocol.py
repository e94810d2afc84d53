"""Sync protocol v1: the parts the school's agent and the national hub share.

Pure and standard library only (no flask, peewee, requests): request signing, record batches,
the acknowledged cursor, batch sizing and retry backoff. sync/PROTOCOL.md is the prose version.

A request is signed with HMAC-SHA256 under the school's secret over

    METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n sha256-hex(body as sent)

and carries the school id, timestamp, nonce and signature in `X-Classroom-*` headers. Records
travel as one gzip-compressed JSON object per batch, ordered by the school's sequence number.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

PROTOCOL_VERSION = 1
#: compressed request body limit; the hub answers 413 above it
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_RECORDS_PER_BATCH = 5000
#: a batch that inflates beyond this is refused as a compression bomb
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
#: how far a request's timestamp may be from the hub's clock, either way
CLOCK_SKEW_SECONDS = 300
#: how long the hub remembers a nonce: any request older than this is stale anyway
NONCE_TTL_SECONDS = CLOCK_SKEW_SECONDS * 2

HEADER_SCHOOL = "X-Classroom-School"
HEADER_TIMESTAMP = "X-Classroom-Timestamp"
HEADER_NONCE = "X-Classroom-Nonce"
HEADER_SIGNATURE = "X-Classroom-Signature"
SIGNED_HEADERS = (HEADER_SCHOOL, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
#: the hub's HMAC over its answer to a signed request (sign_answer)
HEADER_ANSWER_SIGNATURE = "X-Classroom-Answer-Signature"
#: the agent's User-Agent is `classroom-sync/<version>`
USER_AGENT_PREFIX = "classroom-sync/"

#: the `error` codes of a 401 answer
AUTH_ERRORS = ("unsigned", "bad_signature", "stale_timestamp", "replayed", "unknown_school", "revoked")

_NONCE_RE = re.compile(r"[0-9a-f]{32}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP_RE = re.compile(r"-?[0-9]{1,12}")
_MAX_FIELD = 200  # school id and agent version lengths
# Escapes that decode to text no database can store; raw UTF-8 cannot carry them (it is decoded strictly).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ProtocolError(ValueError):
    """A request or batch that does not follow the protocol."""


class RequestSignatureError(ProtocolError):
    """A request whose signature cannot be accepted; `reason` is one of AUTH_ERRORS."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class BatchError(ProtocolError):
    """A batch body that is not a valid, bounded, gzip-compressed batch."""


def new_secret() -> str:
    """A school secret: 32 random bytes, base64url without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def path_with_query(path: str, query: str | bytes = "") -> str:
    """The signed form of a request target: the path, plus `?query` when there is one."""
    if isinstance(query, bytes):
        query = query.decode("latin-1")
    return f"{path}?{query}" if query else path


def _signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(school_id: str, secret: str, method: str, path: str, body: bytes,
                 now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four `X-Classroom-*` headers that sign this request (`path` includes any query)."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    return {
        HEADER_SCHOOL: school_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: _signature(secret, method, path, timestamp, nonce, body),
    }


def sign_answer(secret: str, method: str, path: str, nonce: str, status: int, body: bytes) -> str:
    """The hub's answer signature: HMAC-SHA256 under the school's secret over

        ANSWER \\n METHOD \\n PATH[?QUERY] \\n the request's NONCE \\n STATUS \\n sha256-hex(body)

    The request's nonce ties the answer to the one request it answers: an answer recorded earlier
    cannot be played back to a later request, nor an answer moved to another path."""
    message = "\n".join(["ANSWER", method.upper(), path, nonce, str(int(status)), hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def answer_is_authentic(secret: str, method: str, path: str, nonce: str, status: int, body: bytes,
                        given: str | None) -> bool:
    """Whether `given` (the X-Classroom-Answer-Signature header) signs this answer to this request."""
    if not given:
        return False
    return hmac.compare_digest(sign_answer(secret, method, path, nonce, status, body), given.strip().lower())


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value from any mapping, its name matched without regard to case as HTTP does."""
    value = headers.get(name)
    if value is None:  # a plain dict: look the name up without regard to case, as HTTP does
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def signing_school(headers: Mapping[str, str]) -> str:
    """The school id a request claims to be signed by; RequestSignatureError('unsigned') if it has none."""
    missing = [name for name in SIGNED_HEADERS if not header(headers, name)]
    if missing:
        raise RequestSignatureError("unsigned", "the request is not signed: missing " + ", ".join(missing))
    return header(headers, HEADER_SCHOOL)


def verify_signature(secret: str, method: str, path: str, body: bytes, headers: Mapping[str, str],
                     now: float | None = None) -> None:
    """Check a request's signature and timestamp; raise RequestSignatureError(reason) when they fail.

    Replays (a nonce seen before) are the caller's to refuse: it keeps nonces for NONCE_TTL_SECONDS.
    """
    signing_school(headers)
    timestamp = header(headers, HEADER_TIMESTAMP).strip()
    nonce = header(headers, HEADER_NONCE).strip()
    given = header(headers, HEADER_SIGNATURE).strip().lower()
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        raise RequestSignatureError("bad_signature", f"{HEADER_TIMESTAMP} must be whole Unix seconds")
    if not _NONCE_RE.fullmatch(nonce):
        raise RequestSignatureError("bad_signature", f"{HEADER_NONCE} must be 32 lowercase hex characters")
    expected = _signature(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, given):
        raise RequestSignatureError("bad_signature", "the signature does not match: check the school's secret "
                                              "and that the exact body bytes sent were signed")
    now = time.time() if now is None else now
    skew = int(timestamp) - now
    if abs(skew) > CLOCK_SKEW_SECONDS:
        raise RequestSignatureError("stale_timestamp", f"the request's clock is {abs(skew):.0f} s "
                                                f"{'ahead of' if skew > 0 else 'behind'} the hub's; "
                                                f"at most {CLOCK_SKEW_SECONDS} s is accepted: set the "
                                                f"school's clock (NTP) or compare with GET /api/v1/ping")


def agent_version_from_user_agent(user_agent: str | None) -> str | None:
    """`1.2.0` from `classroom-sync/1.2.0 (...)`; None for any other client."""
    if not user_agent or not user_agent.startswith(USER_AGENT_PREFIX):
        return None
    version = user_agent[len(USER_AGENT_PREFIX):].split(" ", 1)[0].strip()
    return version[:_MAX_FIELD] or None


@dataclass(frozen=True)
class DecodedBatch:
    """A decoded batch; each record is {"seq": int, "uuid": str, "statement": dict}, seq ascending."""
    school_id: str
    agent_version: str
    records: list[dict[str, Any]] = field(default_factory=list)


def encode_batch(school_id: str, agent_version: str, records: list[dict]) -> bytes:
    """The request body for POST /api/v1/records: gzip-compressed JSON."""
    document = {"protocol": PROTOCOL_VERSION, "school_id": school_id, "agent_version": agent_version,
                "records": [{"seq": r["seq"], "uuid": r["uuid"], "statement": r["statement"]}
                            for r in records]}
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip_compress(raw)


def gzip_compress(data: bytes, level: int = 6) -> bytes:
    """gzip with a zero timestamp, so the same batch always has the same bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def _inflate(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip container only
    try:
        raw = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BatchError(f"the body is not gzip data ({exc}): send the batch gzip-compressed") from None
    if len(raw) > limit or inflater.unconsumed_tail:
        raise BatchError(f"the batch inflates beyond {limit} bytes: send fewer records per batch")
    if not inflater.eof:
        raise BatchError("the gzip data is truncated: send the whole batch")
    if inflater.unused_data:
        raise BatchError("there are bytes after the gzip data: send exactly one gzip member")
    return raw


def decode_batch(body: bytes, max_records: int = MAX_RECORDS_PER_BATCH,
                 max_inflated: int = MAX_DECOMPRESSED_BYTES) -> DecodedBatch:
    """Decompress, parse and check a batch; raise BatchError saying what is wrong."""
    raw = _inflate(body, max_inflated)
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BatchError(f"the batch is not UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BatchError("the batch must be a JSON object with school_id, agent_version and records")
    version = document.get("protocol", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise BatchError(f"protocol version {version!r} is not supported; this hub speaks "
                         f"{PROTOCOL_VERSION}: upgrade the hub or the agent")
    school_id, agent_version = document.get("school_id"), document.get("agent_version")
    if not isinstance(school_id, str) or not school_id or len(school_id) > _MAX_FIELD:
        raise BatchError("school_id must be the enrolled school's id (a non-empty string)")
    if not isinstance(agent_version, str) or len(agent_version) > _MAX_FIELD:
        raise BatchError(f"agent_version must be a string of at most {_MAX_FIELD} characters")
    records = document.get("records")
    if not isinstance(records, list):
        raise BatchError("records must be a list")
    if len(records) > max_records:
        raise BatchError(f"{len(records)} records in one batch; at most {max_records} are accepted")
    checked, previous, uuids = [], 0, set()
    suspect = _SUSPECT_ESCAPE.search(raw) is not None  # rare: only then look at every string
    for index, record in enumerate(records):
        record = _check_record(index, record, previous)
        if suspect and _has_unstorable(record["statement"]):
            raise BatchError(f"records[{index}].statement contains U+0000 or a lone surrogate (\\ud800-\\udfff), "
                             f"which cannot be stored: remove it from the record")
        if record["uuid"] in uuids:
            raise BatchError(f"records[{index}]: uuid {record['uuid']} appears twice in the batch")
        uuids.add(record["uuid"])
        checked.append(record)
        previous = record["seq"]
    return DecodedBatch(school_id, agent_version, checked)


def _check_record(index: int, record: Any, previous: int) -> dict[str, Any]:
    where = f"records[{index}]"
    if not isinstance(record, dict):
        raise BatchError(f"{where} must be an object with seq, uuid and statement")
    seq, uuid, statement = record.get("seq"), record.get("uuid"), record.get("statement")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or seq > 2 ** 63 - 1:
        raise BatchError(f"{where}.seq must be a whole number of at least 1")
    if seq <= previous:
        raise BatchError(f"{where}.seq {seq} does not follow {previous}: seqs must increase within a batch")
    if not isinstance(uuid, str) or not _UUID_RE.fullmatch(uuid):
        raise BatchError(f"{where}.uuid must be a lowercase UUID like 0b6e2c1e-...-...")
    if not isinstance(statement, dict):
        raise BatchError(f"{where}.statement must be an xAPI statement (a JSON object)")
    if statement.get("id") != uuid:
        raise BatchError(f"{where}.statement.id must equal the record's uuid {uuid}")
    for part in ("actor", "verb", "object"):
        if not isinstance(statement.get(part), dict):
            raise BatchError(f"{where}.statement.{part} is missing: an xAPI statement needs actor, verb "
                             f"and object")
    return {"seq": seq, "uuid": uuid, "statement": statement}


def _has_unstorable(value: Any) -> bool:
    """U+0000 or a lone surrogate anywhere: neither PostgreSQL nor UTF-8 can hold them."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def contiguous_ack(acked: int, stored_seqs: Iterable[int]) -> int:
    """The highest n such that every seq 1..n is held, given that everything up to `acked` is."""
    above = {seq for seq in stored_seqs if seq > acked}
    while acked + 1 in above:
        acked += 1
    return acked


class BatchSizer:
    """Adapts the number of records per batch to the link.

    Starts at `start`; halves on a failure (not below `minimum`); doubles after three fast
    successes in a row (not above `maximum`). A batch that took more than SLOW_SECONDS counts as
    half a fast success, so a slow link grows its batches half as quickly. Until the first failure
    it is in "slow start" (as TCP is): each fast success doubles at once, so a school with a day of
    records reaches full batches in a few round trips instead of a dozen.
    """

    SLOW_SECONDS = 10.0
    GROW_AFTER = 3

    def __init__(self, start: int = 200, minimum: int = 10, maximum: int = MAX_RECORDS_PER_BATCH):
        if not 1 <= minimum <= maximum:
            raise ValueError("expected 1 <= minimum <= maximum")
        self.minimum, self.maximum = minimum, maximum
        self.size = max(minimum, min(maximum, start))
        self._credit = 0.0
        self.slow_start = True

    def success(self, seconds: float) -> None:
        if self.slow_start and seconds <= self.SLOW_SECONDS:
            self.size = min(self.maximum, self.size * 2)
            return
        self._credit += 1.0 if seconds <= self.SLOW_SECONDS else 0.5
        if self._credit >= self.GROW_AFTER:
            self.size = min(self.maximum, self.size * 2)
            self._credit = 0.0

    def failure(self) -> None:
        self.size = max(self.minimum, self.size // 2)
        self._credit = 0.0
        self.slow_start = False


def backoff(attempt: int, base: float = 5.0, cap: float = 3600.0,
            rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0 first): exponential, capped, full jitter."""
    ceiling = min(cap, base * 2 ** min(max(attempt, 0), 64))
    return rng() * ceiling


# --- content downstream: the catalog and what a school lacks (PROTOCOL.md "Content") -------------------

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
#: the pack id rule of content_packs/manifest.py: also safe as a file or folder name
_PACK_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_PACK_VERSION_RE = re.compile(r"\d{1,6}(\.\d{1,6}){0,3}")
#: no pack is bigger than this (1 TiB); a larger figure is a broken catalog
MAX_PACK_BYTES = 2 ** 40


@dataclass(frozen=True)
class Blob:
    """A file the school must hold, named by the SHA-256 of its bytes."""
    sha256: str
    size: int


@dataclass(frozen=True)
class CatalogPack:
    id: str
    version: str
    title: dict
    manifest: Blob  # pack.json, as signed
    signature: Blob  # pack.sig
    size: int  # pack.json + pack.sig + every file
    published_at: str


@dataclass(frozen=True)
class Withdrawn:
    id: str
    version: str
    withdrawn_at: str


@dataclass(frozen=True)
class Catalog:
    generated_at: str
    blob_base_url: str
    packs: tuple[CatalogPack, ...]
    withdrawn: tuple[Withdrawn, ...]

    def pack(self, pack_id: str) -> CatalogPack | None:
        return next((p for p in self.packs if p.id == pack_id), None)


@dataclass(frozen=True)
class Installed:
    """A pack the school has: its id, version and the SHA-256 of its pack.json."""
    id: str
    version: str
    manifest_sha256: str


@dataclass(frozen=True)
class PackFetch:
    pack: CatalogPack
    previous_version: str | None  # None: a new pack


@dataclass(frozen=True)
class Plan:
    """What to bring down: packs to fetch (new or newer), their pack.json and pack.sig blobs not yet
    held, installed packs the hub withdrew, and same-version packs whose content differs (refused)."""
    fetch: tuple[PackFetch, ...]
    blobs: tuple[Blob, ...]
    withdraw: tuple[Installed, ...]
    conflicts: tuple[tuple[Installed, CatalogPack], ...]

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs)


def pack_version_key(version: str) -> tuple[int, ...]:
    """Dotted versions compare as numbers: 1.10 > 1.9 (the rule of content_packs.manifest.version_key)."""
    return tuple(int(part) for part in version.split("."))


def _catalog_text(value: Any, where: str, pattern: re.Pattern | None = None, limit: int = _MAX_FIELD) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or (pattern and not pattern.fullmatch(value)):
        raise ProtocolError(f"catalog {where} is missing or malformed ({str(value)[:40]!r})")
    return value


def _catalog_size(value: Any, where: str, limit: int = MAX_PACK_BYTES) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ProtocolError(f"catalog {where} must be a whole number of bytes from 0 to {limit}")
    return value


def parse_catalog(data: Any) -> Catalog:
    """Check `GET /api/v1/catalog`'s answer; ProtocolError naming the first thing wrong."""
    if not isinstance(data, dict):
        raise ProtocolError("the catalog must be a JSON object with packs and withdrawn")
    if data.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(f"catalog protocol {data.get('protocol')!r} is not supported; this agent speaks "
                            f"{PROTOCOL_VERSION}: upgrade classroom-server at the school")
    base = _catalog_text(data.get("blob_base_url"), "blob_base_url", limit=2000)
    if not re.fullmatch(r"https?://[^\s/?#]+/[^\s?#]*", base) or not base.endswith("/"):
        raise ProtocolError(f"catalog blob_base_url {base[:80]!r} must be an http(s) address ending in '/'")
    generated = _catalog_text(data.get("generated_at"), "generated_at")
    packs, seen = [], set()
    if not isinstance(data.get("packs"), list) or not isinstance(data.get("withdrawn", []), list):
        raise ProtocolError("catalog packs and withdrawn must be lists")
    for index, entry in enumerate(data["packs"]):
        where = f"packs[{index}]"
        if not isinstance(entry, dict):
            raise ProtocolError(f"catalog {where} must be an object")
        pack_id = _catalog_text(entry.get("id"), f"{where}.id (lowercase letters, digits, '.', '_', '-')",
                                _PACK_ID_RE)
        if pack_id in seen:
            raise ProtocolError(f"catalog {where}: pack {pack_id} is listed twice")
        seen.add(pack_id)
        version = _catalog_text(entry.get("version"), f"{where}.version (a dotted number)", _PACK_VERSION_RE)
        title = entry.get("title")
        if not isinstance(title, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in title.items()):
            raise ProtocolError(f"catalog {where}.title must be texts by language")
        manifest = Blob(_catalog_text(entry.get("manifest_sha256"), f"{where}.manifest_sha256", _SHA256_RE),
                        _catalog_size(entry.get("manifest_size"), f"{where}.manifest_size", 16 * 1024 * 1024))
        signature = Blob(_catalog_text(entry.get("signature_sha256"), f"{where}.signature_sha256", _SHA256_RE),
                         _catalog_size(entry.get("signature_size"), f"{where}.signature_size", 4096))
        size = _catalog_size(entry.get("size"), f"{where}.size")
        if size < manifest.size + signature.size:
            raise ProtocolError(f"catalog {where}.size {size} is less than its pack.json and pack.sig")
        packs.append(CatalogPack(pack_id, version, dict(title), manifest, signature, size,
                                 _catalog_text(entry.get("published_at", "?"), f"{where}.published_at")))
    withdrawn = []
    for index, entry in enumerate(data.get("withdrawn", [])):
        where = f"withdrawn[{index}]"
        if not isinstance(entry, dict):
            raise ProtocolError(f"catalog {where} must be an object")
        withdrawn.append(Withdrawn(_catalog_text(entry.get("id"), f"{where}.id", _PACK_ID_RE),
                                   _catalog_text(entry.get("version"), f"{where}.version", _PACK_VERSION_RE),
                                   _catalog_text(entry.get("withdrawn_at", "?"), f"{where}.withdrawn_at")))
    return Catalog(generated, base, tuple(packs), tuple(withdrawn))


def plan(catalog: Catalog, installed: Iterable[Installed], has: Callable[[str, int], bool]) -> Plan:
    """What the school lacks: the catalog's packs it does not have or has older, and of those the
    pack.json/pack.sig blobs that `has(sha256, size)` says are not held yet (deduplicated).

    A pack installed newer than the catalog's (from a USB drive, say) is left alone; one installed at
    the same version with a different pack.json is a conflict (a changed pack needs a new version).
    """
    mine = {pack.id: pack for pack in installed}
    fetch, conflicts = [], []
    for pack in catalog.packs:
        held = mine.get(pack.id)
        if held is None:
            fetch.append(PackFetch(pack, None))
            continue
        newer = pack_version_key(pack.version) > pack_version_key(held.version)
        if newer:
            fetch.append(PackFetch(pack, held.version))
        elif pack.version == held.version and pack.manifest.sha256 != held.manifest_sha256:
            conflicts.append((held, pack))
    wanted = [blob for item in fetch for blob in (item.pack.manifest, item.pack.signature)]
    gone = {(w.id, w.version) for w in catalog.withdrawn}
    withdraw = tuple(pack for pack in mine.values() if (pack.id, pack.version) in gone)
    return Plan(tuple(fetch), missing_blobs(wanted, has), withdraw, tuple(conflicts))


def missing_blobs(blobs: Iterable[Blob], has: Callable[[str, int], bool]) -> tuple[Blob, ...]:
    """The blobs not held yet, each once, in the order first listed. The same bytes under two names
    (or in two packs) come down once; an update brings only the files that changed."""
    seen: set[str] = set()
    out = []
    for blob in blobs:
        if blob.sha256 in seen:
            continue
        seen.add(blob.sha256)
        if not has(blob.sha256, blob.size):
            out.append(blob)
    return tuple(out)


class TokenBucket:
    """Paces a transfer to `rate` bytes per second on average, allowing bursts of `burst` bytes.

    `spend(n)` takes n bytes and says how many seconds to wait before going on (0: none); the
    clock is a parameter so the pacing can be tested without waiting. Several threads may spend from
    one bucket (the downloads in flight share one cap): each pays for its own bytes and waits until
    the debt of everything spent before it is cleared, so their sum stays at `rate`.
    """

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate, 64 * 1024))
        self.clock = clock
        self.tokens = self.burst
        self.at = clock()
        self._lock = threading.Lock()

    def spend(self, count: int) -> float:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            self.tokens -= count
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
