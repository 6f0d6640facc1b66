"""The voice mailbox PIN (pure: no I/O): how it is hashed, checked, and what opens the mailbox.

Caller ID proves nothing (it is easy to spoof), so the voicemail line asks for the PIN on every
call, except — when the subscriber chose it — on a call from their own phone that the network
vouches for: Twilio's `StirVerstat` with full (A) attestation, which the carrier gives only to
calls that start on its own subscribers' phones. The PIN is stored as scrypt of its digits with a
random salt per PIN set; the digits are hashed at the edge as soon as they are read, so no event,
log or document ever holds them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.events import PinHash, VoicemailPinEntered

PIN_LENGTHS = range(4, 9)  # 4 to 8 digits, the usual voicemail PIN
# scrypt's cost: about 16 MiB and some tens of milliseconds per check, slow for a guesser with a
# leaked hash, fast enough for a caller waiting on the line.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAX_MEMORY = 64 * 1024 * 1024
SALT_BYTES = 16
HASH_BYTES = 32
FULL_ATTESTATION = "TN-Validation-Passed-A"  # Twilio's StirVerstat: the carrier vouches for the caller ID


def valid(typed: str) -> bool:
    """4 to 8 digits."""
    return typed.isascii() and typed.isdigit() and len(typed) in PIN_LENGTHS


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAX_MEMORY, dklen=HASH_BYTES)


def hashed(pin: str) -> PinHash:
    """A new PIN as stored, with a fresh random salt."""
    if not valid(pin):
        raise ValueError("a PIN is 4 to 8 digits")
    salt = secrets.token_bytes(SALT_BYTES)
    return PinHash(
        salt=salt.hex(), hash=_scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).hex(), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P
    )


def matches(typed: str, stored: Mapping[str, Any]) -> bool:
    """Whether the digits are the stored PIN (a constant-time comparison; anything malformed: no)."""
    try:
        salt, expected = bytes.fromhex(stored["salt"]), bytes.fromhex(stored["hash"])
        n, r, p = int(stored["n"]), int(stored["r"]), int(stored["p"])
    except (KeyError, TypeError, ValueError):
        return False
    if not valid(typed):
        return False
    return hmac.compare_digest(_scrypt(typed, salt, n, r, p), expected)


def pass_token(stored: Mapping[str, Any], call_sid: str) -> str:
    """What a call that opened the mailbox carries in its next action URLs.

    Keyed by the stored hash (which only our database holds), so nobody can make one for another
    call, and a PIN change ends every open session.
    """
    return hmac.new(bytes.fromhex(stored["hash"]), call_sid.encode(), hashlib.sha256).hexdigest()[:32]


def attested(verification: str | None) -> bool:
    """The network vouches for the caller ID (full attestation)."""
    return verification == FULL_ATTESTATION


def skips_pin(trusts_own_phone: bool, verification: str | None) -> bool:
    """The subscriber chose no PIN on their own phone, and this call comes from it as the network says."""
    return trusts_own_phone and attested(verification)


def after_entry(
    user: Mapping[str, Any], entered: VoicemailPinEntered, *, limit: int, now: datetime
) -> tuple[dict[str, Any], bool]:
    """The user fields a keyed PIN changes, and whether it just locked the mailbox.

    The voicemail line counts wrong PINs in a row as it compares them (functions/missed_calls/edge_pin_guard.py)
    and says which one used up the tries: that one locks. The failures kept here are what care sees
    (a right PIN clears those before it), never a second count. Entries older than the PIN's last
    change or its last right entry (late or out-of-order deliveries) change nothing; a locked mailbox
    stays locked until a new PIN is set.
    """
    stored = user.get("voicemail_pin") or {}
    if user.get("voicemail_locked_at") or not stored:
        return {}, False
    since = max(
        (at for at in (stored.get("set_at"), user.get("voicemail_pin_ok_at")) if isinstance(at, datetime)), default=None
    )
    if since is not None and entered.at <= since:
        return {}, False
    failures = [f for f in user.get("voicemail_pin_failures") or [] if isinstance(f, Mapping)]
    if entered.right:
        return {
            "voicemail_pin_ok_at": entered.at,
            "voicemail_pin_failures": [f for f in failures if f.get("at") and f["at"] > entered.at],
        }, False
    failures = [*failures, {"call_sid": entered.call_sid, "attempt": entered.attempt, "at": entered.at}][-limit:]
    if entered.locked:
        return {"voicemail_pin_failures": failures, "voicemail_locked_at": now}, True
    return {"voicemail_pin_failures": failures}, False
