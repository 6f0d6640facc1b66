"""The phone CLI: a subscriber's handset on the emulated network, printed like its screen."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from datetime import datetime

from emulators.carrier.client import CarrierClient, CarrierError

SCREEN_WIDTH = 32


def screen(title: str, text: str, width: int = SCREEN_WIDTH) -> str:
    """Draw `text` in a box like a handset's display, wrapped to its width."""
    lines = []
    for paragraph in (text or "").splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, width, replace_whitespace=False) or [""])
    top = f"┌─ {title[:width - 2]} " + "─" * max(width - len(title[: width - 2]) - 1, 0) + "┐"
    body = [f"│ {line.ljust(width)} │" for line in lines]
    return "\n".join([top, *body, "└" + "─" * (width + 2) + "┘"])


class Phone:
    """One handset: what it shows goes to `out`, what the subscriber types comes from `read`."""

    def __init__(
        self, client: CarrierClient, msisdn: str, out: Callable[[str], None] = print, read: Callable[[str], str] = input
    ):
        self.client, self.msisdn, self.out, self.read = client, msisdn, out, read

    def dial(self, ussd: str) -> None:
        reply = self.client.dial(self.msisdn, ussd)
        while True:
            self.out(screen(ussd, reply["text"]))
            if reply["end"]:
                return
            try:
                answer = self.read("reply> ").strip()
            except EOFError:
                answer = ""
            if not answer:
                self.out("(cancelled)")
                return
            reply = self.client.reply(self.msisdn, reply["session_id"], answer)

    def sms(self, to: str, body: str, reply_timeout: float = 10.0) -> None:
        before = len(self.client.inbox(self.msisdn))
        sent = self.client.send_sms(self.msisdn, to, body)
        status = sent["webhook_status"]
        self.out(screen(f"To {to}", body + "\n\n" + ("sent" if status == 200 else f"not delivered ({status})")))
        if sent["replies"]:
            try:
                received = self.client.wait_for_inbox(self.msisdn, before + len(sent["replies"]), reply_timeout)
            except TimeoutError:
                self.out("(the reply has not arrived yet; try `inbox`)")
                return
            for item in received[before:]:
                self.out(_inbox_screen(item))

    def call(self, to: str) -> None:
        """Place a call, show what is heard, and answer what the call waits for until it ends."""
        state = self.client.call(self.msisdn, to)
        self.out(screen(f"Call {to}", _call_text(to, state)))
        while not state["ended"]:
            try:
                answer = self.read(_PROMPTS[state["waiting"]]).strip()
            except EOFError:
                answer = ""
            if not answer or answer.lower() in ("h", "hangup"):
                state = self.client.hang_up(state["call_sid"])
            elif state["waiting"] == "recording" and answer.lower() in ("s", "silence"):
                state = self.client.silence(state["call_sid"])
            elif state["waiting"] == "recording" and not set(answer) <= set("0123456789*#"):
                state = self.client.speak(state["call_sid"], answer, seconds=_speaking_seconds(answer))
            elif answer.lower() in ("s", "silence"):
                state = self.client.silence(state["call_sid"])
            else:
                try:
                    state = self.client.press(state["call_sid"], answer)
                except CarrierError as refused:
                    self.out(f"({refused})")
                    continue
            shown = "\n".join(state["heard_now"])
            if state["ended"]:
                shown = (shown + "\n\n" if shown else "") + "Call ended"
            if shown:
                self.out(screen(f"Call {to}", shown))

    def inbox(self) -> None:
        messages = self.client.inbox(self.msisdn)
        if not messages:
            self.out(screen(self.msisdn, "No messages"))
        for item in messages:
            self.out(_inbox_screen(item))

    def switch(self, on: bool) -> None:
        result = self.client.attach(self.msisdn) if on else self.client.detach(self.msisdn)
        state = "on, attached to the network" if result["phone"]["attached"] else "off"
        extra = f"\n{result['delivered_waiting']} waiting message(s) delivered" if result["delivered_waiting"] else ""
        self.out(screen(self.msisdn, f"Phone is {state}{extra}"))


_PROMPTS = {
    "digits": "keys (s: stay silent, h or empty: hang up)> ",
    "recording": "speak after the beep (s: stay silent, a key, h or empty: hang up)> ",
}

_OUTCOMES = {
    "connected": "Connected",
    "not-exists": "The number you dialled does not exist",
    "refused-zero-balance": "Your balance is not enough for this call",
}


def _call_text(to: str, state: dict) -> str:
    """The first screen of a call: how the network routed it, then what was heard."""
    lines: list[str | None] = [f"Calling {to}…", _OUTCOMES.get(state["outcome"], "")]
    if state["forwarded"]:
        lines[1] = f"Forwarded ({state['forward_reason']})"
    lines.extend(["", *state["heard"]] if state["heard"] else [])
    if state.get("call_reason"):  # handed to the platform: the network's announcement is among what was heard
        lines[1] = None
    if state["ended"] and (state["outcome"] in ("forwarded", "service") or state.get("call_reason")):
        lines.extend(["", "Call ended"])
    return "\n".join(line for line in lines if line is not None)


def _speaking_seconds(text: str) -> int:
    """How long saying `text` takes, at a speaking pace of about two and a half words a second."""
    return max(1, round(len(text.split()) / 2.5))


def _inbox_screen(item: dict) -> str:
    at = datetime.fromisoformat(item["received_at"]).strftime("%d.%m %H:%M")
    return screen(f"From {item['from']} {at}", item["body"])


def run(carrier_url: str, msisdn: str, command: str, args: list[str]) -> int:
    """Entry of `python -m emulators.carrier phone`; returns the exit status."""
    phone = Phone(CarrierClient(carrier_url), msisdn)
    try:
        if command == "dial":
            phone.dial(*args)
        elif command == "sms":
            phone.sms(args[0], " ".join(args[1:]))
        elif command == "call":
            phone.call(args[0])
        elif command == "inbox":
            phone.inbox()
        elif command in ("on", "off"):
            phone.switch(command == "on")
        else:
            raise ValueError(f"unknown command {command}")
    except CarrierError as error:
        print(screen(msisdn, f"Error: {error}"), file=sys.stderr)
        return 1
    return 0
