"""What other services may ask of balance transfers (the only transfers module they may import).

A service's `public.py` answers questions about it from the operator profile, without its callers
loading its internals by name; tests/unit/test_import_rules.py allows no other cross-service import.
"""

from __future__ import annotations

from shared.operator import OperatorProfile

SERVICE = "transfers"  # the key of the operator profile's `services` naming the transfer presets in force


def takes_topup_asks(profile: OperatorProfile) -> bool:
    """A transfer policy in force asks a callee for a top-up on a caller's behalf (funded from the balance)."""
    if not profile.services.get(SERVICE):
        return False
    from functions.transfers.policy import policies_for  # only deployments that run transfers load them

    return any(policy.funding == "balance" and policy.topup_request.enabled for policy in policies_for(profile))
