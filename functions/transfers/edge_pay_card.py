"""Beeline's pay card for another subscriber, by phone: call 0670, key the recipient's number and `#`,
the card's serial number and `#`, then its secret code and `#`.

The serial is what lets wrong codes count against the card they were tried on, whoever calls
(functions/transfers/vouchers.py): a wrong code alone names no card.

Each <Gather> posts back to the same webhook with the next `step` (and the recipient typed so far)
in the action URL's query; Twilio signs that URL, so nobody can forge it. The edge checks the
caller (a blocked or roaming line is refused at once), then publishes `voucher.redeem-requested`
once per call (the event id names the CallSid, the caller and the recipient); the transfers
service checks the card and both parties and answers by SMS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.transfers import edge_orders as orders
from functions.transfers.rules import Party
from shared.events import VoucherRedeemRequested, derive_event_id
from shared.operator import OperatorProfile

RECIPIENT, SERIAL, CODE = "recipient", "serial", "code"
ATTEMPTS = 2  # a wrong or missing entry is asked for once more, then goodbye
GATHER_TIMEOUT_SECONDS = 10
_CODE = re.compile(r"^[0-9]{6,20}$")  # the BSS's pay-card codes (shared.events.VoucherIssued.secret_code)
_SERIAL = re.compile(r"^[0-9]{1,20}$")  # the digits of the printed serial (shared.events.VoucherRedeemRequested)


def _action(step: str, attempt: int, **kept: str) -> str:
    """The <Gather> action: this webhook (relative URL) with the next step in its query."""
    return "?" + urlencode({"step": step, "attempt": attempt, **kept})


def _attempt(call: api.InboundCall) -> int:
    """Which try of the current step this is (anything unreadable counts as the last one)."""
    typed = call.query.get("attempt", "1")
    return int(typed) if typed in {str(n) for n in range(1, ATTEMPTS + 1)} else ATTEMPTS


def caller_refusal(party: Party, profile: OperatorProfile) -> Text | None:
    """Why this caller cannot activate a card (unknown, blocked, roaming), or None."""
    hotline = {"hotline": profile.short_codes.hotline}
    if not party.known:
        return Text("edge.subscriber.unknown", {"operator": profile.name, **hotline})
    if party.status != "active":
        return Text("edge.paycard.blocked", hotline)
    if party.roaming:
        return Text("edge.paycard.roaming", hotline)
    return None


@dataclass(frozen=True)
class PayCardIvr:
    """The IVR of one operator."""

    profile: OperatorProfile

    def answer(self, request: api.Request[api.InboundCall]) -> api.VoiceAnswer:
        call, language = request.input, request.caller.language
        if not request.read or call.caller is None:
            return api.VoiceAnswer(api.announce(Text("edge.unavailable"), language))
        party = orders.party_of(request.documents, call.caller, self.profile)
        refused = caller_refusal(party, self.profile)
        if refused is not None:
            return api.VoiceAnswer(api.announce(refused, language))
        attempt = _attempt(call)
        if call.step == RECIPIENT:
            return self._recipient_keyed(call, language, attempt)
        if call.step == SERIAL:
            return self._serial_keyed(call, language, attempt)
        if call.step == CODE:
            return self._code_keyed(call, call.caller, language, attempt, request.now)
        return self._ask_recipient(language, attempt=1)

    def _gather(self, prompt: Text, language: str, action: str, mistake: Text | None = None) -> VoiceResponse:
        response = VoiceResponse()
        gather = response.gather(
            input="dtmf", finish_on_key="#", action=action, method="POST", timeout=GATHER_TIMEOUT_SECONDS
        )
        if mistake is not None:
            api.say(gather, mistake, language)
        api.say(gather, prompt, language)
        response.redirect(action, method="POST")  # nothing keyed: the step sees no digits and re-asks
        return response

    def _ask_recipient(self, language: str, attempt: int, mistake: Text | None = None) -> api.VoiceAnswer:
        prompt = Text("edge.paycard.enter_recipient", {"digits": self.profile.national_number_length})
        return api.VoiceAnswer(self._gather(prompt, language, _action(RECIPIENT, attempt), mistake))

    def _ask_serial(self, language: str, recipient: str, attempt: int, mistake: Text | None = None) -> api.VoiceAnswer:
        return api.VoiceAnswer(
            self._gather(
                Text("edge.paycard.enter_serial"), language, _action(SERIAL, attempt, recipient=recipient), mistake
            )
        )

    def _ask_code(
        self, language: str, recipient: str, serial: str, attempt: int, mistake: Text | None = None
    ) -> api.VoiceAnswer:
        return api.VoiceAnswer(
            self._gather(
                Text("edge.paycard.enter_code"),
                language,
                _action(CODE, attempt, recipient=recipient, serial=serial),
                mistake,
            )
        )

    def _goodbye(self, language: str) -> api.VoiceAnswer:
        return api.VoiceAnswer(api.announce(Text("edge.paycard.goodbye"), language))

    def _recipient_keyed(self, call: api.InboundCall, language: str, attempt: int) -> api.VoiceAnswer:
        try:
            recipient = orders.parse_recipient(call.digits or "", self.profile)
        except orders.BadOrder:
            if attempt >= ATTEMPTS:
                return self._goodbye(language)
            return self._ask_recipient(language, attempt + 1, mistake=Text("edge.paycard.invalid_recipient"))
        return self._ask_serial(language, recipient, attempt=1)

    def _kept_recipient(self, call: api.InboundCall) -> str | None:
        """The recipient keyed before, from the action URL; None only for a hand-made URL (Twilio signs ours)."""
        try:
            return orders.parse_recipient(call.query.get("recipient", ""), self.profile)
        except orders.BadOrder:
            return None

    def _serial_keyed(self, call: api.InboundCall, language: str, attempt: int) -> api.VoiceAnswer:
        recipient = self._kept_recipient(call)
        if recipient is None:
            return self._ask_recipient(language, attempt=1)
        serial = call.digits or ""
        if not _SERIAL.match(serial):
            if attempt >= ATTEMPTS:
                return self._goodbye(language)
            return self._ask_serial(language, recipient, attempt + 1, mistake=Text("edge.paycard.invalid_serial"))
        return self._ask_code(language, recipient, serial, attempt=1)

    def _code_keyed(
        self, call: api.InboundCall, caller: str, language: str, attempt: int, now: datetime
    ) -> api.VoiceAnswer:
        recipient = self._kept_recipient(call)
        if recipient is None:
            return self._ask_recipient(language, attempt=1)
        serial = call.query.get("serial", "")
        if not _SERIAL.match(serial):  # a hand-made URL again
            return self._ask_serial(language, recipient, attempt=1)
        code = call.digits or ""
        if not _CODE.match(code) or not call.call_sid:
            if attempt >= ATTEMPTS:
                return self._goodbye(language)
            return self._ask_code(language, recipient, serial, attempt + 1, mistake=Text("edge.paycard.invalid_code"))
        # The card's code stays out of the id: ids are stored and logged, and a short code hashed
        # with a known number would be found again by trying every code.
        request_id = api.call_request_id(call.call_sid, caller, call.called, recipient, serial)
        payload = VoucherRedeemRequested(
            request_id=request_id,
            caller=caller,
            recipient=recipient,
            card_serial=serial,
            secret_code=code,
            requested_at=now,
        )
        return api.VoiceAnswer(
            api.announce(Text("edge.paycard.accepted"), language),
            (
                Publication(
                    "voucher.redeem-requested", payload, derive_event_id(request_id, "voucher.redeem-requested")
                ),
            ),
        )


NUMBER_PRIORITY = 50  # after forwarded calls: a call forwarded to us is the forwarding service's


def voice_entries(profile: OperatorProfile) -> tuple[api.VoiceEntry, ...]:
    """The IVR on the profile's pay-card number (none when the profile names no number)."""
    if not profile.short_codes.pay_card:
        return ()
    ivr = PayCardIvr(profile)
    return (api.VoiceEntry(api.ServiceNumber(profile.short_codes.pay_card), ivr.answer, priority=NUMBER_PRIORITY),)
