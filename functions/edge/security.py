"""Who may knock: the USSD gateway's body HMAC and Twilio's request signature.

Twilio signs the exact URL it was configured with. Behind Cloud Run's front end (or any TLS
proxy) the function sees another scheme (`http`) and possibly another host, so `request.url` would
not match and every genuine request would be refused; `webhook_base_url` names the public URL
Twilio calls, and the path and query are appended to it. Only locally, with no proxy, is the URL
the carrier emulator called `request.url` itself: anywhere else the Host header is the caller's
to choose, so without a base URL nothing is allowed.
"""

from __future__ import annotations

from flask import Request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from shared import signing


def ussd_signed(secret: str, body: bytes, signature: str | None) -> bool:
    """The gateway's HMAC-SHA256 of the raw body matches (shared.signing's header format)."""
    return signing.verify_body(secret, body, signature)


def signed_urls(host_url: str, path: str, query: str, base_url: str | None) -> list[str]:
    """The URLs Twilio may have signed for this request, most likely first.

    The query is the raw one the request carried: Twilio signs the URL as written, and a decoded
    and re-encoded query (werkzeug's `request.url` turns `%3A` back into `:`) would not match.
    """
    suffix = f"?{query}" if query else ""
    if not base_url:
        return [f"{host_url.rstrip('/')}{path}{suffix}"]
    base = base_url.rstrip("/")
    urls = [f"{base}{path}{suffix}"]
    if path == "/":
        # A function on its own host: Twilio may be configured with or without the final slash.
        urls.append(f"{base}{suffix}")
    return urls


class TwilioGuard:
    """Checks X-Twilio-Signature with the twilio package's RequestValidator."""

    def __init__(self, auth_token: str, base_url: str | None, *, trust_request_url: bool = False):
        self.validator = RequestValidator(auth_token)
        self.base_url = base_url
        self.trust_request_url = trust_request_url  # the local stack only: no proxy, nobody forging Host

    def allows(self, request: Request) -> bool:
        """Whether Twilio signed this request (at one of the URLs it may have been configured with)."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature or not (self.base_url or self.trust_request_url):
            return False
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        query = request.query_string.decode("latin-1")
        return any(
            self.validator.validate(url, request.form, signature, algorithm)
            for url in signed_urls(request.host_url, request.path, query, self.base_url)
        )
