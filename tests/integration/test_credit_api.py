"""The business API through functions-framework on the real Firestore and Pub/Sub emulators (and the
payment emulator): keys, bad input that changes nothing, a top-up asked for once per Idempotency-Key,
settings within the preset's limits that may start one recharge, a card attached at the gateway, and
a usage CSV and statement whose figures are the ledger's entries."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import functions_framework
import pytest

from functions.credits import keys
from functions.credits.accounts import add_user, new_account, open_account
from functions.credits.config import BUCKET, config_for
from functions.credits.documents import ACCOUNTS, ENTRIES, USAGE, Card, CreditAccount, LotDraw, Usage, to_document
from infra.clock import LocalClock
from shared import bus, operator, payments as gateway, runtime, settings, store
from shared.events import utcnow
from shared.ledger import account_from_document, account_to_document, entry_to_document
from shared.localtime import month_of
from tests.integration.test_time_travel import moved_clock  # noqa: F401 - a fixture

SOURCE = "functions/credits/api.py"
ACME = "acme-contact"
AGENT, OTHER_AGENT = "+998901110001", "+998901110002"
VISA = Card(token="pm_visa_on_file", brand="visa", last4="4242")
CACHED = (settings.get, operator.current, store.db, bus._publisher, bus._immediate_publisher, gateway.gateway)


@pytest.fixture
def api(firestore_clean, payments):
    """The credits-api function served by functions-framework, its cards attached at the payment emulator."""
    for cached in CACHED:
        cached.cache_clear()
    yield functions_framework.create_app("credits_api", SOURCE).test_client()
    for cached in CACHED:
        cached.cache_clear()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def stored(account_id: str = ACME) -> CreditAccount:
    return CreditAccount.model_validate(store.db().collection(ACCOUNTS).document(account_id).get().to_dict())


def opened(*, card: Card | None = VISA, purchases=(), usage=(), users=()) -> str:
    """Acme's account with its purchases [(amount, days ago)] and settled usage [(user, amount, days ago)],
    each written as the ledger writes it (entries included), and its users; its API key."""
    db, config, now = store.db(), config_for(operator.current()), utcnow()
    account = new_account(ACME, kind="business", name="Acme contact centre", email="ops@acme.example",
                          language="en", owner=None, config=config, now=now - timedelta(days=200))
    ledger = account_from_document(account.ledger)
    entries = []
    for amount, days in purchases:
        at = now - timedelta(days=days)
        entries.append(ledger.credit(BUCKET, amount, expires_at=at + timedelta(days=365), reason="purchase",
                                     reference=f"charge-{days}", at=at))
    records = []
    for number, (user, amount, days) in enumerate(usage):
        at = now - timedelta(days=days)
        entry = ledger.debit(BUCKET, amount, reason="usage", reference=f"batch-{number}", at=at)
        entries.append(entry)
        records.append(Usage(reference=f"call-{number}", account_id=ACME, msisdn=user, kind="call",
                             destination="998712345678", duration_seconds=60 + number, amount=amount, at=at,
                             event_id=f"e{number}", settled=True, settled_at=at, debited=amount,
                             lots=[LotDraw(lot_id=m.lot_id, amount=-m.amount) for m in entry.lots],
                             entry_id=entry.id))
    open_account(db, account.model_copy(update={"card": card, "ledger": account_to_document(ledger)}))
    for entry in entries:
        db.collection(ACCOUNTS).document(ACME).collection(ENTRIES).document(entry.id).create(entry_to_document(entry))
    for record in records:
        db.collection(USAGE).document(record.reference).create(to_document(record))
    for user in {*users, *(user for user, _, _ in usage)}:
        add_user(db, ACME, user, name=None, now=now)
    return keys.issue(db, ACME, now=now, by="test").secret


# --- keys --------------------------------------------------------------------------------------

def test_an_absent_wrong_or_revoked_key_is_401_and_a_live_one_opens_the_account(api):
    secret = opened(purchases=[(10_000_000, 10)])
    assert api.get("/v1/account", headers=bearer(secret)).status_code == 200
    for headers in ({}, bearer("ck_" + "x" * 43), bearer(secret[:-1]), {"Authorization": secret}):
        response = api.get("/v1/account", headers=headers)
        assert response.status_code == 401 and response.get_json()["error"]["message"]
    stored_key = store.db().collection("credit_api_keys").document(keys.digest(secret)).get().to_dict()
    assert secret not in str(stored_key) and stored_key["prefix"] == secret[:11]   # only the hash and the prefix
    [revoked] = keys.revoke(store.db(), ACME, secret[:11], now=utcnow())
    assert revoked.account_id == ACME
    assert api.get("/v1/account", headers=bearer(secret)).status_code == 401


def test_revoking_a_prefix_two_accounts_share_revokes_only_the_named_accounts_key(api):
    db, now = store.db(), utcnow()
    mine, theirs = keys.issue(db, ACME, now=now).secret, keys.issue(db, "globex", now=now).secret
    shared = mine[:11]   # 48 random bits: unique within an account, not across every account
    db.collection("credit_api_keys").document(keys.digest(theirs)).update({"prefix": shared})
    assert keys.revoke(db, "globex", "ck_nobody12", now=now) == []
    [revoked] = keys.revoke(db, ACME, shared, now=now)
    assert revoked.account_id == ACME and keys.authenticate(db, mine) is None
    assert keys.authenticate(db, theirs).account_id == "globex", "the other account's key still opens its API"
    [also] = keys.revoke(db, "globex", shared, now=now)
    assert also.account_id == "globex" and keys.authenticate(db, theirs) is None


# --- reading ----------------------------------------------------------------------------------

def test_the_account_and_its_lots_oldest_first_with_what_was_bought_and_what_is_left(api):
    secret = opened(purchases=[(10_000_000, 100), (5_000_000, 10)], usage=[(AGENT, 4_000_000, 5)])
    account = api.get("/v1/account", headers=bearer(secret)).get_json()
    assert (account["id"], account["currency"], account["balance"]) == (ACME, "UZS", 11_000_000)
    assert account["card"] == {"brand": "visa", "last4": "4242"}   # the card's expiry is not kept
    assert account["auto_recharge"]["enabled"] is False and account["auto_recharge"]["state"]["phase"] == "armed"
    lots = api.get("/v1/lots", headers=bearer(secret)).get_json()["lots"]
    assert [(lot["purchased"], lot["left"]) for lot in lots] == [(10_000_000, 6_000_000), (5_000_000, 5_000_000)]
    assert lots[0]["expires_at"] < lots[1]["expires_at"]


# --- top-ups -----------------------------------------------------------------------------------

def test_a_top_up_is_asked_for_once_however_often_its_idempotency_key_is_sent(api, tap):
    secret = opened(purchases=[(10_000_000, 10)])
    asked = tap("credits.charge-requested")
    headers = {**bearer(secret), "Idempotency-Key": "order-2026-0001"}
    first = api.post("/v1/top-ups", headers=headers, json={"amount": 20_000_000})
    again = api.post("/v1/top-ups", headers=headers, json={"amount": 20_000_000})
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json() == {
        "charge_id": f"{ACME}.api.order-2026-0001", "status": "requested", "amount": 20_000_000, "currency": "UZS"}
    other_amount = api.post("/v1/top-ups", headers=headers, json={"amount": 30_000_000})
    assert other_amount.status_code == 400 and "already used" in other_amount.get_json()["error"]["message"]
    [envelope] = asked.rest()
    assert envelope.data["charge_id"] == f"{ACME}.api.order-2026-0001" and envelope.data["amount"] == 20_000_000
    assert (envelope.data["reason"], envelope.data["channel"], envelope.data["requested_by"]) == \
        ("manual", "api", secret[:11])
    status = api.get(f"/v1/top-ups/{ACME}.api.order-2026-0001", headers=bearer(secret))
    assert status.status_code == 200 and status.get_json()["status"] == "requested"
    assert api.get(f"/v1/top-ups/{ACME}.api.someone-else", headers=bearer(secret)).status_code == 404


def test_a_top_up_whose_request_was_never_published_says_so_until_it_is_sent_again(api, tap, monkeypatch):
    secret = opened(purchases=[(10_000_000, 10)])
    asked = tap("credits.charge-requested")
    headers, charge = {**bearer(secret), "Idempotency-Key": "order-2026-0003"}, f"{ACME}.api.order-2026-0003"
    publish = runtime.publish_new

    def outage(*args, **kwargs):
        raise TimeoutError("Pub/Sub did not answer")

    monkeypatch.setattr(runtime, "publish_new", outage)
    assert api.post("/v1/top-ups", headers=headers, json={"amount": 20_000_000}).status_code == 503
    lost = api.get(f"/v1/top-ups/{charge}", headers=bearer(secret)).get_json()
    assert lost["status"] == "not_submitted" and "same Idempotency-Key" in lost["hint"]
    monkeypatch.setattr(runtime, "publish_new", publish)
    assert api.post("/v1/top-ups", headers=headers, json={"amount": 20_000_000}).status_code == 202
    assert api.get(f"/v1/top-ups/{charge}", headers=bearer(secret)).get_json()["status"] == "requested"
    [envelope] = asked.rest()
    assert envelope.data["charge_id"] == charge


def test_a_bad_top_up_is_400_and_nothing_is_written_or_asked_for(api, tap):
    secret = opened(purchases=[(10_000_000, 10)])
    asked = tap("credits.charge-requested")
    before = stored().model_dump()
    for headers, body in [({}, {"amount": 20_000_000}),
                          ({"Idempotency-Key": "order-2026-0002"}, {"amount": "20000000"}),
                          ({"Idempotency-Key": "order-2026-0002"}, {"amount": 5}),
                          ({"Idempotency-Key": "order-2026-0002"}, {"amount": 20_000_000, "currency": "USD"})]:
        response = api.post("/v1/top-ups", headers={**bearer(secret), **headers}, json=body)
        assert response.status_code == 400 and response.get_json()["error"]["message"]
    assert asked.rest() == []
    assert list(store.db().collection("credit_top_ups").stream()) == []
    assert stored().model_dump() == before


# --- settings and the card ---------------------------------------------------------------------

def test_settings_within_the_limits_are_applied_and_outside_them_change_nothing(api, tap):
    secret = opened(purchases=[(50_000_000, 10)])
    asked = tap("credits.charge-requested")
    wanted = {"enabled": True, "trigger": 5_000_000, "amount": 20_000_000, "monthly_max_count": 3,
              "monthly_max_amount": 60_000_000}
    response = api.put("/v1/auto-recharge", headers=bearer(secret), json=wanted)
    assert response.status_code == 200, response.get_json()
    assert {name: response.get_json()[name] for name in wanted} == wanted
    assert stored().auto.model_dump() == wanted
    assert api.put("/v1/auto-recharge", headers=bearer(secret), json={"trigger": 200_000_000}).status_code == 400
    assert api.put("/v1/auto-recharge", headers=bearer(secret), json={"amount": "1"}).status_code == 400
    assert stored().auto.model_dump() == wanted
    assert asked.rest() == []   # the balance (500 000) is above the trigger: no recharge


def test_a_trigger_raised_above_the_balance_starts_one_recharge_however_often_it_is_asked(api, tap, pubsub_push):
    secret = opened(purchases=[(3_000_000, 10)])
    asked = tap("credits.charge-requested")
    settings_requested = tap("credits.settings-requested")
    headers = {**bearer(secret), "Idempotency-Key": "settings-0001"}
    body = {"enabled": True, "trigger": 5_000_000, "amount": 20_000_000}
    assert api.put("/v1/auto-recharge", headers=headers, json=body).status_code == 200
    assert api.put("/v1/auto-recharge", headers=headers, json=body).status_code == 200      # a retry
    assert api.put("/v1/auto-recharge", headers=bearer(secret), json={"amount": 30_000_000}).status_code == 200
    published = settings_requested(3)[0]   # the first PUT's (its retry is the same event)
    redelivered = pubsub_push("functions/credits/settings.py", "on_settings_requested",
                              "credits.settings-requested", published.data, published.id)   # Pub/Sub's own delivery
    assert redelivered.status_code == 200
    # Each redelivery re-publishes the stored outbox (runtime.py): the same event, which its consumer takes once.
    copies = asked.rest()
    assert len({envelope.id for envelope in copies}) == 1
    recharge = copies[0]
    assert (recharge.data["charge_id"], recharge.data["amount"], recharge.data["reason"]) == \
        (f"{ACME}.auto.1", 20_000_000, "auto")
    state = stored().recharge
    assert (state.phase, state.charge_id, state.month) == ("pending", f"{ACME}.auto.1",
                                                          month_of(utcnow(), "Asia/Tashkent"))
    assert stored().auto.amount == 30_000_000


def test_a_card_is_attached_at_the_gateway_and_only_its_brand_and_last_four_are_kept(api):
    secret = opened(card=None)
    assert api.put("/v1/auto-recharge", headers=bearer(secret), json={"enabled": True}).status_code == 400
    refused = api.put("/v1/card", headers=bearer(secret), json={"token": "tok_nonsense"})
    assert refused.status_code == 400 and "refused" in refused.get_json()["error"]["message"]
    assert stored().card is None
    attached = api.put("/v1/card", headers=bearer(secret), json={"token": "tok_visa"})
    assert attached.status_code == 200, attached.get_json()
    assert attached.get_json()["card"] == {"brand": "visa", "last4": "4242"}   # not the card's expiry
    account = stored()
    assert account.customer and account.card.token.startswith("pm_") and account.card.last4 == "4242"
    assert set(account.card.model_dump()) == {"token", "brand", "last4"}, "only what the issue allows is kept"
    assert api.put("/v1/auto-recharge", headers=bearer(secret), json={"enabled": True}).status_code == 200


def test_a_customer_the_gateway_no_longer_knows_is_replaced_when_a_card_is_attached(api):
    """Deleted at the gateway, or the keys switched to another gateway account: the next card makes a new one."""
    secret = opened(card=None)
    store.db().collection(ACCOUNTS).document(ACME).update({"customer": "cus_deleted_meanwhile"})
    attached = api.put("/v1/card", headers=bearer(secret), json={"token": "tok_visa"})
    assert attached.status_code == 200, attached.get_json()
    account = stored()
    assert account.customer.startswith("cus_") and account.customer != "cus_deleted_meanwhile"
    assert account.card.last4 == "4242"
    again = api.put("/v1/card", headers=bearer(secret), json={"token": "pm_card_visa"})
    assert again.status_code == 200 and stored().customer == account.customer, "the new customer is kept"


# --- reports -----------------------------------------------------------------------------------

def charged_to_credits(pubsub_push, user: str, reference: str, amount: int, at, kind: str = "call") -> None:
    """A call or SMS the charging system rated against credits, through the wallet's own consumer."""
    payload = {"msisdn": user, "kind": kind, "amount": amount, "reference": reference, "at": at.isoformat(),
               "charged_to": "credits", "destination": "998712345678",
               **({"duration_seconds": 61} if kind == "call" else {"units": 1})}
    assert pubsub_push("functions/credits/usage.py", "on_usage", "bss.usage", payload, f"u-{reference}").status_code \
        == 200


