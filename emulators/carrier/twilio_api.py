"""Twilio's REST shapes for Messages and Recordings: resources, pages, errors, request checks and signed callbacks.

Matched against the `twilio` 9.x client: it posts form fields (To, From, Body, StatusCallback, …)
and reads JSON; a list page is found by the one key that is not a paging key (`messages`); errors
carry `code`, `message`, `more_info` and `status`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlencode, urlparse

from twilio.request_validator import RequestValidator

from emulators.carrier.recordings import Recording
from emulators.carrier.smsc import Message, StatusChange
from shared.msisdn import InvalidMsisdn, normalise

API_VERSION = "2010-04-01"
MAX_BODY = 1600  # Twilio refuses longer bodies (21617)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


class TwilioError(Exception):
    """An API refusal, answered with Twilio's error JSON."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        return error_body(self.status, self.code, self.message)


def error_body(status: int, code: int, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: `Thu, 24 Aug 2023 05:01:45 +0000`."""
    return format_datetime(moment) if moment else None


def messages_uri(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def message_uri(account_sid: str, sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"


def message_resource(message: Message) -> dict:
    """A Message resource exactly as Twilio's JSON spells it (counts are strings there)."""
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.sender,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(message.segmentation.segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {
            "media": f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}/Media.json"
        },
        "to": message.to,
        "uri": message_uri(message.account_sid, message.sid),
    }


def page_body(account_sid: str, messages: list[Message], *, page: int, page_size: int, filters: dict[str, str]) -> dict:
    """One page of the Messages list, newest first, with the paging keys the client follows."""
    return _page(
        "messages",
        messages_uri(account_sid),
        [message_resource(m) for m in messages],
        page=page,
        page_size=page_size,
        filters=filters,
    )


def _page(key: str, base: str, resources: list[dict], *, page: int, page_size: int, filters: dict[str, str]) -> dict:
    """One page of a list: the twilio client finds the items under the one key that is not a paging key."""
    start = page * page_size
    chunk = resources[start : start + page_size]

    def page_uri(number: int) -> str:
        return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

    return {
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": page_uri(0),
        key: chunk,
        "next_page_uri": page_uri(page + 1) if start + page_size < len(resources) else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": page_uri(page),
    }


def recordings_uri(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Recordings.json"


def recording_path(account_sid: str, sid: str) -> str:
    """The recording's path without an extension: Twilio's RecordingUrl and media_url end so."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Recordings/{sid}"


def recording_resource(recording: Recording, public_url: str) -> dict:
    """A Recording resource as Twilio's JSON spells it (duration is a string there)."""
    path = recording_path(recording.account_sid, recording.sid)
    return {
        "account_sid": recording.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "channels": 1,
        "conference_sid": None,
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_created),
        "duration": str(recording.seconds),
        "encryption_details": None,
        "error_code": None,
        "media_url": public_url.rstrip("/") + path,
        "price": None,
        "price_unit": "USD",
        "sid": recording.sid,
        "source": "RecordVerb",
        "start_time": rfc2822(recording.date_created),
        "status": "completed",
        "subresource_uris": {
            "add_on_results": f"{path}/AddOnResults.json",
            "transcriptions": f"{path}/Transcriptions.json",
        },
        "uri": f"{path}.json",
    }


def recordings_page(
    account_sid: str,
    recordings: list[Recording],
    public_url: str,
    *,
    page: int,
    page_size: int,
    filters: dict[str, str],
) -> dict:
    """One page of the Recordings list, newest first."""
    return _page(
        "recordings",
        recordings_uri(account_sid),
        [recording_resource(r, public_url) for r in recordings],
        page=page,
        page_size=page_size,
        filters=filters,
    )


def paging(args: Mapping[str, str]) -> tuple[int, int]:
    """Page and PageSize from the query; malformed values are a 400 like Twilio's."""
    try:
        page = int(args.get("Page", 0))
        page_size = int(args.get("PageSize", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise TwilioError(400, 20001, "Page and PageSize must be integers") from None
    if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise TwilioError(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}, Page at least 0")
    return page, page_size


@dataclass(frozen=True)
class CreateMessage:
    to: str
    sender: str
    body: str
    status_callback: str | None
    validity: timedelta | None


def parse_create(form: Mapping[str, str]) -> CreateMessage:
    """Check a Messages.json POST the way Twilio does, with Twilio's error codes."""
    raw_to = (form.get("To") or "").strip()
    if not raw_to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    try:
        to = normalise(raw_to) if raw_to.startswith("+") else None
    except InvalidMsisdn:
        to = None
    if to is None:
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {raw_to}")
    sender = (form.get("From") or "").strip()
    if not sender:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    if not _valid_sender(sender):
        raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {sender}")
    body = form.get("Body") or ""
    if not body:
        raise TwilioError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    callback = form.get("StatusCallback") or None
    if callback and urlparse(callback).scheme not in ("http", "https"):
        raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
    validity = form.get("ValidityPeriod")
    if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= 36000):
        raise TwilioError(400, 21623, "ValidityPeriod must be between 1 and 36000 seconds.")
    return CreateMessage(to, sender, body, callback, timedelta(seconds=int(validity)) if validity else None)


def _valid_sender(sender: str) -> bool:
    if sender.startswith("+"):
        try:
            normalise(sender)
            return True
        except InvalidMsisdn:
            return False
    return bool(_SHORT_CODE.match(sender) or _ALPHANUMERIC_SENDER.match(sender))


def status_callback_params(message: Message, change: StatusChange) -> dict[str, str]:
    """The form Twilio posts to a StatusCallback URL for one status change."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "From": message.sender,
        "MessageSid": message.sid,
        "MessageStatus": change.status,
        "SmsSid": message.sid,
        "SmsStatus": change.status,
        "To": message.to,
    }
    if change.error_code:
        params["ErrorCode"] = str(change.error_code)
    return params


def inbound_sms_params(message: Message) -> dict[str, str]:
    """The form Twilio posts to a number's SMS webhook when a phone texts it."""
    seg = message.segmentation
    return {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.sender,
        "MessageSid": message.sid,
        "NumMedia": "0",
        "NumSegments": str(seg.segments),
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": message.to,
    }


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature of a form POST to `url`, computed the way Twilio signs it."""
    return RequestValidator(auth_token).compute_signature(url, params)


def date_sent_filter(args: Mapping[str, str]) -> Callable[[Message], bool]:
    """Twilio's DateSent, DateSent< and DateSent> filters (a date, or a date and time)."""
    tests = []
    for key, compare in (("DateSent", operator.eq), ("DateSent<", operator.le), ("DateSent>", operator.ge)):
        raw = args.get(key)
        if not raw:
            continue
        try:
            bound = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise TwilioError(400, 20001, f"{key} is not a date: {raw}") from None
        tests.append((compare, bound))

    def keep(message: Message) -> bool:
        if not tests:
            return True
        if message.date_sent is None:
            return False
        return all(
            compare(message.date_sent if isinstance(bound, datetime) else message.date_sent.date(), bound)
            for compare, bound in tests
        )

    return keep
