"""Subscriptions' part of the scripted demo (infra/demo.py), played last because it moves the clock:

Olga subscribes to the weekly news in the *120# menu (its price and period shown before she confirms);
Bobur, topped up a little, subscribes by SMS and answers the question YES; Aziz buys a 1 GB pack twice
and the rest of the first moves to the second's expiry. The clock moves to each next moment the
service has work for: the reminders (Bobur's warns that his balance is short), the renewal (Olga's
charged, Bobur's failed), then Bobur's top-up renews his at once. Olga sends STOP NEWS, Bobur STOP
ALL, and at the start of the next month the spend summary comes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from functions.subscriptions.config import Catalogue, Pack, config_for
from functions.subscriptions.documents import Book, Item, read_book
from infra.demo_common import DemoSection, DemoStage, DemoSubscriber, wait_until
from shared import consent, ledger, store
from shared.operator import OperatorProfile

NEWS, PACK = "news-weekly", "data-1gb"
AFTER_TICK = timedelta(minutes=16)  # the clock's schedule ticks every 15 minutes: one tick falls after the moment
MOVES = 6  # clock moves allowed to reach one step (a month's summary may come first)


def play(stage: DemoStage) -> None:
    """Confirmation, reminder, renewal, a failed renewal recovered by a top-up, STOP, carry-over, the summary."""
    catalogue = config_for(stage.profile)
    if catalogue is None:
        raise RuntimeError("the subscriptions demo played for a profile without a product catalogue")
    aziz, olga, *_, bobur = stage.subscribers
    news = catalogue.product(NEWS)
    if news is None:
        raise RuntimeError(f"the demo's catalogue {catalogue.name} has no {NEWS}")
    subscribe_by_menu(stage, catalogue, olga)
    stage.top_up(bobur, 2 * news.price - news.price // 2, reference="SUBS-DEMO-1")  # one week, not two
    subscribe_by_sms(stage, catalogue, bobur)
    carry_over(stage, catalogue, aziz)

    inboxes = {who.msisdn: len(stage.carrier.inbox(who.msisdn)) for who in (olga, bobur)}
    move_clock_until(stage, (olga, bobur), lambda: all(reminded(book_of(who), NEWS) for who in (olga, bobur)))
    for who, expected in ((olga, "a reminder the day before, with how to stop"), (bobur, "a warning: too little")):
        told = stage.sms_saying(who.msisdn, inboxes[who.msisdn], news.name_in(who.language))
        stage.transcript.add(who.msisdn, "the clock moves to the reminder; receives", told, True, expected)

    inboxes = {who.msisdn: len(stage.carrier.inbox(who.msisdn)) for who in (olga, bobur)}
    move_clock_until(stage, (olga, bobur), lambda: renewed(book_of(olga), NEWS) and unpaid(book_of(bobur), NEWS))
    renewal = stage.sms_saying(olga.msisdn, inboxes[olga.msisdn], news.name_in(olga.language))
    stage.transcript.add(olga.msisdn, "the renewal day comes; receives", renewal, True, "the renewal's receipt")
    failed = stage.sms_saying(bobur.msisdn, inboxes[bobur.msisdn], news.name_in(bobur.language))
    stage.transcript.add(bobur.msisdn, "the renewal day comes; receives", failed, True, "the renewal failed: top up")

    before = len(stage.carrier.inbox(bobur.msisdn))
    stage.top_up(bobur, news.price, reference="SUBS-DEMO-2")
    wait_until(lambda: renewed(book_of(bobur), NEWS), stage.timeout, "Bobur's renewal after his top-up")
    recovered = stage.sms_saying(bobur.msisdn, before, news.name_in(bobur.language))
    stage.transcript.add(bobur.msisdn, "tops up; at once receives", recovered, True, "the renewal's receipt")

    stop(stage, catalogue, olga, f"STOP {news.keyword}", "STOP with the keyword: stopped at once, confirmed")
    stop(stage, catalogue, bobur, "STOP ALL", "STOP ALL: every subscription stopped, confirmed")

    before = len(stage.carrier.inbox(olga.msisdn))
    move_clock_until(stage, (olga,), lambda: book_of(olga).summarised_through is not None)
    summary = stage.sms_saying(olga.msisdn, before, news.name_in(olga.language))
    spent = sum(book_of(olga).spend.get(book_of(olga).summarised_through or "", {}).values())
    stage.transcript.add(
        olga.msisdn,
        "the month ends; receives",
        summary,
        spent > 0 and money(stage, spent, olga) in summary,
        "the month's spend summary: each service and the total",
    )


def subscribe_by_menu(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber) -> None:
    """The *120# menu: the product list, the terms with 1 Confirm / 0 Close, the receipt by SMS."""
    carrier, product = stage.carrier, catalogue.product(NEWS)
    assert product is not None
    before = len(carrier.inbox(who.msisdn))
    root = stage.dial(who, catalogue.ussd_code)
    listing = stage.read_through(who, carrier.reply(who.msisdn, root["session_id"], "1"))
    key = number_of(listing["text"], product.name_in(who.language))
    terms = stage.read_through(who, carrier.reply(who.msisdn, root["session_id"], key))
    price = money(stage, product.price, who)
    stage.transcript.add(
        who.msisdn,
        f"dials {catalogue.ussd_code}, 1 (services), {key} ({product.name_in(who.language)}); sees",
        terms["text"],
        price in terms["text"] and not terms["end"],
        "the price and the period before anything is charged, then 1 Confirm / 0 Close",
    )
    done = carrier.reply(who.msisdn, root["session_id"], "1")
    receipt = stage.sms_saying(who.msisdn, before, product.name_in(who.language), price)
    stage.transcript.add(
        who.msisdn,
        f"presses 1 (the screen: {done['text']!r}); receives",
        receipt,
        live(book_of(who), NEWS) is not None,
        "a receipt: charged, the balance, the next renewal, how to stop",
    )


