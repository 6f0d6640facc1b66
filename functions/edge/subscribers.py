"""Who is calling: the provisioned subscriber behind an MSISDN, as the edge needs to know it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.edge.replies import Text
from shared.operator import OperatorProfile


@dataclass(frozen=True)
class Caller:
    """The subscriber record as far as the edge cares: known at all, language, blocked."""

    msisdn: str
    known: bool
    language: str
    blocked: bool = False


def caller_from(msisdn: str, record: dict[str, Any] | None, profile: OperatorProfile) -> Caller:
    """Build the caller from the `subscribers/{msisdn}` document (None when there is none)."""
    # The HLR may write `network_state` for a number the BSS never provisioned: only a BSS
    # profile (it always carries `status`) makes a subscriber.
    if record is None or "status" not in record:
        return Caller(msisdn=msisdn, known=False, language=profile.default_language)
    return Caller(
        msisdn=msisdn,
        known=True,
        language=profile.language_for(record.get("language")),
        # Anything but an explicit "active" is refused: a record with an unexpected status is
        # safer treated as blocked than as a line that may spend money.
        blocked=record["status"] != "active",
    )


def refusal(caller: Caller, profile: OperatorProfile) -> Text | None:
    """Why this caller gets no service (unknown or blocked line), or None when they do."""
    if not caller.known:
        return Text("edge.subscriber.unknown", {"operator": profile.name, "hotline": profile.short_codes.hotline})
    if caller.blocked:
        return Text("edge.subscriber.blocked", {"hotline": profile.short_codes.hotline})
    return None
