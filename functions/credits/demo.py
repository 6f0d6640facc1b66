"""Communication credits' part of the scripted demo (infra/demo.py), played last: it moves the clock a year.

Care opens Acme's business account (John's line its user) and issues an API key. Acme's integration
puts a card on file and tops up by card (the receipt by email), then turns auto-recharge on. John's
calls are charged to the credits, oldest purchase first; crossing the trigger recharges once, with
its email. Acme's next card is expired: the recharge fails (the email names the card's last four
digits), is retried as the clock moves, and the third failure turns auto-recharge off. A year on,
the first purchases are announced, then expire.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests

from functions.credits import __main__ as care
from functions.credits.config import CreditsConfig, config_for
from infra.demo_common import DemoSection, DemoStage, publish_bss, wait_until
from shared.events import utcnow
from shared.operator import OperatorProfile

ACME, EMAIL = "acme-contact", "billing@acme.example"
AFTER_TICK = timedelta(minutes=16)  # the clock's schedule ticks every 15 minutes: one tick falls after the moment


class BusinessApi:
    """Acme's integration: the business API with its bearer key."""

    def __init__(self, url: str, key: str):
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, **options: Any) -> Any:
        answer = self.session.request(method, f"{self.url}{path}", timeout=30, **options)
        if not answer.ok:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.text if path.endswith(".csv") else answer.json()

    def balance(self) -> int:
        return int(self.call("GET", "/v1/account")["balance"])


def play(stage: DemoStage) -> None:
    """A card top-up, an auto-recharge, oldest-first use, a failing card turned off after three tries, an expiry."""
    config = config_for(stage.profile)
    if config is None:
        raise RuntimeError("the credits demo played for a profile without communication credits")
    john = stage.subscribers[4]
    api = open_account(stage, john.msisdn)
    money = Money(stage.profile)

    card = api.call("PUT", "/v1/card", json={"token": "pm_card_visa"})["card"]
    stage.transcript.add(
        "acme api", "PUT /v1/card pm_card_visa", f"{card['brand']} *{card['last4']}", True, "a card on file"
    )
    first = 3 * config.auto_recharge.amount // 2
    top_up(stage, api, first, "a card top-up, credited once its payment is confirmed", money)

    settings = {"enabled": True, "trigger": config.auto_recharge.trigger, "amount": config.auto_recharge.amount}
    api.call("PUT", "/v1/auto-recharge", json=settings)
    stage.transcript.add(
        "acme api",
        "PUT /v1/auto-recharge",
        f"on: below {money(settings['trigger'])} add {money(settings['amount'])}",
        True,
        "auto-recharge on",
    )

    # John's calls take the balance below the trigger: one recharge, one email.
    mails = len(stage.emails_to(EMAIL))
    calls = first - config.auto_recharge.trigger // 2
    use(stage, john.msisdn, calls, "demo-call-1")
    mail = stage.email_saying(EMAIL, mails, money(settings["amount"]))
    recharges = [m for m in stage.emails_to(EMAIL)[mails:] if m["subject"] == mail["subject"]]
    stage.transcript.add(
        EMAIL,
        "John's calls cross the trigger; receives",
        gist(mail),
        len(recharges) == 1,
        "one auto-recharge: the amount, the new balance, the expiry date",
    )
    wait_until(lambda: api.balance() > settings["trigger"], stage.timeout, "the auto-recharge to be credited")

    lots = api.call("GET", "/v1/lots")["lots"]
    oldest_first = (
        len(lots) >= 2 and lots[0]["left"] < lots[0]["purchased"] and lots[-1]["left"] == lots[-1]["purchased"]
    )
    listed = "; ".join(f"{money(lot['left'])} of {money(lot['purchased'])} to {lot['expires_at'][:10]}" for lot in lots)
    stage.transcript.add("acme api", "GET /v1/lots", listed, oldest_first, "the oldest purchase spent first")

    failing_card(stage, api, config, john.msisdn, money)
    expiry(stage, api, config, money)


def open_account(stage: DemoStage, owner: str) -> BusinessApi:
    """Care opens Acme's account, makes John's line its user, and issues the API key (shown once)."""
    said = care_says("open-business", ACME, "--name", "Acme contact centre", "--email", EMAIL, "--language", "en",
                     "--owner", owner)  # fmt: skip
    said += "\n" + care_says("add-user", ACME, owner, "--name", "John (agent)")
    key_text = care_says("key", ACME)
    stage.transcript.add("care", "opens Acme's account, adds John's line, issues a key", said, True, "an account")
    return BusinessApi(stage.function_urls["credits-api"], key_text.strip().splitlines()[-1])


