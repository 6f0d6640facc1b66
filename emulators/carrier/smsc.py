"""The SMS centre: every message the network carries, its status, and store-and-forward. No I/O here.

Mobile-terminated messages (from the Twilio API) go queued → sent → delivered when the phone is
attached; a detached phone's messages wait in `sent` and are delivered when it attaches (or end
`undelivered` 30003 when their validity runs out); a number the network does not know ends
`undelivered` 30005. Mobile-originated messages (a phone texting a short code) are `received`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulators.carrier.network import InboxItem, Network
from shared.events import utcnow
from shared.sms import Segmentation, segments

UNREACHABLE = 30003  # Twilio: Unreachable destination handset
UNKNOWN_HANDSET = 30005  # Twilio: Unknown destination handset

ERROR_MESSAGES = {
    UNREACHABLE: "Unreachable destination handset",
    UNKNOWN_HANDSET: "Unknown destination handset",
}


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits (34 characters)."""
    return prefix + uuid.uuid4().hex


@dataclass
class Message:
    sid: str
    account_sid: str
    to: str
    sender: str
    body: str
    direction: str  # "outbound-api" (to a phone) or "inbound" (from a phone)
    status: str
    status_callback: str | None = None
    error_code: int | None = None
    validity: timedelta | None = None
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    date_sent: datetime | None = None
    history: list[tuple[str, datetime]] = field(default_factory=list)

    @property
    def segmentation(self) -> Segmentation:
        return segments(self.body)

    @property
    def error_message(self) -> str | None:
        return ERROR_MESSAGES.get(self.error_code) if self.error_code else None

    def move(self, status: str, error_code: int | None = None) -> StatusChange:
        now = utcnow()
        self.status, self.error_code, self.date_updated = status, error_code, now
        if status == "sent":
            self.date_sent = now
        self.history.append((status, now))
        return StatusChange(self.sid, status, error_code)


@dataclass(frozen=True)
class StatusChange:
    """One step of a message's life; the server turns it into a status callback."""

    sid: str
    status: str
    error_code: int | None = None


class SmsCentre:
    """All messages by SID and the store-and-forward queue. Not thread-safe: the caller holds a lock."""

    def __init__(self, default_validity: timedelta) -> None:
        self.default_validity = default_validity
        self.messages: dict[str, Message] = {}
        self.waiting: dict[str, list[str]] = {}  # msisdn -> SIDs in the order they were sent

    def message(self, sid: str) -> Message:
        return self.messages[sid]

    def submit(
        self,
        *,
        account_sid: str,
        to: str,
        sender: str,
        body: str,
        status_callback: str | None,
        validity: timedelta | None = None,
    ) -> Message:
        """Accept a message from the API; it is `queued` until `route` runs."""
        message = Message(
            sid=new_sid(),
            account_sid=account_sid,
            to=to,
            sender=sender,
            body=body,
            direction="outbound-api",
            status="queued",
            status_callback=status_callback,
            validity=validity or self.default_validity,
        )
        message.history.append(("queued", message.date_created))
        self.messages[message.sid] = message
        return message

    def route(self, sid: str, network: Network) -> list[StatusChange]:
        """Hand a queued message to the radio network: deliver it, keep it, or give up."""
        message = self.messages.get(sid)
        if message is None or message.status != "queued":
            return []
        changes = [message.move("sent")]
        phone = network.phones.get(message.to)
        if phone is None:
            changes.append(message.move("undelivered", UNKNOWN_HANDSET))
        elif phone.attached:
            changes.append(self._deliver(message, network))
        else:
            self.waiting.setdefault(message.to, []).append(sid)
        return changes

    def deliver_waiting(self, msisdn: str, network: Network) -> list[StatusChange]:
        """The phone attached: deliver what waited for it, oldest first."""
        return [self._deliver(self.messages[sid], network) for sid in self.waiting.pop(msisdn, [])]

    def expire(self, sid: str) -> list[StatusChange]:
        """The message's validity ran out while its phone stayed detached."""
        message = self.messages.get(sid)
        if message is None or message.status != "sent" or sid not in self.waiting.get(message.to, []):
            return []
        self.waiting[message.to].remove(sid)
        return [message.move("undelivered", UNREACHABLE)]

    def record_inbound(self, *, account_sid: str, sender: str, to: str, body: str) -> Message:
        """A phone texted a short code: the message the SMS webhook is told about."""
        message = Message(
            sid=new_sid(),
            account_sid=account_sid,
            to=to,
            sender=sender,
            body=body,
            direction="inbound",
            status="received",
        )
        message.history.append(("received", message.date_created))
        message.date_sent = message.date_created
        self.messages[message.sid] = message
        return message

    @staticmethod
    def _deliver(message: Message, network: Network) -> StatusChange:
        change = message.move("delivered")
        network.phone(message.to).inbox.append(
            InboxItem(sid=message.sid, sender=message.sender, body=message.body, received_at=message.date_updated)
        )
        return change
