"""Voice+ and the add-on offers' part of the scripted demo (infra/demo.py), after subscriptions and before credits:

the demo's campaigns imported with the care CLI (functions/voice_plus/campaigns/*.yaml); Aida dials a
number that does not exist, hears the announcement and the Voice+ offer of the 1 GB pack, presses 1
and 1 again to confirm, and subscriptions' receipt comes by SMS; she dials it again and hears the
announcement only (the campaign's cap: once a day). Aziz checks his balance on *100#, sees the add-on
under it and takes it (1, then 1 Confirm); Olga tops up and her confirmation SMS carries the SMS
add-on, which she takes with its keyword and YES. Last, the funnel per campaign, language and day.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from google.cloud import firestore

from functions.subscriptions import public as subscriptions
from functions.voice_plus import stats
from functions.voice_plus.config import VoicePlusConfig, config_for
from functions.voice_plus.documents import CAMPAIGNS, OFFERS, Campaign
from infra.demo_common import DemoSection, DemoStage, DemoSubscriber, wait_until
from shared import consent, localtime, store
from shared.operator import OperatorProfile

CAMPAIGN_FILES = Path(__file__).with_name("campaigns")
WRONG_NUMBER = "+998909999999"  # nobody's: the network answers "does not exist"


def play(stage: DemoStage) -> None:
    """The campaigns imported; a wrong-number call's offer taken, a capped repeat, both add-ons taken, the funnel."""
    config = config_for(stage.profile)
    if config is None:
        raise RuntimeError("the Voice+ demo played for a profile without voice_plus")
    campaigns = import_campaigns(stage)
    aziz, olga, _, aida, *_ = stage.subscribers
    wrong_number_offer(stage, campaigns["voice"], aida)
    capped_repeat(stage, aida)
    ussd_addon(stage, campaigns["ussd"], aziz)
    sms_addon(stage, config, campaigns["sms"], olga)
    funnel(stage, campaigns)


def import_campaigns(stage: DemoStage) -> dict[str, Campaign]:
    """Every campaign file imported as care would (`python -m functions.voice_plus import FILE --by demo`)."""
    imported = []
    for path in sorted(CAMPAIGN_FILES.glob("*.yaml")):
        done = subprocess.run(
            [sys.executable, "-m", "functions.voice_plus", "import", str(path), "--by", "demo"],
            capture_output=True,
            text=True,
            timeout=stage.timeout,
            check=False,
        )
        imported.append(f"{path.name}: {(done.stdout or done.stderr).strip()}")
    stored = [Campaign.model_validate(snapshot.to_dict()) for snapshot in store.db().collection(CAMPAIGNS).stream()]
    live: dict[str, Campaign] = {campaign.channel: campaign for campaign in stored if campaign.status == "live"}
    stage.transcript.add(
        "",
        "care imports the campaigns (python -m functions.voice_plus import FILE --by demo)",
        "\n".join(imported),
        set(live) == {"voice", "ussd", "sms"},
        "a live campaign on each channel: voice, USSD add-on, SMS add-on",
    )
    # The edge reads the live campaigns every campaign_refresh_seconds: the new ones are offered after that.
    config = config_for(stage.profile)
    assert config is not None
    time.sleep(config.campaign_refresh_seconds + 1)
    return live


def _heard(state: dict[str, Any]) -> str:
    return "\n".join(state["heard_now"]) or "(silence)"


def _offers_to(msisdn: str, channel: str) -> list[dict[str, Any]]:
    found = store.db().collection(OFFERS).where(filter=firestore.FieldFilter("msisdn", "==", msisdn)).stream()
    return [offer for offer in (snapshot.to_dict() or {} for snapshot in found) if offer.get("channel") == channel]


def wrong_number_offer(stage: DemoStage, campaign: Campaign, who: DemoSubscriber) -> None:
    """The announcement, the offer in the caller's language, 1 and 1 again, the thanks, the receipt by SMS."""
    carrier, terms = stage.carrier, subscriptions.terms(campaign.offer.product)
    assert terms is not None
    prompt = campaign.voice[who.language].shown  # type: ignore[index]  # the demo's campaign speaks all five
    stage.top_up(who, 2 * terms.price, reference="VOICE-PLUS-DEMO-0")  # enough for the pack she will take
    before = len(carrier.inbox(who.msisdn))
    call = carrier.call(who.msisdn, WRONG_NUMBER)
    stage.transcript.add(
        who.msisdn,
        f"dials {WRONG_NUMBER} (a number that does not exist); hears",
        _heard(call),
        call["outcome"] == "not-exists" and prompt in "\n".join(call["heard"]),
        "the network's announcement, then the Voice+ offer in her language",
    )
    asked = carrier.press(call["call_sid"], campaign.offer.activate_key)
    confirmed = carrier.press(call["call_sid"], campaign.offer.activate_key)
    stage.transcript.add(
        who.msisdn,
        f"presses {campaign.offer.activate_key}, hears: {_heard(asked)!r}; presses it again; hears",
        _heard(confirmed),
        confirmed["ended"],
        "thanks: an SMS will tell the result",
    )
    receipt = stage.sms_saying(who.msisdn, before, terms.name_in(who.language))
    wait_until(
        lambda: any(offer["outcome"] == "activated" for offer in _offers_to(who.msisdn, "voice")),
        stage.timeout,
        "the offer's activation",
    )
    stage.transcript.add(who.msisdn, "receives", receipt, True, "subscriptions' receipt: the pack bought")


