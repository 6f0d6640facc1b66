"""A recycled number on the real emulators: the BSS gives it to a new owner, who inherits nothing.

The old owner leaves a balance, a voice mailbox with a message, lists and privacy, missed calls
waiting for them, transfers (and the bar), and an open call-me-back offer. Provisioning archives
their record and money and publishes `subscriber.reassigned`; each service's consumer archives
its own state under `former_owners/{archive_id}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from functions.missed_calls import documents as missed_call_documents
from functions.missed_calls import main as missed_calls
from functions.missed_calls import queries
from functions.provisioning import main as provisioning
from functions.transfers import main as transfers
from functions.transfers import records
from functions.zero_balance import main as zero_balance
from functions.zero_balance.documents import OFFERS, USAGE
from shared import bus, ledger, runtime, store
from shared.events import Envelope, utcnow
from tests.integration.test_missed_calls import (  # noqa: F401 (fixture)
    ask_to_register, missed_call, network, options, recordings, register, reply, sms,
)
from tests.integration.test_provisioning import deliver as deliver_at
from tests.integration.test_transfers import deliver, record, reference, sms_of, transfer
from tests.integration.test_zero_balance import answered, follow_ups, refused

NUMBER, FRIEND, STRANGER = "+998901234567", "+998911112233", "+998935556677"
SOM = 100
OLD, NEW = "cust-0001", "cust-0002"
CONSUMERS = (missed_calls.on_reassigned, transfers.on_reassigned, zero_balance.on_reassigned)


def provision(event_id: str, **fields) -> str:
    assert deliver(provisioning.on_subscriber, {"msisdn": NUMBER, **fields}, event_id) == "processed"
    return event_id


def topup(reference_: str, amount: int, msisdn: str = NUMBER) -> None:
    assert deliver(provisioning.on_topup, {"msisdn": msisdn, "amount": amount, "reference": reference_},
                   reference_) == "processed"


def reassignments(event_id: str) -> list[Envelope]:
    """The subscriber.reassigned events a provisioning delivery left in its outbox."""
    marker = store.db().collection(store.PROCESSED).document(f"provisioning-subscriber:{event_id}").get()
    return [e for e in (Envelope.model_validate(raw) for raw in marker.get("outbox"))
            if e.type == "subscriber.reassigned"]


def forward(envelope: Envelope, entry_point, attempt: int = 0) -> str:
    """Deliver an event exactly as published (same id) to a consumer, as Pub/Sub does, again on redelivery."""
    data, attributes = bus.encode(envelope)
    return runtime.process(entry_point.consumer, entry_point.handler, f"m-{envelope.id}-{attempt}", data,
                           attributes, after_commit=entry_point.after_commit)


def doc(collection: str, doc_id: str) -> dict | None:
    return store.db().collection(collection).document(doc_id).get().to_dict()


def archived(archive_id: str, collection: str) -> dict[str, dict]:
    root = store.db().collection(store.FORMER_OWNERS).document(archive_id)
    return {snap.id: snap.to_dict() for snap in root.collection(collection).stream()}


def balance(msisdn: str = NUMBER) -> int:
    return ledger.read_account(store.db(), msisdn).balance("main")


@pytest.fixture
def old_owner(firestore_clean, recordings):  # noqa: F811 (the imported fixture)
    """The number's first owner, with something in every service."""
    provision("old-1", subscriber_id=OLD, name="Old Owner", language="ru")
    assert deliver(provisioning.on_subscriber, {"msisdn": FRIEND, "language": "en"}, "friend") == "processed"
    topup("friend-money", 100_000 * SOM, FRIEND)
    # Zero balance: an open call-me-back offer to FRIEND, and the day's prompt counted.
    refused("att-old", caller=NUMBER, destination=FRIEND)
    topup("old-money", 100_000 * SOM)
    # Missed calls: a mailbox (this month's fee paid), a black list, privacy, the activation notice.
    assert register(NUMBER, "opt-0") == "processed"   # REG, then YES: the fee is charged
    for n, (action, number) in enumerate([("blacklist_add", STRANGER), ("privacy_on", None)], start=1):
        assert options(NUMBER, action, f"opt-{n}", number) == "processed"
    start = utcnow() - timedelta(minutes=30)
    assert network(NUMBER, "attached", start, "hlr-old-1") == "processed"
    assert network(NUMBER, "detached", start + timedelta(minutes=1), "hlr-old-2") == "processed"
    # A voice message and a call still waiting for the old owner.
    missed_call("CA-old-1", caller=FRIEND, callee=NUMBER, choice="voicemail", recording_sid="RE-old-1",
                recording_url="https://carrier/RE-old-1", recording_seconds=12, at=start + timedelta(minutes=2))
    missed_call("CA-old-2", caller=FRIEND, callee=NUMBER, choice="leave_number", at=start + timedelta(minutes=3))
    # Transfers: one sent (counts against the limits), then the old owner bars them.
    assert deliver(transfers.on_transfer_requested, transfer("old-sent", 5_000 * SOM, NUMBER, FRIEND),
                   "old-sent") == "processed"
    assert record(reference("old-sent"))["status"] == "accepted"
    bar = {"request_id": "old-bar", "msisdn": NUMBER, "barred": True, "channel": "ussd",
           "requested_at": utcnow().isoformat()}
    assert deliver(transfers.on_bar_changed, bar, "old-bar") == "processed"
    assert doc(missed_call_documents.USERS, NUMBER)["registered"] and doc(OFFERS, NUMBER)["status"] == "open"
    assert doc("transfer_history", NUMBER)["sent"] and doc(USAGE, NUMBER)["prompts"] == 1
    return balance()