def well_into_its_month(clock: LocalClock, zone: ZoneInfo, days: int) -> None:
    """Move the clock, when need be, so that the last `days` days all fall in this month (the operator's zone):
    what a test makes that far back is then in this month's statement, whatever day the run falls on."""
    local = utcnow().astimezone(zone)
    earliest = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=days, hours=1)
    if local < earliest:
        clock.set_to(earliest)


def test_the_usage_csv_and_the_statement_are_the_ledgers_figures(api, pubsub_push, moved_clock):
    """Usage through the wallet's consumers (recorded, then settled in one batch, oldest purchase first):
    the CSV shows each record as settled and the statement's figures are the sums of the ledger's entries."""
    zone = ZoneInfo("Asia/Tashkent")
    well_into_its_month(moved_clock, zone, days=3)   # the purchases 2 days back, the CSV from 3 days back
    now = utcnow()
    secret = opened(purchases=[(10_000_000, 2), (5_000_000, 1)], users=[AGENT, OTHER_AGENT])
    charged_to_credits(pubsub_push, AGENT, "call-a", 4_000_000, now - timedelta(hours=3))
    charged_to_credits(pubsub_push, OTHER_AGENT, "call-b", 7_000_000, now - timedelta(hours=2))
    charged_to_credits(pubsub_push, AGENT, "sms-c", 1_500_000, now - timedelta(hours=1), kind="sms")
    charged_to_credits(pubsub_push, AGENT, "call-d", 9_000_000, now - timedelta(minutes=30))   # beyond the balance
    assert pubsub_push("functions/credits/settle.py", "on_settle", "credits.settle", {"account_id": ACME},
                       "settle-1").status_code == 200

    today, first = now.astimezone(zone).date(), (now - timedelta(days=3)).astimezone(zone).date()
    every = api.get(f"/v1/usage.csv?from={first}&to={today}", headers=bearer(secret))
    assert every.status_code == 200 and every.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(every.data.decode())))
    as_text, other_as_text = f"'{AGENT}", f"'{OTHER_AGENT}"   # a leading + would be a formula to a spreadsheet
    assert [(row["user"], row["type"]) for row in rows] == \
        [(as_text, "call"), (other_as_text, "call"), (as_text, "sms"), (as_text, "call")]
    assert [row["credits_used"] for row in rows] == ["40000.00", "70000.00", "15000.00", "25000.00"]
    assert [row["shortfall"] for row in rows] == ["0.00", "0.00", "0.00", "65000.00"]   # never below zero
    assert rows[1]["lots"] == "000000000001:60000.00;000000000002:10000.00"   # the oldest purchase first
    assert {row["destination"] for row in rows} == {"*********678"} and {row["status"] for row in rows} == {"settled"}
    mine = api.get(f"/v1/usage.csv?from={first}&to={today}&user={AGENT}", headers=bearer(secret))
    assert [row["user"] for row in csv.DictReader(io.StringIO(mine.data.decode()))] == [as_text] * 3

    entries = [doc.to_dict() for doc in store.db().collection(ACCOUNTS).document(ACME).collection(ENTRIES).stream()]
    month = month_of(now, zone)
    in_month = [entry for entry in entries if month_of(entry["at"], zone) == month]
    statement = api.get(f"/v1/statement?month={month}", headers=bearer(secret)).get_json()
    assert statement["purchases"] == sum(e["delta"] for e in in_month if e["kind"] == "credit") == 15_000_000
    assert statement["usage"] == -sum(e["delta"] for e in in_month if e["kind"] == "debit") == 15_000_000
    assert statement["usage"] == sum(int(Decimal(row["credits_used"]) * 100) for row in rows)
    assert statement["expiry"] == 0 and statement["balanced"] is True
    assert statement["closing"] == stored().ledger["buckets"][BUCKET]["balance"] == 0
    assert statement["opening"] + statement["purchases"] - statement["usage"] == statement["closing"]


