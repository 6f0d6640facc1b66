"""ZeroX at the edge: a zero-balance caller replies 1, 2 or 0 (or a word for it) to the offer.

The edge reads the caller's offer in the same round trip as their subscriber record and answers
at once what needs no decision (no offer to answer, a reply that is not one of its choices); an
answer to an offer is published as `zero-balance.answered`, and the ZeroX service — which records
every answer, expired ones included, and re-checks limits and balance — replies itself.
"""

from __future__ import annotations

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.zero_balance import answers
from functions.zero_balance.config import config_for
from functions.zero_balance.documents import OFFERS
from functions.zero_balance.rules import Offer
from shared.events import ZeroBalanceAnswered, derive_event_id
from shared.operator import OperatorProfile


def _offer_reads(inbound: api.InboundSms, profile: OperatorProfile) -> list[tuple[str, str]]:
    return [(OFFERS, inbound.sender)]


def _choices(offer: Offer, profile: OperatorProfile) -> Text:
    if offer.topup_amount is None:
        return Text("zero_balance.answer.help_callback", {"destination": offer.destination})
    return Text(
        "zero_balance.answer.help_topup",
        {"destination": offer.destination, "amount": profile.currency.format(offer.topup_amount)},
    )


def answer(request: api.Request[api.SmsMessage]) -> Text | api.SmsAnswer:
    """The reply to one message on the answer code: a clear text, or the answer published for ZeroX."""
    inbound, caller = request.input.inbound, request.caller
    offer = Offer.from_document(request.document(OFFERS, caller.msisdn))
    if offer is None or not offer.is_open():
        return Text("zero_balance.no_offer")
    given = answers.parse(inbound.body)
    if given is None or not offer.allows(given):
        return _choices(offer, request.profile)
    payload = ZeroBalanceAnswered(
        request_id=inbound.request_id,
        caller=caller.msisdn,
        answer=given,
        answered_at=request.now,
        offer_id=offer.attempt_id,
    )
    event_id = derive_event_id(inbound.request_id, "zero-balance.answered")
    return api.SmsAnswer(text=None, publish=(Publication("zero-balance.answered", payload, event_id),))


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """The ZeroX answer code the preset names (config.short_code); None when the service is off."""
    config = config_for(profile)
    if config is None:
        return None
    return api.ServiceEntries(
        sms_short_codes=(api.SmsShortCode(config.short_code, api.SmsService(answer, reads=_offer_reads)),)
    )
