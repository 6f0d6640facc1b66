"""What ZeroX sends: SMS as sms.send payloads (notify renders them in each reader's language),
and the top-up ask the transfers service carries out.

The caller gets the offer and every answer from the preset's short code, so a reply goes back to
the same place. The callee's message is rendered here in part: the attempt's time is written in
the callee's zone and language, so their language is chosen now rather than by notify.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.zero_balance.config import ZeroBalanceConfig
from functions.zero_balance.rules import Offer, Outcome
from shared import localtime, msisdn
from shared.events import ZERO_BALANCE_CHANNEL, Payload, SmsSend, TopUpAsked
from shared.money import Currency


def offer_sms(offer: Offer, config: ZeroBalanceConfig, currency: Currency) -> SmsSend:
    """'You have zero balance. Reply 1 …, 2 … <amount>, 0 for no.' (option 2 only when offered)."""
    if offer.topup_amount is None:
        template, params = "zero_balance.offer.callback", {"destination": offer.destination}
    else:
        template = "zero_balance.offer.callback_or_topup"
        params = {"destination": offer.destination, "amount": currency.format(offer.topup_amount)}
    return _to_caller(offer, config, template, params)


def callback_request_sms(
    offer: Offer,
    config: ZeroBalanceConfig,
    *,
    caller_name: str | None,
    callee_language: str,
    operator_zone: str,
    operator_country: str,
) -> SmsSend:
    """'Hi, this is <name> (<number>). I tried to call you at <time> …' in the callee's time and language.

    The SMS comes from the short code, so it names the caller's number, written as the callee's
    operator writes numbers, for the callee to call back; the BSS name is added when there is one.
    """
    zone = localtime.zone_for(offer.destination, operator_zone)
    template = "zero_balance.request.after_call" if offer.kind == "call" else "zero_balance.request.after_sms"
    params = {
        "number": msisdn.written(offer.caller, operator_country),
        "time": localtime.moment(offer.attempted_at, zone, callee_language),
    }
    if caller_name and caller_name.strip():
        template, params["name"] = f"{template}_named", caller_name.strip()
    return SmsSend(
        to=offer.destination,
        template=template,
        language=callee_language,
        sender=config.short_code,
        params=params,
        reference=reference(offer),
    )


def answer_sms(offer: Offer, config: ZeroBalanceConfig, template: str, **params: Any) -> SmsSend:
    """A reply to the caller's answer about this offer (sent, declined, expired, limited…)."""
    return _to_caller(offer, config, template, {"destination": offer.destination, **params})


def no_offer_sms(caller: str, config: ZeroBalanceConfig, request_id: str) -> SmsSend:
    return SmsSend(
        to=caller,
        template="zero_balance.no_offer",
        sender=config.short_code,
        reference=f"zero-balance:answer:{request_id}",
    )


def help_sms(offer: Offer, config: ZeroBalanceConfig, currency: Currency) -> SmsSend:
    """The offer's choices again, for an answer the offer did not give (2 without a top-up)."""
    if offer.topup_amount is None:
        return answer_sms(offer, config, "zero_balance.answer.help_callback")
    return answer_sms(offer, config, "zero_balance.answer.help_topup", amount=currency.format(offer.topup_amount))


def reference(offer: Offer) -> str:
    return f"zero-balance:{offer.attempt_id}"


def _to_caller(offer: Offer, config: ZeroBalanceConfig, template: str, params: dict) -> SmsSend:
    # No language: notify uses the caller's own (subscribers/{caller}.language).
    return SmsSend(
        to=offer.caller, template=template, params=params, sender=config.short_code, reference=reference(offer)
    )


def after_answer(
    outcome: Outcome,
    offer: Offer | None,
    *,
    caller: str,
    request_id: str,
    answered_at: datetime,
    config: ZeroBalanceConfig,
    currency: Currency,
    caller_name: str | None,
    callee_language: str,
    operator_zone: str,
    operator_country: str,
) -> list[tuple[str, str, Payload]]:
    """What an answer's outcome sends, as (topic, purpose, payload): the caller always hears back,
    except for a top-up ask, which the transfers service confirms (or explains) itself."""
    if offer is None or outcome is Outcome.NO_OFFER:
        return [("sms.send", "answer", no_offer_sms(caller, config, request_id))]
    if outcome is Outcome.CALLBACK:
        request = callback_request_sms(
            offer,
            config,
            caller_name=caller_name,
            callee_language=callee_language,
            operator_zone=operator_zone,
            operator_country=operator_country,
        )
        return [
            ("sms.send", "request", request),
            ("sms.send", "answer", answer_sms(offer, config, "zero_balance.callback.sent")),
        ]
    if outcome is Outcome.TRANSFER:
        ask = TopUpAsked(
            request_id=f"zero-balance:{request_id}",
            channel=ZERO_BALANCE_CHANNEL,
            requester=offer.caller,
            target=offer.destination,
            amount=offer.topup_amount,
            requested_at=answered_at,
        )
        return [("transfer.topup-asked", "topup-asked", ask)]
    if outcome is Outcome.NOT_OFFERED:
        return [("sms.send", "answer", help_sms(offer, config, currency))]
    template, params = _ANSWER_TEXTS[outcome], {}
    if outcome is Outcome.REQUEST_LIMITED:
        params["limit"] = config.requests_per_day
    return [("sms.send", "answer", answer_sms(offer, config, template, **params))]


_ANSWER_TEXTS = {
    Outcome.NO: "zero_balance.declined",
    Outcome.EXPIRED: "zero_balance.expired",
    Outcome.REQUEST_LIMITED: "zero_balance.request_limited",
    Outcome.POSITIVE_BALANCE: "zero_balance.has_balance",
}
