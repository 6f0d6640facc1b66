"""The emulated radio network: phones (HLR state and inbox) and USSD sessions. No I/O here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.events import derive_event_id, utcnow

# A dialled USSD string: `*` or `#`, the service digits, optional `*`-separated inputs, final `#`.
SESSION_TIMEOUT = timedelta(minutes=3)

_USSD = re.compile(r"^(?P<prefix>[*#])(?P<code>\d{1,10})(?P<inputs>(?:\*[0-9A-Za-z+]*)*)#$")
# A short service number (06002, 21112): not a phone, free to call and text even at zero balance.
_SERVICE_NUMBER = re.compile(r"^\d{3,6}$")
# Call-handling flags a phone has besides attachment (the control API sets them).
CALL_STATE_FLAGS = ("busy", "answers", "forward_all", "zero_balance")


def is_service_number(dialled: str) -> bool:
    """A short service number rather than a subscriber's MSISDN."""
    return bool(_SERVICE_NUMBER.match(dialled.strip()))


class InvalidUssd(ValueError):
    """What was dialled is not a USSD string (the phone would say: invalid MMI code)."""


class UnknownPhone(LookupError):
    """No phone with this MSISDN is provisioned on the network."""


class UnknownSession(LookupError):
    """The USSD session ended, timed out or belongs to another phone."""


@dataclass(frozen=True)
class UssdDial:
    service_code: str  # `*112#`
    text: str  # `998971300909*2500`: the inputs typed with the code, joined by `*`


def parse_ussd(dialled: str) -> UssdDial:
    """Split `*112*998971300909*2500#` into service code `*112#` and text `998971300909*2500`."""
    match = _USSD.match(dialled.strip().replace(" ", ""))
    if not match:
        raise InvalidUssd(f"not a USSD string: {dialled!r}")
    return UssdDial(service_code=f"{match['prefix']}{match['code']}#", text=match["inputs"][1:])


def join_inputs(text: str, user_input: str) -> str:
    """Africa's Talking `text`: every input of the session so far, joined by `*`."""
    return f"{text}*{user_input}" if text else user_input


@dataclass(frozen=True)
class UssdReply:
    """What the gateway answered, as the phone shows it."""

    text: str
    end: bool

    @classmethod
    def parse(cls, status: int, body: str) -> UssdReply:
        """Read a `CON …`/`END …` answer; anything else ends the session like a real gateway."""
        if status == 200 and body.startswith("CON "):
            return cls(body[4:], end=False)
        if status == 200 and body.startswith("END "):
            return cls(body[4:], end=True)
        if status == 200 and body.strip() in ("CON", "END"):
            return cls("", end=body.strip() == "END")
        return cls("Connection problem or invalid MMI code.", end=True)


@dataclass
class UssdSession:
    session_id: str
    msisdn: str
    service_code: str
    text: str
    touched_at: datetime = field(default_factory=utcnow)


@dataclass
class InboxItem:
    sid: str
    sender: str
    body: str
    received_at: datetime

    def as_json(self) -> dict:
        return {"sid": self.sid, "from": self.sender, "body": self.body, "received_at": self.received_at.isoformat()}


@dataclass
class Phone:
    msisdn: str
    attached: bool
    provisioned_at: datetime = field(default_factory=utcnow)
    changed_at: datetime = field(default_factory=utcnow)
    # Counts state changes so each attachment event gets its own deterministic id.
    transitions: int = 0
    inbox: list[InboxItem] = field(default_factory=list)
    busy: bool = False  # in another call
    answers: bool = True  # False: an incoming call rings out unanswered
    forward_all: bool = False  # unconditional call forwarding to the platform
    zero_balance: bool = False  # the charging system refuses its chargeable calls and SMS

    def as_json(self) -> dict:
        return {
            "msisdn": self.msisdn,
            "attached": self.attached,
            "provisioned_at": self.provisioned_at.isoformat(),
            "changed_at": self.changed_at.isoformat(),
            "inbox": len(self.inbox),
            **{flag: getattr(self, flag) for flag in CALL_STATE_FLAGS},
        }


@dataclass(frozen=True)
class CallRoute:
    """Where the network takes a call to a phone: `connected`, `not-exists` or `forwarded` with a reason."""

    outcome: str
    forward_reason: str | None = None  # shared.events.ForwardReason when forwarded


@dataclass(frozen=True)
class AttachmentChange:
    """A phone's attachment changed (or was first registered): what the HLR reports upstream."""

    msisdn: str
    state: str  # "attached" | "detached"
    at: datetime
    sequence: int


