"""Emails to a credit account's holder: `email.send` (notify sends it) in the account's language, to its address.

    mail.send(ctx, account, "email.credits_zero", {"name": account.name}, purpose="zero/3")

`template` is the full key in shared/texts/email.yaml (`email.credits_*`); `purpose` names the
email among the handler's follow-ups (it derives the event id, so a redelivery sends it once).
An account without an email address is logged and skipped: nothing else waits on the email.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from functions.credits.documents import CreditAccount
from shared import localtime
from shared.events import EmailSend
from shared.operator import OperatorProfile
from shared.runtime import Context

logger = logging.getLogger("vas.credits")

TEMPLATE_PREFIX = "email.credits_"


def send(ctx: Context[Any], account: CreditAccount, template: str, params: dict[str, Any], *, purpose: str) -> None:
    """Queue `template` for the account's holder (after the commit, through the outbox)."""
    if not template.startswith(TEMPLATE_PREFIX):
        raise ValueError(f"credit emails are {TEMPLATE_PREFIX}* templates of shared/texts/email.yaml, not {template!r}")
    if not account.email:
        logger.info(
            "credit account has no email address; email skipped", extra={"account_id": account.id, "template": template}
        )
        return
    ctx.emit(
        "email.send",
        EmailSend(
            to=account.email,
            template=template,
            params={"name": account.name, **params},
            language=account.language,
            reference=account.id,
        ),
        purpose=f"email/{purpose}",
    )


def day(when: datetime, profile: OperatorProfile, language: str) -> str:
    """A date in an email: the operator's calendar, the reader's way of writing it."""
    return localtime.day(when, ZoneInfo(profile.timezone), language)
