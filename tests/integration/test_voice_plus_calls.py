"""Voice+ on the real emulators: the carrier emulator hands wrong-number calls (after the network's
announcement) to the edge's voice webhook served as a function, on the Firestore and Pub/Sub emulators.
A campaign capped at 2 plays a day is heard by exactly 2 of 100 simultaneous calls from one number;
callers who are not ours, or outside every campaign, hear the announcement only; pressing 1 twice
publishes `voice-plus.accepted` with the confirmed consent."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from emulators.carrier import CarrierClient
from emulators.process import Service, free_port
from functions.voice_plus import edge_voice
from functions.voice_plus.documents import CAMPAIGNS, CAPS, Campaign, campaign_document
from shared import store
from tests.conftest import LOG_DIR, REPO
from tests.integration.test_edge import provision

TOKEN = "voice-plus-twilio-token"
ACCOUNT_SID = "AC" + "5e" * 16
CALLER, OTHER_PREFIX, NOBODY = "+998901234567", "+998931234567", "+998909999999"
FOREIGN = "+14155550100"
ANNOUNCEMENT = "The number you have dialled does not exist."
OFFER = "One gigabyte for nine thousand sum. Press 1 to buy it, 2 to hear more, 9 to hear this again."
CALLS = 100


def campaign() -> dict:
    """A live voice campaign for numbers starting 99890, capped at 2 plays a day, with a confirmation step."""
    return campaign_document(Campaign.model_validate({
        "id": "data-wrong-number", "name": "1 GB on wrong numbers", "channel": "voice", "status": "live",
        "offer": {"kind": "bundle", "product": "data-1gb", "confirm": True},
        "voice": {"en": {"say": OFFER}},
        "schedule": {"starts": date(2020, 1, 1)},
        "segment": {"prefixes": ["99890"]},
        "cap": {"plays": 2, "period_hours": 24},
    }))


@pytest.fixture
def network(firestore_clean, function_server):
    """The edge's voice webhook as a function, and the carrier emulator calling it like Twilio."""
    store.db().collection(CAMPAIGNS).document("data-wrong-number").set(campaign())
    edge = function_server("edge-voice", VAS_TWILIO_AUTH_TOKEN=TOKEN, VAS_USSD_GATEWAY_SECRET="unused-here")
    webhook = edge.ready_url
    port = free_port()
    argv = [sys.executable, "-m", "emulators.carrier", "serve", "--port", str(port), "--account-sid", ACCOUNT_SID,
            "--auth-token", TOKEN, "--gateway-secret", "voice-plus-gateway", "--voice-webhook", webhook,
            "--voice-status-callback", f"{webhook}?callback=status", "--publish-network-events", "off"]
    carrier = Service("carrier-voice-plus", argv, ready_url=f"http://127.0.0.1:{port}/health", log_dir=LOG_DIR,
                      cwd=REPO).start().wait_ready()
    client = CarrierClient(f"http://127.0.0.1:{port}")
    for msisdn in (CALLER, OTHER_PREFIX):
        client.provision(msisdn)
        provision(msisdn, "en")
    yield client
    carrier.stop()


def test_one_hundred_wrong_number_calls_at_once_hear_the_campaign_within_its_cap(network):
    with ThreadPoolExecutor(max_workers=20) as pool:
        calls = list(pool.map(lambda _: network.call(CALLER, NOBODY), range(CALLS)))
    assert all(call["outcome"] == "not-exists" and call["heard"][0] == ANNOUNCEMENT for call in calls)
    offered = [call for call in calls if OFFER in call["heard"]]
    assert len(offered) == 2
    assert all(call["heard"] == [ANNOUNCEMENT] and call["ended"] for call in calls if call not in offered)
    plays = store.db().collection(CAPS).document(CALLER).get().to_dict()["plays"]
    assert sorted(play["offer"] for play in plays) == sorted(f"voice:{call['call_sid']}" for call in offered)


def test_callers_who_are_not_ours_or_outside_every_campaign_hear_the_announcement_only(network):
    foreign = network.call_from_outside(FOREIGN, NOBODY)
    outside = network.call(OTHER_PREFIX, NOBODY)
    for call in (foreign, outside):
        assert (call["outcome"], call["heard"], call["ended_by"]) == ("not-exists", [ANNOUNCEMENT], "hangup")
    assert not store.db().collection(CAPS).document(OTHER_PREFIX).get().exists


def test_pressing_1_and_confirming_publishes_the_consent(network, tap):
    pull = tap("voice-plus.accepted")
    call = network.call(CALLER, NOBODY)
    assert call["heard"] == [ANNOUNCEMENT, OFFER] and call["waiting"] == "digits"
    asked = network.press(call["call_sid"], "1")
    assert asked["heard_now"] == ["To confirm, press 1 again."]
    done = network.press(call["call_sid"], "1")
    assert done["heard_now"] == ["Thank you. An SMS will tell you the result."] and done["ended_by"] == "hangup"
    [accepted] = pull(1)
    consent = accepted.data["consent"]
    assert (accepted.data["offer_id"], accepted.data["campaign_id"], accepted.data["msisdn"]) == (
        f"voice:{call['call_sid']}", "data-wrong-number", CALLER)
    assert (consent["status"], consent["channel"], consent["shown"]) == ("confirmed", "ivr", OFFER)
    assert (consent["request"]["text"], consent["request"]["reference"]) == ("1", call["call_sid"])
    assert consent["confirmation"]["text"] == "1" and (consent["price"], consent["currency"]) == (900000, "UZS")


def test_a_caller_hanging_up_during_the_offer_is_counted_once_and_an_accepted_offer_never_as_a_hangup(network, tap):
    pull = tap("voice-plus.funnel")
    left = network.call(CALLER, NOBODY)
    network.hang_up(left["call_sid"])
    taken = network.call(CALLER, NOBODY)
    network.press(taken["call_sid"], "1")
    network.press(taken["call_sid"], "1")
    events = pull(6)  # left: offered, hangup; taken: offered, key, confirmation, and its end's hangup
    assert not pull.rest()
    left_offer, taken_offer = f"voice:{left['call_sid']}", f"voice:{taken['call_sid']}"
    by_offer = {offer: sorted((e.data["step"], e.id) for e in events if e.data["offer_id"] == offer)
                for offer in (left_offer, taken_offer)}
    assert [step for step, _ in by_offer[left_offer]] == ["hangup", "offered"]
    assert dict(by_offer[left_offer])["hangup"] == edge_voice.ending_event_id(left_offer)
    assert [step for step, _ in by_offer[taken_offer]] == ["confirmation", "hangup", "key", "offered"]
    # The accepted call's end says "hangup" under the same id as its confirmation: one event, counted once.
    ending = edge_voice.ending_event_id(taken_offer)
    assert dict(by_offer[taken_offer])["confirmation"] == dict(by_offer[taken_offer])["hangup"] == ending
    assert len({event_id for _, event_id in by_offer[taken_offer]}) == 3
