"""sync.protocol: signing, batches, the acknowledged cursor, batch sizing and backoff (pure)."""
from __future__ import annotations

import gzip
import json
import uuid
import zlib

import pytest

from sync import protocol
from sync.protocol import (CLOCK_SKEW_SECONDS, MAX_RECORDS_PER_BATCH, BatchError, BatchSizer, SignatureError,
                           backoff, contiguous_ack, decode_batch, encode_batch, new_secret, sign_request,
                           verify_signature)

SECRET = "s3cr3t-for-tests"
NOW = 1_750_000_000.0


def statement(uid: str) -> dict:
    return {"id": uid, "actor": {"objectType": "Agent", "account": {"homePage": "https://p/schools/a",
                                                                    "name": "p-1"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/launched", "display": {"en-US": "launched"}},
            "object": {"objectType": "Activity", "id": "https://p/content/pack/node"},
            "timestamp": "2025-01-01T00:00:00Z", "version": "1.0.3"}


def records(*seqs: int) -> list[dict]:
    out = []
    for seq in seqs:
        uid = str(uuid.UUID(int=seq))
        out.append({"seq": seq, "uuid": uid, "statement": statement(uid)})
    return out


def test_the_contract_names_exist():
    for name in ("PROTOCOL_VERSION", "MAX_BODY_BYTES", "MAX_RECORDS_PER_BATCH", "CLOCK_SKEW_SECONDS",
                 "new_secret", "sign_request", "verify_signature", "ProtocolError", "SignatureError",
                 "BatchError", "encode_batch", "decode_batch", "contiguous_ack", "BatchSizer", "backoff",
                 "Batch"):
        assert hasattr(protocol, name), name
    assert protocol.PROTOCOL_VERSION == 1
    assert protocol.MAX_BODY_BYTES == 8 * 1024 * 1024
    assert issubclass(SignatureError, protocol.ProtocolError) and issubclass(BatchError, protocol.ProtocolError)
    assert issubclass(protocol.ProtocolError, ValueError)


def test_the_protocol_module_is_pure():
    source = open(protocol.__file__, encoding="utf-8").read()
    for banned in ("flask", "peewee", "requests", "classroom_server"):
        assert f"import {banned}" not in source and f"from {banned}" not in source


def test_new_secret_is_43_base64url_characters_and_random():
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(secret) == 43 and "=" not in secret
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_signature_follows_the_documented_formula():
    import hashlib
    import hmac
    body = b"\x1f\x8bbody"
    headers = sign_request("sch-abc123", SECRET, "post", "/api/v1/records", body, now=NOW + 0.9,
                           nonce="0" * 32)
    message = "\n".join(["POST", "/api/v1/records", str(int(NOW)), "0" * 32, hashlib.sha256(body).hexdigest()])
    assert headers == {
        "X-Classroom-School": "sch-abc123", "X-Classroom-Timestamp": str(int(NOW)),
        "X-Classroom-Nonce": "0" * 32,
        "X-Classroom-Signature": hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()}


def test_a_fresh_nonce_per_request():
    first = sign_request("a", SECRET, "GET", "/x", b"", now=NOW)
    second = sign_request("a", SECRET, "GET", "/x", b"", now=NOW)
    assert first["X-Classroom-Nonce"] != second["X-Classroom-Nonce"]
    assert len(first["X-Classroom-Nonce"]) == 32 and int(first["X-Classroom-Nonce"], 16) >= 0


def test_a_good_signature_verifies_with_any_header_case():
    body = encode_batch("a", "1.0", records(1))
    headers = sign_request("a", SECRET, "POST", "/api/v1/records?x=1", body, now=NOW)
    verify_signature(SECRET, "POST", "/api/v1/records?x=1", body, headers, now=NOW)
    verify_signature(SECRET, "post", "/api/v1/records?x=1", body, {k.lower(): v for k, v in headers.items()},
                     now=NOW + CLOCK_SKEW_SECONDS)
    assert protocol.signing_school({k.upper(): v for k, v in headers.items()}) == "a"


def _tampered(field: str):
    body = b"payload"
    headers = sign_request("a", SECRET, "POST", "/api/v1/records", body, now=NOW)
    args = {"secret": SECRET, "method": "POST", "path": "/api/v1/records", "body": body, "headers": headers}
    if field == "headers":
        return args
    if field in ("secret", "method", "path", "body"):
        args[field] = {"secret": "other", "method": "PUT", "path": "/api/v1/records?a=1",
                       "body": b"payload!"}[field]
    else:
        args["headers"] = {**headers, **field}
    return args


@pytest.mark.parametrize("change, reason", [
    ("secret", "bad_signature"),
    ("method", "bad_signature"),
    ("path", "bad_signature"),
    ("body", "bad_signature"),
    ({"X-Classroom-Timestamp": str(int(NOW) + 1)}, "bad_signature"),
    ({"X-Classroom-Nonce": "1" * 32}, "bad_signature"),
    ({"X-Classroom-Nonce": "xyz"}, "bad_signature"),
    ({"X-Classroom-Timestamp": "soon"}, "bad_signature"),
    ({"X-Classroom-Signature": "0" * 64}, "bad_signature"),
    ({"X-Classroom-Signature": ""}, "unsigned"),
    ({"X-Classroom-School": ""}, "unsigned"),
])
def test_any_change_breaks_the_signature(change, reason):
    with pytest.raises(SignatureError) as caught:
        verify_signature(**_tampered(change), now=NOW)
    assert caught.value.reason == reason


def test_unsigned_request():
    with pytest.raises(SignatureError) as caught:
        verify_signature(SECRET, "GET", "/", b"", {"User-Agent": "x"}, now=NOW)
    assert caught.value.reason == "unsigned" and "X-Classroom-Signature" in str(caught.value)


@pytest.mark.parametrize("offset, ok", [
    (0, True), (CLOCK_SKEW_SECONDS, True), (-CLOCK_SKEW_SECONDS, True),
    (CLOCK_SKEW_SECONDS + 2, False), (-CLOCK_SKEW_SECONDS - 1, False), (86400, False),
])
def test_timestamps_outside_the_window_are_stale(offset, ok):
    headers = sign_request("a", SECRET, "GET", "/api/v1/records/cursor", b"", now=NOW + offset)
    if ok:
        verify_signature(SECRET, "GET", "/api/v1/records/cursor", b"", headers, now=NOW)
    else:
        with pytest.raises(SignatureError) as caught:
            verify_signature(SECRET, "GET", "/api/v1/records/cursor", b"", headers, now=NOW)
        assert caught.value.reason == "stale_timestamp"
        assert ("ahead" if offset > 0 else "behind") in str(caught.value)


def test_path_with_query():
    assert protocol.path_with_query("/a", "") == "/a"
    assert protocol.path_with_query("/a", b"x=1&y=2") == "/a?x=1&y=2"


@pytest.mark.parametrize("ua, version", [
    ("classroom-sync/1.2.0", "1.2.0"), ("classroom-sync/1.2.0 (linux)", "1.2.0"),
    ("python-requests/2.31", None), ("", None), (None, None), ("classroom-sync/", None),
])
def test_agent_version_from_user_agent(ua, version):
    assert protocol.agent_version_from_user_agent(ua) == version


def test_batches_round_trip_and_are_deterministic():
    batch = records(3, 4, 9)
    body = encode_batch("sch-abc", "1.0.0", batch)
    assert body[:2] == b"\x1f\x8b" and body == encode_batch("sch-abc", "1.0.0", batch)
    decoded = decode_batch(body)
    assert (decoded.school_id, decoded.agent_version, decoded.records) == ("sch-abc", "1.0.0", batch)
    assert json.loads(gzip.decompress(body))["protocol"] == 1


@pytest.mark.parametrize("text, ok", [
    ('"a\\u0000b"', False), ('"\\ud800"', False), ('"\\uDFFF x"', False), ('{"\\u0000": 1}', False),
    ('"\\ud83d\\ude00"', True), ('"\\\\u0000"', True), ('"\\u00e9 Қазақ"', True),
])
def test_characters_no_database_can_store_are_refused(text, ok):
    uid = str(uuid.UUID(int=1))
    raw = json.dumps(_doc([{"seq": 1, "uuid": uid, "statement": statement(uid)}]))
    raw = raw.replace('"version": "1.0.3"', f'"version": "1.0.3", "extensions": {{"x": {text}}}')
    if ok:
        assert decode_batch(gzip.compress(raw.encode())).records[0]["statement"]["extensions"]["x"]
    else:
        with pytest.raises(BatchError, match="U\\+0000 or a lone surrogate"):
            decode_batch(gzip.compress(raw.encode()))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant):
    uid = str(uuid.UUID(int=1))
    raw = json.dumps(_doc(records(1))).replace('"version": "1.0.3"', f'"version": "1.0.3", "x": {constant}')
    with pytest.raises(BatchError, match="not a JSON number"):
        decode_batch(gzip.compress(raw.encode()))
    assert uid


def test_empty_batch_is_valid():
    assert decode_batch(encode_batch("a", "1", [])).records == []


def _body(document) -> bytes:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return gzip.compress(raw)


def _doc(recs, **changes):
    return {"protocol": 1, "school_id": "a", "agent_version": "1", "records": recs, **changes}


def _with(index: int, **changes):
    recs = records(1, 2, 3)
    recs[index] = {**recs[index], **changes}
    return _doc(recs)


@pytest.mark.parametrize("document, message", [
    (b"not json", "not UTF-8 JSON"),
    (b"\xff\xfe", "not UTF-8 JSON"),
    ([], "JSON object"),
    (_doc([], protocol=2), "protocol version 2"),
    (_doc([], school_id=""), "school_id"),
    (_doc([], school_id=7), "school_id"),
    (_doc([], agent_version=None), "agent_version"),
    (_doc({}), "records must be a list"),
    (_doc(["x"]), "records[0] must be an object"),
    (_with(1, seq=0), "records[1].seq"),
    (_with(1, seq="2"), "records[1].seq"),
    (_with(1, seq=True), "records[1].seq"),
    (_with(1, seq=2.0), "records[1].seq"),
    (_with(2, seq=2), "does not follow 2"),
    (_with(0, seq=5), "does not follow 5"),
    (_with(0, uuid="NOT-A-UUID"), "records[0].uuid"),
    (_with(0, uuid="ABCDEF00-0000-0000-0000-000000000001"), "records[0].uuid"),
    (_with(0, statement="x"), "records[0].statement must be"),
    (_with(0, statement={**statement(str(uuid.UUID(int=1))), "id": str(uuid.UUID(int=2))}),
     "records[0].statement.id"),
    (_with(0, statement={"id": str(uuid.UUID(int=1)), "actor": {}, "verb": {}}), "statement.object"),
    (_with(1, uuid=str(uuid.UUID(int=1)), statement=statement(str(uuid.UUID(int=1)))), "appears twice"),
])
def test_malformed_batches_are_refused_with_the_reason(document, message):
    with pytest.raises(BatchError, match=None) as caught:
        decode_batch(_body(document))
    assert message in str(caught.value)


@pytest.mark.parametrize("body, message", [
    (b"", "truncated"),
    (b'{"records": []}', "not gzip"),
    # mtime=0: the same bytes whenever collected (pytest-xdist workers must collect the same ids)
    (gzip.compress(b"{}", mtime=0)[:-9], "truncated"),
    (gzip.compress(b"{}", mtime=0) + b"junk", "after the gzip data"),
    (zlib.compress(b"{}"), "not gzip"),
])
def test_bad_compression_is_refused(body, message):
    with pytest.raises(BatchError) as caught:
        decode_batch(body)
    assert message in str(caught.value)


def test_a_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"[" + b" " * (80 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 200_000
    with pytest.raises(BatchError, match="inflates beyond"):
        decode_batch(bomb)
    with pytest.raises(BatchError, match="inflates beyond 100 bytes"):
        decode_batch(encode_batch("a", "1", records(1)), max_inflated=100)


def test_too_many_records():
    with pytest.raises(BatchError, match="at most 2"):
        decode_batch(encode_batch("a", "1", records(1, 2, 3)), max_records=2)
    assert len(decode_batch(encode_batch("a", "1", records(*range(1, MAX_RECORDS_PER_BATCH + 1)))).records) \
        == MAX_RECORDS_PER_BATCH


@pytest.mark.parametrize("acked, stored, expected", [
    (0, [], 0),
    (0, [1, 2, 3], 3),
    (0, [2, 3], 0),
    (0, [1, 3, 4], 1),
    (5, [], 5),
    (5, [6, 7, 9], 7),
    (5, [1, 2, 6], 6),
    (2, [4, 3, 5], 5),
    (0, iter([1, 2]), 2),
])
def test_contiguous_ack(acked, stored, expected):
    assert contiguous_ack(acked, stored) == expected


def test_batch_sizer_halves_on_failure_down_to_the_minimum():
    sizer = BatchSizer()
    assert sizer.size == 200
    sizes = []
    for _ in range(6):
        sizer.failure()
        sizes.append(sizer.size)
    assert sizes == [100, 50, 25, 12, 10, 10]


def test_batch_sizer_starts_by_doubling_on_each_fast_success():
    sizer = BatchSizer()
    sizes = []
    for _ in range(6):
        sizer.success(1.0)
        sizes.append(sizer.size)
    assert sizes == [400, 800, 1600, 3200, MAX_RECORDS_PER_BATCH, MAX_RECORDS_PER_BATCH]


def test_batch_sizer_doubles_after_three_fast_successes_up_to_the_maximum():
    sizer = BatchSizer(start=2000)
    sizer.failure()  # slow start ends at the first failure
    sizer.success(1.0)
    sizer.success(1.0)
    assert sizer.size == 1000
    sizer.success(1.0)
    assert sizer.size == 2000
    for _ in range(9):
        sizer.success(0.5)
    assert sizer.size == MAX_RECORDS_PER_BATCH


def test_batch_sizer_grows_slower_on_a_slow_link_and_a_failure_resets_the_streak():
    sizer = BatchSizer(start=200)
    sizer.failure()
    for _ in range(5):
        sizer.success(30.0)
    assert sizer.size == 100
    sizer.success(30.0)
    assert sizer.size == 200
    sizer.success(1.0)
    sizer.success(1.0)
    sizer.failure()
    sizer.success(1.0)
    sizer.success(1.0)
    assert sizer.size == 100


def test_batch_sizer_bounds():
    assert BatchSizer(start=5).size == 10
    assert BatchSizer(start=10 ** 6).size == MAX_RECORDS_PER_BATCH
    with pytest.raises(ValueError):
        BatchSizer(minimum=0)


@pytest.mark.parametrize("attempt, ceiling", [(0, 5.0), (1, 10.0), (3, 40.0), (10, 3600.0), (10 ** 6, 3600.0),
                                              (-1, 5.0)])
def test_backoff_is_exponential_capped_with_full_jitter(attempt, ceiling):
    assert backoff(attempt, rng=lambda: 1.0) == ceiling
    assert backoff(attempt, rng=lambda: 0.0) == 0.0
    assert 0.0 <= backoff(attempt) <= ceiling
    assert backoff(attempt, base=1.0, cap=2.0, rng=lambda: 0.5) == min(2.0, 2.0 ** min(max(attempt, 0), 8)) / 2
