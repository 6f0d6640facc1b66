"""The transfer menu (M1's `#131#`, `*100*6*3#`): send credit with a confirmation, limits left, recent transfers.

The gateway sends every input of the session so far, joined by `*`. The menu replays them from the
top on each request (`walk`), so a screen is a pure function of the inputs and what was read; no
session state is stored. Nothing is published before the subscriber confirms; `0` goes back one
screen, and an input a screen cannot take re-shows that screen with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from functions.edge import api
from functions.edge.api import Text
from functions.transfers import edge_orders as orders
from functions.transfers.edge_orders import BadOrder, Desk, Facts
from functions.transfers.policy import TransferPolicy
from functions.transfers.rules import NO_POLICY, Refusal
from shared import store
from shared.operator import OperatorProfile

ROOT, RECIPIENT, AMOUNT, CONFIRM = "root", "recipient", "amount", "confirm"
SEND, CANCEL, LIMITS, HISTORY = "send", "cancel", "limits", "history"
BACK = "0"


@dataclass(frozen=True)
class Position:
    """Where the session is: a screen (with what was chosen so far), or a final choice (`done`)."""

    screen: str = ROOT
    recipient: str | None = None
    amount: int | None = None
    mistake: str | None = None  # text key: why the last input was not taken
    done: str | None = None  # send | cancel | limits | history

    @property
    def chosen_recipient(self) -> str:
        """The recipient chosen: the amount and confirmation screens are only reached with one."""
        if self.recipient is None:
            raise ValueError(f"the {self.screen} screen was reached without a recipient")
        return self.recipient

    @property
    def chosen_amount(self) -> int:
        """The amount chosen: the confirmation screen is only reached with one."""
        if self.amount is None:
            raise ValueError(f"the {self.screen} screen was reached without an amount")
        return self.amount


NumberReader = Callable[[str], str | None]  # typed number -> E.164, None if not a number
AmountReader = Callable[[str, str], int | None]  # (recipient, typed choice) -> minor units, None if invalid

_ROOT_CHOICES = {"1": Position(RECIPIENT), "2": Position(done=LIMITS), "3": Position(done=HISTORY)}


def _back(position: Position) -> Position:
    if position.screen == CONFIRM:
        return Position(AMOUNT, recipient=position.recipient)
    if position.screen == AMOUNT:
        return Position(RECIPIENT)
    return Position(ROOT)


def step(position: Position, typed: str, read_number: NumberReader, read_amount: AmountReader) -> Position:
    """The position after one input."""
    key = typed.strip()
    if position.screen == ROOT:
        if key == BACK:
            return Position(ROOT)
        return _ROOT_CHOICES.get(key) or replace(position, mistake="edge.menu.invalid_choice")
    if key == BACK:
        return _back(position)
    if position.screen == RECIPIENT:
        number = read_number(key)
        return Position(AMOUNT, recipient=number) if number else replace(position, mistake="edge.menu.invalid_number")
    if position.screen == AMOUNT:
        amount = read_amount(position.chosen_recipient, key)
        return (
            Position(CONFIRM, recipient=position.recipient, amount=amount)
            if amount
            else replace(position, mistake="edge.menu.invalid_amount")
        )
    if key in ("1", "2"):  # confirm / cancel
        return replace(position, mistake=None, done=SEND if key == "1" else CANCEL)
    return replace(position, mistake="edge.menu.invalid_choice")


def walk(inputs: Iterable[str], read_number: NumberReader, read_amount: AmountReader) -> Position:
    """Replay the session's inputs from the top; inputs after a final choice are ignored."""
    return api.replay(inputs, lambda position, typed: step(position, typed, read_number, read_amount), Position())


