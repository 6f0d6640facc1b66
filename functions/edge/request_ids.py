"""Our id of one request a gateway brought us: the gateway's own id AND who asked for what.

A gateway's id alone does not name a request: USSD gateways reset their session counters and an
operator runs more than one gateway, so two subscribers' requests can arrive under one
`sessionId`. Were the id the session alone, the second request's event would share the first's
id and be dropped as a duplicate. So the id also names the subscriber (MSISDN) and the request
(service code or short code, what was typed), while a genuine retry of the same request (same
gateway id, same phone, same code, same input) still gets the same id and is acted on once.
"""

from __future__ import annotations

import hashlib
import re

# Gateway ids shown as they are (care can search for them); anything else is hashed, so the id is
# always a valid Firestore document id and fits the events' 200 characters.
_READABLE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
# 80 bits of who and what: two different requests under one gateway id never share an id.
_DIGEST_HEX = 20


def _digest(*parts: str) -> str:
    # The unit separator keeps ("ab", "c") and ("a", "bc") apart.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def request_id(channel: str, gateway_id: str, who: str, *what: str) -> str:
    """`ussd:ATUid_1:3fa9…`: the channel, the gateway's id, and a digest of who (MSISDN) and what."""
    shown = gateway_id if _READABLE.match(gateway_id) else "sha256-" + _digest(gateway_id)
    return f"{channel}:{shown}:{_digest(who, *what)[:_DIGEST_HEX]}"
