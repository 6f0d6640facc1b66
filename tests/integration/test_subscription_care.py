"""Customer care's subscription commands on the real Firestore emulator: a book and consent records as the
service stores them, read back by `python -m functions.subscriptions show / consents / products`."""

from __future__ import annotations

from datetime import timedelta

from functions.subscriptions import __main__ as care
from functions.subscriptions.documents import BOOKS, Book, Item
from shared import consent, store
from shared.events import utcnow

ALICE, BOB = "+998901234567", "+998911112233"


def stored_book(msisdn: str) -> Book:
    now = utcnow()
    started = now - timedelta(days=3)
    music = Item(id="music-sms-1", product="music-monthly", kind="subscription", status="trial", price=0,
                 currency="UZS", period="monthly", channel="sms", started_at=started, anchor=started + timedelta(days=7),
                 next_charge_at=started + timedelta(days=7))
    book = Book(msisdn=msisdn, items={music.id: music}, spend={"2026-03": {"news-weekly": 200_000}})
    store.db().collection(BOOKS).document(msisdn).set(book.to_document())
    return book


def stored_consent(msisdn: str, reference: str, *, accepted: bool) -> consent.Consent:
    asked_at = utcnow() - timedelta(days=3)
    record = consent.given(
        offer="subscriptions.music-monthly", msisdn=msisdn, channel="ussd", language="uz",
        shown="Musiqa: 7 kun bepul, keyin oyiga 15 000 so'm. 1 Tasdiqlash 0 Yopish", price=1_500_000,
        currency="UZS", period="month", request=consent.Answer(text="*120*1*3#", reference=reference, at=asked_at),
        confirmation=consent.Answer(text="1" if accepted else "0", reference=reference,
                                    at=asked_at + timedelta(seconds=9)),
        accepted=accepted,
    )
    store.db().collection(consent.COLLECTION).document(record.id).set(record.model_dump())
    return record


def test_show_reads_the_stored_book_and_consents_lists_only_that_numbers_records(firestore_clean, capsys):
    stored_book(ALICE)
    accepted = stored_consent(ALICE, "ussd-alice-1", accepted=True)
    declined = stored_consent(ALICE, "ussd-alice-2", accepted=False)
    someone_else = stored_consent(BOB, "ussd-bob-1", accepted=True)

    assert care.main(["show", "901234567"]) == 0
    shown = capsys.readouterr().out
    assert "subscriber +998901234567; catalogue demotel-subscriptions" in shown
    assert "  1. music-sms-1" in shown and " trial " in shown and "Musiqa" in shown
    assert "spent 2026-03: 2 000 so'm (news-weekly 2 000 so'm)" in shown

    assert care.main(["consents", "901234567"]) == 0
    listed = capsys.readouterr().out
    assert "consents: 2" in listed
    assert f"{accepted.id}  subscriptions.music-monthly  confirmed" in listed
    assert f"{declined.id}  subscriptions.music-monthly  declined" in listed
    assert someone_else.id not in listed


def test_a_number_with_no_book_shows_nothing_live_and_products_lists_the_demo_catalogue(firestore_clean, capsys):
    assert care.main(["show", "911112233"]) == 0
    assert "live: 0" in capsys.readouterr().out
    assert care.main(["products"]) == 0
    listed = capsys.readouterr().out
    assert "kino-monthly" in listed and "from 2027-01-01 25 000 so'm" in listed