def capped_repeat(stage: DemoStage, who: DemoSubscriber) -> None:
    """The same wrong number again the same day: the campaign's cap (once a day) leaves the announcement only."""
    call = stage.carrier.call(who.msisdn, WRONG_NUMBER)
    state = call if call["ended"] else stage.carrier.call_state(call["call_sid"])
    stage.transcript.add(
        who.msisdn,
        f"dials {WRONG_NUMBER} again; hears",
        "\n".join(state["heard"]),
        state["ended"] and len(state["heard"]) == 1,
        "the announcement only: the offer was played to her once today, its cap",
    )


def ussd_addon(stage: DemoStage, campaign: Campaign, who: DemoSubscriber) -> None:
    """The balance on *100# with the add-on under it; 1, then 1 Confirm; the receipt by SMS."""
    carrier, terms = stage.carrier, subscriptions.terms(campaign.offer.product)
    assert terms is not None
    code = stage.profile.short_codes.balance
    before = len(carrier.inbox(who.msisdn))
    screen = carrier.dial(who.msisdn, code)
    stage.transcript.add(
        who.msisdn,
        f"dials {code}; sees",
        screen["text"],
        campaign.text[who.language] in screen["text"] and not screen["end"],  # type: ignore[index]  # its languages only
        "the balance, and under it the add-on with 1 Activate 2 Info",
    )
    confirm = carrier.reply(who.msisdn, screen["session_id"], "1")
    done = carrier.reply(who.msisdn, screen["session_id"], "1")
    receipt = stage.sms_saying(who.msisdn, before, terms.name_in(who.language))
    stage.transcript.add(
        who.msisdn,
        f"presses 1 (sees {confirm['text']!r}), then 1 Confirm (sees {done['text']!r}); receives",
        receipt,
        done["end"],
        "the price and period before confirming; subscriptions' receipt after",
    )


def sms_addon(stage: DemoStage, config: VoicePlusConfig, campaign: Campaign, who: DemoSubscriber) -> None:
    """A top-up's confirmation with the SMS add-on; the keyword, the question naming the price, YES, the receipt."""
    carrier, terms = stage.carrier, subscriptions.terms(campaign.offer.product)
    assert terms is not None and campaign.keyword is not None
    before = len(carrier.inbox(who.msisdn))
    stage.top_up(who, 1_000_000, reference="VOICE-PLUS-DEMO-1")
    confirmation = stage.sms_saying(who.msisdn, before, campaign.keyword)
    stage.transcript.add(
        who.msisdn,
        "tops up 10 000; receives",
        confirmation,
        campaign.text[who.language] in confirmation,  # type: ignore[index]  # its languages only
        "the top-up's confirmation with the add-on and its keyword, in one SMS",
    )
    before = len(carrier.inbox(who.msisdn))
    carrier.send_sms(who.msisdn, config.short_code, campaign.keyword)
    question = stage.new_sms(who.msisdn, before)
    stage.transcript.add(
        who.msisdn,
        f"texts {campaign.keyword} to {config.short_code}; receives",
        question,
        terms.name_in(who.language) in question,
        "a question naming the product, its price and period: reply YES",
    )
    before = len(carrier.inbox(who.msisdn))
    carrier.send_sms(who.msisdn, config.short_code, consent.YES_WORD[who.language])
    receipt = stage.sms_saying(who.msisdn, before, terms.name_in(who.language))
    stage.transcript.add(
        who.msisdn, f"replies {consent.YES_WORD[who.language]}; receives", receipt, True, "subscriptions' receipt"
    )


def funnel(stage: DemoStage, campaigns: dict[str, Campaign]) -> None:
    """The funnel of the day the offers were made, as care's `python -m functions.voice_plus stats` shows it."""
    caller = stage.subscribers[3].msisdn  # Aida, whose wrong-number call's offer was activated
    activated = [offer for offer in _offers_to(caller, "voice") if offer["outcome"] == "activated"]
    day = date.fromisoformat(localtime.day_of(activated[0]["at"], stage.profile.timezone)) if activated else None
    rows: list[stats.FunnelRow] = []

    def counted() -> bool:
        rows[:] = stats.funnel(store.db(), campaigns["voice"].id, day, day) if day else []
        return any(row.count("activated") for row in rows)

    wait_until(counted, stage.timeout, "the Voice+ activation counted in the statistics")
    every = stats.funnel(store.db(), None, day, day) if day else []
    stage.transcript.add(
        "",
        "care runs python -m functions.voice_plus stats; sees",
        stats.format_funnel(every),
        any(row.count("offered") and row.count("activated") for row in rows),
        "each campaign's offers, key presses, confirmations, activations and conversion",
    )


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = DemoSection(order=92, play=play, switched_on=_switched_on)
