"""Zero balance's part of the scripted demo (infra/demo.py): Bobur, at zero balance, calls Aziz; the network
refuses the call and Bobur sends Aziz a free "please call me back"."""

from __future__ import annotations

from functions.zero_balance.config import config_for
from infra.demo_common import DemoSection, DemoStage
from shared.operator import OperatorProfile


def play(stage: DemoStage) -> None:
    """The refused call's offer, Bobur's answer 1, Aziz's call-me-back SMS and Bobur's confirmation."""
    config = config_for(stage.profile)
    if config is None:
        raise RuntimeError("the call-me-back demo played for a profile without zero balance offers")
    carrier, transcript = stage.carrier, stage.transcript
    aziz, *_, bobur = stage.subscribers
    carrier.set_state(bobur.msisdn, zero_balance=True)
    before = {m: len(carrier.inbox(m)) for m in (aziz.msisdn, bobur.msisdn)}
    call = carrier.call(bobur.msisdn, aziz.msisdn)
    offer = stage.new_sms(bobur.msisdn, before[bobur.msisdn])
    transcript.add(
        bobur.msisdn,
        f"has zero balance and calls {aziz.msisdn}: {call['outcome']}; receives",
        offer,
        call["outcome"] == "refused-zero-balance" and aziz.msisdn in offer,
        "an offer to send Aziz a free call-me-back message",
    )

    before_answer = len(carrier.inbox(bobur.msisdn))
    carrier.send_sms(bobur.msisdn, config.short_code, "1")
    asked = stage.new_sms(aziz.msisdn, before[aziz.msisdn])
    transcript.add(aziz.msisdn, "receives", asked, bobur.name in asked, "Bobur's please-call-me-back message")
    sent = stage.new_sms(bobur.msisdn, before_answer)
    transcript.add(
        bobur.msisdn,
        f"replied 1 to {config.short_code}, receives",
        sent,
        aziz.msisdn in sent,
        "a confirmation that the request was sent",
    )


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = DemoSection(order=50, play=play, switched_on=_switched_on)
