"""Individuals' communication credits at the edge: the preset's USSD code (*125#).

    *125# ── the balance ── 1 Top up ── n: an amount of ussd_amounts ── 1 Confirm -> credits.charge-requested
                   │                                                    └ 0 Close (or any other key): nothing
                   └─────── 2 Expiry ── each purchase left, oldest (spent first) first, with its expiry

An individual's credit account is `credit_accounts/{their MSISDN's digits}`, read with the
caller's record. The confirm screen names the amount and the card it is charged to; without a card
on file the caller is told how to add one. A confirmed top-up is asked for (reason manual, channel
ussd, charge id from the USSD request, so a gateway's retry is one charge); the charging consumer
pays, credits and emails the outcome. A business's users have no menu here: their account's
holder tops up through the business API.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from functions.credits.accounts import individual_id, manual_top_up
from functions.credits.config import BUCKET, CreditsConfig, config_for
from functions.credits.documents import ACCOUNTS, CreditAccount
from functions.credits.wallet import credits_of
from functions.edge import api
from functions.edge.api import Publication, Text
from shared import localtime
from shared.events import derive_event_id
from shared.operator import OperatorProfile

USSD_PRIORITY = 50  # after subscriptions in the help screen
ROOT, AMOUNTS, CONFIRM = "root", "amounts", "confirm"
TOP_UP_KEY, LOTS_KEY, CONFIRM_KEY, CLOSE_KEY = "1", "2", "1", "0"


@dataclass(frozen=True)
class Position:
    screen: str = ROOT
    amount: int | None = None
    mistake: bool = False
    done: str | None = None  # "confirmed", "closed" or "lots"


def step(position: Position, typed: str, amounts: tuple[int, ...]) -> Position:
    """The position after one input."""
    key = typed.strip()
    if position.screen == CONFIRM:  # 1 confirms; anything else closes, and nothing is charged
        return replace(position, done="confirmed" if key == CONFIRM_KEY else "closed")
    if key == CLOSE_KEY:
        return replace(position, done="closed")
    if position.screen == ROOT:
        if key == LOTS_KEY:
            return replace(position, done="lots")
        return Position(AMOUNTS) if key == TOP_UP_KEY else Position(mistake=True)
    index = int(key) - 1 if key.isdigit() else -1
    if not 0 <= index < len(amounts):
        return Position(AMOUNTS, mistake=True)
    return Position(CONFIRM, amount=amounts[index])


@dataclass(frozen=True)
class Menu:
    profile: OperatorProfile
    config: CreditsConfig

    def answer(self, request: api.Request[api.UssdRequest]) -> api.Reply:
        language = request.caller.language
        account = request.model(ACCOUNTS, individual_id(request.caller.msisdn), CreditAccount)
        if account is None:
            return api.Reply.end(
                Text("credits.ussd.no_account", {"hotline": self.profile.short_codes.hotline}).render(language)
            )
        position = api.replay(
            request.input.inputs, lambda at, typed: step(at, typed, self.config.ussd_amounts), Position()
        )
        if position.done == "closed":
            return api.Reply.end(Text("credits.ussd.closed").render(language))
        if position.done == "lots":
            return api.Reply.end(self._lots(request, account).render(language))
        if position.screen != ROOT and account.card is None:
            return api.Reply.end(
                Text("credits.ussd.no_card", {"hotline": self.profile.short_codes.hotline}).render(language)
            )
        if position.done == "confirmed":
            assert position.amount is not None  # the confirm screen is reached with an amount picked
            return self._confirmed(request, account, position.amount)
        mistake = Text("credits.ussd.invalid_choice").render(language) + "\n" if position.mistake else ""
        return api.Reply.con(mistake + self._screen(request, account, position).render(language))

    def _screen(self, request: api.Request[api.UssdRequest], account: CreditAccount, position: Position) -> Text:
        money = self.profile.currency.format
        if position.screen == AMOUNTS:
            lines = "\n".join(f"{number} {money(amount)}" for number, amount in enumerate(self.config.ussd_amounts, 1))
            return Text("credits.ussd.amounts", {"lines": lines})
        if position.screen == CONFIRM:
            assert position.amount is not None and account.card is not None  # both checked before
            card = account.card
            return Text(
                "credits.ussd.confirm",
                {"amount": money(position.amount), "brand": card.brand.title(), "last4": card.last4},
            )
        return self._balance(request, account)

    def _balance(self, request: api.Request[api.UssdRequest], account: CreditAccount) -> Text:
        balance = credits_of(account, request.now).balance(BUCKET)
        return Text("credits.ussd.balance", {"balance": self.profile.currency.format(balance)})

    def _lots(self, request: api.Request[api.UssdRequest], account: CreditAccount) -> Text:
        """Each purchase left with its expiry, oldest first (spent first); the edge pages a long list."""
        ledger = credits_of(account, request.now)
        lots = ledger.buckets[BUCKET].lots  # credits_of always holds the bucket, empty or not
        language, money = request.caller.language, self.profile.currency.format
        zone = localtime.zone_for(request.caller.msisdn, self.profile.timezone)
        lines = [
            Text(
                "credits.ussd.lot", {"amount": money(lot.amount), "until": _day(lot.expires_at, zone, language)}
            ).render(language)
            for lot in lots
            if lot.expires_at is not None  # every purchase expires; a lot without a date is no purchase
        ]
        if not lines:
            return Text("credits.ussd.no_lots")
        return Text("credits.ussd.lots", {"lines": "\n".join(lines)})

    def _confirmed(self, request: api.Request[api.UssdRequest], account: CreditAccount, amount: int) -> api.Reply:
        request_id = request.input.request_id
        # Named after the request (session, phone, code, inputs): a gateway's retry is the same charge.
        asked = manual_top_up(
            account.id,
            channel="ussd",
            request=derive_event_id(request_id, "credits/top-up"),
            amount=amount,
            by=request.caller.msisdn,
            at=request.now,
        )
        publication = Publication(
            "credits.charge-requested", asked, derive_event_id(request_id, "credits.charge-requested")
        )
        text = Text("credits.ussd.requested", {"amount": self.profile.currency.format(amount)})
        return api.Reply.end(text.render(request.caller.language), (publication,))


def _day(moment: datetime, zone: tzinfo, language: str) -> str:
    local = moment.astimezone(zone)
    return Text("credits.date", {"day": f"{local.day:02d}", "month": f"{local.month:02d}", "year": local.year}).render(
        language
    )


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """The preset's credits code; None when the operator does not offer credits."""
    config = config_for(profile)
    if config is None:
        return None
    menu = Menu(profile, config)
    service = api.UssdService(
        code=config.ussd_code,
        name="credits.ussd.service",
        handler=menu.answer,
        reads=lambda request, _profile: [(ACCOUNTS, individual_id(request.msisdn))],
        priority=USSD_PRIORITY,
    )
    return api.ServiceEntries(ussd=(service,))
