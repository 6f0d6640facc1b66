"""The USSD add-on under the *100# balance: shown only when it fits, its play reserved once, its menu and consent."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from functions.edge import api, services, ussd
from functions.edge.subscribers import caller_from
from functions.subscriptions.public import BOOKS
from functions.voice_plus import edge_ussd
from functions.voice_plus.config import config_for
from functions.voice_plus.documents import CAPS, Campaign
from functions.voice_plus.selection import Pool
from shared import store
from shared.ledger_core import Account
from shared.operator import PROFILES_DIR, load_file
from tests.fixtures.edge_reads import ussd_read

PROFILE = load_file(PROFILES_DIR / "demo.yaml")
REGISTRY = services.ussd_services(PROFILE)
MSISDN = "+998901234567"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ACTIVE = {"language": "en", "status": "active", "tariff_plan": "standard"}


def campaign(**changes: Any) -> Campaign:
    fields = {
        "id": "data-addon",
        "name": "1 GB on the balance",
        "channel": "ussd",
        "status": "live",
        "offer": {"kind": "bundle", "product": "data-1gb", "confirm": True},
        "text": {"en": "1 GB for 9 000 so'm, 7 days!", "ru": "1 ГБ на 7 дней за 9000!"},  # ru: 43 of 44
        "schedule": {"starts": date(2026, 1, 1)},
        "cap": {"plays": 1, "period_hours": 24},
    }
    return Campaign.model_validate({**fields, **changes})


class Stored:
    """The caps documents as Firestore would hold them, changed only through the edge's conditional write."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.tries = 0  # conditional writes attempted (each a Firestore round trip)

    def change_document(self, client: object, collection: str, document_id: str, change: Any, **_: Any) -> Any:
        assert collection == CAPS
        self.tries += 1
        written, result = change(self.documents.get(document_id))
        if written is not None:
            self.documents[document_id] = written
            self.writes += 1
        return result


@pytest.fixture
def caps(monkeypatch: pytest.MonkeyPatch) -> Stored:
    stored = Stored()
    monkeypatch.setattr(api, "change_document", stored.change_document)
    monkeypatch.setattr(store, "db", lambda: None)
    return stored


def live(monkeypatch: pytest.MonkeyPatch, *campaigns: Campaign) -> None:
    pool = Pool.of(((each, 0) for each in campaigns), ZoneInfo(PROFILE.timezone))

    class Fixed:
        def current(self) -> Pool:
            return pool

    monkeypatch.setattr(edge_ussd, "process_pool", lambda zone, refresh: Fixed())


def account(minor: int = 1_234_500) -> Account:
    held = Account.new(MSISDN, datetime(2026, 1, 1, tzinfo=timezone.utc))
    held.credit("main", minor, expires_at=None, reason="topup", reference="r", at=held.created_at)
    return held


def dial(
    caps: Stored, text: str = "", session: str = "ATUid_1", subscriber: dict | None = None, book: dict | None = None
) -> ussd.Reply:
    """One gateway request of the session (the inputs so far), read as the edge reads it."""
    request = ussd.parse(
        {"sessionId": session, "serviceCode": "*100#", "phoneNumber": MSISDN, "networkCode": "99999", "text": text},
        PROFILE,
    )
    record = ACTIVE if subscriber is None else subscriber
    given = {(store.SUBSCRIBERS, MSISDN): record, (CAPS, MSISDN): caps.documents.get(MSISDN), (BOOKS, MSISDN): book}
    documents = ussd_read(REGISTRY, request, PROFILE, given)
    who = caller_from(MSISDN, record, PROFILE)
    return ussd.answer(request, who, REGISTRY, PROFILE, account(), documents, now=NOW)


def topics(reply: ussd.Reply) -> list[tuple[str, str | None]]:
    return [(p.topic, getattr(p.payload, "step", None)) for p in reply.publish]


BALANCE = "Your balance:\nMain balance: 12 345 so'm"


def test_an_interactive_addon_rides_under_the_balance_and_reserves_one_play(monkeypatch, caps):
    live(monkeypatch, campaign())
    first = dial(caps)
    assert first.body() == f"CON {BALANCE}\n1 GB for 9 000 so'm, 7 days!\n1 Activate 2 Info"
    assert topics(first) == [("voice-plus.funnel", "offered")]
    assert [play["offer"] for play in caps.documents[MSISDN]["plays"]] == ["ussd:ATUid_1"]
    again = dial(caps)  # the gateway repeats the request: the same screen, no second play
    assert again.body() == first.body() and caps.writes == 1


