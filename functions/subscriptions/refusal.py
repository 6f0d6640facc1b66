"""What every decision of this service answers when it says no: a reason for the record, a text for the subscriber."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Refusal:
    """Why nothing happens, as a stable reason (records, events, tests) and the text key that tells the subscriber."""

    reason: str  # e.g. "insufficient_balance", "roaming_pack_limit", "line_not_active"
    text: str  # a key of functions/subscriptions/texts/*.yaml, rendered in the subscriber's language
    params: dict[str, Any] = field(default_factory=dict)
