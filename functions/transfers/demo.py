"""Transfers' part of the scripted demo (infra/demo.py), under the demo operator's Mobiuz "Direct transfer".

Aziz sends Olga 5 000 so'm by USSD (debited once with its fee, credited once), is refused an amount
that is not a denomination, Aida asks Aziz to top her up, and Olga sends 2 500 so'm through the menu.
"""

from __future__ import annotations

from typing import Any

from functions.transfers.policy import SERVICE
from infra.demo_common import DemoSection, DemoStage
from shared import ledger, store
from shared.operator import OperatorProfile

AMOUNT, FEE = 500_000, 20_000  # 5 000 so'm under Mobiuz "Direct transfer", fee 200 so'm
MENU_AMOUNT = 250_000  # the menu's first amount: 2 500 so'm


def _total(msisdn: str) -> int:
    account = ledger.read_account(store.db(), msisdn)
    if account is None:
        raise ledger.UnknownAccount(f"{msisdn} has no account")
    return account.total


def play(stage: DemoStage) -> None:
    """One transfer accepted, one refused, a top-up request, and a transfer through the menu."""
    carrier, transcript = stage.carrier, stage.transcript
    money = stage.profile.currency.format
    aziz, olga, _, aida, _, _ = stage.subscribers

    before = {m: len(carrier.inbox(m)) for m in (aziz.msisdn, olga.msisdn)}
    totals = {m: _total(m) for m in (aziz.msisdn, olga.msisdn)}
    reply = stage.dial(aziz, f"*112*{olga.msisdn.lstrip('+')}*5000#")
    transcript.add(
        aziz.msisdn,
        f"dials *112*{olga.msisdn.lstrip('+')}*5000#",
        reply["text"],
        reply["end"],
        "a final screen: being processed, the result comes by SMS",
    )
    sender_sms = stage.new_sms(aziz.msisdn, before[aziz.msisdn])
    recipient_sms = stage.new_sms(olga.msisdn, before[olga.msisdn])
    moved = (
        _total(aziz.msisdn) == totals[aziz.msisdn] - AMOUNT - FEE
        and _total(olga.msisdn) == totals[olga.msisdn] + AMOUNT
    )
    transcript.add(
        aziz.msisdn, "receives", sender_sms, moved, f"{money(AMOUNT)} + fee {money(FEE)} debited once, with a reference"
    )
    transcript.add(olga.msisdn, "receives", recipient_sms, moved, f"{money(AMOUNT)} credited once")

    total = _total(aziz.msisdn)
    reply = stage.dial(aziz, f"*112*{aida.msisdn.lstrip('+')}*3000#")
    transcript.add(
        aziz.msisdn,
        f"dials *112*{aida.msisdn.lstrip('+')}*3000# (not a denomination)",
        reply["text"],
        reply["end"] and "2 500" in reply["text"] and _total(aziz.msisdn) == total,
        "a refusal naming the allowed amounts, nothing charged",
    )

    before_aziz = len(carrier.inbox(aziz.msisdn))
    reply = stage.dial(aida, f"*116*{aziz.msisdn.lstrip('+')}*5000#")
    transcript.add(
        aida.msisdn,
        f"dials *116*{aziz.msisdn.lstrip('+')}*5000# (please top me up)",
        reply["text"],
        reply["end"],
        "a confirmation that the request was sent",
    )
    asked = stage.new_sms(aziz.msisdn, before_aziz)
    transcript.add(
        aziz.msisdn,
        "receives",
        asked,
        aida.msisdn.lstrip("+") in asked.replace("+", ""),
        "an SMS naming the requester and the amount",
    )

    totals = {m: _total(m) for m in (olga.msisdn, aziz.msisdn)}
    before_olga = len(carrier.inbox(olga.msisdn))
    screen = stage.dial(olga, "#131#")
    screens: list[tuple[str, dict[str, Any]]] = [("dials #131#", screen)]
    for step in ("1", aziz.msisdn.lstrip("+"), "1", "1"):  # send credit, recipient, first amount, confirm
        if screen["end"]:
            break
        screen = stage.read_through(olga, carrier.reply(olga.msisdn, screen["session_id"], step))
        screens.append((f"keys {step}", screen))
    for action, shown in screens:
        transcript.add(olga.msisdn, f"menu: {action}", shown["text"], True)
    confirmation = stage.new_sms(olga.msisdn, before_olga)
    moved = (
        _total(olga.msisdn) == totals[olga.msisdn] - MENU_AMOUNT - FEE
        and _total(aziz.msisdn) == totals[aziz.msisdn] + MENU_AMOUNT
    )
    transcript.add(
        olga.msisdn,
        "receives",
        confirmation,
        screen["end"] and moved,
        "the menu transfer of 2 500 so'm done after the confirmation",
    )


def _switched_on(profile: OperatorProfile) -> bool:
    return bool(profile.services.get(SERVICE))


SECTION = DemoSection(order=30, play=play, switched_on=_switched_on)
