"""Communication credits' entry points (the catalog names them here); each lives beside its rules.

Every consumer runs in ONE Firestore transaction (shared/runtime.py) over the credit account
(documents.py): read first, then the pure decision (recharge.py), then the writes; emails and
the credits.* facts leave through the outbox after the commit.
"""

from __future__ import annotations

from functions.credits.charging import on_charge_requested, on_payment_reported  # noqa: F401 - entry points
from functions.credits.expiry import on_due, on_tick  # noqa: F401 - entry points
from functions.credits.refused import on_attempt_refused  # noqa: F401 - entry points
from functions.credits.settings import on_settings_requested  # noqa: F401 - entry points
from functions.credits.settle import on_settle  # noqa: F401 - entry points
from functions.credits.usage import on_usage  # noqa: F401 - entry points
from functions.credits.webhook import payment_webhook  # noqa: F401 - the gateway's webhook
