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


# The channels' prefixes: every edge request id is made by one of the three functions below, so
# one name means one channel everywhere (the values are stored ids: never change them).
USSD = "ussd"
SMS = "sms"
CALL = "call"
# How an SMS reply names the inbound message it answers (notify's `reference`; also a stored value).
SMS_REFERENCE = "twilio"
# How a message's status callbacks name the message their event ids derive from (also a stored value).
MESSAGE_STATUS = "twilio-message"


def ussd_request_id(session_id: str, msisdn: str, service_code: str, *inputs: str) -> str:
    """A USSD request: the gateway's session, the phone, the code and what was typed."""
    return request_id(USSD, session_id, msisdn, service_code, *inputs)


def sms_request_id(message_sid: str, sender: str, short_code: str, body: str) -> str:
    """An inbound SMS: Twilio's MessageSid, the sender, the short code and the text (secrets blanked)."""
    return request_id(SMS, message_sid, sender, short_code, body)


def call_request_id(call_sid: str, caller: str, *what: str) -> str:
    """One step of a call: Twilio's CallSid, the caller and what that step decides."""
    return request_id(CALL, call_sid, caller, *what)


def sms_reference(message_sid: str) -> str:
    """The reference an SMS reply carries to the inbound message it answers."""
    return f"{SMS_REFERENCE}:{message_sid}"


def message_status_id(message_sid: str) -> str:
    """The id a message's status callbacks derive their event ids from: Twilio's MessageSid."""
    return f"{MESSAGE_STATUS}:{message_sid}"
