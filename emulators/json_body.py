"""The JSON object an emulator's control request carries (a clear ValueError otherwise)."""

from __future__ import annotations

from typing import Any

from flask import request


def json_object() -> dict[str, Any]:
    """The request's JSON object body; {} when it has none."""
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise ValueError("the body must be JSON")
    if body is not None and not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body or {}
