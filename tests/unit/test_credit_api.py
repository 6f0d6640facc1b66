"""The business API's rules without Firestore: bearer keys, the preset's limits on auto-recharge
settings, and bad input answered 400 with what to change, before anything is read, published or
changed (the real function through functions-framework, its key check and account read stood in for)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import functions_framework
import pytest

from functions.credits import keys, settings as account_settings, wallet
from functions.credits.accounts import new_account
from functions.credits.config import config_for
from functions.credits.documents import Card
from shared import operator, payments, runtime, store
from shared.events import CreditCardOnFile, CreditsSettingsRequested

PROFILE = operator.current()
CONFIG = config_for(PROFILE)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VISA = Card(token="pm_1", brand="visa", last4="4242")
KEY = keys.ApiKey(account_id="acme-contact", prefix="ck_AbCd1234", created_at=NOW)


def account(card: Card | None = VISA):
    opened = new_account("acme-contact", kind="business", name="Acme", email="ops@acme.example", language="en",
                         owner=None, config=CONFIG, now=NOW)
    return opened.model_copy(update={"card": card})


def change(**fields) -> CreditsSettingsRequested:
    return CreditsSettingsRequested(request_id="r1", account_id="acme-contact", channel="api", requested_at=NOW,
                                    **fields)


# --- keys ---------------------------------------------------------------------------------------

def test_a_key_is_256_random_bits_stored_as_its_sha256():
    secret = keys.new_secret()
    assert secret.startswith("ck_") and len(secret) == 3 + 43 and secret != keys.new_secret()
    assert keys.digest(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert keys.prefix_of(secret) == secret[:11]


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer ck_abc", "ck_abc"), ("bearer   ck_abc ", "ck_abc"), (None, None), ("", None), ("Basic ck_abc", None),
    ("Bearer", None), ("Bearer " + "x" * 300, None), ("ck_abc", None),
])
def test_only_a_bearer_token_is_read_as_a_key(header, token):
    assert keys.bearer_token(header) == token


def test_a_key_is_revoked_by_a_prefix_long_enough_to_name_one():
    with pytest.raises(ValueError, match="prefix"):
        keys.revoke(None, "acme-contact", "ck_Ab", now=NOW)   # type: ignore[arg-type] - refused before any read


# --- settings within the preset's limits --------------------------------------------------------

def test_settings_left_out_keep_their_value():
    merged = account_settings.merged(account().auto, change(enabled=True, trigger=3_000_000))
    assert merged.model_dump() == {**account().auto.model_dump(), "enabled": True, "trigger": 3_000_000}


@pytest.mark.parametrize(("given", "named"), [
    ({"trigger": 100_000_001}, "trigger must be at most 100000000"),
    ({"amount": 999_999}, "amount must be between 1000000 and 500000000"),
    ({"amount": 500_000_001, "monthly_max_amount": 1_000_000_000}, "amount must be between"),
    ({"trigger": 20_000_000, "amount": 10_000_000}, "amount must be at least the trigger"),
    ({"monthly_max_count": 32}, "monthly_max_count must be at most 31"),
    ({"monthly_max_amount": 2_000_000_001}, "monthly_max_amount must be at most 2000000000"),
    ({"monthly_max_amount": 5_000_000}, "monthly_max_amount must be at least the amount"),
])
def test_settings_outside_the_presets_limits_are_refused_naming_the_limit(given, named):
    refused = account_settings.applied(account(), change(**given), CONFIG, PROFILE.currency)
    assert isinstance(refused, str) and named in refused


def test_settings_within_the_limits_are_applied_and_auto_recharge_needs_a_card():
    wanted = change(enabled=True, trigger=5_000_000, amount=20_000_000, monthly_max_count=3,
                    monthly_max_amount=60_000_000)
    applied = account_settings.applied(account(), wanted, CONFIG, PROFILE.currency)
    assert not isinstance(applied, str)
    assert (applied.auto.enabled, applied.auto.trigger, applied.auto.amount) == (True, 5_000_000, 20_000_000)
    assert "needs a card" in account_settings.applied(account(card=None), wanted, CONFIG, PROFILE.currency)
    card = CreditCardOnFile(token="pm_2", brand="mastercard", last4="4444")
    with_card = account_settings.applied(account(card=None), change(enabled=True, card=card, customer="cus_1"),
                                         CONFIG, PROFILE.currency)
    assert with_card.card.last4 == "4444" and with_card.customer == "cus_1" and with_card.auto.enabled


def test_a_new_card_is_taken_even_when_the_preset_lowered_a_limit_the_settings_exceed_since():
    auto = account().auto.model_copy(update={"amount": 400_000_000, "monthly_max_amount": 800_000_000})
    before = account(card=None).model_copy(update={"auto": auto})
    lowered = CONFIG.model_copy(update={"limits": CONFIG.limits.model_copy(update={"max_topup": 300_000_000})})
    card = CreditCardOnFile(token="pm_2", brand="mastercard", last4="4444")
    with_card = account_settings.applied(before, change(card=card, customer="cus_1"), lowered, PROFILE.currency)
    assert not isinstance(with_card, str), with_card
    assert with_card.card.last4 == "4444" and with_card.auto == auto, "the card changes, the settings stay"
    refused = account_settings.applied(before, change(trigger=1_000_000), lowered, PROFILE.currency)
    assert isinstance(refused, str) and "amount must be between" in refused, "a settings change is checked"


class ForgetfulGateway:
    """A gateway that deleted the customer `cus_gone`: attaching to it is refused as a missing customer."""

    def __init__(self):
        self.created: list[str | None] = []

    def create_customer(self, account_id, email, name, *, replacing=None):
        self.created.append(replacing)
        return f"cus_{len(self.created)}"

    def attach_card(self, customer, token):
        if customer == "cus_gone":
            raise payments.CustomerMissing("resource_missing", "No such customer: 'cus_gone'")
        if token == "tok_bad":
            raise payments.CardRefused("resource_missing", "No such token: 'tok_bad'")
        return payments.CardOnFile(token="pm_9", brand="visa", last4="4242", exp_month=12, exp_year=2030)


def test_a_card_for_a_customer_the_gateway_lost_goes_to_a_new_customer_once(monkeypatch):
    gateway = ForgetfulGateway()
    monkeypatch.setattr(payments, "gateway", lambda: gateway)
    stale = account(card=None).model_copy(update={"customer": "cus_gone"})
    customer, card = account_settings.attach_card(stale, "tok_visa")
    assert (customer, card.last4, gateway.created) == ("cus_1", "4242", ["cus_gone"])
    with pytest.raises(payments.CardRefused, match="tok_bad"):   # a bad token is the holder's to fix: no new customer
        account_settings.attach_card(account(card=None).model_copy(update={"customer": "cus_1"}), "tok_bad")
    assert gateway.created == ["cus_gone"]


# --- the HTTP function: 401 and 400 before anything changes ------------------------------------

@pytest.fixture
def client(monkeypatch):
    """The real `credits_api` entry point; the key check, the account read and publishing stood in for."""
    published = []
    monkeypatch.setattr(store, "db", lambda: None)
    monkeypatch.setattr(keys, "authenticate", lambda db, token: KEY if token == "ck_good" else None)
    monkeypatch.setattr(wallet, "read_account", lambda db, account_id, at=None: account())
    monkeypatch.setattr(runtime, "publish_new", lambda *args, **kwargs: published.append((args, kwargs)))
    monkeypatch.setattr(runtime, "process", lambda *args, **kwargs: pytest.fail("nothing may be applied"))
    app = functions_framework.create_app("credits_api", "functions/credits/api.py").test_client()
    app.published = published
    return app


GOOD = {"Authorization": "Bearer ck_good"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/account"), ("GET", "/v1/lots"), ("POST", "/v1/top-ups"), ("GET", "/v1/top-ups/acme.api.key-0001"),
    ("GET", "/v1/auto-recharge"), ("PUT", "/v1/auto-recharge"), ("PUT", "/v1/card"),
    ("GET", "/v1/usage.csv?from=2026-11-01&to=2026-11-30"), ("GET", "/v1/statement?month=2026-11"),
])
def test_each_of_the_nine_routes_is_401_without_a_valid_key_and_reads_nothing(client, monkeypatch, method, path):
    monkeypatch.setattr(wallet, "read_account", lambda *args, **kwargs: pytest.fail("no account is read"))
    for headers in ({}, {"Authorization": "Bearer ck_wrong"}):
        response = client.open(path, method=method, headers=headers, json={"amount": 5_000_000, "token": "tok_visa"})
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert client.published == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ck_wrong"}, {"Authorization": "Basic ck_good"},
                                     {"Authorization": "ck_good"}])
def test_without_a_valid_key_every_path_is_401(client, headers):
    for method, path in [("GET", "/v1/account"), ("POST", "/v1/top-ups"), ("GET", "/v1/nowhere")]:
        response = client.open(path, method=method, headers=headers, json={"amount": 5_000_000})
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert "API key" in response.get_json()["error"]["message"]
    assert client.published == []


@pytest.mark.parametrize(("headers", "body", "named"), [
    ({}, {"amount": 5_000_000}, "Idempotency-Key header is required"),
    ({"Idempotency-Key": "short"}, {"amount": 5_000_000}, "Idempotency-Key header is required"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": "5000000"}, "amount: Input should be a valid integer"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": 50.5}, "amount: Input should be a valid integer"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": True}, "amount: Input should be a valid integer"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": 5_000_000, "card": "x"}, "card: Extra inputs"),
    ({"Idempotency-Key": "key-0000001"}, {}, "amount: Field required"),
    ({"Idempotency-Key": "key-0000001"}, [5_000_000], "must be a JSON object"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": 999_999}, "amount must be between 1000000 and 500000000"),
    ({"Idempotency-Key": "key-0000001"}, {"amount": 500_000_001}, "amount must be between"),
])
def test_a_bad_top_up_is_400_naming_what_to_change_and_nothing_is_asked_for(client, headers, body, named):
    response = client.post("/v1/top-ups", headers={**GOOD, **headers}, json=body)
    assert response.status_code == 400, response.get_json()
    assert named in response.get_json()["error"]["message"]
    assert client.published == []


def test_a_top_up_without_a_card_on_file_is_refused(client, monkeypatch):
    monkeypatch.setattr(wallet, "read_account", lambda db, account_id, at=None: account(card=None))
    response = client.post("/v1/top-ups", headers={**GOOD, "Idempotency-Key": "key-0000001"},
                           json={"amount": 5_000_000})
    assert response.status_code == 409 and "PUT /v1/card" in response.get_json()["error"]["message"]
    assert client.published == []


@pytest.mark.parametrize(("body", "named"), [
    ({}, "give at least one of enabled"),
    ({"trigger": "2000000"}, "trigger: Input should be a valid integer"),
    ({"enabled": "yes"}, "enabled: Input should be a valid boolean"),
    ({"limit": 3}, "limit: Extra inputs"),
    ({"trigger": 100_000_001}, "trigger must be at most 100000000"),
    ({"enabled": True, "amount": 10_000}, "amount must be between"),
])
def test_bad_settings_are_400_and_nothing_is_published_or_applied(client, body, named):
    response = client.put("/v1/auto-recharge", headers=GOOD, json=body)
    assert response.status_code == 400 and named in response.get_json()["error"]["message"]
    assert client.published == []


@pytest.mark.parametrize(("path", "named"), [
    ("/v1/statement", "month must be given as YYYY-MM"),
    ("/v1/statement?month=2026-13", "month must be given as YYYY-MM"),
    ("/v1/usage.csv?from=2026-12-05&to=2026-12-01", "from must be on or before to"),
    ("/v1/usage.csv?from=yesterday", "from must be a date"),
    ("/v1/usage.csv?from=2025-01-01&to=2026-12-01", "at most 366 days apart"),
    ("/v1/usage.csv?user=12", "user:"),
    # Out of the years a ledger holds: answered, never a 503 from the date arithmetic or Firestore.
    ("/v1/statement?month=0000-01", "month must be given as YYYY-MM, between 2000-01 and 2100-12"),
    ("/v1/statement?month=9999-12", "month must be given as YYYY-MM, between 2000-01 and 2100-12"),
    ("/v1/usage.csv?from=9999-12-31&to=9999-12-31", "from must be a date between 2000-01-01 and 2100-12-31"),
    ("/v1/usage.csv?from=2026-12-01&to=0001-01-01", "to must be a date between"),
    ("/v1/top-ups/__x__", "a charge id is 1 to 120 letters"),
    ("/v1/top-ups/" + "a" * 121, "a charge id is 1 to 120 letters"),
])
def test_bad_report_parameters_are_400(client, path, named):
    response = client.get(path, headers=GOOD)
    assert response.status_code == 400 and named in response.get_json()["error"]["message"]


def test_unknown_paths_and_methods_are_named(client):
    assert client.get("/v1/balance", headers=GOOD).status_code == 404
    wrong = client.delete("/v1/card", headers=GOOD)
    assert wrong.status_code == 405 and "PUT" in wrong.get_json()["error"]["message"]
