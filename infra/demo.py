"""The scripted demo that `make run` plays, and the seeding of the demo operator's subscribers.

Seeding goes through the same doors production uses: the BSS's provisioning and top-up topics
(the functions write Firestore) and the carrier emulator's network (phones, attach/detach).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from twilio.rest import Client

from emulators.carrier.client import CarrierClient
from functions.missed_calls import config as missed_calls_config
from infra import demo_missed_calls
from infra.demo_common import SUBSCRIBERS, DemoSubscriber, Transcript, new_sms, wait_until
from shared import bus, carrier as carrier_adapter, catalog, ledger, operator, settings, store, texts

DAY = 1


class RunningStack(Protocol):
    """What the demo needs of the local stack (infra.stack.Stack): where the carrier emulator answers."""

    @property
    def carrier_url(self) -> str: ...


def _publish(topic: str, payload: dict[str, Any], event_id: str) -> None:
    bus.publish([catalog.make_envelope(topic, payload, event_id=event_id, source="demo-bss")])


def seed(stack: RunningStack, say: Callable[[str], object] = print, timeout: float = 60.0) -> None:
    """Provision the demo subscribers in the network and in the BSS, and top them up."""
    provision(stack, SUBSCRIBERS, timeout)
    say(
        f"Seeded {len(SUBSCRIBERS)} subscribers of {operator.current().name} "
        f"({', '.join(s.language for s in SUBSCRIBERS)}) with their balances."
    )


def provision(stack: RunningStack, subscribers: Sequence[DemoSubscriber], timeout: float = 60.0) -> None:
    """Lines in the BSS, phones in the network, top-ups credited and every notice at the carrier."""
    carrier = CarrierClient(stack.carrier_url)
    already = len(carrier.messages())
    for sub in subscribers:
        _publish(
            "bss.subscriber",
            {
                "msisdn": sub.msisdn,
                "name": sub.name,
                "language": sub.language,
                "customer_type": sub.customer_type,
                "line_type": sub.line_type,
            },
            event_id=f"demo-subscriber-{sub.msisdn}",
        )
    # The line exists before its phone attaches (as when a SIM is sold), so the attach finds a
    # subscriber: services that greet a subscriber on attach do it now, not at some later attach.
    wait_until(
        lambda: all(store.db().collection(store.SUBSCRIBERS).document(s.msisdn).get().exists for s in subscribers),
        timeout,
        "the subscribers to be provisioned",
    )
    for sub in subscribers:
        carrier.provision(sub.msisdn, attached=sub.attached)
    # Top-ups only after the subscribers exist: the BSS never recharges an unknown line.
    for sub in subscribers:
        if sub.main:
            _publish(
                "bss.topup",
                {
                    "msisdn": sub.msisdn,
                    "amount": sub.main,
                    "bucket": "main",
                    "reference": f"DEMO-MAIN-{sub.msisdn.lstrip('+')}",
                },
                event_id=f"demo-topup-main-{sub.msisdn}",
            )
        if sub.bonus:
            _publish(
                "bss.topup",
                {
                    "msisdn": sub.msisdn,
                    "amount": sub.bonus,
                    "bucket": "bonus",
                    "validity_days": 7,
                    "reference": f"DEMO-BONUS-{sub.msisdn.lstrip('+')}",
                },
                event_id=f"demo-topup-bonus-{sub.msisdn}",
            )
    wait_until(
        lambda: all(
            (account := ledger.read_account(store.db(), s.msisdn)) is not None and account.total == s.main + s.bonus
            for s in subscribers
        ),
        timeout,
        "the top-ups to be credited",
    )
    # The notices are part of the seed (top-ups, and the missed-call service's one-time activation
    # notice to each phone that attached): wait until the carrier has them all, held or
    # delivered, so the phones start from a settled inbox.
    activation = missed_calls_config.config_for(operator.current())
    greets = bool(activation and activation.activation_notice)
    notices = sum(bool(s.main) + bool(s.bonus) + (greets and s.attached) for s in subscribers)
    wait_until(lambda: len(carrier.messages()) - already >= notices, timeout, "the seed's notices to reach the carrier")


def _read_through(carrier: CarrierClient, who: DemoSubscriber, screen: dict[str, Any]) -> dict[str, Any]:
    """A USSD screen as its reader sees it whole: More pressed up to its last page (functions/edge/pager.py)."""
    more = texts.render("edge.ussd.more", who.language)
    pages: list[str] = []
    while True:
        *shown, last = screen["text"].split("\n")
        key, _, label = last.partition(" ")
        if screen["end"] or label != more:
            return {**screen, "text": "\n".join([*pages, screen["text"]])}
        pages.append("\n".join(shown))
        screen = carrier.reply(who.msisdn, screen["session_id"], key)


def _dial(carrier: CarrierClient, who: DemoSubscriber, code: str) -> dict[str, Any]:
    return _read_through(carrier, who, carrier.dial(who.msisdn, code))


def play(stack: RunningStack, timeout: float = 30.0) -> Transcript:
    """The scripted demo: a balance check, an SMS delivered, an SMS held for a switched-off phone."""
    carrier = CarrierClient(stack.carrier_url)
    profile = operator.current()
    money = profile.currency.format
    aziz, olga, li, _, john, _ = SUBSCRIBERS
    transcript = Transcript()

    reply = _dial(carrier, aziz, profile.short_codes.balance)
    transcript.add(
        aziz.msisdn,
        f"dials {profile.short_codes.balance}",
        reply["text"],
        reply["end"] and money(aziz.main) in reply["text"],
        f"a final USSD screen naming the main balance {money(aziz.main)}",
    )

    before = len(carrier.inbox(olga.msisdn))
    carrier.send_sms(olga.msisdn, profile.short_codes.sms, "БАЛАНС")
    received = carrier.wait_for_inbox(olga.msisdn, before + 1, timeout)
    text = "\n".join(m["body"] for m in received[before:])
    transcript.add(
        olga.msisdn,
        f"texts БАЛАНС to {profile.short_codes.sms}, receives",
        text,
        profile.currency.localise(money(olga.main), olga.language) in text,
        f"an SMS naming the balance {money(olga.main)} in her language's words",
    )

    waiting = [m for m in carrier.messages() if m["to"] == li.msisdn and m["status"] != "delivered"]
    transcript.add(
        li.msisdn,
        "is switched off; the SMS centre holds",
        f"{len(waiting)} message(s) waiting: " + "; ".join(m["body"] for m in waiting),
        len(waiting) >= 1,
        "the top-up notice waiting in the SMS centre",
    )
    carrier.attach(li.msisdn)
    delivered = carrier.wait_for_inbox(li.msisdn, len(waiting), timeout)
    transcript.add(
        li.msisdn,
        "switches on and receives",
        "\n".join(m["body"] for m in delivered),
        len(delivered) >= max(1, len(waiting)),
        "the held SMS delivered on attach",
    )

    reply = _dial(carrier, john, "*999#")
    transcript.add(
        john.msisdn,
        "dials an unknown code *999#",
        reply["text"],
        reply["end"] and profile.short_codes.balance in reply["text"],
        "a help screen that points to the balance code",
    )

    _play_transfers(carrier, transcript, timeout)

    demo_missed_calls.play(carrier, transcript, timeout)

    listed = _twilio_client(stack).messages.list()
    transcript.add(
        "twilio",
        "the real twilio client lists the SMS the demo sent",
        f"{len(listed)} messages, e.g. {listed[0].to}: {listed[0].body}" if listed else "none",
        len(listed) >= len(SUBSCRIBERS),
        "at least one SMS per subscriber",
    )
    return transcript


def _total(msisdn: str) -> int:
    account = ledger.read_account(store.db(), msisdn)
    if account is None:
        raise ledger.UnknownAccount(f"{msisdn} has no account")
    return account.total


def _play_transfers(carrier: CarrierClient, transcript: Transcript, timeout: float) -> None:
    """Balance transfers under the operator's preset: one accepted, one refused, a top-up request, the menu."""
    money = operator.current().currency.format
    aziz, olga, _, aida, _, _ = SUBSCRIBERS
    amount, fee = 500_000, 20_000  # 5 000 so'm under Mobiuz "Direct transfer", fee 200 so'm

    before = {m: len(carrier.inbox(m)) for m in (aziz.msisdn, olga.msisdn)}
    totals = {m: _total(m) for m in (aziz.msisdn, olga.msisdn)}
    reply = _dial(carrier, aziz, f"*112*{olga.msisdn.lstrip('+')}*5000#")
    transcript.add(
        aziz.msisdn,
        f"dials *112*{olga.msisdn.lstrip('+')}*5000#",
        reply["text"],
        reply["end"],
        "a final screen: being processed, the result comes by SMS",
    )
    sender_sms = new_sms(carrier, aziz.msisdn, before[aziz.msisdn], timeout)
    recipient_sms = new_sms(carrier, olga.msisdn, before[olga.msisdn], timeout)
    moved = (
        _total(aziz.msisdn) == totals[aziz.msisdn] - amount - fee
        and _total(olga.msisdn) == totals[olga.msisdn] + amount
    )
    transcript.add(
        aziz.msisdn, "receives", sender_sms, moved, f"{money(amount)} + fee {money(fee)} debited once, with a reference"
    )
    transcript.add(olga.msisdn, "receives", recipient_sms, moved, f"{money(amount)} credited once")

    total = _total(aziz.msisdn)
    reply = _dial(carrier, aziz, f"*112*{aida.msisdn.lstrip('+')}*3000#")
    transcript.add(
        aziz.msisdn,
        f"dials *112*{aida.msisdn.lstrip('+')}*3000# (not a denomination)",
        reply["text"],
        reply["end"] and "2 500" in reply["text"] and _total(aziz.msisdn) == total,
        "a refusal naming the allowed amounts, nothing charged",
    )

    before_aziz = len(carrier.inbox(aziz.msisdn))
    reply = _dial(carrier, aida, f"*116*{aziz.msisdn.lstrip('+')}*5000#")
    transcript.add(
        aida.msisdn,
        f"dials *116*{aziz.msisdn.lstrip('+')}*5000# (please top me up)",
        reply["text"],
        reply["end"],
        "a confirmation that the request was sent",
    )
    asked = new_sms(carrier, aziz.msisdn, before_aziz, timeout)
    transcript.add(
        aziz.msisdn,
        "receives",
        asked,
        aida.msisdn.lstrip("+") in asked.replace("+", ""),
        "an SMS naming the requester and the amount",
    )

    totals = {m: _total(m) for m in (olga.msisdn, aziz.msisdn)}
    before_olga = len(carrier.inbox(olga.msisdn))
    screens, screen = [], _dial(carrier, olga, "#131#")
    screens.append(("dials #131#", screen))
    for step in ("1", aziz.msisdn.lstrip("+"), "1", "1"):  # send credit, recipient, first amount, confirm
        if screen["end"]:
            break
        screen = _read_through(carrier, olga, carrier.reply(olga.msisdn, screen["session_id"], step))
        screens.append((f"keys {step}", screen))
    for action, shown in screens:
        transcript.add(olga.msisdn, f"menu: {action}", shown["text"], True)
    confirmation = new_sms(carrier, olga.msisdn, before_olga, timeout)
    moved = (
        _total(olga.msisdn) == totals[olga.msisdn] - 250_000 - fee
        and _total(aziz.msisdn) == totals[aziz.msisdn] + 250_000
    )
    transcript.add(
        olga.msisdn,
        "receives",
        confirmation,
        screen["end"] and moved,
        "the menu transfer of 2 500 so'm done after the confirmation",
    )


def _twilio_client(stack: RunningStack) -> Client:
    """The real twilio client, pointed at the stack's carrier emulator."""
    return carrier_adapter.build_client(settings.get().model_copy(update={"twilio_api_base": stack.carrier_url}))
