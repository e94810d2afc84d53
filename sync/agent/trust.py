"""The school's trust in the national platform, the agent's side (sync/PROTOCOL.md sections 1, 2 and 8).

- The national key is pinned at enrolment: `classroom-sync enroll --national-key FINGERPRINT` (the
  fingerprint comes with the school's secret, out of band) trusts the key the hub publishes under that
  fingerprint, and refuses a hub that publishes none.
- After that the trusted keys change only by rotation statements (content_packs.signing.extend_trust):
  a key is added when a key the school trusts signed the hand-over; a key the platform stops publishing
  is dropped; every change and every key refused is kept as a trust event.
- An http:// hub is used only when the operator allowed it (`enroll --insecure-http`).
- A hub answer that fails authentication (protocol.answer_is_authentic) is noted here too.

What is kept: the trusted keys in `sync.national_keys` (as before), the pin and the http:// allowance
in `sync.trust`, the events in `sync.trust_events` (school_setting rows; the admin page reads them).
A school enrolled by an older agent has no `sync.trust`: the keys it trusts already are its pinned
keys, and an http:// hub it was enrolled with stays allowed, with a warning (`adopt_legacy`).
"""
from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Callable

from peewee import DatabaseError as PeeweeDatabaseError

from classroom_server.admin.sync import (KEYS_SETTING, TRUST_EVENTS_SETTING, TRUST_SETTING, national_keys,
                                         state_row, trust_config)
from classroom_server.db import database
from classroom_server.models import SchoolSetting, utcnow
from content_packs import signing
from sync import __version__

from .status import ENROL_AGAIN

if TYPE_CHECKING:  # the client notes unauthenticated answers here: trust.py sits below it
    from .client import HubClient

log = logging.getLogger(__name__)

KEYS_PATH = "/api/v1/keys"
EVENTS_KEEP = 30


class TrustFailure(Exception):
    """The hub's keys cannot be trusted; `code` is an ERROR_CODES value, the message says what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --- what is kept ---------------------------------------------------------------------------------------

def _put(key: str, value) -> None:
    text = json.dumps(value, ensure_ascii=False)
    SchoolSetting.insert(key=key, value=text).on_conflict(
        conflict_target=[SchoolSetting.key], update={SchoolSetting.value: text}).execute()


def save_config(**changes) -> dict:
    with database.atomic():
        config = {**trust_config(), **changes}
        _put(TRUST_SETTING, config)
    return config


def note(kind: str, message: str, key: str | None = None) -> None:
    """Keep one trust event (one seen before moves to the end and counts up)."""
    try:
        with database.atomic():
            row = SchoolSetting.get_or_none(SchoolSetting.key == TRUST_EVENTS_SETTING)
            try:
                events = json.loads(row.value) if row is not None else []
            except ValueError:
                events = []
            if not isinstance(events, list):
                events = []
            at = utcnow().isoformat(timespec="seconds") + "Z"
            printed = signing.fingerprint(key) if key else None
            same = [e for e in events if isinstance(e, dict)
                    and (e.get("kind"), e.get("fingerprint"), e.get("message")) == (kind, printed, message)]
            count = sum(int(e.get("count") or 1) for e in same) + 1
            events = [e for e in events if e not in same]  # a repeat moves to the end, counted
            events.append({"at": at, "kind": kind, "fingerprint": printed, "message": message, "count": count})
            _put(TRUST_EVENTS_SETTING, events[-EVENTS_KEEP:])
    except PeeweeDatabaseError as exc:  # a full disk must not hide the refusal itself
        log.error("cannot keep the trust event (%s: %s): %s", kind, message, exc)
    level = logging.INFO if kind in ("pinned", "rotated", "legacy") else logging.WARNING
    log.log(level, "trust: %s: %s", kind, message)


def adopt_legacy() -> dict:
    """The trust settings, made for a school an older agent enrolled (no `sync.trust` yet): the keys it
    trusts are its pinned keys, and an http:// hub it was enrolled with stays allowed (with a warning)."""
    config = trust_config()
    if config:
        return config
    state = state_row()
    if not state.hub_url:
        return config
    insecure = state.hub_url if state.hub_url.lower().startswith("http://") else None
    keys = national_keys()
    config = save_config(pinned=signing.fingerprint(keys[0]) if keys else None, insecure_http=insecure,
                         legacy=True, agent_version=__version__)
    if keys:
        note("legacy", f"enrolled before keys were pinned: the {len(keys)} national key(s) this school trusted "
                       f"already are kept as its pinned keys; from now on a new key is trusted only when one of "
                       f"them signed the hand-over")
    else:
        note("no_key", "enrolled before keys were pinned, and no national key was trusted yet: pin the national "
                       "platform's key with `classroom-sync keys pin FINGERPRINT` (the fingerprint comes from "
                       "the national platform, not from the hub)")
    if insecure:
        note("insecure", f"enrolled before http:// hubs needed allowing: {insecure} stays allowed. Its "
                         f"answers are authenticated but not private. {ENROL_AGAIN}")
    return config


def http_allowed(hub_url: str) -> bool:
    """Whether this plain http:// hub address was allowed by the operator (`enroll --insecure-http`)."""
    allowed = adopt_legacy().get("insecure_http")
    return bool(allowed) and allowed.rstrip("/") == hub_url.rstrip("/")


# --- the keys answer -------------------------------------------------------------------------------------