def test_activating_with_confirmation_publishes_the_acceptance_with_its_consent(monkeypatch, caps):
    live(monkeypatch, campaign())
    dial(caps)
    asked = dial(caps, "1")
    assert asked.body() == "CON 1 GB data 9 000 so'm/once.\n1 Confirm\n0 Close"
    assert topics(asked) == [("voice-plus.funnel", "key")]
    done = dial(caps, "1*1")
    assert done.body() == "END Thank you. An SMS will tell you the result."
    assert topics(done) == [("voice-plus.funnel", "confirmation"), ("voice-plus.accepted", None)]
    accepted = done.publish[1].payload
    consent = accepted.consent
    assert (accepted.offer_id, accepted.campaign_id, accepted.channel) == ("ussd:ATUid_1", "data-addon", "ussd")
    assert consent.status == "confirmed" and consent.channel == "ussd" and consent.offer == "voice_plus.data-addon.data-1gb"
    assert (consent.price, consent.currency, consent.period) == (900_000, "UZS", "once")
    assert consent.shown == "1 GB data 9 000 so'm/once.\n1 Confirm\n0 Close"
    assert (consent.request.text, consent.confirmation.text, consent.request.reference) == ("1", "1", "ATUid_1")
    assert caps.writes == 1  # the later screens found the play as read


def test_closing_at_the_confirmation_keeps_a_declined_consent(monkeypatch, caps):
    live(monkeypatch, campaign())
    dial(caps)
    closed = dial(caps, "1*0")
    assert closed.body() == "END Nothing was activated."
    assert topics(closed) == [("voice-plus.accepted", None)]
    assert closed.publish[0].payload.consent.status == "declined"


def test_more_information_then_activate_without_confirmation(monkeypatch, caps):
    live(monkeypatch, campaign(offer={"kind": "bundle", "product": "data-1gb"}, info={"en": "Valid 7 days."}))
    dial(caps)
    info = dial(caps, "2")
    assert info.body() == "CON Valid 7 days.\n1 Activate\n0 Close"
    assert topics(info) == [("voice-plus.funnel", "played")]
    done = dial(caps, "2*1")
    assert topics(done) == [("voice-plus.funnel", "key"), ("voice-plus.accepted", None)]
    assert done.publish[1].payload.consent.shown == "Valid 7 days.\n1 Activate\n0 Close"


def test_a_plain_addon_ends_the_session_with_the_balance(monkeypatch, caps):
    live(monkeypatch, campaign(interactive=False))
    assert dial(caps).body() == f"END {BALANCE}\n1 GB for 9 000 so'm, 7 days!"


def test_a_screen_that_would_not_fit_shows_the_balance_alone_and_counts_no_play(monkeypatch, caps):
    live(monkeypatch, campaign())
    russian = {**ACTIVE, "language": "ru"}  # Cyrillic: 80 characters a screen; the balance and the add-on take 85
    reply = dial(caps, subscriber=russian)
    assert reply.body() == "END Ваш баланс:\nОсновной баланс: 12 345 сумов"
    assert reply.publish == () and caps.writes == 0 and MSISDN not in caps.documents


def test_the_cap_leaves_the_second_session_of_the_day_without_the_offer(monkeypatch, caps):
    live(monkeypatch, campaign())
    assert dial(caps, session="S1").keep_open
    second = dial(caps, session="S2")
    assert second.body() == f"END {BALANCE}" and caps.writes == 1 and caps.tries == 1


@pytest.mark.parametrize(
    ("subscriber", "book"),
    [
        ({**ACTIVE, "status": "suspended"}, None),  # not an active line (refused before any add-on)
        (ACTIVE, {"items": {"x": {"product": "data-1gb", "status": "active"}}}),  # holds the product
    ],
)
def test_no_offer_to_whom_it_is_not_for(monkeypatch, caps, subscriber, book):
    live(monkeypatch, campaign())
    reply = dial(caps, subscriber=subscriber, book=book)
    assert "1 GB for" not in reply.text and caps.tries == 0  # not even a write tried: nothing fits


def test_an_input_after_the_end_publishes_nothing_again(monkeypatch, caps):
    live(monkeypatch, campaign())
    dial(caps)
    assert dial(caps, "1*1*1").publish == ()


def test_an_addon_that_fails_leaves_the_balance_answered(monkeypatch, caps):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Firestore is down")

    live(monkeypatch, campaign())
    monkeypatch.setattr(api, "change_document", broken)
    assert dial(caps).body() == f"END {BALANCE}"