def reassign(event_id: str = "new-1", **fields) -> Envelope:
    """The BSS gives the number to NEW; every service's consumer handles the event."""
    provision(event_id, **{"subscriber_id": NEW, "name": "New Owner", **fields})
    [event] = reassignments(event_id)
    for entry_point in CONSUMERS:
        assert forward(event, entry_point) == "processed"
    return event


def test_the_new_owner_of_a_recycled_number_inherits_nothing_and_the_archive_keeps_it_all(
        old_owner, recordings, capsys):  # noqa: F811
    old_balance = old_owner
    event = reassign()
    archive_id = event.data["archive_id"]
    assert (event.data["old_subscriber_id"], event.data["new_subscriber_id"]) == (OLD, NEW)

    # The subscriber record and the money: nothing of the old owner's, the ledger still balances.
    profile = doc(store.SUBSCRIBERS, NUMBER)
    assert (profile["subscriber_id"], profile["name"], profile["language"]) == (NEW, "New Owner", "uz")
    assert "transfers_barred" not in profile and "first_topup_at" not in profile
    assert balance() == 0 and ledger.check(store.db(), NUMBER) == []
    former = doc(store.FORMER_OWNERS, archive_id)
    assert former["subscriber"]["name"] == "Old Owner" and former["subscriber"]["transfers_barred"] is True
    assert former["withdrawn"] == {"main": old_balance} and old_balance > 0

    # Missed calls: no options, mailbox, lists, calls or messages; the recording is gone at the carrier.
    for collection in (missed_call_documents.USERS, missed_call_documents.NOTICES):
        assert doc(collection, NUMBER) is None
    assert queries.calls_of(store.db(), NUMBER, "pending") == [] and queries.voicemails_of(store.db(), NUMBER) == []
    assert queries.charges_of(store.db(), NUMBER) == []
    assert recordings == ["RE-old-1"]
    users = archived(archive_id, missed_call_documents.USERS)[NUMBER]
    assert users["registered"] and users["blacklist"] == [STRANGER] and users["privacy"]
    assert set(archived(archive_id, missed_call_documents.MISSED_CALLS)) == {"CA-old-1", "CA-old-2"}
    message = archived(archive_id, missed_call_documents.VOICEMAILS)["CA-old-1"]
    assert message["deleted"] and message["recording_deleted_at"] is not None and message["recording_url"] is None
    # The new owner's first attach: the activation notice, and no reminder of the old owner's calls.
    assert network(NUMBER, "attached", utcnow(), "hlr-new-1") == "processed"
    marker = store.db().collection(store.PROCESSED).document(f"missed-calls-attach:hlr-new-1").get()
    told = [Envelope.model_validate(raw).data for raw in marker.get("outbox")]
    assert [sms["template"] for sms in told] == ["missed_calls.activation"], told

    # Transfers: the old owner's limits and bar are gone; the new owner's BSS top-up can be sent.
    assert doc("transfer_history", NUMBER) is None
    assert archived(archive_id, "transfer_history")[NUMBER]["sent"][0]["amount"] == 5_000 * SOM
    topup("new-money", 100_000 * SOM)
    assert deliver(transfers.on_transfer_requested, transfer("new-sent", 5_000 * SOM, NUMBER, FRIEND),
                   "new-sent") == "processed"
    assert record(reference("new-sent"))["status"] == "accepted", record(reference("new-sent"))
    # Care still sees both owners' records, the old owner's told apart.
    from functions.transfers.__main__ import main as care
    assert care(["history", NUMBER]) == 0
    listed = {line.split()[2]: line for line in capsys.readouterr().out.splitlines() if "TR-" in line}
    assert listed[reference("old-sent")].endswith("(previous owner)")
    assert not listed[reference("new-sent")].endswith("(previous owner)")

    # Call-me-back: the old owner's open offer cannot be answered by the new owner.
    assert doc(OFFERS, NUMBER) is None and doc(USAGE, NUMBER) is None
    assert archived(archive_id, OFFERS)[NUMBER]["destination"] == FRIEND
    [reply] = follow_ups(zero_balance.on_answer, answered("sms:new-1", "callback", caller=NUMBER))
    assert (reply["to"], reply["template"]) == (NUMBER, "zero_balance.no_offer")


