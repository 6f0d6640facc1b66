"""Voice+ on wrong-number calls as a caller goes through it: the offer chosen and its play reserved, each
key's TwiML and what it publishes, the consent, the hang-ups; and fuzzed webhooks never answer a 500."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from functions.edge import api, services, voice
from functions.edge.request import Request, RequestDocuments
from functions.edge.subscribers import Caller
from functions.voice_plus import edge_voice, live
from functions.voice_plus.config import config_for
from functions.voice_plus.documents import CAPS, Campaign
from functions.voice_plus.live import LivePool
from functions.voice_plus.selection import Pool
from shared import operator
from shared.events import OfferAccepted, OfferFunnel, derive_event_id

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))
CONFIG = config_for(PROFILE)
CALLER, NOBODY = "+998901234567", "+998909999999"
SID = "CAwrong0001"
OFFER = f"voice:{SID}"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 14:00 in Tashkent
SAY_EN = "One gigabyte for 9 000 sum. Press 1 to buy, 2 to hear more, 9 to hear this again."


def campaign(campaign_id: str = "data-week", *, confirm: bool = True, plays: int = 1, **changes) -> Campaign:
    fields = {
        "id": campaign_id, "name": "1 GB", "channel": "voice", "status": "live",
        "offer": {"kind": "bundle", "product": "data-1gb", "confirm": confirm},
        "voice": {"en": {"say": SAY_EN}, "ru": {"play": "https://audio.test/ru.mp3"}},
        "schedule": {"starts": date(2026, 1, 1)}, "cap": {"plays": plays, "period_hours": 24},
    }
    return Campaign.model_validate(fields | changes)


class Caps:
    """The caps documents as the edge's conditional write sees them (one in-memory store)."""

    def __init__(self, busy: bool = False):
        self.stored: dict[str, dict] = {}
        self.writes = 0
        self.busy = busy

    def change_document(self, client, collection, document_id, change, **_):
        assert collection == CAPS
        if self.busy:
            raise api.DocumentBusy("kept changing")
        written, result = change(self.stored.get(document_id))
        if written is not None:
            self.stored[document_id], self.writes = written, self.writes + 1
        return result


def pool_of(*campaigns: Campaign) -> LivePool:
    live = LivePool(db=lambda: None, zone=ZoneInfo(PROFILE.timezone), refresh_seconds=3600)
    live._pool, live._read_at = Pool.of(((c, 0) for c in campaigns), ZoneInfo(PROFILE.timezone)), time.monotonic()
    return live


@pytest.fixture
def caps(monkeypatch) -> Caps:
    store = Caps()
    monkeypatch.setattr(api, "change_document", store.change_document)
    return store


def service(*campaigns: Campaign) -> edge_voice.VoicePlus:
    return edge_voice.VoicePlus(CONFIG, pool_of(*(campaigns or (campaign(),))), lambda: None)


def subscriber(status: str = "active", language: str = "en") -> dict:
    return {"status": status, "language": language, "tariff_plan": "standard"}


def first_request(caps: Caps, *, record: dict | None = None, language: str = "en", read: bool = True,
                  caller: str = CALLER, sid: str = SID, book: dict | None = None) -> Request[voice.InboundCall]:
    """The carrier's first request of a wrong-number call, with what the webhook read for it."""
    call = voice.parse({"CallSid": sid, "From": caller, "To": NOBODY, "CallReason": "not-exists"}, {})
    documents = {("subscribers", caller): record if record is not None else subscriber(language=language),
                 (CAPS, caller): caps.stored.get(caller), ("subscriptions", caller): book}
    known = record is None or "status" in record
    return Request(channel="voice", input=call, caller=Caller(caller, known, language), profile=PROFILE,
                   documents=RequestDocuments(documents if read else {}), now=NOW, read=read)


def action(answer) -> dict[str, str]:
    gather = ET.fromstring(str(answer)).find("Gather")
    assert gather is not None, f"no <Gather> in {answer}"
    assert gather.get("actionOnEmptyResult") == "true"  # every ending of ours goes through a step
    return dict(parse_qsl(gather.get("action").lstrip("?")))


def follow(plus: edge_voice.VoicePlus, answer, digits: str = "", *, seconds: int = 5, language: str = "en"):
    """Twilio requesting the answer's <Gather> action with the keys pressed (none: the timeout)."""
    call = voice.parse({"CallSid": SID, "From": CALLER, "To": NOBODY, "CallReason": "not-exists", "Digits": digits},
                       action(answer))
    request = Request(channel="voice", input=call, caller=Caller(CALLER, True, language), profile=PROFILE,
                      now=NOW + timedelta(seconds=seconds))
    return plus(request)