def subscribe_by_sms(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber) -> None:
    """A keyword by SMS: the question naming the price, YES in the subscriber's language, the receipt."""
    product = catalogue.product(NEWS)
    assert product is not None
    question = ask(stage, catalogue, who, product.keyword)
    stage.transcript.add(
        who.msisdn,
        f"texts {product.keyword} to {catalogue.short_code}; receives",
        question,
        money(stage, product.price, who) in question,
        "a question naming the price and the period: nothing charged yet",
    )
    receipt = answer_yes(stage, catalogue, who, product.name_in(who.language))
    stage.transcript.add(
        who.msisdn,
        f"replies {consent.YES_WORD[who.language]}; receives",
        receipt,
        live(book_of(who), NEWS) is not None,
        "the receipt",
    )


def carry_over(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber) -> None:
    """The 1 GB pack bought twice: what is left of the first moves to the second's expiry."""
    pack = catalogue.product(PACK)
    assert isinstance(pack, Pack)
    granted = sum(allowance.amount for allowance in pack.allowances)
    bucket = pack.allowances[0].bucket
    for _ in range(2):
        ask(stage, catalogue, who, pack.keyword)
        receipt = answer_yes(stage, catalogue, who, pack.name_in(who.language))
    account = ledger.read_account(store.db(), who.msisdn)
    held = account.balance(bucket) if account else 0
    lots = account.buckets[bucket].lots if account and bucket in account.buckets else []
    stage.transcript.add(
        who.msisdn,
        f"buys {pack.keyword} again before it expires; receives",
        receipt,
        held == 2 * granted and len({lot.expires_at for lot in lots}) == 1,
        f"the new pack and the first one's {granted} MB carried over, all valid to one date",
    )


def stop(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber, command: str, expected: str) -> None:
    """STOP by SMS: stopped at once, and said so."""
    before = len(stage.carrier.inbox(who.msisdn))
    stage.carrier.send_sms(who.msisdn, catalogue.short_code, command)
    wait_until(lambda: live(book_of(who), NEWS) is None, stage.timeout, f"{who.name}'s {command}")
    stage.transcript.add(who.msisdn, f"texts {command}; receives", stage.new_sms(who.msisdn, before), True, expected)


def ask(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber, keyword: str) -> str:
    """The question the service asks back when a keyword arrives."""
    before = len(stage.carrier.inbox(who.msisdn))
    stage.carrier.send_sms(who.msisdn, catalogue.short_code, keyword)
    wait_until(lambda: book_of(who).pending is not None, stage.timeout, f"the question to {who.name}")
    return stage.sms_saying(who.msisdn, before, consent.YES_WORD[who.language])


def answer_yes(stage: DemoStage, catalogue: Catalogue, who: DemoSubscriber, name: str) -> str:
    """YES to the question: the receipt (the question closed, the item started)."""
    before = len(stage.carrier.inbox(who.msisdn))
    stage.carrier.send_sms(who.msisdn, catalogue.short_code, consent.YES_WORD[who.language])
    wait_until(lambda: book_of(who).pending is None, stage.timeout, f"{who.name}'s YES to be applied")
    return stage.sms_saying(who.msisdn, before, name)


def move_clock_until(stage: DemoStage, people: Sequence[DemoSubscriber], done: Callable[[], bool]) -> None:
    """Move the clock to the next moment the people's books have work due, until `done` (a few moves at most)."""
    for _ in range(MOVES):
        if done():
            return
        moments = [due for who in people if (due := book_of(who).next_due_at) is not None]
        if not moments:
            break
        target = min(moments) + AFTER_TICK
        stage.move_clock_to(target)
        wait_until(functools.partial(looked_at, people, target), stage.timeout, "the due work to be done")
    wait_until(done, stage.timeout, "the subscriptions' step the clock was moved for")


def looked_at(people: Sequence[DemoSubscriber], moved: datetime) -> bool:
    """Whether the work due before `moved` is done: no book still has its next moment before it."""
    return all((due := book_of(who).next_due_at) is None or due > moved for who in people)


def money(stage: DemoStage, minor: int, who: DemoSubscriber) -> str:
    """An amount as the subscriber's texts write it ("2 000 сумов")."""
    currency = stage.profile.currency
    return currency.localise(currency.format(minor), who.language)


def book_of(who: DemoSubscriber) -> Book:
    return read_book(who.msisdn)


def live(book: Book, product: str) -> Item | None:
    return next((item for item in book.live() if item.product == product), None)


def reminded(book: Book, product: str) -> bool:
    item = live(book, product)
    return item is not None and any(key.startswith("reminder") for key in item.sent)


def renewed(book: Book, product: str) -> bool:
    item = live(book, product)
    return item is not None and item.status == "active" and item.periods_charged >= 2


def unpaid(book: Book, product: str) -> bool:
    item = live(book, product)
    return item is not None and item.status == "grace"


def number_of(screen: str, name: str) -> str:
    """The key of the menu line naming `name` ("2 Новости недели — 2 000 сум в неделю")."""
    for line in screen.splitlines():
        found = re.match(r"^(\d{1,2})[ .)]", line.strip())
        if found and name in line:
            return found.group(1)
    raise RuntimeError(f"no line names {name!r} in the menu:\n{screen}")


def _switched_on(profile: OperatorProfile) -> bool:
    catalogue = config_for(profile)
    return catalogue is not None and catalogue.product(NEWS) is not None and catalogue.product(PACK) is not None


SECTION = DemoSection(order=90, play=play, switched_on=_switched_on)