class Network:
    """Phones the HLR knows and the open USSD sessions. Not thread-safe: the caller holds a lock."""

    def __init__(self) -> None:
        # A fresh id per network lifetime keeps event ids unique across resets and restarts.
        self.epoch = uuid.uuid4().hex
        self.phones: dict[str, Phone] = {}
        self.sessions: dict[str, UssdSession] = {}

    def phone(self, msisdn: str) -> Phone:
        try:
            return self.phones[msisdn]
        except KeyError:
            raise UnknownPhone(msisdn) from None

    def provision(self, msisdn: str, attached: bool) -> tuple[Phone, AttachmentChange | None]:
        """Register a phone (or set the state of a known one); returns the change to report."""
        if msisdn in self.phones:
            return self.phones[msisdn], self._set_attached(msisdn, attached)
        phone = Phone(msisdn=msisdn, attached=attached)
        self.phones[msisdn] = phone
        return phone, self._change(phone)

    def set_attached(self, msisdn: str, attached: bool) -> AttachmentChange | None:
        """Switch a phone on or off; None when it already was in that state."""
        self.phone(msisdn)
        return self._set_attached(msisdn, attached)

    def set_state(self, msisdn: str, flags: dict) -> Phone:
        """Set call-handling flags (busy, answers, forward_all, zero_balance) of a phone."""
        phone = self.phone(msisdn)
        unknown = set(flags) - set(CALL_STATE_FLAGS)
        if unknown:
            raise ValueError(f"unknown phone state {sorted(unknown)}; known: {', '.join(CALL_STATE_FLAGS)}")
        if not flags:
            raise ValueError(f"give at least one of {', '.join(CALL_STATE_FLAGS)}")
        for flag, value in flags.items():
            if not isinstance(value, bool):
                raise ValueError(f"{flag} must be true or false")
        for flag, value in flags.items():
            setattr(phone, flag, value)
        return phone

    def route_call(self, callee: str) -> CallRoute:
        """The switch's decision for a call to a subscriber, in the order a network checks it."""
        phone = self.phones.get(callee)
        if phone is None:
            return CallRoute("not-exists")
        if phone.forward_all:
            return CallRoute("forwarded", "unconditional")
        if not phone.attached:
            return CallRoute("forwarded", "unreachable")
        if phone.busy:
            return CallRoute("forwarded", "busy")
        if not phone.answers:
            return CallRoute("forwarded", "no-answer")
        return CallRoute("connected")

    def _set_attached(self, msisdn: str, attached: bool) -> AttachmentChange | None:
        phone = self.phones[msisdn]
        if phone.attached == attached:
            return None
        phone.attached = attached
        phone.changed_at = utcnow()
        if not attached:
            # A phone switched off drops its USSD dialogues, as a real handset does.
            for sid in [s for s, session in self.sessions.items() if session.msisdn == msisdn]:
                del self.sessions[sid]
        return self._change(phone)

    @staticmethod
    def _change(phone: Phone) -> AttachmentChange:
        phone.transitions += 1
        return AttachmentChange(
            phone.msisdn, "attached" if phone.attached else "detached", phone.changed_at, phone.transitions
        )

    def event_id(self, change: AttachmentChange) -> str:
        """The same change always gets the same id, so a retried publish is dropped downstream."""
        return derive_event_id(f"carrier/{self.epoch}/{change.msisdn}/{change.sequence}", "network.attachment")

    def open_session(self, msisdn: str, dial: UssdDial) -> UssdSession:
        self.phone(msisdn)
        self._drop_stale_sessions()
        session = UssdSession(
            session_id=f"ATUid_{uuid.uuid4().hex}", msisdn=msisdn, service_code=dial.service_code, text=dial.text
        )
        self.sessions[session.session_id] = session
        return session

    def continue_session(self, msisdn: str, session_id: str, user_input: str) -> UssdSession:
        self._drop_stale_sessions()
        session = self.sessions.get(session_id)
        if session is None or session.msisdn != msisdn:
            raise UnknownSession(session_id)
        session.text = join_inputs(session.text, user_input)
        session.touched_at = utcnow()
        return session

    def close_session(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    def _drop_stale_sessions(self) -> None:
        # Gateways end a dialogue the subscriber leaves unanswered (typically after about 3 minutes).
        oldest = utcnow() - SESSION_TIMEOUT
        for sid in [sid for sid, session in self.sessions.items() if session.touched_at < oldest]:
            del self.sessions[sid]
