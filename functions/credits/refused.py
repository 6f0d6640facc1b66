"""Event-initiated top-up: the network refused a caller's call or SMS for want of credit.

credits-refused-attempt (`network.attempt-refused`): when the caller's credit account (public.
caller_account) has auto-recharge on and a card on file, and no recharge is under way, one starts
now (recharge.after_refused_attempt: charge id of the crossing, the monthly cap kept) instead of
ZeroX's call-me-back offer, which asks public.recharges_refused_attempts and stays quiet.
"""

from __future__ import annotations

import logging

from functions.credits import recharge, wallet
from functions.credits.config import config_for
from functions.credits.documents import CreditAccount
from functions.credits.public import caller_account
from functions.credits.settle import follow
from shared import localtime, operator, payments, runtime
from shared.events import AttemptRefused
from shared.msisdn import mask

logger = logging.getLogger("vas.credits")

# Every credits function is deployed with the payment gateway's secrets: without them it refuses to start.
payments.require_settings()


@runtime.consumer("credits-refused-attempt")
def on_attempt_refused(ctx: runtime.Context[None], attempt: AttemptRefused) -> None:
    """Recharge the caller's credits now, if their auto-recharge takes refused attempts."""
    if config_for(operator.current()) is None:  # every service hears the network's refusals; no credits here
        return
    document = caller_account(ctx.db, attempt.caller, ctx.txn)
    if document is None:
        logger.info("refused caller has no credit account", extra={"caller": mask(attempt.caller)})
        return
    opened = wallet.wallet_of(CreditAccount.model_validate(document), ctx.now)
    account = opened.account
    step = recharge.after_refused_attempt(
        account.id,
        account.auto,
        account.recharge,
        card=account.card is not None,
        balance=opened.balance,
        month=localtime.month_of(ctx.now, opened.profile.timezone),
    )
    changed = step.state != account.recharge
    follow(ctx, opened, step, reason="network", requested_by=attempt.caller)
    wallet.save(ctx, opened, force=changed)
    logger.info(
        "refused attempt: %s",
        "recharge started" if step.recharge else "no recharge",
        extra={"account_id": account.id, "attempt_id": attempt.attempt_id, "phase": step.state.phase},
    )