def said(answer) -> list[str]:
    return [element.text for element in ET.fromstring(str(answer)).iter("Say")]


def hangs_up_only(answer) -> bool:
    return str(answer).endswith("<Response><Hangup /></Response>")


def topics(answer) -> list[tuple[str, str | None]]:
    return [(p.topic, p.payload.step if isinstance(p.payload, OfferFunnel) else None) for p in answer.publish]


def test_the_offer_is_played_in_the_callers_language_and_its_play_reserved(caps):
    plus = service()
    answer = plus(first_request(caps))
    assert said(answer) == [SAY_EN]
    assert ET.fromstring(str(answer)).find("Gather/Say").get("voice") == "Polly.Joanna"
    assert action(answer) == {"step": "menu", "offer": OFFER, "campaign": "data-week", "lang": "en",
                              "attempt": "1", "n": "1"}
    [offered] = answer.publish
    assert (offered.topic, offered.payload.step, offered.payload.campaign_id, offered.payload.msisdn) == (
        "voice-plus.funnel", "offered", "data-week", CALLER)
    assert offered.event_id == derive_event_id(OFFER, "funnel/offered/0")
    assert [(p["campaign"], p["offer"]) for p in caps.stored[CALLER]["plays"]] == [("data-week", OFFER)]


def test_a_recorded_prompt_is_played(caps):
    answer = service()(first_request(caps, language="ru"))
    assert ET.fromstring(str(answer)).find("Gather/Play").text == "https://audio.test/ru.mp3"


@pytest.mark.parametrize("case", ["not ours", "blocked", "unread", "holds the product", "no language"])
def test_callers_outside_every_campaign_hear_the_announcement_only(caps, case):
    request = {
        "not ours": lambda: first_request(caps, record={}),
        "blocked": lambda: first_request(caps, record=subscriber("blocked")),
        "unread": lambda: first_request(caps, read=False),
        "holds the product": lambda: first_request(caps, book={"items": {"s1": {"product": "data-1gb", "status": "active"}}}),
        "no language": lambda: first_request(caps, language="zh"),
    }[case]()
    answer = service()(request)
    assert hangs_up_only(answer) and not getattr(answer, "publish", ())
    assert caps.writes == 0


def test_a_capped_caller_hears_nothing_and_nothing_is_written(caps):
    plus = service()
    plus(first_request(caps))
    again = plus(first_request(caps, sid="CAwrong0002"))
    assert hangs_up_only(again) and caps.writes == 1
    assert len(caps.stored[CALLER]["plays"]) == 1


def test_twilio_repeating_the_first_request_takes_no_second_play(caps):
    plus = service(campaign(plays=5))
    first, repeated = plus(first_request(caps)), plus(first_request(caps))
    assert said(first) == said(repeated) and first.publish == repeated.publish  # the same event id: counted once
    assert len(caps.stored[CALLER]["plays"]) == 1


def test_a_busy_caps_document_means_no_offer(monkeypatch):
    busy = Caps(busy=True)
    monkeypatch.setattr(api, "change_document", busy.change_document)
    assert hangs_up_only(service()(first_request(busy)))


def test_key_1_asks_to_confirm_then_the_same_key_accepts_with_the_consent(caps):
    plus = service()
    offered = plus(first_request(caps))
    asked = follow(plus, offered, "1", seconds=4)
    assert said(asked) == ["To confirm, press 1 again."] and topics(asked) == [("voice-plus.funnel", "key")]
    done = follow(plus, asked, "1", seconds=7)
    assert said(done) == ["Thank you. An SMS will tell you the result."] and str(done).endswith("<Hangup /></Response>")
    assert topics(done) == [("voice-plus.accepted", None), ("voice-plus.funnel", "confirmation")]
    accepted: OfferAccepted = done.publish[0].payload
    given_ = accepted.consent
    assert (given_.status, given_.channel, given_.offer, given_.shown) == ("confirmed", "ivr", "voice_plus.data-week.data-1gb",
                                                                          SAY_EN)
    assert (given_.price, given_.currency, given_.period) == (900000, "UZS", "once")
    assert (given_.request.text, given_.request.reference, given_.request.at) == ("1", SID, NOW + timedelta(seconds=4))
    assert (given_.confirmation.text, given_.confirmation.at) == ("1", NOW + timedelta(seconds=7))
    assert (accepted.offer_id, accepted.campaign_id, accepted.channel) == (OFFER, "data-week", "voice")
    assert done.publish[1].event_id == edge_voice.ending_event_id(OFFER)


