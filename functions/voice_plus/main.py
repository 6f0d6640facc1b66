"""Voice+ and add-on offers' entry points (the catalog names them here); each lives beside its rules.

Every consumer runs in ONE Firestore transaction (shared/runtime.py): the offer's records, the
campaign's budget and the consent together; `subscription.requested` and the SMS leave through the
outbox after the commit.
"""

from __future__ import annotations

from functions.voice_plus.offers import on_accepted  # noqa: F401 - entry point
from functions.voice_plus.outcomes import on_request_decided  # noqa: F401 - entry point
from functions.voice_plus.sms_offers import on_sms_reply  # noqa: F401 - entry point
from functions.voice_plus.stats import on_funnel  # noqa: F401 - entry point