def test_a_sign_up_the_old_owner_left_waiting_cannot_be_confirmed_by_the_new_owner(firestore_clean,
                                                                                   recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    topup("old-money", 10_000 * SOM)
    assert ask_to_register(NUMBER, "old-reg") == "processed"       # REG, never answered
    event = reassign()
    topup("new-money", 10_000 * SOM)
    assert reply(NUMBER, "YES", "new-yes") == "processed"           # the new owner answers a question never put to them
    assert balance() == 10_000 * SOM, "the new owner was charged for the old owner's sign-up"
    assert not (doc(missed_call_documents.USERS, NUMBER) or {}).get("registered")
    assert archived(event.data["archive_id"], "consent_pending")


def test_a_redelivered_or_resent_reassignment_changes_nothing_twice(old_owner, recordings):  # noqa: F811
    event = reassign()
    topup("new-money", 20_000 * SOM)
    assert register(NUMBER, "new-opt") == "processed"
    # Pub/Sub delivers the event again to every consumer; the BSS sends the same update again.
    for entry_point in CONSUMERS:
        assert forward(event, entry_point, attempt=1) == "duplicate"
    assert reassignments(provision("new-1-again", subscriber_id=NEW, name="New Owner")) == []
    assert recordings == ["RE-old-1"]
    assert balance() == 20_000 * SOM - 3_000 * SOM and ledger.check(store.db(), NUMBER) == []
    assert doc(missed_call_documents.USERS, NUMBER)["registered"]
    assert doc(store.SUBSCRIBERS, NUMBER)["subscriber_id"] == NEW


def test_a_flagged_new_owner_without_subscriber_ids_is_reassigned_once(firestore_clean, recordings):  # noqa: F811
    provision("legacy", name="Old Owner")
    topup("old-money", 1_000 * SOM)
    assert options(NUMBER, "privacy_on", "opt-old") == "processed"
    [event] = reassignments(provision("flagged", new_owner=True))
    for entry_point in CONSUMERS:
        assert forward(event, entry_point) == "processed"
    assert event.data["old_subscriber_id"] is None and event.data["archive_id"].startswith(NUMBER + "@")
    assert balance() == 0 and doc(missed_call_documents.USERS, NUMBER) is None
    assert doc(store.SUBSCRIBERS, NUMBER)["name"] is None
    # The BSS sends the same flagged update again under another event id, at the same time: no new owner.
    topup("new-money", 500 * SOM)
    assert deliver_at(provisioning.on_subscriber, {"msisdn": NUMBER, "new_owner": True}, "flagged-again",
                      occurred_at=datetime.fromisoformat(event.data["effective_at"])) == "processed"
    assert reassignments("flagged-again") == [] and balance() == 500 * SOM


def test_plain_re_provisioning_of_the_same_owner_clears_nothing(old_owner, recordings):  # noqa: F811
    for event_id, fields in (("same-id", {"subscriber_id": OLD, "tariff_plan": "night"}),
                             ("no-id", {"tariff_plan": "night", "status": "blocked"})):
        assert reassignments(provision(event_id, **fields)) == []
    profile = doc(store.SUBSCRIBERS, NUMBER)
    assert (profile["subscriber_id"], profile["name"], profile["tariff_plan"]) == (OLD, "Old Owner", "night")
    assert profile["transfers_barred"] is True and balance() == old_owner
    assert doc(missed_call_documents.USERS, NUMBER)["registered"] and doc(OFFERS, NUMBER) is not None
    assert doc("transfer_history", NUMBER)["sent"] and recordings == []
    assert queries.voicemails_of(store.db(), NUMBER)[0]["deleted"] is False


def test_requests_made_before_the_number_changed_hands_move_none_of_the_new_owners_money(old_owner,
                                                                                         recordings):  # noqa: F811
    # Made while the old owner held the number; decided after the BSS gave it to the new owner (a backlog, retries).
    from_old_owner = transfer("queued-out", 5_000 * SOM, NUMBER, FRIEND)
    to_old_owner = transfer("queued-in", 2_500 * SOM, FRIEND, NUMBER)
    ask_of_old_owner = {"request_id": "queued-ask", "channel": "ussd", "requester": NUMBER, "target": FRIEND,
                        "amount": 5_000 * SOM, "requested_at": utcnow().isoformat()}
    friends = balance(FRIEND)
    reassign()
    topup("new-money", 20_000 * SOM)
    assert deliver(transfers.on_transfer_requested, from_old_owner, "queued-out") == "processed"
    assert deliver(transfers.on_transfer_requested, to_old_owner, "queued-in") == "processed"
    assert deliver(transfers.on_topup_asked, ask_of_old_owner, "queued-ask") == "processed"

    assert balance() == 20_000 * SOM and balance(FRIEND) == friends, "money moved for the number's old owner"
    assert ledger.check(store.db(), NUMBER) == [] and ledger.check(store.db(), FRIEND) == []
    refused = {event_id: record(records.reference(kind, event_id)) for kind, event_id in
               (("transfer", "queued-out"), ("transfer", "queued-in"), ("topup_request", "queued-ask"))}
    assert {event_id: (r["status"], r["refusal_code"], r["fee"]) for event_id, r in refused.items()} == {
        "queued-out": ("refused", "owner_changed", 0), "queued-in": ("refused", "recipient_owner_changed", 0),
        "queued-ask": ("refused", "owner_changed", 0)}
    # Each requester is told why, in the language on record: the number's present owner, and the friend.
    [to_number] = sms_of(transfers.on_transfer_requested, "queued-out")
    assert (to_number["to"], to_number["template"], to_number["language"]) == (NUMBER, "transfer.refused", "uz")
    assert "hozirgi egasiga o'tishidan oldin" in to_number["params"]["reason"]
    [to_friend] = sms_of(transfers.on_transfer_requested, "queued-in")
    assert (to_friend["to"], to_friend["template"]) == (FRIEND, "transfer.refused")
    assert to_friend["params"]["reason"].startswith(f"{NUMBER} passed to a new owner on ")
    [ask_refused] = sms_of(transfers.on_topup_asked, "queued-ask")
    assert (ask_refused["to"], ask_refused["template"]) == (NUMBER, "transfer.topup_ask.refused")


def test_a_mailbox_sign_up_the_old_owner_confirmed_before_the_number_changed_hands_charges_nothing(
        firestore_clean, recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    topup("old-money", 10_000 * SOM)
    assert ask_to_register(NUMBER, "old-reg") == "processed"
    before = utcnow()
    provision("new-1", subscriber_id=NEW, language="en")          # the reassignment is not archived anywhere yet
    topup("new-money", 10_000 * SOM)
    # The old owner's YES (sent before the number changed hands) is delivered now.
    assert options(NUMBER, "register", "old-yes", said=sms("old-yes", "YES", before), consent_reply=True,
                   requested_at=before.isoformat()) == "processed"
    assert balance() == 10_000 * SOM, "the new owner paid for the old owner's mailbox"
    assert not (doc(missed_call_documents.USERS, NUMBER) or {}).get("registered")
    marker = store.db().collection(store.PROCESSED).document("missed-calls-options:old-yes").get()
    [told] = [Envelope.model_validate(raw).data for raw in marker.get("outbox")]
    assert (told["to"], told["template"]) == (NUMBER, "missed_calls.options.previous_owner")


def test_a_mailbox_the_new_owner_paid_for_before_missed_calls_archived_the_old_owner_stays_theirs(
        firestore_clean, recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    [event] = reassignments(provision("new-1", subscriber_id=NEW, language="en"))
    topup("new-money", 10_000 * SOM)
    assert register(NUMBER, "new-reg") == "processed"               # REG, YES: this month's fee paid
    paid = balance()
    assert paid == 10_000 * SOM - 3_000 * SOM
    assert forward(event, missed_calls.on_reassigned) == "processed"  # the reassignment reaches missed calls now
    assert doc(missed_call_documents.USERS, NUMBER)["registered"], "the new owner's paid mailbox was archived"
    assert ask_to_register(NUMBER, "new-reg-again") == "processed"
    assert balance() == paid, "the new owner paid twice in one month"


def test_a_sign_up_the_new_owner_asked_for_before_missed_calls_archived_the_old_owner_can_be_confirmed(
        firestore_clean, recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    topup("old-money", 10_000 * SOM)
    assert ask_to_register(NUMBER, "old-reg") == "processed"        # the old owner's question, never answered
    [event] = reassignments(provision("new-1", subscriber_id=NEW, language="en"))
    topup("new-money", 10_000 * SOM)
    assert ask_to_register(NUMBER, "new-reg") == "processed"        # the new owner's own question
    assert forward(event, missed_calls.on_reassigned) == "processed"
    assert reply(NUMBER, "YES", "new-yes") == "processed"
    assert doc(missed_call_documents.USERS, NUMBER)["registered"], "the new owner's YES found no question"
    assert balance() == 10_000 * SOM - 3_000 * SOM


def test_a_new_owner_who_signs_up_before_missed_calls_archived_the_old_owner_inherits_none_of_their_options(
        firestore_clean, recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    topup("old-money", 10_000 * SOM)
    assert register(NUMBER, "old-reg") == "processed"               # the old owner's mailbox, this month paid
    assert options(NUMBER, "blacklist_add", "old-list", STRANGER) == "processed"
    assert ask_to_register(NUMBER, "old-reg-again") == "processed"  # already registered: nothing waits
    [event] = reassignments(provision("new-1", subscriber_id=NEW, language="en"))
    topup("new-money", 10_000 * SOM)
    assert register(NUMBER, "new-reg") == "processed"               # before the reassignment reaches missed calls
    assert balance() == 10_000 * SOM - 3_000 * SOM, "the new owner got the old owner's paid mailbox"
    assert forward(event, missed_calls.on_reassigned) == "processed"
    user = doc(missed_call_documents.USERS, NUMBER)
    assert user["registered"] and user["blacklist"] == [] and user["registered_at"] >= datetime.fromisoformat(
        event.data["effective_at"])
    old = archived(event.data["archive_id"], missed_call_documents.USERS)[NUMBER]
    assert old["registered"] and old["blacklist"] == [STRANGER]


def test_the_new_owners_yes_confirms_no_question_the_old_owner_left_waiting_before_missed_calls_archived_it(
        firestore_clean, recordings):  # noqa: F811
    provision("old-1", subscriber_id=OLD, language="en")
    assert ask_to_register(NUMBER, "old-reg") == "processed"        # REG, never answered
    provision("new-1", subscriber_id=NEW, language="en")
    topup("new-money", 10_000 * SOM)
    assert reply(NUMBER, "YES", "new-yes") == "processed"           # before the reassignment reaches missed calls
    assert balance() == 10_000 * SOM, "the new owner was charged for the old owner's sign-up"
    assert not (doc(missed_call_documents.USERS, NUMBER) or {}).get("registered")
