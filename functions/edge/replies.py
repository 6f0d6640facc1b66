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