def test_another_key_at_the_confirmation_declines_and_keeps_the_consent(caps):
    plus = service()
    done = follow(plus, follow(plus, plus(first_request(caps)), "1"), "3")
    assert said(done) == ["Nothing was activated. Goodbye."]
    assert topics(done) == [("voice-plus.accepted", None), ("voice-plus.funnel", "key")]
    assert done.publish[0].payload.consent.status == "declined"
    assert done.publish[0].payload.consent.confirmation.text == "3"


def test_without_a_confirmation_step_the_key_accepts_at_once(caps):
    plus = service(campaign(confirm=False))
    done = follow(plus, plus(first_request(caps)), "1")
    assert topics(done) == [("voice-plus.funnel", "key"), ("voice-plus.accepted", None),
                            ("voice-plus.funnel", "confirmation")]
    consent = done.publish[1].payload.consent
    assert consent.status == "confirmed" and consent.request == consent.confirmation


def test_key_2_tells_the_products_terms_then_the_menu_again(caps):
    plus = service()
    info = follow(plus, plus(first_request(caps)), "2")
    assert said(info) == ["1 GB data: 9 000 so'm.", SAY_EN]
    assert topics(info) == [("voice-plus.funnel", "key"), ("voice-plus.funnel", "played")]
    assert action(info)["n"] == "2"


def test_key_2_plays_the_campaigns_own_information_when_it_has_one(caps):
    plus = service(campaign(voice_info={"en": {"say": "Valid for 30 days."}}))
    assert said(follow(plus, plus(first_request(caps)), "2")) == ["Valid for 30 days.", SAY_EN]


def test_key_9_repeats_the_offer(caps):
    plus = service()
    again = follow(plus, plus(first_request(caps)), "9")
    assert said(again) == [SAY_EN] and topics(again)[-1] == ("voice-plus.funnel", "played")


def test_no_key_is_asked_once_more_then_goodbye_counted_as_the_offers_ending(caps):
    plus = service()
    again = follow(plus, plus(first_request(caps)))
    assert said(again) == [SAY_EN] and not again.publish and action(again)["attempt"] == "2"
    bye = follow(plus, again)
    assert said(bye) == ["Goodbye."] and topics(bye) == [("voice-plus.funnel", "hangup")]
    assert bye.publish[0].event_id == edge_voice.ending_event_id(OFFER)


def test_another_key_is_not_an_option_once_then_goodbye(caps):
    plus = service()
    wrong = follow(plus, plus(first_request(caps)), "5")
    assert said(wrong) == ["That key is not an option.", SAY_EN]
    bye = follow(plus, wrong, "7")
    assert said(bye) == ["Goodbye."] and topics(bye) == [("voice-plus.funnel", "key"), ("voice-plus.funnel", "hangup")]


def test_an_action_url_of_another_call_is_not_this_calls_offer(caps):
    plus = service()
    offered = plus(first_request(caps))
    forged = voice.parse({"CallSid": "CAother", "From": CALLER, "Digits": "1"}, action(offered))
    answer = plus(Request(channel="voice", input=forged, caller=Caller(CALLER, True, "en"), profile=PROFILE, now=NOW))
    assert said(answer) == ["Goodbye."] and not answer.publish


def test_the_calls_end_counts_a_hangup_under_the_same_id_as_an_ending_of_ours(caps):
    plus = service()
    plus(first_request(caps))
    ended = voice.parse({"CallSid": SID, "From": CALLER, "To": NOBODY, "CallReason": "not-exists",
                         "CallStatus": "completed"}, {"callback": "status"})
    docs = RequestDocuments({(CAPS, CALLER): caps.stored[CALLER]})
    [hangup] = plus.ended(Request(channel="voice", input=ended, caller=Caller(CALLER, True, "en"), profile=PROFILE,
                                  documents=docs, now=NOW + timedelta(seconds=20)))
    assert (hangup.payload.step, hangup.event_id) == ("hangup", edge_voice.ending_event_id(OFFER))
    other = voice.parse({"CallSid": "CAnooffer", "From": CALLER, "CallReason": "not-exists"}, {})
    assert plus.ended(Request(channel="voice", input=other, caller=Caller(CALLER, True, "en"), profile=PROFILE,
                              documents=docs, now=NOW)) == ()


def test_wrong_numbers_are_routed_to_voice_plus_and_nobody_elses_calls(caps, monkeypatch):
    router = services.voice_routes(PROFILE)
    wrong = voice.parse({"CallSid": SID, "From": CALLER, "To": NOBODY, "CallReason": "not-exists"}, {})
    forwarded = voice.parse({"CallSid": SID, "From": CALLER, "To": "+998712000000", "ForwardedFrom": NOBODY}, {})
    assert isinstance(router.handler_for(wrong), api.VoiceService)
    assert router.handler_for(wrong).handler.__class__ is edge_voice.VoicePlus
    assert router.handler_for(forwarded).__class__ is not edge_voice.VoicePlus
    assert (CAPS, CALLER) in router.documents_for(wrong, PROFILE)


