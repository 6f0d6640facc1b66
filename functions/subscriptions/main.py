"""Subscription tracking's entry points (the catalog names them here); each lives beside its rules.

Every one runs in ONE Firestore transaction (shared/runtime.py) over the subscriber's book
(documents.py) and, when money moves, their ledger account: read first, then the pure decision,
then the writes; SMS and the subscription.* facts leave through the outbox after the commit.
"""

from __future__ import annotations

from functions.subscriptions.renewals import on_balance_changed, on_due, on_tick  # noqa: F401 - entry points
from functions.subscriptions.stopping import on_cancel, on_reassigned  # noqa: F401 - entry points
from functions.subscriptions.subscribe import on_plan_change, on_requested  # noqa: F401 - entry points
