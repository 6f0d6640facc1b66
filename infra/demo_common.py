"""What every part of the scripted demo shares: its subscribers, the transcript it writes, and waiting on the stack.

A service's part of the demo is its `functions/<service>/demo.py`, declaring `SECTION = DemoSection(...)`
(infra/sections.py finds it); what it plays gets a `DemoStage`.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from emulators.carrier.client import CarrierClient
from infra.sections import always
from shared import bus, catalog, ledger, store, texts
from shared.operator import OperatorProfile


@dataclass(frozen=True)
class DemoSubscriber:
    msisdn: str
    name: str
    language: str
    main: int  # minor units
    bonus: int = 0
    attached: bool = True
    customer_type: str = "individual"
    line_type: str = "prepaid"


SUBSCRIBERS = (
    DemoSubscriber("+998901000001", "Aziz Karimov", "uz", main=5_000_000, bonus=500_000),
    DemoSubscriber("+998901000002", "Olga Petrova", "ru", main=4_000_000),
    DemoSubscriber("+998901000003", "Li Wei", "zh", main=800_000, attached=False),
    DemoSubscriber("+998901000004", "Aida Toktogulova", "ky", main=1_000_000),
    DemoSubscriber(
        "+998901000005", "John Smith", "en", main=2_000_000, customer_type="corporate", line_type="postpaid"
    ),
    DemoSubscriber("+998901000006", "Bobur Aliev", "uz", main=0),  # zero balance: the call-me-back demo
)


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s (see .run/logs/)")


def _columns(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(text: str, width: int) -> list[str]:
    """Wrap by terminal columns, at a space when there is one (CJK text has none)."""
    lines = []
    while _columns(text) > width:
        cut = max(i for i in range(1, len(text) + 1) if _columns(text[:i]) <= width)
        space = text.rfind(" ", 0, cut + 1)
        cut = space if space > 0 else cut
        lines.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*lines, text]


@dataclass
class Step:
    phone: str
    action: str
    screen: str
    ok: bool
    expectation: str = ""


@dataclass
class Transcript:
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def add(self, phone: str, action: str, screen: str, ok: bool, expectation: str = "") -> Step:
        step = Step(phone, action, screen, ok, expectation)
        self.steps.append(step)
        return step

    def render(self) -> str:
        lines = ["", "=" * 64, "Demo transcript: what each phone saw", "=" * 64]
        names = {s.msisdn: f"{s.name} ({s.language})" for s in SUBSCRIBERS}
        for number, step in enumerate(self.steps, 1):
            who = names.get(step.phone, "")
            lines.append(f"\n{number}. {who + ' ' if who else ''}{step.phone} — {step.action}")
            width = 44
            lines.append("   ┌" + "─" * width + "┐")
            for paragraph in (step.screen or "(nothing)").splitlines() or [""]:
                for line in _wrap(paragraph, width - 2):
                    lines.append(f"   │ {line}{' ' * (width - 2 - _columns(line))} │")
            lines.append("   └" + "─" * width + "┘")
            if not step.ok:
                lines.append(f"   ✗ expected: {step.expectation}")
        lines.append("")
        lines.append("Demo " + ("passed: every step as scripted." if self.ok else "FAILED: see ✗ above."))
        return "\n".join(lines)


def new_sms(carrier: CarrierClient, msisdn: str, before: int, timeout: float) -> str:
    """The SMS the phone received after its first `before`, waiting for at least one."""
    received = carrier.wait_for_inbox(msisdn, before + 1, timeout)
    return "\n".join(m["body"] for m in received[before:])


@dataclass(frozen=True)
class DemoStage:
    """What a service's part of the demo plays with: the phones, the transcript, the subscribers, the profile."""

    carrier: CarrierClient
    transcript: Transcript
    timeout: float
    subscribers: tuple[DemoSubscriber, ...]
    profile: OperatorProfile
    clock_url: str = ""  # the stack's clock control (infra/clock.py): a section that needs days to pass moves it
    function_urls: Mapping[str, str] = field(default_factory=dict)  # each catalog function's local URL, by name
    ses_url: str = ""  # the SES emulator (moto's server): a section that sends email reads it back from there

    def new_sms(self, msisdn: str, before: int) -> str:
        """The SMS the phone received after its first `before`, waiting for at least one."""
        return new_sms(self.carrier, msisdn, before, self.timeout)

    def sms_saying(self, msisdn: str, before: int, *words: str) -> str:
        """The first SMS after the phone's first `before` that holds every one of `words`, waiting for it.

        Other services write to the same phones meanwhile (a top-up notice, an expiry): this one is picked out."""
        found: list[str] = []

        def arrived() -> bool:
            found[:] = [m["body"] for m in self.carrier.inbox(msisdn)[before:] if all(w in m["body"] for w in words)]
            return bool(found)

        wait_until(arrived, self.timeout, f"an SMS to {msisdn} saying {' + '.join(words)}")
        return found[0]

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        """Every email SES took for `address` so far, oldest first: subject and body (moto's record)."""
        answer = requests.get(f"{self.ses_url}/moto-api/data.json", timeout=10)
        answer.raise_for_status()
        sent = answer.json().get("ses", {}).get("Message", [])
        return [mail for mail in sent if address in mail.get("destinations", {}).get("ToAddresses", [])]

    def email_saying(self, address: str, before: int, *words: str) -> dict[str, Any]:
        """The first email to `address` after its first `before` whose subject or body holds every one of `words`."""
        found: list[dict[str, Any]] = []

        def arrived() -> bool:
            found[:] = [
                mail
                for mail in self.emails_to(address)[before:]
                if all(w in f"{mail.get('subject', '')}\n{mail.get('body', '')}" for w in words)
            ]
            return bool(found)

        wait_until(arrived, self.timeout, f"an email to {address} saying {' + '.join(words)}")
        return found[0]

    def move_clock_to(self, moment: datetime) -> None:
        """Move the stack's clock forward to `moment`, firing the schedules it skips (`python -m infra.clock set`)."""
        answer = requests.post(f"{self.clock_url}/clock/set", params={"at": moment.isoformat()}, timeout=60)
        if not answer.ok:
            raise RuntimeError(f"the clock did not move to {moment.isoformat()}: {answer.text[:200]}")

    def top_up(self, who: DemoSubscriber, amount: int, reference: str) -> None:
        """The BSS credits `amount` (minor units) to the main balance, as a recharge does; waits until it is."""
        before = main_balance(who.msisdn)
        payload = {"msisdn": who.msisdn, "amount": amount, "bucket": "main", "reference": reference}
        publish_bss("bss.topup", payload, event_id=f"demo-{reference}")
        wait_until(lambda: main_balance(who.msisdn) >= before + amount, self.timeout, f"{who.name}'s top-up")

    def dial(self, who: DemoSubscriber, code: str) -> dict[str, Any]:
        """The screen a USSD code answers, read whole."""
        return self.read_through(who, self.carrier.dial(who.msisdn, code))

    def read_through(self, who: DemoSubscriber, screen: dict[str, Any]) -> dict[str, Any]:
        """A USSD screen as its reader sees it whole: More pressed up to its last page (functions/edge/pager.py)."""
        more = texts.render("edge.ussd.more", who.language)
        pages: list[str] = []
        while True:
            *shown, last = screen["text"].split("\n")
            key, _, label = last.partition(" ")
            if screen["end"] or label != more:
                return {**screen, "text": "\n".join([*pages, screen["text"]])}
            pages.append("\n".join(shown))
            screen = self.carrier.reply(who.msisdn, screen["session_id"], key)


def publish_bss(topic: str, payload: dict[str, Any], event_id: str) -> None:
    """What the operator's BSS would publish (a subscriber, a top-up), as the demo plays it."""
    bus.publish([catalog.make_envelope(topic, payload, event_id=event_id, source="demo-bss")])


def main_balance(msisdn: str) -> int:
    """The main balance as the ledger holds it now (0 without an account)."""
    account = ledger.read_account(store.db(), msisdn)
    return account.balance("main") if account else 0


def never(profile: OperatorProfile) -> bool:
    """A service that sends no notice when a phone attaches."""
    return False


@dataclass(frozen=True)
class DemoSection:
    """A service's part of the scripted demo (`SECTION` in functions/<service>/demo.py).

    order: where it plays among the others (lower first); switched_on: whether the profile runs the
    service (a switched-off service is skipped); greets_on_attach: whether the service sends each
    seeded phone a notice when it attaches (the seed waits for those notices too).
    """

    order: int
    play: Callable[[DemoStage], None]
    switched_on: Callable[[OperatorProfile], bool] = always
    greets_on_attach: Callable[[OperatorProfile], bool] = never