def test_a_wrong_number_nobody_takes_ends_silently():
    call = voice.parse({"CallSid": SID, "From": CALLER, "To": NOBODY, "CallReason": "not-exists"}, {})
    answer = voice.VoiceRouter().answer(Request(channel="voice", input=call, caller=Caller(CALLER, True, "en"),
                                                profile=PROFILE, now=NOW))
    assert hangs_up_only(answer)


# --- fuzzed: any form and query a webhook may get is answered with TwiML ---------------------------

FIELDS = ["CallSid", "From", "To", "CallReason", "Digits", "CallStatus", "ForwardedFrom", "ForwardReason"]
QUERY = ["step", "offer", "campaign", "lang", "attempt", "n", "at", "callback"]
TEXT = st.one_of(st.text(max_size=30), st.sampled_from(["", "1", "2", "9", "5", "not-exists", SID, OFFER, "menu",
                                                          "confirm", "data-week", "en", CALLER, "99", "2"]))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(FIELDS), TEXT), query=st.dictionaries(st.sampled_from(QUERY), TEXT),
       read=st.booleans())
def test_any_form_and_query_is_answered_with_twiml(caps, form, query, read):
    plus = service(campaign(), campaign("voice-two", confirm=False, plays=3))
    call = voice.parse(form, query)
    documents = {("subscribers", call.caller or ""): subscriber(), (CAPS, call.caller or ""): None,
                 ("subscriptions", call.caller or ""): None}
    request = Request(channel="voice", input=call, caller=Caller(call.caller or "", True, "en"), profile=PROFILE,
                      documents=RequestDocuments(documents), now=NOW, read=read)
    router = voice.VoiceRouter()
    router.add(edge_voice.entry(plus, priority=5))
    answer = router.answer(request)
    assert ET.fromstring(str(answer)).tag == "Response"
    router.ended(request)  # the status callback's publications are built without failing


@pytest.fixture
def voice_webhook(monkeypatch):
    """The edge's voice webhook through functions-framework, Firestore unreachable (an outage)."""
    from emulators.process import free_port
    from shared import bus, runtime, settings, store

    import functions_framework

    monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", "unit-twilio-token")
    monkeypatch.setenv("VAS_USSD_GATEWAY_SECRET", "unit-ussd-secret")
    monkeypatch.delenv("VAS_WEBHOOK_BASE_URL", raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    caches = (settings.get, store.db, bus._publisher, operator.current)
    for cached in caches:
        cached.cache_clear()
    # The campaigns as last read (the pool's own reads are live.py's), and publishing that succeeds.
    monkeypatch.setitem(live._pools, (PROFILE.timezone, CONFIG.campaign_refresh_seconds), pool_of(campaign(), campaign("voice-two", confirm=False)))
    monkeypatch.setattr(runtime, "publish_new", lambda *args, **kwargs: None)
    yield functions_framework.create_app("voice_inbound", "functions/edge/main.py").test_client()
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(FIELDS), TEXT), query=st.dictionaries(st.sampled_from(QUERY), TEXT))
def test_the_signed_webhook_answers_any_wrong_number_request_with_twiml_never_a_500(voice_webhook, form, query):
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    url = "http://localhost/" + (f"?{urlencode(query)}" if query else "")
    signature = RequestValidator("unit-twilio-token").compute_signature(url, form)
    response = voice_webhook.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code in (200, 204, 503)
    if response.status_code == 200:
        assert ET.fromstring(response.data.decode()).tag == "Response"


@pytest.mark.parametrize("seconds", [10 * 60 + 5, -1])  # the first key 10 minutes and more ago, or in the future
def test_a_confirm_step_replayed_late_or_stamped_ahead_records_nothing(caps, seconds):
    plus = service()
    asked = follow(plus, plus(first_request(caps)), "1", seconds=4)
    done = follow(plus, asked, "1", seconds=4 + seconds)
    assert said(done) == ["Goodbye."] and done.publish == () and str(done).endswith("<Hangup /></Response>")


def test_a_confirm_step_within_minutes_of_the_first_key_still_accepts(caps):
    plus = service()
    asked = follow(plus, plus(first_request(caps)), "1", seconds=4)
    assert topics(follow(plus, asked, "1", seconds=4 + 9 * 60))[0] == ("voice-plus.accepted", None)