# --- care -------------------------------------------------------------------------------------

def test_care_opens_an_account_adds_users_and_issues_a_key_the_api_takes(api, capsys):
    from functions.credits.__main__ import main

    assert main(["open-business", "globex", "--name", "Globex", "--email", "it@globex.example", "--language", "ru",
                 "--owner", "901110003"]) == 0
    assert main(["open-business", "globex", "--name", "Again", "--email", "x@y.z", "--language", "en"]) == 1
    assert main(["open-business", "9globex", "--name", "Bad", "--email", "x@y.z", "--language", "en"]) == 1
    assert main(["add-user", "globex", "901110004"]) == 0
    assert main(["add-user", "globex", "901110004"]) == 1          # a line belongs to one account
    capsys.readouterr()
    assert main(["key", "globex"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    account = api.get("/v1/account", headers=bearer(secret)).get_json()
    assert (account["id"], account["balance"], account["card"]) == ("globex", 0, None)
    assert main(["show", "globex"]) == 0
    shown = capsys.readouterr().out
    assert "users: +998901110004" in shown and secret[:11] in shown and secret not in shown
    assert main(["revoke-key", "acme-contact", secret[:11]]) == 1   # another account's key is not theirs to revoke
    assert api.get("/v1/account", headers=bearer(secret)).status_code == 200
    assert main(["revoke-key", "globex", secret[:11]]) == 0
    assert api.get("/v1/account", headers=bearer(secret)).status_code == 401
    assert main(["statement", "globex", month_of(utcnow(), "Asia/Tashkent")]) == 0
    assert "closing balance" in capsys.readouterr().out


# --- individuals on USSD ------------------------------------------------------------------------

def test_an_individual_reads_their_credits_and_tops_up_on_the_ussd_code(firestore_clean, tap, monkeypatch):
    """Through the real edge webhook: the account is read with the caller's record, the top-up asked for once."""
    from urllib.parse import urlencode

    from functions.credits.__main__ import main
    from shared import signing

    me = "+998935550001"
    store.db().collection(store.SUBSCRIBERS).document(me).set(
        {"msisdn": me, "customer_type": "individual", "line_type": "prepaid", "language": "en",
         "tariff_plan": "standard", "status": "active", "name": None})
    assert main(["open-individual", me, "--email", "me@example.com"]) == 0
    db = store.db()
    ref = db.collection(ACCOUNTS).document("998935550001")
    ref.update({"card": VISA.model_dump()})
    monkeypatch.setenv("VAS_USSD_GATEWAY_SECRET", "integration-ussd-secret")
    monkeypatch.setenv("VAS_TWILIO_AUTH_TOKEN", "integration-twilio-token")
    for cached in CACHED:
        cached.cache_clear()
    edge = functions_framework.create_app("ussd", "functions/edge/main.py").test_client()

    def dial(text: str) -> str:
        body = urlencode({"sessionId": "ATUid_125", "serviceCode": "*125#", "phoneNumber": me,
                          "networkCode": "43401", "text": text}).encode()
        signature = signing.sign_body("integration-ussd-secret", body)
        return edge.post("/", data=body, content_type="application/x-www-form-urlencoded",
                         headers={signing.USSD_SIGNATURE_HEADER: signature}).data.decode()

    asked = tap("credits.charge-requested")
    assert dial("") == "CON Credits: 0 so'm\n1 Top up\n2 Expiry dates\n0 Close"
    assert dial("1*1") == "CON Charge 20 000 so'm to Visa *4242?\n1 Confirm\n0 Close"
    assert dial("1*1*1").startswith("END Top-up of 20 000 so'm requested.")
    assert dial("1*1*1").startswith("END Top-up of 20 000 so'm requested.")    # the gateway's retry
    copies = asked.rest()
    assert len({envelope.id for envelope in copies}) == 1
    assert (copies[0].data["account_id"], copies[0].data["amount"], copies[0].data["channel"]) == \
        ("998935550001", 2_000_000, "ussd")
    for cached in CACHED:
        cached.cache_clear()


def test_turning_auto_recharge_on_past_the_monthly_cap_recharges_nothing_and_says_why(api, tap):
    secret = opened(purchases=[])
    month = month_of(utcnow(), "Asia/Tashkent")
    capped = stored().recharge.model_copy(update={"month": month, "month_count": 5, "month_amount": 50_000_000})
    store.db().collection(ACCOUNTS).document(ACME).update({"recharge": capped.model_dump()})
    asked, emails = tap("credits.charge-requested"), tap("email.send")
    response = api.put("/v1/auto-recharge", headers=bearer(secret), json={"enabled": True})
    assert response.status_code == 200 and response.get_json()["state"]["phase"] == "waiting"
    assert asked.rest() == []
    sent = emails.rest()
    assert sorted(envelope.data["template"] for envelope in sent) == ["email.credits_capped", "email.credits_zero"]
    assert {envelope.data["to"] for envelope in sent} == {"ops@acme.example"}
