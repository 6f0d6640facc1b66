"""Stripe's form encoding (`card[token]=tok_visa`, `metadata[charge_id]=…`, `expand[0]=…`) as nested values."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?P<path>(?:\[[^\[\]]*\])*)$")
_STEP = re.compile(r"\[([^\[\]]*)\]")


class BadParameter(ValueError):
    """A parameter the client sent that cannot be read (Stripe answers 400 naming it)."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts for `a[b]`, lists for `a[0]` (the stripe client's encoding of lists)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise BadParameter(key, f"Invalid parameter name: {key}")
        path = [match["name"], *_STEP.findall(match["path"])]
        node = root
        for step in path[:-1]:
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                raise BadParameter(key, f"Invalid parameter: {key} is given both as a value and as a hash")
            node = child
        node[path[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    """A hash whose keys are all indices (`expand[0]`, `expand[1]`) is a list, in index order."""
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def integer(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    """A whole-number parameter (Stripe's `amount`, `exp_month`), or None when absent and optional."""
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            raise BadParameter(name, f"Missing required param: {name}.")
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d{1,18}", raw):
        raise BadParameter(name, f"Invalid integer: {raw}")
    return int(raw)


def text(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string parameter, or None when absent and optional."""
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            raise BadParameter(name, f"Missing required param: {name}.")
        return None
    if not isinstance(raw, str):
        raise BadParameter(name, f"Invalid string: {name} must be a string, not a hash")
    return raw


def boolean(params: dict[str, Any], name: str) -> bool:
    """`true` / `false` as the stripe client sends them; absent is false."""
    raw = params.get(name)
    if raw in (None, "", "false"):
        return False
    if raw == "true":
        return True
    raise BadParameter(name, f"Invalid boolean: {raw}")


def metadata(params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata rules: up to 50 string keys of 40 characters, values of 500."""
    raw = params.get("metadata")
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        raise BadParameter("metadata", "Invalid metadata: a hash of at most 50 keys is expected")
    for key, value in raw.items():
        if len(key) > 40 or not isinstance(value, str) or len(value) > 500:
            raise BadParameter(f"metadata[{key}]", "Invalid metadata: keys up to 40 and values up to 500 characters")
    return dict(raw)


def refuse_unknown(params: dict[str, Any], allowed: frozenset[str]) -> None:
    """Stripe refuses a parameter it does not know (a misspelt one would otherwise be ignored)."""
    for name in params:
        if name not in allowed and name != "expand":
            raise BadParameter(name, f"Received unknown parameter: {name}")