# --- the screens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Menu:
    """The menu of one operator: its desk (profile and policies) renders and decides."""

    desk: Desk

    def reads(self, request: api.UssdRequest, profile: OperatorProfile) -> list[tuple[str, str]]:
        """The caller's history, and every number typed in the session with its history (one round trip)."""
        wanted = orders.party_reads(request.msisdn, None)
        for number in orders.candidates(request.inputs, profile):
            wanted += [(store.SUBSCRIBERS, number), (orders.HISTORY, number)]
        return wanted

    def answer(self, request: api.Request[api.UssdRequest]) -> api.Reply:
        sender = request.caller.msisdn
        profile, desk = request.profile, self.desk

        def known(recipient: str | None) -> Facts:
            return orders.facts(request.documents, sender, recipient, request.account, profile)

        def read_number(typed: str) -> str | None:
            try:
                return orders.parse_recipient(typed, profile)
            except BadOrder:
                return None

        def read_amount(recipient: str, typed: str) -> int | None:
            parties = known(recipient)
            policy = desk.policy_for(parties.sender, parties.recipient)
            choices = sorted(policy.amount_choices) if policy is not None else []
            if choices:
                return choices[int(typed) - 1] if typed.isdigit() and 1 <= int(typed) <= len(choices) else None
            try:
                return orders.parse_amount(typed, profile) or None
            except BadOrder:
                return None

        position = walk(request.input.inputs, read_number, read_amount)
        return self.screen(position, known(position.recipient), request)

    def screen(self, position: Position, known: Facts, request: api.Request[api.UssdRequest]) -> api.Reply:
        """The reply for a position: a CON screen to choose on, or the END of the session."""
        desk, language, now = self.desk, request.caller.language, request.now
        if position.done == LIMITS:
            return api.Reply.end(orders.limits_text(known, desk, now).render(language))
        if position.done == HISTORY:
            return api.Reply.end(orders.recent_text(known.sender_history, known.sender, desk).render(language))
        if position.done == CANCEL:
            return api.Reply.end(Text("edge.menu.cancelled").render(language))
        if position.done == SEND:
            order = orders.Order(party=position.chosen_recipient, amount=position.chosen_amount)
            text, publish = orders.answer_order(
                desk, known, order, request_id=request.input.request_id, channel="menu", now=now
            )
            return api.Reply.end(text.render(language), publish)
        body = self._choices(position, known, now, language)
        if isinstance(body, api.Reply):
            return body
        mistake = Text(position.mistake).render(language) + "\n" if position.mistake else ""
        return api.Reply.con(mistake + body)

    def _choices(self, position: Position, known: Facts, now: datetime, language: str) -> str | api.Reply:
        desk = self.desk
        if position.screen == ROOT:
            title = desk.title(desk.policy_for(known.sender), language)
            return Text("edge.menu.root", {"title": title[:1].upper() + title[1:]}).render(language)
        if position.screen == RECIPIENT:
            return Text("edge.menu.recipient").render(language)
        policy = desk.policy_for(known.sender, known.recipient)
        if policy is None:
            return api.Reply.end(orders.refused_text(NO_POLICY, known.sender, desk).render(language))
        if position.screen == AMOUNT:
            return self._amount_screen(policy, position.chosen_recipient, language)
        outcome = desk.decide(known, position.chosen_amount, now)
        if isinstance(outcome, Refusal):  # say why now, before a confirmation that could only fail
            return api.Reply.end(orders.refused_text(outcome, known.sender, desk).render(language))
        return Text(
            "edge.menu.confirm",
            {"amount": desk.money(outcome.amount), "recipient": position.recipient, "fee": desk.money(outcome.fee)},
        ).render(language)

    def _amount_screen(self, policy: TransferPolicy, recipient: str, language: str) -> str:
        choices = sorted(policy.amount_choices)
        if not choices:
            return Text(
                "edge.menu.amount_range", {"recipient": recipient, "amounts": policy.compiled.amounts_text}
            ).render(language)
        lines = "\n".join(f"{i} {self.desk.money(amount)}" for i, amount in enumerate(choices, start=1))
        return Text("edge.menu.amounts", {"recipient": recipient, "choices": lines}).render(language)


def ussd_services(desk: Desk) -> list[api.UssdService]:
    """The menu on the profile's code and on each of its aliases."""
    codes = desk.profile.short_codes
    menu = Menu(desk)
    return [
        api.UssdService(
            code=code, name="edge.service.transfer_menu", handler=menu.answer, needs_account=True, reads=menu.reads
        )
        for code in (codes.transfer_menu, *codes.transfer_menu_aliases)
    ]
