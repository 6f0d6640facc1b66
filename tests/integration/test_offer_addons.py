"""USSD and SMS add-on offers on the real emulators (spec/voice-plus.md, functions/voice_plus/).

The demo operator runs demotel-voice-plus: add-ons ride on the *100# balance, SMS offers are
answered on 06008, a top-up confirmation with its offer takes at most 2 SMS segments.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest

from functions.provisioning import main as provisioning
from functions.voice_plus import fit, live, sms_offers
from functions.voice_plus.documents import CAMPAIGNS, CAPS, SMS_OFFERS, Campaign, campaign_document
from shared import consent, sms, signing, store, texts
from shared.consent import Answer
from shared.events import utcnow
from tests.integration.test_edge import SECRET, edge, provision, twilio_post  # noqa: F401 (fixture)
from tests.integration.test_subscriptions import outbox
from tests.integration.test_transfers import deliver, deliver_until_done, sms_of, subscriber

EN_USER, RU_USER = "+998911112233", "+998901234567"


def launch(**fields) -> Campaign:
    """A live campaign as the care CLI stores it; the edge's campaign list read again."""
    base = {
        "name": "1 GB on the side",
        "status": "live",
        "offer": {"kind": "bundle", "product": "data-1gb", "confirm": True},
        "schedule": {"starts": date(2020, 1, 1)},
        "cap": {"plays": 1, "period_hours": 24},
    }
    campaign = Campaign.model_validate({**base, **fields})
    store.db().collection(CAMPAIGNS).document(campaign.id).set(campaign_document(campaign))
    live._pools.clear()
    return campaign


def ussd_addon(**fields) -> Campaign:
    text = {"en": "1 GB for 9 000 so'm, 7 days!", "ru": "1 ГБ на 7 дней за 9000!"}
    return launch(**{"id": "ussd-data", "channel": "ussd", "text": text, **fields})


def sms_addon(**fields) -> Campaign:
    text = {"en": "1 GB for 9 000 so'm!", "ru": "1 ГБ за 9000 сумов!"}
    return launch(**{"id": "sms-data", "channel": "sms", "keyword": "NET5", "text": text, **fields})


def dial(app, msisdn: str, text: str = "", session: str = "ATUid_7"):
    body = urlencode({"sessionId": session, "serviceCode": "*100#", "phoneNumber": msisdn,
                      "networkCode": "43401", "text": text}).encode()
    response = app.post("/", data=body, content_type="application/x-www-form-urlencoded",
                        headers={signing.USSD_SIGNATURE_HEADER: signing.sign_body(SECRET, body)})
    assert response.status_code == 200
    return response.data.decode()


def plays(msisdn: str) -> list[dict]:
    stored = store.db().collection(CAPS).document(msisdn).get().to_dict()
    return (stored or {}).get("plays") or []


# --- USSD -----------------------------------------------------------------------------------

def test_an_addon_taken_on_the_balance_check_publishes_its_consent(edge, tap):
    provision(EN_USER, "en", credits=[("main", 1_234_500, None)])
    ussd_addon()
    accepted, funnel = tap("voice-plus.accepted"), tap("voice-plus.funnel")
    app = edge("ussd")
    assert dial(app, EN_USER) == ("CON Your balance:\nMain balance: 12 345 so'm\n"
                                  "1 GB for 9 000 so'm, 7 days!\n1 Activate 2 Info")
    assert dial(app, EN_USER, "1") == "CON 1 GB data 9 000 so'm/once.\n1 Confirm\n0 Close"
    assert dial(app, EN_USER, "1*1") == "END Thank you. An SMS will tell you the result."
    [event] = accepted(1)
    given = event.data["consent"]
    assert (event.data["offer_id"], event.data["campaign_id"], event.data["channel"]) == (
        "ussd:ATUid_7", "ussd-data", "ussd")
    assert (given["status"], given["channel"], given["price"], given["period"]) == ("confirmed", "ussd", 900_000, "once")
    assert given["shown"] == "1 GB data 9 000 so'm/once.\n1 Confirm\n0 Close"
    assert (given["request"]["text"], given["confirmation"]["text"]) == ("1", "1")
    assert sorted(e.data["step"] for e in funnel(3)) == ["confirmation", "key", "offered"]
    assert [play["offer"] for play in plays(EN_USER)] == ["ussd:ATUid_7"]
    assert dial(app, EN_USER, session="ATUid_8") == "END Your balance:\nMain balance: 12 345 so'm"  # capped: 1 a day


