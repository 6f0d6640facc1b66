"""A holder's auto-recharge settings and card: checked against the preset's limits, applied in one transaction.

The business API (and care) publish `credits.settings-requested`; the consumer below merges the
change into the account's settings, checks the result (`problem`), stores it, and asks
recharge.after_settings what follows: a fresh start of the recharge state (failures forgiven) and,
when the balance is already below the new trigger, one recharge (`credits.charge-requested`,
through the outbox, so it is asked for exactly once). The API runs the same consumer in its own
request, so its answer shows the settings applied; the subscription's delivery then finds the
event processed and only re-publishes its outbox (a crash between the API's commit and its
publish loses nothing).
"""

from __future__ import annotations

from pydantic import ValidationError

from functions.credits import recharge, settle, wallet
from functions.credits.config import CreditsConfig
from functions.credits.documents import AutoRecharge, Card, CreditAccount
from shared import payments, runtime
from shared.events import CreditCardOnFile, CreditsSettingsRequested
from shared.localtime import month_of
from shared.money import Currency

TOPIC = "credits.settings-requested"
CONSUMER = "credits-settings"
SETTINGS = ("enabled", "trigger", "amount", "monthly_max_count", "monthly_max_amount")


# Like every credits function, deployed with the gateway's secrets: without them it refuses to start.
payments.require_settings()


def merged(current: AutoRecharge, change: CreditsSettingsRequested) -> AutoRecharge:
    """The settings after `change` (what it leaves out keeps its value); ValidationError when not a setting."""
    given = {name: getattr(change, name) for name in SETTINGS if getattr(change, name) is not None}
    return AutoRecharge.model_validate({**current.model_dump(), **given})


def problem(auto: AutoRecharge, config: CreditsConfig, currency: Currency) -> str | None:
    """Why the preset does not allow these settings, naming the limit; None when it does."""
    limits, money = config.limits, currency.format
    if auto.trigger > limits.max_trigger:
        return f"trigger must be at most {limits.max_trigger} ({money(limits.max_trigger)})"
    if not limits.min_topup <= auto.amount <= limits.max_topup:
        return (
            f"amount must be between {limits.min_topup} and {limits.max_topup} "
            f"({money(limits.min_topup)} to {money(limits.max_topup)})"
        )
    if auto.amount < auto.trigger:
        return "amount must be at least the trigger, so one recharge lifts an empty account back above it"
    if auto.monthly_max_count > limits.max_monthly_count:
        return f"monthly_max_count must be at most {limits.max_monthly_count}"
    if auto.monthly_max_amount > limits.max_monthly_amount:
        return f"monthly_max_amount must be at most {limits.max_monthly_amount} ({money(limits.max_monthly_amount)})"
    if auto.monthly_max_amount < auto.amount:
        return "monthly_max_amount must be at least the amount, or no recharge could ever run"
    return None


def applied(
    account: CreditAccount, change: CreditsSettingsRequested, config: CreditsConfig, currency: Currency
) -> CreditAccount | str:
    """The account with the change applied (settings, card, customer), or why it cannot be."""
    try:
        auto = merged(account.auto, change)
    except ValidationError as error:
        return "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
    # Only settings the change gives are checked: a card-only change keeps the settings as they are, even
    # when the preset's limits were lowered since (else a new card would be refused until the settings change).
    refused = problem(auto, config, currency) if auto != account.auto else None
    if refused is not None:
        return refused
    card = Card(**change.card.model_dump()) if change.card is not None else account.card
    if auto.enabled and card is None:
        return "auto-recharge needs a card on file: add one first (PUT /v1/card)"
    return account.model_copy(update={"auto": auto, "card": card, "customer": change.customer or account.customer})


def attach_card(account: CreditAccount, token: str) -> tuple[str, CreditCardOnFile]:
    """Attach `token` at the gateway (the customer is created with the first card): the customer and the card.

    payments.CardRefused when the gateway refuses the token; payments.PaymentError when it cannot be reached.
    """
    gateway = payments.gateway()
    customer = account.customer or gateway.create_customer(account.id, account.email, account.name)
    try:
        card = gateway.attach_card(customer, token)
    except payments.CustomerMissing:
        if account.customer is None:  # the customer was made just now: nothing stale to replace
            raise
        # A customer deleted at the gateway (or keys switched to another account) must not block cards for good.
        customer = gateway.create_customer(account.id, account.email, account.name, replacing=account.customer)
        card = gateway.attach_card(customer, token)
    # The gateway also says when the card expires; we keep only its token, brand and last four digits.
    return customer, CreditCardOnFile(token=card.token, brand=card.brand, last4=card.last4)


@runtime.consumer(CONSUMER)
def on_settings_requested(ctx: runtime.Context[None], change: CreditsSettingsRequested) -> None:
    """Apply the holder's change in one transaction; start a recharge when the balance is already below the trigger."""
    try:
        opened = wallet.open(ctx, change.account_id)  # lots already due expire first: they are no balance
    except wallet.UnknownCreditAccount as unknown:
        raise runtime.Rejected(str(unknown)) from None
    changed = applied(opened.account, change, opened.config, opened.profile.currency)
    if isinstance(changed, str):
        raise runtime.Rejected(changed)
    opened.account = changed
    step = recharge.after_settings(
        changed.id,
        changed.auto,
        changed.recharge,
        card=changed.card is not None,
        balance=opened.balance,
        month=month_of(ctx.now, opened.profile.timezone),
    )
    settle.follow(ctx, opened, step)
    wallet.save(ctx, opened, force=True)
