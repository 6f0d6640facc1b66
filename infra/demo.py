"""The scripted demo that `make run` plays, and the seeding of the demo operator's subscribers.

Seeding goes through the same doors production uses: the BSS's provisioning and top-up topics
(the functions write Firestore) and the carrier emulator's network (phones, attach/detach).
Each service plays its own part from `functions/<service>/demo.py` (its `SECTION`, found by
infra/sections.py and skipped when the operator profile switches the service off); what is common
to every operator (an SMS held for a switched-off phone, the help screen, the Twilio client's view)
plays here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from twilio.rest import Client

from emulators.carrier.client import CarrierClient
from infra import sections
from infra.demo_common import (
    SUBSCRIBERS,
    DemoSection,
    DemoStage,
    DemoSubscriber,
    Transcript,
    publish_bss,
    wait_until,
)
from shared import carrier as carrier_adapter, ledger, operator, settings, store
from shared.operator import OperatorProfile

DEMO_MODULE = "demo"  # the module a service plays its part of the demo from


class RunningStack(Protocol):
    """What the demo needs of the local stack (infra.stack.Stack): where the carrier emulator and the clock answer."""

    @property
    def carrier_url(self) -> str: ...

    @property
    def clock_url(self) -> str: ...

    @property
    def function_urls(self) -> Mapping[str, str]: ...

    @property
    def ses_url(self) -> str: ...


def seed(stack: RunningStack, say: Callable[[str], object] = print, timeout: float = 60.0) -> None:
    """Provision the demo subscribers in the network and in the BSS, and top them up."""
    provision(stack, SUBSCRIBERS, timeout)
    say(
        f"Seeded {len(SUBSCRIBERS)} subscribers of {operator.current().name} "
        f"({', '.join(s.language for s in SUBSCRIBERS)}) with their balances."
    )


def provision(stack: RunningStack, subscribers: Sequence[DemoSubscriber], timeout: float = 60.0) -> None:
    """Lines in the BSS, phones in the network, top-ups credited and every notice at the carrier."""
    carrier = CarrierClient(stack.carrier_url)
    already = len(carrier.messages())
    for sub in subscribers:
        publish_bss(
            "bss.subscriber",
            {
                "msisdn": sub.msisdn,
                "name": sub.name,
                "language": sub.language,
                "customer_type": sub.customer_type,
                "line_type": sub.line_type,
            },
            event_id=f"demo-subscriber-{sub.msisdn}",
        )
    # The line exists before its phone attaches (as when a SIM is sold), so the attach finds a
    # subscriber: services that greet a subscriber on attach do it now, not at some later attach.
    wait_until(
        lambda: all(store.db().collection(store.SUBSCRIBERS).document(s.msisdn).get().exists for s in subscribers),
        timeout,
        "the subscribers to be provisioned",
    )
    for sub in subscribers:
        carrier.provision(sub.msisdn, attached=sub.attached)
    # Top-ups only after the subscribers exist: the BSS never recharges an unknown line.
    for sub in subscribers:
        if sub.main:
            publish_bss(
                "bss.topup",
                {
                    "msisdn": sub.msisdn,
                    "amount": sub.main,
                    "bucket": "main",
                    "reference": f"DEMO-MAIN-{sub.msisdn.lstrip('+')}",
                },
                event_id=f"demo-topup-main-{sub.msisdn}",
            )
        if sub.bonus:
            publish_bss(
                "bss.topup",
                {
                    "msisdn": sub.msisdn,
                    "amount": sub.bonus,
                    "bucket": "bonus",
                    "validity_days": 7,
                    "reference": f"DEMO-BONUS-{sub.msisdn.lstrip('+')}",
                },
                event_id=f"demo-topup-bonus-{sub.msisdn}",
            )
    wait_until(
        lambda: all(
            (account := ledger.read_account(store.db(), s.msisdn)) is not None and account.total == s.main + s.bonus
            for s in subscribers
        ),
        timeout,
        "the top-ups to be credited",
    )
    # The notices are part of the seed (top-ups, and the missed-call service's one-time activation
    # notice to each phone that attached): wait until the carrier has them all, held or
    # delivered, so the phones start from a settled inbox.
    greets = any(section.greets_on_attach(operator.current()) for section in demo_sections(operator.current()))
    notices = sum(bool(s.main) + bool(s.bonus) + (greets and s.attached) for s in subscribers)
    wait_until(lambda: len(carrier.messages()) - already >= notices, timeout, "the seed's notices to reach the carrier")


def demo_sections(profile: OperatorProfile, packages: Iterable[str] | None = None) -> list[DemoSection]:
    """The parts of the demo this profile plays, in order: the services' and the platform's own."""
    found = sections.sections(DEMO_MODULE, DemoSection, profile, packages)
    return sorted([*found, PLATFORM], key=lambda section: section.order)


def play(stack: RunningStack, timeout: float = 30.0, packages: Iterable[str] | None = None) -> Transcript:
    """The scripted demo: every service's part in order, then the SMS as the real twilio client lists them."""
    profile = operator.current()
    stage = DemoStage(
        CarrierClient(stack.carrier_url),
        Transcript(),
        timeout,
        SUBSCRIBERS,
        profile,
        clock_url=stack.clock_url,
        function_urls=stack.function_urls,
        ses_url=stack.ses_url,
    )
    for section in demo_sections(profile, packages):
        section.play(stage)

    listed = _twilio_client(stack).messages.list()
    stage.transcript.add(
        "twilio",
        "the real twilio client lists the SMS the demo sent",
        f"{len(listed)} messages, e.g. {listed[0].to}: {listed[0].body}" if listed else "none",
        len(listed) >= len(SUBSCRIBERS),
        "at least one SMS per subscriber",
    )
    return stage.transcript


def _held_sms_and_help(stage: DemoStage) -> None:
    """An SMS held for a switched-off phone and delivered when it attaches; an unknown code's help screen."""
    carrier, transcript, timeout = stage.carrier, stage.transcript, stage.timeout
    _, _, li, _, john, _ = stage.subscribers

    waiting = [m for m in carrier.messages() if m["to"] == li.msisdn and m["status"] != "delivered"]
    transcript.add(
        li.msisdn,
        "is switched off; the SMS centre holds",
        f"{len(waiting)} message(s) waiting: " + "; ".join(m["body"] for m in waiting),
        len(waiting) >= 1,
        "the top-up notice waiting in the SMS centre",
    )
    carrier.attach(li.msisdn)
    delivered = carrier.wait_for_inbox(li.msisdn, len(waiting), timeout)
    transcript.add(
        li.msisdn,
        "switches on and receives",
        "\n".join(m["body"] for m in delivered),
        len(delivered) >= max(1, len(waiting)),
        "the held SMS delivered on attach",
    )

    reply = stage.dial(john, "*999#")
    transcript.add(
        john.msisdn,
        "dials an unknown code *999#",
        reply["text"],
        reply["end"] and stage.profile.short_codes.balance in reply["text"],
        "a help screen that points to the balance code",
    )


# The platform's part plays after the balance check (order 10) and before the services' own (30 on).
PLATFORM = DemoSection(order=20, play=_held_sms_and_help)


def _twilio_client(stack: RunningStack) -> Client:
    """The real twilio client, pointed at the stack's carrier emulator."""
    return carrier_adapter.build_client(settings.get().model_copy(update={"twilio_api_base": stack.carrier_url}))