def care_says(*argv: str) -> str:
    """What `python -m functions.credits ...` prints (it must succeed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = care.main(list(argv))
    if status != 0:
        raise RuntimeError(f"python -m functions.credits {' '.join(argv)} failed: {out.getvalue()}")
    return out.getvalue().strip()


def top_up(stage: DemoStage, api: BusinessApi, amount: int, expectation: str, money: Callable[[int], str]) -> None:
    """POST /v1/top-ups, then the charge succeeded and the receipt's email."""
    mails = len(stage.emails_to(EMAIL))
    asked = api.call("POST", "/v1/top-ups", json={"amount": amount}, headers={"Idempotency-Key": uuid.uuid4().hex})
    charge = f"/v1/top-ups/{asked['charge_id']}"
    wait_until(lambda: api.call("GET", charge)["status"] == "succeeded", stage.timeout, "the card top-up")
    mail = stage.email_saying(EMAIL, mails, money(amount))
    stage.transcript.add("acme api", f"POST /v1/top-ups {money(amount)}; email", mail["subject"], True, expectation)


def use(stage: DemoStage, msisdn: str, amount: int, reference: str) -> None:
    """The charging system rates a call against the credits (bss.usage, charged_to credits)."""
    usage = {"msisdn": msisdn, "kind": "call", "amount": amount, "reference": reference, "at": utcnow().isoformat(),
             "charged_to": "credits", "destination": "998712000101", "duration_seconds": 600}  # fmt: skip
    publish_bss("bss.usage", usage, event_id=f"demo-{reference}")


def failing_card(
    stage: DemoStage, api: BusinessApi, config: CreditsConfig, msisdn: str, money: Callable[[int], str]
) -> None:
    """An expired card: the recharge fails, is retried on the clock, and the last failure turns auto-recharge off."""
    card = api.call("PUT", "/v1/card", json={"token": "pm_card_chargeDeclinedExpiredCard"})["card"]
    stage.transcript.add("acme api", "PUT /v1/card (another card)", f"{card['brand']} *{card['last4']}", True, "")
    mails = len(stage.emails_to(EMAIL))
    use(stage, msisdn, api.balance() - config.auto_recharge.trigger // 2, "demo-call-2")
    failed = stage.email_saying(EMAIL, mails, card["last4"])
    stage.transcript.add(EMAIL, "the next crossing; receives", gist(failed), True, "the failure, naming the card")
    for hours in config.retry_hours:
        mails = len(stage.emails_to(EMAIL))
        stage.move_clock_to(utcnow() + timedelta(hours=hours) + AFTER_TICK)
        mail = stage.email_saying(EMAIL, mails, card["last4"])
        stage.transcript.add(EMAIL, f"{hours:g} h later the retry fails; receives", gist(mail), True, "")
    state = api.call("GET", "/v1/auto-recharge")
    stage.transcript.add(
        "acme api",
        "GET /v1/auto-recharge",
        f"enabled: {state['enabled']}; {state['state']['disabled_reason']}",
        state["enabled"] is False,
        f"off after {config.max_consecutive_failures} failures in a row, with an email",
    )


def expiry(stage: DemoStage, api: BusinessApi, config: CreditsConfig, money: Callable[[int], str]) -> None:
    """A year on: the notice before the first purchase expires, then its expiry."""
    lots = api.call("GET", "/v1/lots")["lots"]
    first_expiry = datetime.fromisoformat(lots[0]["expires_at"])
    notice_days = config.expiry_notice_days[-1]
    mails = len(stage.emails_to(EMAIL))
    stage.move_clock_to(first_expiry - timedelta(days=notice_days) + AFTER_TICK)
    notice = stage.email_saying(EMAIL, mails, money(lots[0]["left"]))
    stage.transcript.add(EMAIL, f"{notice_days} days before the expiry; receives", notice["subject"], True, "")
    before, mails = api.balance(), len(stage.emails_to(EMAIL))
    stage.move_clock_to(first_expiry + AFTER_TICK)
    expired = stage.email_saying(EMAIL, mails, money(lots[0]["left"]))
    after = api.balance()
    stage.transcript.add(
        EMAIL,
        "12 months after the purchase; receives",
        f"{expired['subject']} (balance {money(before)} -> {money(after)})",
        after == before - lots[0]["left"],
        "unused credits expire 12 months after purchase",
    )


def gist(mail: dict[str, Any]) -> str:
    """An email as the transcript shows it: the subject, then the body's text without its markup."""
    body = " ".join(re.sub(r"<[^>]+>", " ", html.unescape(mail.get("body", ""))).split())
    return f"{mail['subject']}\n{body[:240]}"


class Money:
    """Amounts as the emails write them (the operator's currency)."""

    def __init__(self, profile: OperatorProfile):
        self.currency = profile.currency

    def __call__(self, minor: int) -> str:
        return self.currency.format(minor)


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = DemoSection(order=95, play=play, switched_on=_switched_on)