def test_a_screen_that_would_not_fit_shows_the_balance_alone(edge):
    provision(RU_USER, "ru", credits=[("main", 1_234_500, None)])
    ussd_addon()  # Russian: 43 of the add-on's 44 characters, but 85 of a screen's 80 under this balance
    assert dial(edge("ussd"), RU_USER) == "END Ваш баланс:\nОсновной баланс: 12 345 сумов"
    assert plays(RU_USER) == []


# --- SMS ------------------------------------------------------------------------------------

def topped_up(reference: str, msisdn: str = EN_USER, amount: int = 500_000) -> dict:
    assert deliver_until_done(provisioning.on_topup, {"msisdn": msisdn, "amount": amount, "reference": reference},
                              reference) == "processed"
    [notice] = sms_of(provisioning.on_topup, reference)
    return notice


def replied(word: str, sid: str, yes: bool | None = None, msisdn: str = EN_USER, later: timedelta = timedelta()) -> str:
    said = Answer(text=word, reference=sid, at=utcnow() + later).model_dump(mode="json")
    payload = {"msisdn": msisdn, "said": said, "consent_reply": yes}
    assert deliver(sms_offers.on_sms_reply, payload, sid) == "processed"
    return sid


def test_an_sms_addon_on_a_topup_is_taken_with_its_keyword_and_yes(firestore_clean):
    subscriber(EN_USER, "en")
    sms_addon()
    notice = topped_up("bss-1")
    assert notice["template"] == "topup.with_offer"
    whole = texts.render(notice["template"], "en", **notice["params"])
    assert whole == "Top-up of 5 000 so'm received. Main balance: 5 000 so'm.\n1 GB for 9 000 so'm! Reply NET5 to 06008."
    assert sms.segments(whole).segments <= 2
    assert [play["offer"] for play in plays(EN_USER)] == ["sms:bss-1"]
    assert [e["step"] for e in outbox(provisioning.on_topup, "bss-1", "voice-plus.funnel")] == ["offered"]

    [question] = sms_of(sms_offers.on_sms_reply, replied("net5", "SM1"))
    assert texts.render(question["template"], "en", **question["params"]) == (
        "1 GB data: 9 000 so'm/once. Reply YES to 06008 to activate, NO to refuse.")
    pointer = store.db().collection(consent.PENDING).document(consent.pending_key("voice_plus.sms-data.data-1gb", EN_USER))
    waiting = store.db().collection(consent.COLLECTION).document(pointer.get().get("consent_id")).get().to_dict()
    assert (waiting["status"], waiting["channel"], waiting["price"]) == ("pending", "sms", 900_000)

    replied("YES", "SM2", yes=True)
    [event] = outbox(sms_offers.on_sms_reply, "SM2", "voice-plus.accepted")
    assert (event["offer_id"], event["channel"], event["consent"]["status"]) == ("sms:bss-1", "sms", "confirmed")
    record = store.db().collection(consent.COLLECTION).document(event["consent"]["id"]).get().to_dict()
    assert (record["status"], record["request"]["text"], record["confirmation"]["text"]) == ("confirmed", "net5", "YES")
    assert record["shown"] == "1 GB data: 9 000 so'm/once. Reply YES to 06008 to activate, NO to refuse."
    assert not store.db().collection(SMS_OFFERS).document(EN_USER).get().exists
    [closed] = sms_of(sms_offers.on_sms_reply, replied("YES", "SM3", yes=True))  # nothing open any more
    assert closed["template"] == "voice_plus.sms.nothing_open"


def test_no_to_the_question_keeps_a_declined_consent_and_activates_nothing(firestore_clean):
    subscriber(EN_USER, "en")
    sms_addon()
    topped_up("bss-2")
    replied("NET5", "SM1")
    replied("no", "SM2", yes=False)
    [event] = outbox(sms_offers.on_sms_reply, "SM2", "voice-plus.accepted")
    assert event["consent"]["status"] == "declined"
    assert [s["template"] for s in sms_of(sms_offers.on_sms_reply, "SM2")] == ["voice_plus.sms.declined"]