@pytest.mark.parametrize(("language", "ended"), [("en", "This offer has ended"), ("uz", "Bu taklif tugadi")])
@pytest.mark.parametrize("typed", ["1", "1*1", "2"])
def test_a_campaign_paused_after_it_was_shown_ends_the_session_with_nothing_published(
    monkeypatch, caps, typed, language, ended
):
    subscriber = {**ACTIVE, "language": language}
    live(monkeypatch, campaign(text={"en": "1 GB for 9 000 so'm, 7 days!", "uz": "1 GB 9 000 so'm, 7 kun!"}))
    assert dial(caps, subscriber=subscriber).keep_open
    live(monkeypatch)  # paused or stopped: no longer in the live pool
    later = dial(caps, typed, subscriber=subscriber)
    assert later.body().startswith(f"END {ended}") and later.publish == ()  # not the balance's events again
    assert caps.writes == 1


def test_a_later_screen_whose_read_failed_ends_the_offer(monkeypatch, caps):
    live(monkeypatch, campaign())
    dial(caps)
    request = api.Request(
        channel="ussd",
        input=ussd.parse({"sessionId": "ATUid_1", "serviceCode": "*100#", "phoneNumber": MSISDN, "text": "1"}, PROFILE),
        caller=caller_from(MSISDN, ACTIVE, PROFILE),
        profile=PROFILE,
        now=NOW,
        read=False,
    )
    handler = edge_ussd.UssdAddOn(config_for(PROFILE))
    later = handler(request, ussd.Reply.end(BALANCE))
    assert later is not None and later.body() == "END This offer has ended. Nothing was activated."
    assert later.publish == ()


def test_a_session_never_offered_anything_keeps_the_hosts_answer(monkeypatch, caps):
    live(monkeypatch)
    assert dial(caps).body() == f"END {BALANCE}"
    assert dial(caps, "1").body() == f"END {BALANCE}"


# --- the edge's rule, whatever the add-on ---------------------------------------------------

def host_and_addon(host_reply: ussd.Reply) -> tuple[ussd.Registry, list[tuple[str, ...]]]:
    """A host code answering `host_reply` and an add-on echoing the inputs it is asked for."""
    asked: list[tuple[str, ...]] = []

    def addon(request: api.Request[api.UssdRequest], host: ussd.Reply) -> ussd.Reply:
        asked.append(request.input.inputs)
        return ussd.Reply.con(f"{host.text}\nextra {'*'.join(request.input.inputs)}")

    host = ussd.UssdService(code="*555#", name="edge.service.balance", handler=lambda request: host_reply)
    return ussd.Registry.of([host], [api.UssdAddOn(hosts=("*555#",), handler=addon)]), asked


def ask(registry: ussd.Registry, text: str = "") -> ussd.Reply:
    request = ussd.parse({"sessionId": "S", "serviceCode": "*555#", "phoneNumber": MSISDN, "text": text}, PROFILE)
    return ussd.answer(request, caller_from(MSISDN, ACTIVE, PROFILE), registry, PROFILE, now=NOW)


def test_an_addon_rides_on_a_final_first_screen_and_owns_the_later_inputs():
    registry, asked = host_and_addon(ussd.Reply.end("host"))
    assert ask(registry).body() == "CON host\nextra "
    assert ask(registry, "2*5").body() == "CON host\nextra 2*5"
    assert set(asked) == {(), ("2",), ("2", "5")}


def test_an_addon_is_not_asked_when_the_host_keeps_the_session_open():
    registry, asked = host_and_addon(ussd.Reply.con("host menu\n1 Yes"))
    assert ask(registry).body() == "CON host menu\n1 Yes" and asked == []


def test_an_addon_may_claim_the_later_inputs_of_a_session_it_no_longer_shows_itself_in():
    hosts_event = api.Publication("some.topic", {"checked": True}, "event-1")
    answered = ussd.Reply.end("host", publish=(hosts_event,))
    host = ussd.UssdService(code="*555#", name="edge.service.balance", handler=lambda request: answered)

    def ended_offer(request: api.Request[api.UssdRequest], first: ussd.Reply) -> ussd.Reply | None:
        return ussd.Reply.end("offer ended") if request.input.inputs else None

    registry = ussd.Registry.of([host], [api.UssdAddOn(hosts=("*555#",), handler=ended_offer)])
    assert ask(registry).publish == (hosts_event,)
    later = ask(registry, "1")
    assert later.body() == "END offer ended" and later.publish == ()
