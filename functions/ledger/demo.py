"""The balance check's part of the scripted demo (infra/demo.py): by USSD code and by SMS keyword."""

from __future__ import annotations

from functions.ledger.edge import SERVICE
from infra.demo_common import DemoSection, DemoStage
from shared.operator import OperatorProfile


def play(stage: DemoStage) -> None:
    """Aziz dials the balance code; Olga texts БАЛАНС and reads her balance in Russian words."""
    carrier, transcript, profile = stage.carrier, stage.transcript, stage.profile
    money = profile.currency.format
    aziz, olga, *_ = stage.subscribers

    reply = stage.dial(aziz, profile.short_codes.balance)
    transcript.add(
        aziz.msisdn,
        f"dials {profile.short_codes.balance}",
        reply["text"],
        reply["end"] and money(aziz.main) in reply["text"],
        f"a final USSD screen naming the main balance {money(aziz.main)}",
    )

    before = len(carrier.inbox(olga.msisdn))
    carrier.send_sms(olga.msisdn, profile.short_codes.sms, "БАЛАНС")
    text = stage.new_sms(olga.msisdn, before)
    transcript.add(
        olga.msisdn,
        f"texts БАЛАНС to {profile.short_codes.sms}, receives",
        text,
        profile.currency.localise(money(olga.main), olga.language) in text,
        f"an SMS naming the balance {money(olga.main)} in her language's words",
    )


def _switched_on(profile: OperatorProfile) -> bool:
    return bool(profile.services.get(SERVICE))


SECTION = DemoSection(order=10, play=play, switched_on=_switched_on)
