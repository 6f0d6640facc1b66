"""Structured JSON logs in Cloud Logging's format: MSISDNs and emails masked, secrets blanked, correlation ids."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
from datetime import UTC, datetime

from pydantic import BaseModel

from shared import events
from shared.msisdn import mask_text

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
# An address's first character and its domain stay (enough to tell a provider's problem apart),
# the rest of the mailbox name is hidden: a***@example.com.
# The local part is whatever an address may hold before its @ (events.EmailAddress takes any character
# but @ and spaces), so no part of it outlives the mask but its first character.
_EMAIL_IN_TEXT = re.compile(r"(?P<first>[^\s@<>\"(),;])[^\s@<>\"(),;]*@(?P<domain>[\w-]+(?:\.[\w-]+)+)")


def mask_personal(text: str) -> str:
    """Mask every email address and every MSISDN-like number in free text."""
    return mask_text(_EMAIL_IN_TEXT.sub(r"\g<first>***@\g<domain>", text))


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@functools.cache
def _secret_names() -> frozenset[str]:
    """Every payload field marked secret (events.SECRET): its value is never written to a log."""
    models: list[type[BaseModel]] = list(events.MODELS.values())
    seen: set[type[BaseModel]] = set()
    while models:  # the models every payload holds too: a PIN's hash inside an options change
        model = models.pop()
        if model not in seen:
            seen.add(model)
            models.extend(events.nested_models(model).values())
    return frozenset(name for model in seen for name in events.secret_fields(model))


def _masked(value: object, key: str = "") -> object:
    if key in _secret_names() and value is not None:
        return events.REDACTED
    if isinstance(value, str):
        return mask_personal(value)
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object a line: Cloud Logging reads `severity`, `message` and the labels."""

    def __init__(self, function: str = ""):
        super().__init__()
        self.function = function

    def format(self, record: logging.LogRecord) -> str:
        labels = {"function": self.function}
        entry: dict[str, object] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": mask_personal(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/labels": labels,
        }
        cid = correlation_id.get()
        if cid:
            cid = mask_personal(cid)  # ids are derived from event ids, which may name a subscriber
            entry["correlation_id"] = cid
            labels["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = _masked(value, key)
        if record.exc_info:
            entry["stack_trace"] = mask_personal(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


_configured = False


def setup(function: str = "", level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON (idempotent)."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter(function))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "google", "werkzeug", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True
