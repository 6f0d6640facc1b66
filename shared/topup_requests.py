"""Top-up requests (`*116*number*amount#`): whether this deployment's balance transfers ask a callee for a top-up.

The transfers service asks; zero-balance offers its callers a free request (option 2) only where transfers would
ask it. Zero-balance must not load transfers' code, so the answer is read here from the transfer presets the
operator profile names, as data: a preset asks when it is funded from the balance (the default) and names a
`topup_request` that is not switched off. Transfers validate the same files when they load them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from shared.operator import OperatorProfile

TRANSFERS = "transfers"   # the transfers service's key in the operator profile's `services`
TRANSFER_PRESETS = Path(__file__).resolve().parents[1] / "functions" / TRANSFERS / "presets"


def asks(preset: dict[str, Any]) -> bool:
    """A transfer preset (its fields as written) asks callees for top-ups."""
    request = preset.get("topup_request")
    funded_by_balance = preset.get("funding", "balance") == "balance"
    return funded_by_balance and isinstance(request, dict) and request.get("enabled", True) is True


def offered(profile: "OperatorProfile") -> bool:
    """The transfers in force on this deployment ask callees for top-ups."""
    return _offered(tuple(profile.services.get(TRANSFERS) or ()))


@functools.lru_cache(maxsize=16)
def _offered(names: tuple[str, ...]) -> bool:
    return any(asks(yaml.safe_load((TRANSFER_PRESETS / f"{name}.yaml").read_text()) or {}) for name in names)