def test_a_yes_after_the_window_keeps_an_expired_consent_and_activates_nothing(firestore_clean):
    subscriber(EN_USER, "en")
    sms_addon()
    topped_up("bss-4")
    replied("NET5", "SM1")
    replied("YES", "SM2", yes=True, later=timedelta(hours=25))  # the demo preset keeps an offer open 24 h
    assert outbox(sms_offers.on_sms_reply, "SM2", "voice-plus.accepted") == []
    [step] = outbox(sms_offers.on_sms_reply, "SM2", "voice-plus.funnel")
    assert (step["step"], step["detail"]) == ("declined", "expired")
    [told] = sms_of(sms_offers.on_sms_reply, "SM2")
    assert told["template"] == "voice_plus.sms.expired"
    records = [doc.to_dict() for doc in store.db().collection(consent.COLLECTION).stream()]
    assert [(r["status"], r["confirmation"]["text"]) for r in records] == [("expired", "YES")]
    assert not store.db().collection(SMS_OFFERS).document(EN_USER).get().exists


def test_a_yes_before_the_keyword_after_the_offers_window_is_answered_as_expired(firestore_clean):
    subscriber(EN_USER, "en")
    sms_addon()
    topped_up("bss-5")
    replied("YES", "SM1", yes=True, later=timedelta(hours=25))  # never asked: the offer's own window passed
    assert outbox(sms_offers.on_sms_reply, "SM1", "voice-plus.accepted") == []
    [step] = outbox(sms_offers.on_sms_reply, "SM1", "voice-plus.funnel")
    assert (step["step"], step["detail"]) == ("declined", "expired")
    [told] = sms_of(sms_offers.on_sms_reply, "SM1")
    assert told["template"] == "voice_plus.sms.expired"
    assert not store.db().collection(SMS_OFFERS).document(EN_USER).get().exists


def test_an_addon_that_would_pass_the_segment_budget_is_left_off_and_counts_no_play(firestore_clean):
    subscriber(RU_USER, "ru")
    # Alone one UCS-2 segment (68 of 70); under the Russian confirmation 135, past 2 segments (134).
    long_text = "Интернет 1 ГБ на 7 дней за 9000 сумов! Жмите"
    campaign = sms_addon(text={"ru": long_text})
    offer = fit.sms_addon(campaign, "ru", "06008")
    confirmation = "Пополнение на 5 000 сумов зачислено. Основной баланс: 5 000 сумов."
    assert sms.segments(offer).segments == 1 and sms.segments(f"{confirmation}\n{offer}").segments == 3
    notice = topped_up("bss-3", msisdn=RU_USER)
    assert notice["template"] == "topup.credited"
    assert plays(RU_USER) == []


def test_the_cap_holds_under_concurrent_topups(firestore_clean):
    subscriber(EN_USER, "en")
    sms_addon(cap={"plays": 2, "period_hours": 24})
    references = [f"bss-c{i}" for i in range(8)]
    threads = [threading.Thread(target=topped_up, args=(reference,)) for reference in references]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    templates = [sms_of(provisioning.on_topup, reference)[0]["template"] for reference in references]
    assert templates.count("topup.with_offer") == 2
    assert len(plays(EN_USER)) == 2


@pytest.fixture(autouse=True)
def _fresh_campaign_list():
    live._pools.clear()
    yield
    live._pools.clear()



def test_the_offers_short_code_forwards_the_keyword_and_says_when_nothing_is_open(edge, tap):
    provision(EN_USER, "en")
    replies, said = tap("voice-plus.sms-replied"), tap("sms.send")
    app = edge("sms_inbound")
    assert twilio_post(app, {"MessageSid": "SM10", "From": EN_USER, "To": "06008", "Body": "NET5"}).status_code == 200
    [nothing] = said(1)
    assert (nothing.data["template"], nothing.data["sender"]) == ("voice_plus.sms.nothing_open", "06008")
    until = utcnow() + timedelta(hours=1)
    store.db().collection(SMS_OFFERS).document(EN_USER).set(
        {"campaign": "sms-data", "offer": "sms:bss-9", "keyword": "NET5", "language": "en", "until": until})
    assert twilio_post(app, {"MessageSid": "SM11", "From": EN_USER, "To": "06008", "Body": "net5"}).status_code == 200
    [forwarded] = replies(1)
    assert (forwarded.data["msisdn"], forwarded.data["said"]["text"], forwarded.data["consent_reply"]) == (
        EN_USER, "net5", None)
    assert said.rest() == []  # the consumer answers it, once it has asked
