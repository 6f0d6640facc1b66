"""Services found without naming them: the packages under functions/ that have a given module.

The edge reads each service's `edge` module (functions/edge/services.py), the demo and the bench
its `demo` and `bench` modules (infra/sections.py); both find them here, the same way. Tests hand
their own packages (a fixture service outside functions/) to those callers' `packages` arguments.
"""

from __future__ import annotations

import importlib.util
import pkgutil
from collections.abc import Iterable

import functions


def packages_with(module: str, *, excluding: Iterable[str] = ()) -> tuple[str, ...]:
    """Every package under functions/ (but those named in `excluding`) with `module`, by name (a stable order)."""
    skipped = frozenset(excluding)
    packages = sorted(
        f"{functions.__name__}.{found.name}"
        for found in pkgutil.iter_modules(functions.__path__)
        if found.ispkg and found.name not in skipped
    )
    return tuple(package for package in packages if importlib.util.find_spec(f"{package}.{module}") is not None)
