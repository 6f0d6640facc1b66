"""Subscription tracking at the edge: the catalogue's USSD menu (terms before any charge, consent, My
subscriptions with cancel), SMS to its short code (keywords, YES/NO, SUBS, STOP in five languages) and
the plan change code (#100#): what is answered at once, and what is published for the service."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from functions.edge import pager, services, sms_keywords, ussd
from functions.edge.request import RequestDocuments
from functions.edge.subscribers import Caller
from functions.subscriptions import edge_menu, edge_plans, edge_sms
from functions.subscriptions.config import RESERVED_KEYWORDS, Catalogue, config_for
from functions.subscriptions.documents import BOOKS, Book, Item, PendingQuestion
from functions.subscriptions.edge import entries
from functions.subscriptions.edge_words import RESERVED, WORDS, fold, read_ask
from shared import operator, sms, texts
from shared.events import PlanChangeRequested, SubscriptionCancelRequested, SubscriptionRequested
from shared.ledger import Account
from tests.unit.test_edge_plug_in import (
    webhook,  # noqa: F401 (a fixture: the real webhooks, lookup and publisher stood in for)
)
from tests.unit.test_edge_webhooks import (  # noqa: F401 (client: a fixture)
    MSISDN as WEBHOOK_MSISDN,
    client,
    twilio_post,
    ussd_post,
)

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))
ME = "+998971300909"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 14:00 in Tashkent

CATALOGUE = Catalogue.model_validate(
    {
        "name": "test-shop",
        "title": "DemoTel subscriptions",
        "currency": "UZS",
        "ussd_code": "*155#",
        "short_code": "5500",
        "subscriptions": [
            {"id": "news", "keyword": "NEWS", "names": {"en": "Daily news", "ru": "Новости"}, "price": 500,
             "period": "daily", "trial_days": 7},
            {"id": "horoscope", "keyword": "STAR", "names": {"en": "Horoscope", "ru": "Гороскоп"}, "price": 2000,
             "period": "weekly", "price_changes": [{"price": 2500, "effective": "2026-03-09"}]},
            {"id": "music", "keyword": "MUSIC", "names": {"en": "Music"}, "price": 15000, "period": "monthly"},
            {"id": "cloud", "keyword": "CLOUD", "names": {"en": "Cloud"}, "price": 120000, "period": "annual"},
        ],
        "packs": [
            {"id": "data-1gb", "keyword": "DATA1", "names": {"en": "1 GB"}, "price": 10000, "validity_days": 30,
             "allowances": [{"kind": "data_mb", "bucket": "data_mb", "amount": 1024}]},
        ],
        "plans": [
            {"id": "start", "names": {"en": "Start", "ru": "Старт"}, "monthly_fee": 20000},
            {"id": "max", "names": {"en": "Max", "ru": "Макс"}, "monthly_fee": 60000},
        ],
        "plan_change": {"ussd_code": "#100#", "min_balance": 1000, "free_changes": 1, "fee": 1000},
    },
    context={"currency": PROFILE.currency},
)
REGISTRY = ussd.Registry.of([edge_menu.ussd_service(PROFILE, CATALOGUE),
                             edge_plans.ussd_service(PROFILE, CATALOGUE, CATALOGUE.plan_change)])
COMMANDS = sms_keywords.Commands()
COMMANDS.add_short_code(CATALOGUE.short_code, edge_sms.sms_service(CATALOGUE))


def item(product: str, *, status="active", period="daily", price=500_00, days_ago=3, next_in=1, kind="subscription",
         expires_in=None) -> Item:
    started = NOW - timedelta(days=days_ago)
    return Item(id=f"{product}-{days_ago}", product=product, kind=kind, status=status, price=price, currency="UZS",
                period=period, channel="sms", started_at=started, anchor=started,
                next_charge_at=NOW + timedelta(days=next_in) if next_in is not None else None,
                expires_at=NOW + timedelta(days=expires_in) if expires_in is not None else None)


def book(*items: Item, msisdn=ME, **fields) -> dict:
    return Book(msisdn=msisdn, items={it.id: it for it in items}, **fields).to_document()


def menu(text: str, *, code="*155#", the_book=None, language="en", balance=None, now=NOW) -> ussd.Reply:
    request = ussd.UssdRequest(session_id="ATUid_subs", service_code=code, msisdn=ME, network_code="43401",
                               inputs=tuple(text.split("*")) if text else ())
    account = None
    if balance is not None:
        account = Account.new(ME, NOW)
        if balance:
            account.credit("main", balance, expires_at=None, reason="top-up", reference="t", at=NOW)
    return ussd.answer(request, Caller(ME, True, language), REGISTRY, PROFILE, account=account,
                       documents=RequestDocuments({(BOOKS, ME): the_book}), now=now)


def text_in(body: str, *, the_book=None, language="en", known=True, now=NOW) -> sms_keywords.SmsAnswer:
    inbound = sms_keywords.InboundSms(message_sid="SMsub0001", sender=ME, to=CATALOGUE.short_code, body=body)
    request = sms_keywords.sms_request(inbound=inbound, command="unknown", word="", short_code=CATALOGUE.short_code,
                                       caller=Caller(ME, known, language), profile=PROFILE, now=now,
                                       documents=RequestDocuments({(BOOKS, ME): the_book}))
    return COMMANDS.answer(request)


def reply(answer: sms_keywords.SmsAnswer, language="en") -> str:
    assert not answer.publish, "an answer given at once publishes nothing"
    return texts.render(answer.text.key, language, **answer.text.params)


def published(answer, topic: str):
    assert getattr(answer, "text", None) is None or isinstance(answer, ussd.Reply)
    [publication] = answer.publish
    assert publication.topic == topic
    return publication.payload


# --- the catalogue's menu: terms before any charge ----------------------------------------------

def test_the_root_offers_the_catalogue_and_my_subscriptions():
    assert menu("").body() == "CON Subscriptions\n1 Services and packs\n2 My subscriptions"


def test_the_product_list_names_each_price_period_and_trial_before_anything_is_charged():
    screens = [menu("1").text]
    while screens[-1].endswith("99 More"):
        screens.append(menu("1" + "*99" * len(screens)).text)
    shown = "\n".join(screen.removesuffix("\n99 More") for screen in screens)
    assert shown == ("1 Daily news: 500 so'm a day, first 7 days free\n"
                     "2 Horoscope: 2 000 so'm a week\n"
                     "3 Music: 15 000 so'm a month\n"
                     "4 Cloud: 120 000 so'm a year\n"
                     "5 1 GB: 10 000 so'm once, 1024 MB for 30 days\n"
                     "0 Back")
    assert not menu("1").publish


def test_picking_a_product_shows_its_terms_and_when_it_is_charged_and_publishes_nothing():
    reply_ = menu("1*1")
    assert reply_.body() == ("CON Daily news: 500 so'm a day, first 7 days free. Nothing is charged for 7 days; then "
                             "renewed automatically until you cancel.\n1 Confirm\n0 Close")
    assert not reply_.publish
    assert menu("1*3").text.startswith("Music: 15 000 so'm a month. Charged now, then renewed automatically")
    assert menu("1*5").text == menu("1").text  # not listed on the page read yet: the pager shows it again
    assert menu("1*99*5").text.startswith("1 GB: 10 000 so'm once, 1024 MB for 30 days. Charged once, now.")


def test_the_price_shown_is_the_one_in_force_today():
    before, after = NOW, datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # 05:00 in Tashkent, the change's day
    assert menu("1*2", now=before).text.startswith("Horoscope: 2 000 so'm a week.")
    assert menu("1*2", now=after).text.startswith("Horoscope: 2 500 so'm a week.")
    record = published(menu("1*2*1", now=after), "subscription.requested").consent
    assert record.price == 2500 * 100


def test_1_confirms_and_publishes_the_request_with_its_consent_record():
    confirm_screen = menu("1*1").text
    reply_ = menu("1*1*1")
    assert reply_.body() == "END Request accepted, you will get an SMS."
    payload: SubscriptionRequested = published(reply_, "subscription.requested")
    assert (payload.msisdn, payload.product, payload.channel, payload.requested_at) == (ME, "news", "ussd", NOW)
    record = payload.consent
    assert (record.status, record.channel, record.offer, record.shown) == \
        ("confirmed", "ussd", "subscriptions.news", confirm_screen)
    assert (record.price, record.currency, record.period) == (500 * 100, "UZS", "day")
    assert (record.request.text, record.confirmation.text, record.confirmation.at) == ("1", "1", NOW)
    assert record.request.reference == payload.request_id and payload.request_id.startswith("ussd:ATUid_subs:")


@pytest.mark.parametrize("typed", ["0", "2", "9", "yes"])
def test_close_or_any_other_key_declines_says_nothing_is_charged_and_keeps_the_record(typed):
    reply_ = menu(f"1*3*{typed}")
    assert reply_.body() == "END Closed: Music was not started and nothing was charged."
    record = published(reply_, "subscription.requested").consent
    assert (record.status, record.confirmation.text) == ("declined", typed)


def test_a_retried_session_publishes_the_same_event():
    assert menu("1*3*1").publish[0].event_id == menu("1*3*1").publish[0].event_id
    assert menu("1*3*1").publish[0].event_id != menu("1*3*0").publish[0].event_id


def test_a_live_subscription_is_not_offered_twice_but_a_pack_may_be_bought_again():
    the_book = book(item("news", status="trial"), item("data-1gb", kind="pack", period=None, next_in=None,
                                                         expires_in=20))
    already = menu("1*1", the_book=the_book)
    assert already.body() == ("END You already have Daily news; nothing was charged. To manage it, dial *155# and "
                              "choose 2 My subscriptions.")
    assert not already.publish
    assert menu("1*99*5", the_book=the_book).text.endswith("1 Confirm\n0 Close")
    finished = book(item("news", status="cancelled"))
    assert menu("1*1", the_book=finished).text.endswith("1 Confirm\n0 Close")


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_consent_keeps_exactly_the_confirm_screen_the_subscriber_paged_through(language):
    more = texts.render("edge.ussd.more", language)
    screens, inputs = [], ["1", "1"]
    while True:
        reply_ = menu("*".join(inputs), language=language)
        assert reply_.keep_open and not reply_.publish
        screens.append(reply_.text)
        *_, last = reply_.text.split("\n")
        if not last.endswith(f" {more}"):
            break
        inputs.append(last.split()[0])  # the More key
    record = published(menu("*".join([*inputs, "1"]), language=language), "subscription.requested").consent
    assert record.status == "confirmed"
    layout = pager.layout(record.shown, texts.render("edge.ussd.more", language))
    assert list(layout.screens) == [screen.rsplit("\n", 1)[0] for screen in screens[:-1]] + [screens[-1]]
    assert all(pager.fits(screen) for screen in screens)


def test_a_wrong_choice_is_explained_and_0_goes_back():
    assert menu("7").body() == ("CON Invalid choice, please pick a number from the list.\n"
                                "Subscriptions\n1 Services and packs\n2 My subscriptions")
    assert menu("1*9").text.startswith("Invalid choice, please pick a number from the list.\n1 Daily news")
    assert menu("1*0").text == menu("1").text  # "0 Back" is on the list's last page, not read yet
    assert menu("1*99*0").text == menu("").text


def test_the_menu_speaks_the_subscribers_language():
    assert menu("", language="ru").body() == "CON Подписки\n1 Услуги и пакеты\n2 Мои подписки"
    assert menu("1", language="ru").text.startswith("1 Новости: 500 сумов в день, первые 7 дней бесплатно")


# --- My subscriptions -----------------------------------------------------------------------

def test_my_subscriptions_lists_every_live_one_with_its_next_price_and_date():
    the_book = book(item("news", status="trial", price=0, days_ago=5, next_in=2),
                    item("horoscope", period="weekly", price=2_000_00, days_ago=4, next_in=10),
                    item("music", status="grace", period="monthly", price=15_000_00, days_ago=2, next_in=None),
                    item("cloud", status="cancelled", period="annual", days_ago=1))
    assert menu("2", the_book=the_book).body() == (
        "CON My subscriptions:\n"
        "1 Daily news: 500 so'm a day, free until 04/03/2026\n"
        "2 Horoscope: 2 500 so'm a week, next 12/03/2026\n"   # the price in force on its due date
        "3 Music: 15 000 so'm a month, unpaid, top up to keep it\n"
        "0 Back")


def test_with_nothing_live_my_subscriptions_says_so():
    assert menu("2").body() == "CON You have no subscriptions.\n0 Back"
    assert menu("2*1").text.startswith("Invalid choice")


def test_cancel_from_my_subscriptions_publishes_the_one_picked():
    the_book = book(item("news", days_ago=5), item("music", period="monthly", price=15_000_00, days_ago=2, next_in=28))
    assert menu("2*2", the_book=the_book).body() == (
        "CON Music: 15 000 so'm a month, next 30/03/2026\n1 Cancel it\n0 Back")
    reply_ = menu("2*2*1", the_book=the_book)
    assert reply_.body() == "END Request accepted, you will get an SMS."
    payload: SubscriptionCancelRequested = published(reply_, "subscription.cancel-requested")
    assert (payload.subscription_ids, payload.every, payload.channel) == (["music-2"], False, "ussd")
    assert menu("2*2*0", the_book=the_book).text.startswith("My subscriptions:")
    assert not menu("2*2*0", the_book=the_book).publish


# --- SMS: keywords and the question ------------------------------------------------------------

@pytest.mark.parametrize("body", ["NEWS", "news", "ＮＥＷＳ", " News. ", "news please"])
def test_a_keyword_is_published_with_its_message_and_the_service_asks_first(body):
    answer = text_in(body)
    assert answer.text is None
    payload: SubscriptionRequested = published(answer, "subscription.requested")
    assert (payload.product, payload.channel, payload.consent_reply, payload.consent) == ("news", "sms", None, None)
    assert (payload.said.text, payload.said.at) == (body, NOW)
    assert payload.said.reference == payload.request_id and payload.request_id.startswith("sms:SMsub0001:")


def test_a_keyword_for_a_live_subscription_is_answered_at_once():
    answer = text_in("news", the_book=book(item("news")))
    assert reply(answer) == "You already have Daily news; nothing was charged. Text SUBS to see your subscriptions."


def pending(minutes_left=10) -> dict:
    return book(pending=PendingQuestion(product="music", consent_id="c1", asked_at=NOW - timedelta(minutes=5),
                                        expires_at=NOW + timedelta(minutes=minutes_left)))


@pytest.mark.parametrize("body, accepted, language", [
    ("YES", True, "en"), ("y", True, "en"), ("да", True, "ru"), ("ha", True, "uz"), ("ооба", True, "ky"),
    ("是", True, "zh"), ("NO", False, "en"), ("нет", False, "ru"), ("yo'q", False, "uz"), ("yoʻq", False, "uz"),
    ("жок", False, "ky"), ("否", False, "zh")])
def test_yes_or_no_answers_the_open_question(body, accepted, language):
    payload: SubscriptionRequested = published(text_in(body, the_book=pending(), language=language),
                                               "subscription.requested")
    assert (payload.product, payload.consent_reply, payload.said.text) == ("music", accepted, body)


def test_yes_with_no_open_question_or_a_late_one_is_answered_at_once():
    assert reply(text_in("YES")) == ("Nothing is waiting for your confirmation. To subscribe, text a keyword to 5500 "
                                     "(HELP lists them) or dial *155#.")
    assert reply(text_in("YES", the_book=pending(minutes_left=0))) == (
        "Your reply came after the question had expired; nothing was charged. To subscribe, text MUSIC to 5500 again.")


# --- SMS: SUBS and STOP ------------------------------------------------------------------------

LIVE = book(item("news", days_ago=5, next_in=1),
            item("music", period="monthly", price=15_000_00, days_ago=2, next_in=28),
            item("cloud", status="cancelled", period="annual", days_ago=1))


@pytest.mark.parametrize("body, language", [("SUBS", "en"), ("подписки", "ru"), ("obunalar", "uz"),
                                            ("жазылуулар", "ky"), ("订阅", "zh")])
def test_subs_lists_the_live_subscriptions_numbered_in_each_language(body, language):
    shown = reply(text_in(body, the_book=LIVE, language=language), language)
    lines = shown.splitlines()
    assert lines[1].startswith("1. ") and lines[2].startswith("2. ") and not lines[3].startswith("3. ")
    assert "Cloud" not in shown  # cancelled: not a recurring charge any more
    if language == "en":
        assert shown == ("Your subscriptions:\n1. Daily news: 500 so'm a day, next 03/03/2026\n"
                         "2. Music: 15 000 so'm a month, next 30/03/2026\n"
                         "To cancel one, text STOP and its number to 5500; STOP ALL cancels all.")


def test_subs_with_nothing_live_says_so():
    assert reply(text_in("SUBS")) == "You have no subscriptions. Text HELP to 5500 to see what is offered."


def stopped(answer) -> list[str] | str:
    payload: SubscriptionCancelRequested = published(answer, "subscription.cancel-requested")
    assert payload.channel == "sms" and payload.request_id.startswith("sms:SMsub0001:")
    return "ALL" if payload.every else payload.subscription_ids


@pytest.mark.parametrize("body, language", [
    ("STOP 2", "en"), ("stop music", "en"), ("STOP MUSIC.", "en"), ("стоп 2", "ru"), ("СТОП music", "ru"),
    ("to'xtat 2", "uz"), ("toʻxtat 2", "uz"), ("STOP 2", "uz"), ("токтот 2", "ky"), ("退订2", "zh"), ("退订 2", "zh"),
    ("取消订阅2", "zh"), ("STOP mus", "en")])
def test_stop_with_a_number_a_keyword_or_a_name_cancels_that_one_in_every_language(body, language):
    assert stopped(text_in(body, the_book=LIVE, language=language)) == ["music-2"]


@pytest.mark.parametrize("body", ["STOP Новости", "stop daily news", "STOP NEWS", "stop 1"])
def test_stop_finds_a_subscription_by_its_name_in_any_language(body):
    assert stopped(text_in(body, the_book=LIVE)) == ["news-5"]


@pytest.mark.parametrize("body", ["STOP ALL", "стоп все", "СТОП ВСЁ", "stop hammasi", "токтот баары", "退订全部",
                                  "退订 所有"])
def test_stop_all_cancels_every_live_one(body):
    assert stopped(text_in(body, the_book=LIVE)) == "ALL"


def test_stop_alone_cancels_ones_only_subscription_and_asks_which_of_several():
    assert stopped(text_in("STOP", the_book=book(item("news")))) == ["news-3"]
    assert reply(text_in("STOP", the_book=LIVE)) == (
        "Which one should stop? Your subscriptions:\n1. Daily news: 500 so'm a day, next 03/03/2026\n"
        "2. Music: 15 000 so'm a month, next 30/03/2026\nText STOP and its number to 5500, or STOP ALL.")


@pytest.mark.parametrize("body", ["STOP 3", "STOP 0", "STOP cloud", "STOP weather", "STOP s"])
def test_stop_naming_nothing_live_cancels_nothing_and_says_what_there_is(body):
    shown = reply(text_in(body, the_book=LIVE))
    assert shown.startswith(f"No subscription of yours is called \"{body[5:]}\"; nothing was cancelled.")
    assert "1. Daily news" in shown and "2. Music" in shown


def test_stop_with_nothing_live_says_so():
    assert reply(text_in("STOP ALL")).startswith("You have no subscriptions to cancel; nothing was changed.")


def test_help_and_unknown_words_list_every_keyword_and_the_commands():
    help_text = reply(text_in("HELP"))
    assert help_text == ("Subscriptions: text a keyword to 5500: NEWS, STAR, MUSIC, CLOUD, DATA1. The price is named "
                         "before any charge. SUBS: yours; STOP 1: cancel one; STOP ALL. Menu: *155#")
    assert reply(text_in("weather")) == '"weather" is not a keyword. ' + help_text
    assert reply(text_in("")) == help_text


TOLD = {"en": ("SUBS", "STOP", "ALL"), "ru": ("ПОДПИСКИ", "СТОП", "ВСЕ"), "uz": ("OBUNALAR", "STOP", "HAMMASI"),
        "ky": ("ЖАЗЫЛУУЛАР", "ТОКТОТ", "БААРЫ"), "zh": ("订阅", "退订", "全部")}


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_the_words_each_language_is_told_to_send_are_understood(language):
    subs, stop, every = TOLD[language]
    help_text = reply(text_in("HELP", language=language), language)
    listed = reply(text_in(subs, the_book=LIVE, language=language), language)
    assert all(word in help_text and word in listed for word in (stop, every)) and subs in help_text
    assert listed.count("\n1. ") == 1
    assert stopped(text_in(f"{stop} 1", the_book=LIVE)) == ["news-5"]
    assert stopped(text_in(f"{stop} {every}", the_book=LIVE)) == "ALL"


def test_every_word_the_short_code_answers_that_a_keyword_could_spell_is_refused_as_a_keyword():
    spellable = {word.upper() for word in RESERVED if re.fullmatch(r"[A-Z0-9]{2,12}", word.upper())}
    assert spellable - RESERVED_KEYWORDS == set()


@pytest.mark.parametrize("profile_name", ["demo", "m1"])
def test_every_shipped_keyword_reaches_its_product(profile_name):
    catalogue = config_for(SHIPPED[profile_name][0])
    for product in catalogue.products:
        assert read_ask(product.keyword.lower(), catalogue).command == product.keyword


def test_no_catalogue_keyword_is_read_as_a_command_and_no_word_means_two_things():
    assert all(fold(product.keyword) not in RESERVED for product in CATALOGUE.products)
    meanings: dict[str, set[str]] = {}
    for command, words in WORDS.items():
        for word in words:
            meanings.setdefault(fold(word), set()).add(command)
    assert {word: found for word, found in meanings.items() if len(found) > 1} == {}


def test_unknown_and_blocked_lines_get_the_usual_refusal():
    answer = text_in("NEWS", known=False)
    assert not answer.publish and reply(answer).startswith("This number is not registered for DemoTel services.")


@hsettings(max_examples=300, deadline=None)
@given(body=st.text(max_size=60), has_pending=st.booleans())
def test_any_sms_gets_an_answer_or_a_valid_publication(body, has_pending):
    answer = text_in(body, the_book=pending() if has_pending else LIVE)
    if answer.text is None:
        [publication] = answer.publish
        assert type(publication.payload).model_validate(publication.payload.model_dump()) == publication.payload
    else:
        assert reply(answer)


# --- the plan change code ---------------------------------------------------------------------

PLAN_BOOK = book(plan="start")


def test_the_plan_code_lists_the_plans_and_names_the_first_change_free():
    assert menu("", code="#100#", the_book=PLAN_BOOK, balance=500000).body() == (
        "CON Change your plan (this change is free):\n1 Start, 20 000 so'm a month (yours)\n"
        "2 Max, 60 000 so'm a month\n0 Close")
    assert menu("2", code="#100#", the_book=PLAN_BOOK, balance=500000).body() == (
        "CON Change to Max: this change is free.\n1 Confirm\n0 Close")


def test_a_confirmed_change_is_published_with_the_fee_it_named():
    reply_ = menu("2*1", code="#100#", the_book=PLAN_BOOK, balance=500000)
    assert reply_.body() == "END Request accepted, you will get an SMS."
    payload: PlanChangeRequested = published(reply_, "subscription.plan-change-requested")
    assert (payload.plan, payload.channel, payload.msisdn) == ("max", "ussd", ME)
    assert (payload.consent.price, payload.consent.period, payload.consent.status) == (0, "once", "confirmed")
    assert payload.consent.shown == "Change to Max: this change is free.\n1 Confirm\n0 Close"


def test_after_the_free_change_the_fee_is_named_before_confirming():
    changed = book(plan="max", plan_changes=1)
    assert menu("", code="#100#", the_book=changed, balance=500000).text.startswith(
        "Change your plan (fee 1 000 so'm from your main balance):")
    record = published(menu("1*1", code="#100#", the_book=changed, balance=500000),
                       "subscription.plan-change-requested").consent
    assert record.price == 1000 * 100


@pytest.mark.parametrize("balance", [0, 1000 * 100])
def test_a_balance_not_above_the_minimum_is_refused_at_once(balance):
    reply_ = menu("2", code="#100#", the_book=PLAN_BOOK, balance=balance)
    assert reply_.body() == ("END A plan change needs a balance above 1 000 so'm and the fee; nothing was changed. "
                             "Top up and dial #100# again.")
    assert not reply_.publish


def test_the_current_plan_is_refused_and_close_changes_nothing():
    assert menu("1", code="#100#", the_book=PLAN_BOOK, balance=500000).body() == (
        "END You are already on Start; nothing was changed.")
    for typed in ("0", "2*0", "2*5"):
        reply_ = menu(typed, code="#100#", the_book=PLAN_BOOK, balance=500000)
        assert reply_.body() == "END Closed: your plan was not changed and nothing was charged."
        assert not reply_.publish


# --- the shipped presets, through the edge's own registries --------------------------------------

M1 = operator.load_file(Path("tests/fixtures/operators/m1.yaml"))
M1_ME = "+6591234567"
SHIPPED = {"demo": (PROFILE, ME), "m1": (M1, M1_ME)}


def shipped_sms(profile_name: str, body: str, *, the_book=None, language="en") -> sms_keywords.SmsAnswer:
    profile, msisdn = SHIPPED[profile_name]
    catalogue = config_for(profile)
    inbound = sms_keywords.InboundSms(message_sid="SMsub0002", sender=msisdn, to=catalogue.short_code, body=body)
    request = sms_keywords.sms_request(inbound=inbound, command="unknown", word="", short_code=catalogue.short_code,
                                       caller=Caller(msisdn, True, language), profile=profile, now=NOW,
                                       documents=RequestDocuments({(BOOKS, msisdn): the_book}))
    return services.sms_services(profile).answer(request)


def shipped_menu(profile_name: str, code: str, text: str, *, the_book=None, language="en", balance=0) -> ussd.Reply:
    profile, msisdn = SHIPPED[profile_name]
    request = ussd.UssdRequest(session_id="ATUid_m1", service_code=code, msisdn=msisdn, network_code="52503",
                               inputs=tuple(text.split("*")) if text else ())
    account = Account.new(msisdn, NOW)
    if balance:
        account.credit("main", balance, expires_at=None, reason="top-up", reference="t", at=NOW)
    return ussd.answer(request, Caller(msisdn, True, language), services.ussd_services(profile), profile,
                       account=account, documents=RequestDocuments({(BOOKS, msisdn): the_book}), now=NOW)


def test_the_demo_and_m1_profiles_serve_the_catalogue_menu_its_short_code_and_m1_the_plan_code():
    demo_codes, m1_codes = services.ussd_services(PROFILE).services, services.ussd_services(M1).services
    assert "*120#" in demo_codes and "#100#" not in demo_codes  # DemoTel's catalogue has no plans
    assert {"*120#", "#100#"} <= set(m1_codes)
    assert "06007" in services.sms_services(PROFILE).short_codes and "72020" in services.sms_services(M1).short_codes
    assert entries(PROFILE.model_copy(update={"services": {}})) is None


def test_m1_plan_change_on_100_first_free_then_1_00_and_a_balance_above_1_00():
    first = shipped_menu("m1", "#100#", "2", the_book=book(msisdn=M1_ME, plan="prepaid-basic"), balance=500)
    assert first.body() == "CON Change to Prepaid Data: this change is free.\n1 Confirm\n0 Close"
    later = book(msisdn=M1_ME, plan="prepaid-data", plan_changes=1)
    assert shipped_menu("m1", "#100#", "3", the_book=later, balance=500).body() == (
        "CON Change to Prepaid Talk: fee 1 SGD from your main balance.\n1 Confirm\n0 Close")
    payload = published(shipped_menu("m1", "#100#", "3*1", the_book=later, balance=500),
                        "subscription.plan-change-requested")
    assert (payload.plan, payload.consent.price, payload.consent.currency) == ("prepaid-talk", 100, "SGD")
    refused = shipped_menu("m1", "#100#", "2", the_book=book(msisdn=M1_ME, plan="prepaid-basic"), balance=100)
    assert refused.body().startswith("END A plan change needs a balance above 1 SGD") and not refused.publish


def test_m1_keywords_reach_the_service_in_english_and_chinese():
    for body, product in (("DATA5", "data-5gb"), ("roam3", "roam-asia-3gb"), ("ehawaii", "ehawaii-annual")):
        assert published(shipped_sms("m1", body, language="zh"), "subscription.requested").product == product
    assert stopped_any(shipped_sms("m1", "退订全部", the_book=book(item("news-monthly"), msisdn=M1_ME))) == "ALL"


def stopped_any(answer) -> list[str] | str:
    payload: SubscriptionCancelRequested = published(answer, "subscription.cancel-requested")
    return "ALL" if payload.every else payload.subscription_ids


MAX_SMS_SEGMENTS = 4  # what the short code answers at once stays a short message in every script


@pytest.mark.parametrize("profile_name", sorted(SHIPPED))
def test_every_answer_of_the_short_code_fits_a_few_sms_and_every_screen_one_ussd_screen(profile_name):
    profile, msisdn = SHIPPED[profile_name]
    catalogue = config_for(profile)
    first_three = enumerate(catalogue.subscriptions[:3], start=1)
    three = book(*(item(product.id, period=product.period, days_ago=days) for days, product in first_three),
                 msisdn=msisdn)
    for language in profile.languages:
        for body in ("HELP", "weather", "SUBS", "STOP", "STOP nothing", "YES"):
            answer = shipped_sms(profile_name, body, the_book=three, language=language)
            shown = reply(answer, language)
            assert sms.segments(shown).segments <= MAX_SMS_SEGMENTS, (language, body, sms.segments(shown))
        for text in ("", "1", "1*1", "1*99", "2", "2*1"):
            assert pager.fits(shipped_menu(profile_name, "*120#", text, the_book=three, language=language).text)


# --- through the real webhooks (the subscriber lookup and the publisher stood in for) --------------

def test_the_webhooks_read_the_book_and_publish_what_the_short_code_and_the_menu_decide(webhook):  # noqa: F811
    sms_app, ussd_app = webhook("sms_inbound"), webhook("ussd")
    response = twilio_post(sms_app, {"MessageSid": "SM9", "From": WEBHOOK_MSISDN, "To": "06007", "Body": "music"})
    assert response.status_code == 200
    [(topic, payload)] = webhook.published
    assert (topic, payload.product, payload.channel) == ("subscription.requested", "music-monthly", "sms")
    webhook.published.clear()
    form = {"sessionId": "S9", "serviceCode": "*120#", "phoneNumber": WEBHOOK_MSISDN, "text": "2"}
    assert ussd_post(ussd_app, form).get_data(as_text=True) == "CON You have no subscriptions.\n0 Back"
    assert webhook.published == []


KEYS = st.sampled_from(["0", "1", "2", "3", "5", "9", "99", "x"])


@hsettings(max_examples=300, deadline=None)
@given(keys=st.lists(KEYS, max_size=6), code=st.sampled_from(["*155#", "#100#"]),
       language=st.sampled_from(texts.LANGUAGES), has_items=st.booleans())
def test_any_session_shows_screens_that_fit_and_charges_only_what_its_confirm_screen_named(keys, code, language,
                                                                                           has_items):
    the_book = LIVE if has_items else book(plan="start")
    reply_ = menu("*".join(keys), code=code, the_book=the_book, language=language, balance=500000)
    assert pager.fits(reply_.text) and len(reply_.publish) <= 1
    for publication in reply_.publish:
        payload = publication.payload
        assert type(payload).model_validate(payload.model_dump()) == payload
        record = getattr(payload, "consent", None)
        if record is not None and record.confirmed:
            assert record.confirmation.text == "1" and "1" in keys
            assert reply_.text == texts.render("edge.subscriptions.ussd.accepted", language)
            named = PROFILE.currency.format(record.price) if record.price else None
            assert named is None or PROFILE.currency.localise(named, language) in record.shown
