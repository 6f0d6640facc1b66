"""Missed calls' part of the scripted demo (infra/demo.py), played through the carrier emulator's phones.

Aida asks for a voice mailbox, confirms its price with YES, sets its PIN and switches her phone
off; Aziz calls her three times and leaves his number, Olga asks to be told when she is back, John
leaves another number (after a wrong one) and Li leaves a voice message. Aida switches on: one SMS
per caller. Olga is told Aida is back, Aida asks for the details with D; a call spoofing Aida's
number is asked for the PIN and hears nothing, Aida keys it and listens to Li's message.
"""

from __future__ import annotations

import time
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from functions.missed_calls import documents
from functions.missed_calls.config import config_for
from infra.demo_common import DemoSection, DemoStage, wait_until
from shared import consent, store
from shared.operator import OperatorProfile

DEMO_PIN = "4821"


def _heard(state: dict[str, Any], now: bool = True) -> str:
    return "\n".join(state["heard_now" if now else "heard"]) or "(silence)"


def play(stage: DemoStage) -> None:
    """Aida's mailbox, six calls missed while she is off, her SMS on attach, D, a spoofed call and her PIN."""
    config = config_for(stage.profile)
    if config is None:
        raise RuntimeError("the missed-call demo played for a profile without missed calls")
    carrier, transcript, timeout = stage.carrier, stage.transcript, stage.timeout
    aziz, olga, li, aida, john, _ = stage.subscribers

    before = len(carrier.inbox(aida.msisdn))
    carrier.send_sms(aida.msisdn, config.short_code, "REG")
    question = stage.new_sms(aida.msisdn, before)
    yes = consent.YES_WORD[aida.language]  # the confirming word of the language she reads
    transcript.add(
        aida.msisdn,
        f"texts REG to {config.short_code}, receives",
        question,
        yes in question,
        "the price and period, and a question: nothing is charged yet",
    )
    before = len(carrier.inbox(aida.msisdn))
    carrier.send_sms(aida.msisdn, config.short_code, yes)
    confirmation = stage.new_sms(aida.msisdn, before)
    user = store.db().collection(documents.USERS).document(aida.msisdn)
    wait_until(lambda: (user.get().to_dict() or {}).get("registered"), timeout, "Aida's voice mailbox")
    transcript.add(
        aida.msisdn,
        f"replies {yes} to {config.short_code}, receives",
        confirmation,
        True,
        "the voice mailbox switched on and its first month charged",
    )
    before = len(carrier.inbox(aida.msisdn))
    carrier.send_sms(aida.msisdn, config.short_code, f"PIN {DEMO_PIN}")
    pin_set = stage.new_sms(aida.msisdn, before)
    transcript.add(
        aida.msisdn,
        f"texts PIN {DEMO_PIN} to {config.short_code}, receives",
        pin_set,
        DEMO_PIN not in pin_set,
        "the mailbox PIN set (its digits are never repeated or stored)",
    )

    carrier.detach(aida.msisdn)
    transcript.add(aida.msisdn, "switches her phone off", "(no network)", True)

    for attempt in (1, 2, 3):
        call = carrier.call(aziz.msisdn, aida.msisdn)
        if attempt == 1:
            transcript.add(
                aziz.msisdn,
                f"calls {aida.msisdn}, forwarded ({call['forward_reason']}); hears",
                _heard(call),
                call["forwarded"] and call["waiting"] == "digits",
                "the caller menu: keys 1 to 4",
            )
        if attempt < 3:
            carrier.hang_up(call["call_sid"])
            continue
        chosen = carrier.press(call["call_sid"], "2")
        transcript.add(
            aziz.msisdn,
            "hung up twice; calls a third time, presses 2, hears",
            _heard(chosen),
            chosen["ended"],
            "a confirmation that Aida will get his number",
        )

    call = carrier.call(olga.msisdn, aida.msisdn)
    chosen = carrier.press(call["call_sid"], "4")
    transcript.add(
        olga.msisdn,
        f"calls {aida.msisdn}, presses 4, hears",
        _heard(chosen),
        chosen["ended"],
        "a promise of an SMS when Aida is back",
    )

    call = carrier.call(john.msisdn, aida.msisdn)
    asked = carrier.press(call["call_sid"], "3")
    wrong = carrier.press(call["call_sid"], "12#")
    done = carrier.press(call["call_sid"], olga.msisdn.removeprefix("+998") + "#")
    transcript.add(
        john.msisdn,
        "presses 3, keys 12# (not a number), then Olga's number; hears",
        "\n".join([_heard(asked), _heard(wrong), _heard(done)]),
        done["ended"] and not wrong["ended"],
        "a re-prompt, then the number read back",
    )

    call = carrier.call(li.msisdn, aida.msisdn)
    beep = carrier.press(call["call_sid"], "1")
    spoken = "Aida, it is Li. The concert moved to Saturday, call me."
    saved = carrier.speak(call["call_sid"], spoken, seconds=6)
    transcript.add(
        li.msisdn,
        "presses 1 and leaves a voice message; hears",
        _heard(beep) + "\n" + _heard(saved),
        saved["ended"] and bool(saved["recordings"]),
        "a beep, then thanks",
    )

    calls = store.db().collection(documents.MISSED_CALLS).where(filter=FieldFilter("callee", "==", aida.msisdn))
    # Six calls over: two hung up, four with their key to the end. A key still on its way when
    # Aida switches on is told in an SMS of its own (the call is reopened), not the script's four.
    wait_until(
        lambda: _ended([c.to_dict() or {} for c in calls.stream()], over=6, keyed=4),
        timeout,
        "Aida's six missed calls to be recorded, four with their key",
    )

    inbox_before = {m: len(carrier.inbox(m)) for m in (aida.msisdn, olga.msisdn)}
    carrier.attach(aida.msisdn)
    received = carrier.wait_for_inbox(aida.msisdn, inbox_before[aida.msisdn] + 4, timeout)[inbox_before[aida.msisdn] :]
    time.sleep(1.0)  # anything more would be a second SMS about the same caller
    received = carrier.inbox(aida.msisdn)[inbox_before[aida.msisdn] :]
    bodies = [m["body"] for m in received]
    about = {who: [b for b in bodies if who.msisdn in b] for who in (aziz, li)}
    notice = store.db().collection(documents.NOTICES).document(aida.msisdn).get().to_dict() or {}
    counts = {c["caller"]: c["count"] for c in notice.get("calls", [])}
    transcript.add(
        aida.msisdn,
        "switches on and receives",
        "\n---\n".join(bodies),
        len(bodies) == 4
        and len(about[aziz]) == 1
        and counts.get(aziz.msisdn) == 3
        and any(olga.msisdn in b and john.msisdn in b for b in bodies)
        and len(about[li]) == 1
        and config.voicemail_number in about[li][0],
        "four SMS: Aziz called 3 times; John asks to be called on Olga's number; Li left a voice "
        "message; one free notice for Olga's call",
    )

    available = stage.new_sms(olga.msisdn, inbox_before[olga.msisdn])
    transcript.add(olga.msisdn, "receives", available, aida.msisdn in available, "Aida is available again")

    before_d = len(carrier.inbox(aida.msisdn))
    carrier.send_sms(aida.msisdn, config.short_code, "D")
    details = stage.new_sms(aida.msisdn, before_d)
    transcript.add(
        aida.msisdn,
        f"texts D to {config.short_code}, receives",
        details,
        aziz.msisdn in details and olga.msisdn in details,
        "the details of every missed call",
    )

    spoofed = carrier.call_from_outside(aida.msisdn, config.voicemail_number)
    transcript.add(
        aida.msisdn,
        f"(spoofed by someone outside the network) calls {config.voicemail_number}, hears",
        _heard(spoofed),
        "voice message" not in _heard(spoofed),
        "a PIN question and nothing else",
    )
    carrier.hang_up(spoofed["call_sid"])

    call = carrier.call(aida.msisdn, config.voicemail_number)
    opened = carrier.press(call["call_sid"], f"{DEMO_PIN}#")
    message = _heard(opened)
    transcript.add(
        aida.msisdn,
        f"calls {config.voicemail_number}, keys her PIN, hears",
        message,
        f"[voice message: {spoken}]" in message,
        "Li's voice message",
    )
    carrier.hang_up(call["call_sid"])


def _ended(calls: list[dict[str, Any]], *, over: int, keyed: int) -> bool:
    """At least `over` calls over (a key pressed to the end, or a hang-up), `keyed` of them with their key recorded."""
    ended = [c for c in calls if c.get("final") or c.get("hung_up_at")]
    return len(ended) >= over and sum(1 for c in ended if c.get("final")) >= keyed


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


def _greets_on_attach(profile: OperatorProfile) -> bool:
    config = config_for(profile)
    return bool(config and config.activation_notice)


SECTION = DemoSection(order=40, play=play, switched_on=_switched_on, greets_on_attach=_greets_on_attach)
