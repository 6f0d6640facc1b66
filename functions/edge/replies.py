"""A subscriber-facing answer as a text key and its parameters, rendered only at the edge of use.

USSD renders it at once; an SMS reply travels as (template, params) in an `sms.send` event and
notify renders it, so both channels share one value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared import texts


@dataclass(frozen=True)
class Text:
    """A key of shared/texts and the values of its placeholders."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, language: str) -> str:
        return texts.render(self.key, language, **self.params)


@dataclass(frozen=True)
class Publication:
    """An event a reply publishes once it is decided (the webhook publishes it before answering).

    `event_id` comes from the request's id (request_ids.py: the gateway's id, who and what), so a
    retried or double-tapped request publishes the same event and its consumer acts once.
    """

    topic: str
    payload: Any
    event_id: str