def _valid_key(key) -> bool:
    try:
        return isinstance(key, str) and len(base64.b64decode(key, validate=True)) == 32
    except ValueError:
        return False


def fetch_keys(client: "HubClient", hub: str, school: str, secret: str) -> tuple[list[str], list]:
    """The national keys the hub publishes and the rotation statements linking them (an authenticated
    answer: HubClient.request refuses any other)."""
    status, data, what = client.request("GET", hub, KEYS_PATH, signed=(school, secret))
    client.check_signed(status, data, what, hub)
    keys = (data or {}).get("keys")
    rotations = (data or {}).get("rotations", [])
    if status != 200 or not isinstance(keys, list) or not all(_valid_key(k) for k in keys) \
            or not isinstance(rotations, list):
        raise TrustFailure("hub_error", f"{hub}{KEYS_PATH} answered {what} without a list of Ed25519 keys")
    return keys, rotations


def pin(client: "HubClient", hub: str, school: str, secret: str, typed: str) -> tuple[str, signing.TrustChange]:
    """The key the hub publishes under the fingerprint given out of band, and what to trust with it (the
    keys rotation statements link to it). Nothing is saved; TrustFailure('untrusted_key') if the hub
    publishes no such key."""
    if signing.normalize_fingerprint(typed) is None:
        raise TrustFailure("usage", f"{typed!r} is not a key fingerprint: it is 64 hex digits (spaces allowed), "
                                    f"as `classroom-hub keys show` prints it")
    keys, rotations = fetch_keys(client, hub, school, secret)
    pinned = next((k for k in keys if signing.same_fingerprint(k, typed)), None)
    if pinned is None:
        offered = ", ".join(signing.fingerprint(k) for k in keys) or "none"
        raise TrustFailure("untrusted_key", f"the hub at {hub} does not publish the national key with fingerprint "
                                            f"{typed.strip()} (it publishes: {offered}). It may not be the national "
                                            f"platform's hub (a wrong address, or someone on the way answering in "
                                            f"its place), or the fingerprint was mistyped: compare it with the one "
                                            f"the national platform gave out. Nothing was changed")
    return pinned, signing.extend_trust([pinned], keys, rotations)


def save_pinned(pinned: str, change: signing.TrustChange, hub_url: str, insecure_http: bool) -> None:
    with database.atomic():
        _put(KEYS_SETTING, list(change.trusted))
        save_config(pinned=signing.fingerprint(pinned), insecure_http=hub_url if insecure_http else None,
                    legacy=False, agent_version=__version__, dropped=[])
    followed = f"; {len(change.trusted) - 1} more linked to it by rotation statements" if len(change.trusted) > 1 \
        else ""
    note("pinned", f"pinned the national key {signing.fingerprint(pinned)} for {hub_url}{followed}", pinned)
    if insecure_http:
        note("insecure", f"{hub_url} is plain http:// (allowed at enrolment, for a lab): its answers are "
                         f"authenticated but not private. {ENROL_AGAIN}")


def refresh(client: "HubClient", hub: str, school: str, secret: str, say: Callable[[str], None]) -> signing.TrustChange:
    """Follow the national platform's keys: add keys a trusted key handed over to, drop keys no longer
    published, refuse the rest; every change is a trust event. Returns what changed."""
    adopt_legacy()
    keys, rotations = fetch_keys(client, hub, school, secret)
    before = list(national_keys())
    config = trust_config()
    gone = [k for k in config.get("dropped") or [] if isinstance(k, str)]
    change = signing.extend_trust(before, keys, rotations, dropped_before=gone)
    if list(change.trusted) != before or change.dropped:
        with database.atomic():
            _put(KEYS_SETTING, list(change.trusted))
            # A dropped key is never taken back on the hub's word (only `classroom-sync keys pin` can).
            save_config(dropped=list(dict.fromkeys(gone + list(change.dropped))))
    for key, by in change.added:
        note("rotated", f"now trusting the national key {signing.fingerprint(key)}: the trusted key "
                        f"{signing.fingerprint(by)} signed the hand-over", key)
        say(f"content: trusting the new national key {signing.fingerprint(key)} (handed over by a trusted key)")
    for key in change.dropped:
        note("dropped", f"the national platform no longer publishes the key {signing.fingerprint(key)}: packs it "
                        f"signed are refused from now on (installed packs stay)", key)
        say(f"content: no longer trusting the national key {signing.fingerprint(key)} (not published any more)")
    for key in set(keys) & set(gone):
        note("unvouched", f"the hub publishes again the key {signing.fingerprint(key)}, which this school dropped "
                          f"when the national platform stopped publishing it: it stays untrusted. Only `classroom-sync "
                          f"keys pin` with a fingerprint from the national platform can trust it again", key)
    for key in change.unvouched:
        note("unvouched", f"the hub publishes the key {signing.fingerprint(key)}, but no key this school trusts "
                          f"signed a hand-over to it: packs it signed are refused. If the national platform "
                          f"really replaced its key, pin the new one with `classroom-sync keys pin "
                          f"FINGERPRINT`, the fingerprint given out by the national platform", key)
    for why in change.bad_statements:
        note("bad_rotation", f"a key rotation statement from the hub was refused: {why}")
    if not change.trusted:
        note("no_key", "this school trusts no national key: packs from the hub are refused. Pin the national "
                       "platform's key with `classroom-sync keys pin FINGERPRINT`")
    return change
