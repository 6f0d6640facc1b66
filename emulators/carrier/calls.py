"""A voice call played out against TwiML the way Twilio plays it, verb by verb. No I/O here.

Everything outside the call goes through its `Line`: requesting a webhook (signed by the carrier),
saving a recording, and telling what one of the emulator's recordings says. The call runs until it
waits for the caller (a <Gather> for keys, a <Record> for speech) or ends; the caller's actions —
`press`, `silence`, `speak`, `hang_up` — resume it. Twilio semantics kept here:

- Gather: nested Say/Play/Pause are heard first; keys collect until numDigits or finishOnKey
  (default '#', not part of Digits); the timeout submits what was keyed, or — with nothing keyed —
  moves on to the verb after the Gather (or requests the action when actionOnEmptyResult is set).
  The action defaults to the current document's URL, relative URLs resolve against it.
- Record: a beep (playBeep), then speech until the timeout's silence, a finishOnKey key, maxLength
  or the caller hanging up; then the action is requested with RecordingUrl, RecordingSid,
  RecordingDuration and Digits (and recordingStatusCallback is told in the background). Nothing said:
  Twilio moves on to the next verb without the action.
  A hang-up still requests the action (CallStatus completed; its TwiML is not run).
- Redirect requests its URL; Hangup and Reject end the call; a document that runs out ends it.
- A webhook that fails, answers non-TwiML or uses a verb this emulator does not play ends the call
  with Twilio's "application error" announcement; so does a call that exceeds `max_hops` requests.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol
from urllib.parse import urljoin

from shared.events import utcnow

API_VERSION = "2010-04-01"
MAX_HOPS = 50  # webhook requests one call may make: a TwiML loop ends instead of running forever
MAX_LOOP = 10  # a Say/Play loop="0" repeats until hang-up in Twilio; a transcript shows it this often
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
NOT_EXISTS_ANNOUNCEMENT = "The number you have dialled does not exist."
KEYS = frozenset("0123456789*#")
RECORD_FINISH_KEYS = "1234567890*#"


class NotWaiting(Exception):
    """The call is not waiting for this (it waits for something else, or has ended)."""


@dataclass(frozen=True)
class WebhookRequest:
    method: str  # "POST" or "GET"
    url: str
    params: dict[str, str]


@dataclass(frozen=True)
class WebhookAnswer:
    status: int | None  # None: the webhook could not be reached
    body: str = ""


@dataclass(frozen=True)
class SavedRecording:
    sid: str
    url: str  # Twilio's RecordingUrl: the resource's URL without an extension


class Line(Protocol):
    """What a call needs from the network it runs on."""

    def request(self, request: WebhookRequest) -> WebhookAnswer: ...

    def save_recording(self, call_sid: str, seconds: int, speech: str) -> SavedRecording: ...

    def recording_speech(self, url: str) -> str | None: ...

    def notify(self, request: WebhookRequest) -> None:
        """Send a callback in the background (recordingStatusCallback): its answer plays no part."""


@dataclass(frozen=True)
class Heard:
    """Something the caller heard."""

    verb: str  # say | play | beep | tone | error
    text: str
    language: str | None = None
    voice: str | None = None
    url: str | None = None

    def as_json(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass
class _Document:
    url: str
    verbs: list[ElementTree.Element]
    position: int = 0


@dataclass
class _Gathering:
    action: str
    method: str
    num_digits: int | None
    finish_on_key: str
    timeout: int
    action_on_empty: bool
    digits: str = ""

    def as_json(self) -> dict:
        return {
            "kind": "digits",
            "num_digits": self.num_digits,
            "finish_on_key": self.finish_on_key,
            "timeout": self.timeout,
            "keyed": self.digits,
            "action": self.action,
        }


@dataclass
class _Recording:
    action: str
    method: str
    max_length: int
    finish_on_key: str
    timeout: int
    status_callback: str | None = None
    status_callback_method: str = "POST"
    speech: list[str] = field(default_factory=list)
    seconds: int = 0

    def as_json(self) -> dict:
        return {
            "kind": "recording",
            "max_length": self.max_length,
            "finish_on_key": self.finish_on_key,
            "timeout": self.timeout,
            "seconds": self.seconds,
            "action": self.action,
        }


class Call:
    """One call: who called whom, what the caller heard, and where the TwiML stands."""

    def __init__(
        self,
        *,
        sid: str,
        account_sid: str,
        caller: str,
        to: str,
        outcome: str,
        forwarded_from: str | None = None,
        forward_reason: str | None = None,
        call_reason: str | None = None,
        line: Line | None = None,
        max_hops: int = MAX_HOPS,
        status_callback: str | None = None,
        attestation: str | None = None,
    ):
        self.sid, self.account_sid, self.caller, self.to = sid, account_sid, caller, to
        # STIR/SHAKEN: how far the carrier vouches for `caller` (Twilio's StirVerstat); None for a
        # call that arrived from another network without a verified identity.
        self.attestation = attestation
        # The number's voice status callback (Twilio's "Call status changes" URL): told when the
        # call ends, which is how a service learns that a caller hung up without choosing.
        self.status_callback = status_callback
        self.outcome = outcome
        self.forwarded_from, self.forward_reason = forwarded_from, forward_reason
        # Why the network hands a call that reached nobody to the webhook ("not-exists"): our
        # carrier's extension, like ForwardReason, sent with every request of the call.
        self.call_reason = call_reason
        self.line, self.max_hops = line, max_hops
        self.status = "ringing"
        self.heard: list[Heard] = []
        self.waiting: _Gathering | _Recording | None = None
        self.ended_by: str | None = None  # caller | hangup | reject | end-of-document | error | network
        self.error: str | None = None
        self.webhook_status: int | None = None
        self.hops = 0
        self.recordings: list[str] = []
        self.document: _Document | None = None
        self.started_at: datetime = utcnow()
        self.ended_at: datetime | None = None

    # --- what the network and the caller do ------------------------------------------------------

    def end_unconnected(self) -> dict:
        """The network ended the call before any TwiML (connected, not existing, refused)."""
        self._end("network")
        return self.snapshot(0)

    def start(self, url: str) -> dict:
        """The call reaches the voice webhook: request it and play its answer."""
        mark = len(self.heard)
        if self.call_reason == "not-exists":  # the network's announcement comes first, then the webhook
            self.heard.append(Heard("say", NOT_EXISTS_ANNOUNCEMENT))
        if self._load(url, "POST", {}):
            self._run()
        return self.snapshot(mark)

    def press(self, digits: str) -> dict:
        """The caller presses keys."""
        if not digits or set(digits) - KEYS:
            raise ValueError(f"keys are 0-9, * and #, got {digits!r}")
        mark = len(self.heard)
        waiting = self._waiting()
        if isinstance(waiting, _Gathering):
            for key in digits:
                if waiting.finish_on_key and key in waiting.finish_on_key:
                    self._end_gather(waiting, finished_on=key)
                    break
                waiting.digits += key
                if waiting.num_digits and len(waiting.digits) >= waiting.num_digits:
                    self._end_gather(waiting, finished_on="")
                    break
        else:
            # Keys that do not finish a recording are only tones in its audio.
            finish = next((k for k in digits if k in waiting.finish_on_key), None)
            if finish is not None:
                self._end_recording(waiting, digits=finish)
        self._run()
        return self.snapshot(mark)

    def silence(self) -> dict:
        """The caller stays silent until the Gather's or Record's timeout elapses."""
        mark = len(self.heard)
        waiting = self._waiting()
        if isinstance(waiting, _Gathering):
            self._end_gather(waiting, finished_on="")
        else:
            self._end_recording(waiting, digits="")
        self._run()
        return self.snapshot(mark)

    def speak(self, text: str, seconds: int, then: str = "silence") -> dict:
        """The caller speaks into a Record for `seconds`; then falls silent, hangs up, goes on, or presses a key."""
        waiting = self._waiting()
        if not isinstance(waiting, _Recording):
            raise NotWaiting("the call is waiting for keys, not for speech")
        if not text.strip() or seconds < 1:
            raise ValueError("speech needs a text and at least one second")
        if then not in ("silence", "hangup", "continue") and not (len(then) == 1 and then in KEYS):
            raise ValueError("then is silence, hangup, continue or one key")
        mark = len(self.heard)
        waiting.speech.append(text.strip())
        waiting.seconds = min(waiting.seconds + seconds, waiting.max_length)
        if waiting.seconds >= waiting.max_length or then == "silence":  # maxLength cuts the message, as silence ends it
            self._end_recording(waiting, digits="")
        elif then == "hangup":
            return self.hang_up()
        elif then != "continue" and then in waiting.finish_on_key:
            self._end_recording(waiting, digits=then)
        self._run()
        return self.snapshot(mark)

    def hang_up(self) -> dict:
        """The caller hangs up; a recording in progress is still saved and its action told."""
        if self.ended_by is not None:
            raise NotWaiting("the call has ended")
        mark = len(self.heard)
        if isinstance(self.waiting, _Recording):
            self._end_recording(self.waiting, digits="hangup", hung_up=True)
        self.waiting = None
        if self.ended_by is None:
            self._end("caller")
        return self.snapshot(mark)

    # --- the view ---------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    def snapshot(self, mark: int) -> dict:
        """The call's state; `heard_now` is what was heard after `mark` (this step)."""
        return {
            "call_sid": self.sid,
            "from": self.caller,
            "to": self.to,
            "outcome": self.outcome,
            "forwarded": self.forward_reason is not None and self.forwarded_from is not None,
            "forwarded_from": self.forwarded_from,
            "forward_reason": self.forward_reason,
            "call_reason": self.call_reason,
            "status": self.status,
            "heard": [h.text for h in self.heard],
            "heard_now": [h.text for h in self.heard[mark:]],
            "waiting": None if self.waiting is None else self.waiting.as_json()["kind"],
            "waiting_for": None if self.waiting is None else self.waiting.as_json(),
            "ended": self.ended,
            "ended_by": self.ended_by,
            "error": self.error,
            "webhook_status": self.webhook_status,
            "webhook_requests": self.hops,
            "recordings": list(self.recordings),
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }

    def transcript(self) -> list[dict]:
        """What the caller heard, with language, voice and audio URLs."""
        return [h.as_json() for h in self.heard]

    def params(self, extra: dict[str, str], status: str | None = None) -> dict[str, str]:
        """The form Twilio sends with every request about this call."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": status or self.status,
            "Direction": "inbound",
            "From": self.caller,
            "Caller": self.caller,
            "To": self.to,
            "Called": self.to,
        }
        if self.forwarded_from:
            params["ForwardedFrom"] = self.forwarded_from
        if self.forward_reason:
            params["ForwardReason"] = self.forward_reason  # our carrier's extension: why it was forwarded
        if self.call_reason:
            params["CallReason"] = self.call_reason  # our carrier's extension: a wrong number handed on
        if self.attestation:
            params["StirVerstat"] = self.attestation
        return {**params, **extra}

    # --- the interpreter --------------------------------------------------------------------------

    def _waiting(self) -> _Gathering | _Recording:
        if self.ended:
            raise NotWaiting("the call has ended")
        if self.waiting is None:
            raise NotWaiting("the call is not waiting for the caller")
        return self.waiting

    def _line(self) -> Line:
        if self.line is None:  # the network ends a call without a line before any TwiML (end_unconnected)
            raise RuntimeError(f"call {self.sid} has no line to play TwiML on")
        return self.line

    def _request(self, url: str, method: str, extra: dict[str, str], status: str | None = None) -> WebhookAnswer | None:
        """One webhook request, counted against the hop limit; None when the limit is reached."""
        if self.hops >= self.max_hops:
            self._fail(f"more than {self.max_hops} webhook requests in one call (a TwiML loop?)")
            return None
        self.hops += 1
        answer = self._line().request(WebhookRequest(method, url, self.params(extra, status)))
        self.webhook_status = answer.status
        return answer

    def _load(self, url: str, method: str, extra: dict[str, str]) -> bool:
        """Request a TwiML document and make it the one being played; False when the call failed."""
        answer = self._request(url, method, extra)
        if answer is None:
            return False
        if answer.status is None or not 200 <= answer.status < 300:
            self._fail(f"11200 HTTP retrieval failure: {url} answered {answer.status}")
            return False
        try:
            root = ElementTree.fromstring(answer.body)
        except ElementTree.ParseError as error:
            self._fail(f"12100 document parse failure: {url}: {error}")
            return False
        if root.tag != "Response":
            self._fail(f"12100 document parse failure: {url}: the root is <{root.tag}>, not <Response>")
            return False
        self.status = "in-progress"
        self.document = _Document(url, list(root))
        return True

    def _run(self) -> None:
        """Play verbs until the call waits for the caller or ends."""
        while not self.ended and self.waiting is None:
            document = self.document
            if document is None or document.position >= len(document.verbs):
                self._end("end-of-document")
                return
            verb = document.verbs[document.position]
            document.position += 1
            play = self._VERBS.get(verb.tag)
            if play is None:
                self._fail(f"12200 schema validation: <{verb.tag}> is not played by this emulator")
                return
            play(self, verb)

    def _resolve(self, url: str | None) -> str:
        """A verb's URL: relative ones resolve against the current document's; none means the document's own."""
        base = self.document.url if self.document else ""
        return urljoin(base, url.strip()) if url and url.strip() else base

    def _say(self, verb: ElementTree.Element) -> None:
        text = " ".join((verb.text or "").split())
        for _ in range(_loop(verb)):
            self.heard.append(Heard("say", text, language=verb.get("language"), voice=verb.get("voice")))

    def _play(self, verb: ElementTree.Element) -> None:
        if not (verb.text or "").strip():
            return  # <Play digits="…"> sends tones down the line; the caller hears nothing to transcribe
        url = self._resolve(verb.text)
        speech = self._line().recording_speech(url)
        text = f"[voice message: {speech}]" if speech is not None else f"[audio: {url}]"
        for _ in range(_loop(verb)):
            self.heard.append(Heard("play", text, url=url))

    def _pause(self, verb: ElementTree.Element) -> None:
        """Silence on the line: nothing heard, nothing to wait for."""

    def _gather(self, verb: ElementTree.Element) -> None:
        for nested in verb:
            if nested.tag in ("Say", "Play", "Pause"):
                self._VERBS[nested.tag](self, nested)
        self.waiting = _Gathering(
            action=self._resolve(verb.get("action")),
            method=_method(verb),
            num_digits=_positive(verb.get("numDigits")),
            finish_on_key=verb.get("finishOnKey", "#"),
            timeout=_positive(verb.get("timeout")) or 5,
            action_on_empty=verb.get("actionOnEmptyResult", "false").lower() == "true",
        )

    def _end_gather(self, gathering: _Gathering, finished_on: str) -> None:
        self.waiting = None
        if (gathering.digits or gathering.action_on_empty) and self._load(
            gathering.action, gathering.method, {"Digits": gathering.digits, "FinishedOnKey": finished_on}
        ):
            return
        # Nothing keyed: Twilio goes on with the verb after the Gather (the document stays).

    def _record(self, verb: ElementTree.Element) -> None:
        if verb.get("playBeep", "true").lower() != "false":
            self.heard.append(Heard("beep", "[beep]"))
        max_length = _positive(verb.get("maxLength")) or 3600
        callback = verb.get("recordingStatusCallback")
        self.waiting = _Recording(
            action=self._resolve(verb.get("action")),
            method=_method(verb),
            max_length=max_length,
            finish_on_key=verb.get("finishOnKey", RECORD_FINISH_KEYS),
            timeout=_positive(verb.get("timeout")) or 5,
            status_callback=self._resolve(callback) if callback else None,
            status_callback_method=_method(verb, "recordingStatusCallbackMethod"),
        )

    def _end_recording(self, recording: _Recording, digits: str, hung_up: bool = False) -> None:
        self.waiting = None
        if recording.seconds == 0:
            return  # nothing was said: no recording, no action; the document goes on
        saved = self._line().save_recording(self.sid, recording.seconds, " ".join(recording.speech))
        self.recordings.append(saved.sid)
        if recording.status_callback:
            self._line().notify(
                WebhookRequest(
                    recording.status_callback_method,
                    recording.status_callback,
                    {
                        "AccountSid": self.account_sid,
                        "CallSid": self.sid,
                        "RecordingSid": saved.sid,
                        "RecordingUrl": saved.url,
                        "RecordingStatus": "completed",
                        "RecordingDuration": str(recording.seconds),
                        "RecordingChannels": "1",
                        "RecordingSource": "RecordVerb",
                    },
                )
            )
        extra = {
            "RecordingUrl": saved.url,
            "RecordingSid": saved.sid,
            "RecordingDuration": str(recording.seconds),
            "Digits": digits,
        }
        if hung_up:
            # Twilio still tells the action about the message; the call is over, its TwiML is not played.
            self._end("caller")
            self._request(recording.action, recording.method, extra, status="completed")
            return
        self._load(recording.action, recording.method, extra)

    def _redirect(self, verb: ElementTree.Element) -> None:
        self._load(self._resolve(verb.text), _method(verb), {})

    def _hangup(self, verb: ElementTree.Element) -> None:
        self._end("hangup")

    def _reject(self, verb: ElementTree.Element) -> None:
        busy = verb.get("reason") == "busy"
        self.heard.append(Heard("tone", "[busy tone]" if busy else "[number not in service]"))
        self.status = "busy" if busy else "no-answer"
        self._end("reject")

    _VERBS: ClassVar[dict[str, Callable[[Call, ElementTree.Element], None]]] = {
        "Say": _say,
        "Play": _play,
        "Pause": _pause,
        "Gather": _gather,
        "Record": _record,
        "Redirect": _redirect,
        "Hangup": _hangup,
        "Reject": _reject,
    }

    def _fail(self, reason: str) -> None:
        self.error = reason
        self.heard.append(Heard("error", APPLICATION_ERROR))
        self._end("error")

    def _end(self, by: str) -> None:
        if self.ended_by is None:
            self.ended_by, self.ended_at, self.waiting = by, utcnow(), None
            if self.status in ("ringing", "in-progress"):
                self.status = "completed"
            if self.status_callback and self.line is not None and self.hops:
                seconds = int((self.ended_at - self.started_at).total_seconds())
                self.line.notify(
                    WebhookRequest(
                        "POST", self.status_callback, self.params({"CallDuration": str(seconds)}, status=self.status)
                    )
                )


def _method(verb: ElementTree.Element, attribute: str = "method") -> str:
    return "GET" if verb.get(attribute, "POST").upper() == "GET" else "POST"


def _positive(value: str | None) -> int | None:
    """A positive integer attribute, or None when it is missing or not one."""
    try:
        number = int(value) if value is not None else 0
    except ValueError:
        return None
    return number if number > 0 else None


def _loop(verb: ElementTree.Element) -> int:
    count = verb.get("loop", "1")
    if count == "0":
        return MAX_LOOP
    return min(_positive(count) or 1, MAX_LOOP)
