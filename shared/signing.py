"""Webhook signatures: the USSD gateway signs the raw body with a shared secret (HMAC-SHA256).

Header: `X-Gateway-Signature: sha256=<hex>`. Twilio's own signature is checked with the twilio
package's RequestValidator instead (see functions/edge).
"""

from __future__ import annotations

import hashlib
import hmac

USSD_SIGNATURE_HEADER = "X-Gateway-Signature"


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_body(secret: str, body: bytes, signature: str | None) -> bool:
    return signature is not None and hmac.compare_digest(sign_body(secret, body), signature)
