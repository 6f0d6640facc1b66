"""Balance transfers at the edge: `*112*<number>*<amount>#`, `*116*…#`, `*111*0151#`, SMS `<number> <amount>`.

The edge decides on a fresh read (both subscribers, the sender's account, both transfer
histories: one round trip) so the subscriber learns at once why a request is refused. Requests the
rules accept are published as `transfer.requested` with an event id derived from the request
(functions/edge/request_ids.py) and answered "being processed": the transfers service decides
again, authoritatively, in its transaction, and its SMS gives the result. Nothing here moves money.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.transfers import execution, explain, rules
from functions.transfers.policy import PolicySet, TransferPolicy
from functions.transfers.rules import History, Party, Quote, Refusal
from shared import localtime, store
from shared.events import TopUpAsked, TransferBarChanged, TransferRequested, derive_event_id
from shared.ledger import Account
from shared.msisdn import InvalidMsisdn
from shared.operator import OperatorProfile

HISTORY = "transfer_history"  # the collection the transfers service keeps (functions/transfers/documents.py)
RECENT_SHOWN = 5  # transfers listed by the menu and the SMS keyword
_AMOUNT = re.compile(r"^\d{1,12}(?P<decimals>[.,]\d*)?$")
_MAX_AMOUNT_DIGITS = 12  # far above any balance; longer input is not an amount


# --- what the subscriber typed --------------------------------------------------------------


class BadOrder(ValueError):
    """The request is not `<number> <amount>`: `reason` is "syntax" or "decimals" (amounts are whole)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Order:
    """A transfer (or top-up request) as typed: the other party in E.164 and the amount in minor units."""

    party: str
    amount: int


def parse_recipient(raw: str, profile: OperatorProfile) -> str:
    """A number as subscribers type it (international without '+', national) -> E.164; BadOrder if not one."""
    try:
        return profile.msisdn(raw.strip())
    except InvalidMsisdn:
        raise BadOrder("syntax") from None


def parse_amount(raw: str, profile: OperatorProfile) -> int:
    """Whole major units ('2500') -> minor units; decimals ('25.50') are refused, not rounded."""
    match = _AMOUNT.match(raw.strip())
    if not match:
        raise BadOrder("syntax")
    if match.group("decimals") is not None:
        raise BadOrder("decimals")
    return profile.currency.to_minor(raw.strip())


def parse_order(inputs: Sequence[str], profile: OperatorProfile) -> Order:
    """`("998971300909", "2500")` -> Order; BadOrder("syntax" | "decimals") otherwise."""
    if len(inputs) != 2:
        raise BadOrder("syntax")
    return Order(party=parse_recipient(inputs[0], profile), amount=parse_amount(inputs[1], profile))


# --- what the decision reads ----------------------------------------------------------------


def party_reads(sender: str, other: str | None) -> list[tuple[str, str]]:
    """Documents a decision needs beyond the caller's record and account: histories and the other party."""
    wanted = [(HISTORY, sender)]
    if other is not None:
        wanted += [(store.SUBSCRIBERS, other), (HISTORY, other)]
    return wanted


@dataclass(frozen=True)
class Facts:
    """Both parties, the sender's spendable balances and both histories, as read for one answer."""

    sender: Party
    recipient: Party | None
    balances: Mapping[str, int]
    sender_history: History
    recipient_history: History

    @property
    def counterpart(self) -> Party:
        """The recipient (or top-up target) of an order: the facts read for an order always hold it."""
        if self.recipient is None:
            raise ValueError("these facts were read without the order's other party")
        return self.recipient


def spendable(account: Account | None) -> dict[str, int]:
    """The spendable balance per bucket of the account the edge read (none read: no balances)."""
    if account is None:
        return {}
    return {name: bucket.balance for name, bucket in account.buckets.items()}


def party_of(documents: api.RequestDocuments, msisdn: str, profile: OperatorProfile) -> Party:
    """A subscriber as a transfer party, from their record as read (the caller's is read with every request)."""
    return Party.from_documents(msisdn, documents.get(store.SUBSCRIBERS, msisdn), profile.default_language)


def facts(
    documents: api.RequestDocuments,
    sender: str,
    recipient: str | None,
    account: Account | None,
    profile: OperatorProfile,
) -> Facts:
    """The Facts from the documents one lookup returned."""

    def doc(collection: str, msisdn: str | None) -> dict | None:
        return documents.get(collection, msisdn) if msisdn else None

    return Facts(
        sender=party_of(documents, sender, profile),
        recipient=party_of(documents, recipient, profile) if recipient else None,
        balances=spendable(account),
        sender_history=History.from_document(doc(HISTORY, sender)),
        recipient_history=History.from_document(doc(HISTORY, recipient)),
    )


# --- the desk: one operator's policies and how their answers read ----------------------------


@dataclass(frozen=True)
class Desk:
    """The operator profile and its transfer policies in force, loaded once per process."""

    profile: OperatorProfile
    policies: PolicySet

    def policy_for(self, sender: Party, recipient: Party | None = None) -> TransferPolicy | None:
        """The sender's policy; with a recipient, the one for its network (M1 runs a local and an international one)."""
        if recipient is None:
            return self.policies.for_sender(sender)
        return self.policies.for_transfer(sender, recipient)

    def decide(self, known: Facts, amount: int, now: datetime) -> Quote | Refusal:
        """The same decision the transfers service makes, on what the edge read."""
        policy = self.policy_for(known.sender, known.recipient)
        if policy is None:
            return rules.NO_POLICY
        return rules.decide(
            policy,
            sender=known.sender,
            recipient=known.counterpart,
            amount=amount,
            balances=known.balances,
            sender_history=known.sender_history,
            recipient_history=known.recipient_history,
            now=now,
        )

    def reason(self, refusal: Refusal, party: Party) -> str:
        """The refusal's reason in the party's words (texts `transfer.refused.<code>`)."""
        return explain.reason(
            refusal,
            currency=self.profile.currency,
            language=self.language(party),
            zone=localtime.zone_for(party.msisdn, self.profile.timezone),
            hotline=self.profile.short_codes.hotline,
        )

    def title(self, policy: TransferPolicy | None, language: str) -> str:
        """The product's name in `language`, else the service's generic name in that language."""
        named = policy.title_in(language) if policy is not None else None
        return named or Text("edge.service.transfer_menu").render(language)

    def language(self, party: Party) -> str:
        return self.profile.language_for(party.language)

    def money(self, minor: int) -> str:
        return self.profile.currency.format(minor)

    def example_amount(self) -> int:
        """An amount (whole major units) the policies accept: the smallest fixed choice, else 1 000."""
        choices = next((p.amount_choices for p in self.policies if p.amount_choices), ())
        whole = 10**self.profile.currency.minor_unit
        return (min(choices) if choices else 1000 * whole) // whole

    def example_order(self, code: str | None = None) -> str:
        """A transfer as subscribers type it, with the operator's own number format: `*112*<number>*<amount>#`
        on a USSD code, `<number> <amount>` in an SMS (code None)."""
        number, amount = self.profile.example_number(), self.example_amount()
        return f"{code.rstrip('#')}*{number}*{amount}#" if code else f"{number} {amount}"

    def syntax(self, key: str, code: str, language: str) -> str:
        """How to dial `code` with a number and an amount, with an example (texts `<key>`)."""
        return Text(key, {"prefix": code.rstrip("#"), "example": self.example_order(code)}).render(language)

    def dial_usage(self, code: str) -> Text:
        """`*112*number*amount#`: how a code taking a number and an amount is dialled (the USSD help)."""
        return Text("edge.help.ussd.number_amount", {"prefix": code.rstrip("#")})


def transfer_requested(order: Order, sender: str, request_id: str, channel: str, now: datetime) -> Publication:
    """The event an accepted request publishes; the same gateway request always gives the same event id."""
    payload = TransferRequested(
        request_id=request_id,
        channel=channel,
        sender=sender,
        recipient=order.party,
        amount=order.amount,
        requested_at=now,
    )
    return Publication("transfer.requested", payload, derive_event_id(request_id, "transfer.requested"))


def processing_text(quote: Quote, recipient: str, desk: Desk) -> Text:
    """`Your transfer of 2 500 so'm to +998… is being processed…`: the transaction may still refuse it."""
    params = {"amount": desk.money(quote.amount), "recipient": recipient}
    if quote.fee:
        return Text("edge.transfer.processing", {**params, "fee": desk.money(quote.fee)})
    return Text("edge.transfer.processing_free", params)


def refused_text(refusal: Refusal, party: Party, desk: Desk) -> Text:
    return Text("edge.transfer.refused", {"reason": desk.reason(refusal, party)})


def answer_order(
    desk: Desk, known: Facts, order: Order, *, request_id: str, channel: str, now: datetime
) -> tuple[Text, tuple[Publication, ...]]:
    """Being processed (and the event to publish) or refused with the reason, in the sender's language.

    A refusal is final (nothing is published); an acceptance is not: transfers-execute decides
    again on fresh state, and a burst to one recipient may have spent their limit meanwhile.
    """
    outcome = desk.decide(known, order.amount, now)
    if isinstance(outcome, Refusal):
        return refused_text(outcome, known.sender, desk), ()
    return (
        processing_text(outcome, order.party, desk),
        (transfer_requested(order, known.sender.msisdn, request_id, channel, now),),
    )


def answer_top_up_ask(
    desk: Desk, known: Facts, order: Order, *, request_id: str, now: datetime
) -> tuple[Text, tuple[Publication, ...]]:
    """`*116*`: the request is being processed (the service checks the fee again), or why not."""
    policy = desk.policy_for(known.sender)
    outcome = (
        rules.NO_POLICY
        if policy is None
        else rules.decide_top_up_ask(
            policy, requester=known.sender, target=known.counterpart, amount=order.amount, balances=known.balances
        )
    )
    if isinstance(outcome, Refusal):
        return Text("edge.topup_ask.refused", {"reason": desk.reason(outcome, known.sender)}), ()
    payload = TopUpAsked(
        request_id=request_id,
        channel="ussd",
        requester=known.sender.msisdn,
        target=order.party,
        amount=order.amount,
        requested_at=now,
    )
    params = {"amount": desk.money(order.amount), "target": order.party}
    text = (
        Text("edge.topup_ask.processing", {**params, "fee": desk.money(outcome.fee)})
        if outcome.fee
        else Text("edge.topup_ask.processing_free", params)
    )
    return text, (Publication("transfer.topup-asked", payload, derive_event_id(request_id, "transfer.topup-asked")),)


def answer_bar(desk: Desk, sender: Party, *, request_id: str, now: datetime) -> tuple[Text, tuple[Publication, ...]]:
    """`*111*0151#`: bar the caller's outgoing transfers and tell them how the bar is lifted."""
    hotline = {"hotline": desk.profile.short_codes.hotline}
    policy = desk.policy_for(sender)
    if policy is None or not policy.bar.subscriber_can_bar:
        return refused_text(Refusal("service_not_offered", {}), sender, desk), ()
    if sender.transfers_barred:
        return Text("edge.bar.already", hotline), ()
    payload = TransferBarChanged(
        request_id=request_id, msisdn=sender.msisdn, barred=True, channel="ussd", requested_at=now
    )
    return (
        Text("edge.bar.done", hotline),
        (Publication("transfer.bar-changed", payload, derive_event_id(request_id, "transfer.bar-changed")),),
    )


# --- history and limits (menu screen and SMS keyword) ----------------------------------------


def recent_text(history: History, party: Party, desk: Desk) -> Text:
    """The last transfers sent and received, newest first, in the party's time zone."""
    language = desk.language(party)
    zone = localtime.zone_for(party.msisdn, desk.profile.timezone)
    moves = sorted(
        [(m, "edge.history.sent") for m in history.sent] + [(m, "edge.history.received") for m in history.received],
        key=lambda item: item[0].at,
        reverse=True,
    )[:RECENT_SHOWN]
    if not moves:
        return Text("edge.history.none", {"days": execution.HISTORY_DAYS})
    lines = [
        Text(key, {"at": localtime.moment(move.at, zone, language), "amount": desk.money(move.amount)}).render(language)
        for move, key in moves
    ]
    return Text("edge.history.report", {"lines": "\n".join(lines)})


def _window(limit: rules.LimitLeft, language: str) -> str:
    if limit.period is not None:
        return Text(f"edge.limit.window.{limit.period}").render(language)
    return Text("edge.limit.window.rolling", {"days": limit.rolling_days}).render(language)


def limit_lines(limit: rules.LimitLeft, desk: Desk, language: str) -> list[str]:
    """One line per cap of a limit: what is left of it in its window."""
    side = "send" if limit.scope == "sender" else "receive"
    window = _window(limit, language)
    lines = []
    if limit.max_amount is not None and limit.amount_left is not None:  # both set, or neither
        lines.append(
            Text(
                f"edge.limit.{side}_amount",
                {"window": window, "left": desk.money(limit.amount_left), "limit": desk.money(limit.max_amount)},
            ).render(language)
        )
    if limit.max_count is not None:
        lines.append(
            Text(
                f"edge.limit.{side}_count", {"window": window, "left": limit.count_left, "limit": limit.max_count}
            ).render(language)
        )
    return lines


def limits_text(known: Facts, desk: Desk, now: datetime) -> Text:
    """What is left of each limit of the subscriber's policy, for sending and for receiving."""
    policy = desk.policy_for(known.sender)
    if policy is None:
        return refused_text(rules.NO_POLICY, known.sender, desk)
    language = desk.language(known.sender)
    left = rules.limits_left(policy, known.sender_history, now, scope="sender") + rules.limits_left(
        policy, known.sender_history, now, scope="recipient"
    )
    lines = [line for limit in left for line in limit_lines(limit, desk, language)]
    title = desk.title(policy, language)
    if not lines:
        return Text("edge.limit.none", {"policy": title})
    return Text("edge.limit.report", {"policy": title, "lines": "\n".join(lines)})


def candidates(inputs: Iterable[str], profile: OperatorProfile) -> list[str]:
    """Every distinct number among the inputs, in order (the menu reads them all in its one round trip)."""
    found = []
    for raw in inputs:
        try:
            number = parse_recipient(raw, profile)
        except BadOrder:
            continue
        if number not in found:
            found.append(number)
    return found


# --- the services: USSD codes and SMS commands ---------------------------------------------


def _ussd_facts(desk: Desk, request: api.Request[api.UssdRequest], other: str | None) -> Facts:
    return facts(request.documents, request.caller.msisdn, other, request.account, desk.profile)


def _typed_order(request: api.Request[api.UssdRequest], desk: Desk, syntax_key: str) -> Order | api.Reply:
    """The order the subscriber dialled, or the screen telling them the right syntax."""
    language = request.caller.language
    try:
        order = parse_order(request.input.inputs, desk.profile)
    except BadOrder as bad:
        key = "edge.transfer.no_decimals" if bad.reason == "decimals" else syntax_key
        return api.Reply.end(desk.syntax(key, request.input.service_code, language))
    if not request.input.session_id:
        return api.Reply.end(Text("edge.ussd.malformed").render(language))
    return order


def _order_reads(request: api.UssdRequest, profile: OperatorProfile) -> list[tuple[str, str]]:
    """Both histories and the other party's record, when the inputs name a number."""
    try:
        other = parse_recipient(request.inputs[0], profile) if request.inputs else None
    except BadOrder:
        other = None
    return party_reads(request.msisdn, other)


def ussd_services(desk: Desk) -> list[api.UssdService]:
    """`*112*<number>*<amount>#`, `*116*<number>*<amount>#` and `*111*0151#`, on the profile's codes."""
    codes = desk.profile.short_codes

    def transfer(request: api.Request[api.UssdRequest]) -> api.Reply:
        order = _typed_order(request, desk, "edge.transfer.syntax")
        if isinstance(order, api.Reply):
            return order
        text, publish = answer_order(
            desk,
            _ussd_facts(desk, request, order.party),
            order,
            request_id=request.input.request_id,
            channel="ussd",
            now=request.now,
        )
        return api.Reply.end(text.render(request.caller.language), publish)

    def top_up_ask(request: api.Request[api.UssdRequest]) -> api.Reply:
        order = _typed_order(request, desk, "edge.topup_ask.syntax")
        if isinstance(order, api.Reply):
            return order
        text, publish = answer_top_up_ask(
            desk,
            _ussd_facts(desk, request, order.party),
            order,
            request_id=request.input.request_id,
            now=request.now,
        )
        return api.Reply.end(text.render(request.caller.language), publish)

    def bar(request: api.Request[api.UssdRequest]) -> api.Reply:
        if not request.input.session_id:
            return api.Reply.end(Text("edge.ussd.malformed").render(request.caller.language))
        sender = party_of(request.documents, request.caller.msisdn, desk.profile)
        now = request.now
        text, publish = answer_bar(desk, sender, request_id=request.input.request_id, now=now)
        return api.Reply.end(text.render(request.caller.language), publish)

    return [
        api.UssdService(
            code=codes.transfer,
            name="edge.service.transfer",
            handler=transfer,
            needs_account=True,
            reads=_order_reads,
            usage=desk.dial_usage(codes.transfer),
            example=desk.example_order(codes.transfer),
        ),
        api.UssdService(
            code=codes.topup_request,
            name="edge.service.topup_ask",
            handler=top_up_ask,
            needs_account=True,
            reads=_order_reads,
            usage=desk.dial_usage(codes.topup_request),
        ),
        api.UssdService(code=codes.transfer_bar, name="edge.service.transfer_bar", handler=bar),
    ]


# `<recipient> <amount>`: a number written with spaces or dashes, then an amount (decimals are
# caught here so the reply can say amounts are whole).
_TRANSFER = re.compile(r"^(?P<recipient>\+?\d[\d\s\-]{3,22}\d)\s+(?P<amount>\d{1,12}(?:[.,]\d*)?)$")


def transfer_parts(body: str) -> tuple[str, str] | None:
    """`78XXXXXXXX 3000` -> ("78XXXXXXXX", "3000"); None when the message is not a number and an amount."""
    match = _TRANSFER.match(api.fold(body))
    return (match["recipient"], match["amount"]) if match else None


def _sms_order(inbound: api.InboundSms, profile: OperatorProfile) -> Order:
    parts = transfer_parts(inbound.body)
    if parts is None:
        raise BadOrder("syntax")
    return parse_order(parts, profile)


def _sms_order_reads(inbound: api.InboundSms, profile: OperatorProfile) -> list[tuple[str, str]]:
    try:
        other = _sms_order(inbound, profile).party
    except BadOrder:
        other = None
    return party_reads(inbound.sender, other)


def _sender_reads(inbound: api.InboundSms, profile: OperatorProfile) -> list[tuple[str, str]]:
    return party_reads(inbound.sender, None)


# The keywords of the transfers' SMS commands, per platform language.
HISTORY_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("HISTORY", "HIST"),
    "ru": ("ИСТОРИЯ",),
    "uz": ("TARIX", "ТАРИХ"),  # Latin and Cyrillic
    "ky": ("ТАРЫХ",),
    "zh": ("记录", "转账记录", "記錄"),
}
LIMITS_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("LIMITS", "LIMIT"),
    "ru": ("ЛИМИТ", "ЛИМИТЫ"),
    "uz": ("LIMITLAR", "ЛИМИТЛАР"),
    "ky": ("ЛИМИТ", "ЛИМИТЫ"),
    "zh": ("限额", "額度", "限額"),
}
SMS_PRIORITY = 20  # after the balance in the help's list


@dataclass(frozen=True)
class SmsEntries:
    """What transfers answer by SMS to the short code: the typed order, and their keywords."""

    order: api.SmsPattern  # `<number> <amount>`
    keywords: tuple[api.SmsKeywords, ...]  # HISTORY and LIMITS


def sms_entries(desk: Desk) -> SmsEntries:
    """SMS to the short code: `<number> <amount>`, and the HISTORY and LIMITS keywords."""

    def known(request: api.Request[api.SmsMessage], other: str | None = None) -> Facts:
        return facts(request.documents, request.caller.msisdn, other, request.account, desk.profile)

    def transfer(request: api.Request[api.SmsMessage]) -> api.SmsAnswer:
        try:
            order = _sms_order(request.input.inbound, desk.profile)
        except BadOrder as bad:
            key = "edge.transfer.sms_no_decimals" if bad.reason == "decimals" else "edge.transfer.sms_syntax"
            return api.SmsAnswer(Text(key, {"short_code": request.input.short_code, "example": desk.example_order()}))
        text, publish = answer_order(
            desk,
            known(request, order.party),
            order,
            request_id=request.input.inbound.request_id,
            channel="sms",
            now=request.now,
        )
        # Published: the service's SMS (made or refused, with the reference) is the one answer;
        # a "being processed" SMS would only come just before it.
        return api.SmsAnswer(None if publish else text, publish)

    def history(request: api.Request[api.SmsMessage]) -> Text:
        sender = known(request)
        return recent_text(sender.sender_history, sender.sender, desk)

    def limits(request: api.Request[api.SmsMessage]) -> Text:
        return limits_text(known(request), desk, request.now)

    return SmsEntries(
        order=api.SmsPattern(
            "transfer",
            lambda text: transfer_parts(text) is not None,
            api.SmsService(
                transfer,
                needs_account=True,
                reads=_sms_order_reads,
                usage=Text("edge.help.sms.transfer", {"example": desk.example_order()}),
            ),
            priority=SMS_PRIORITY,
        ),
        keywords=(
            api.SmsKeywords(
                "history",
                HISTORY_WORDS,
                api.SmsService(history, reads=_sender_reads, usage=Text("edge.help.sms.history")),
                priority=SMS_PRIORITY,
            ),
            api.SmsKeywords(
                "limits",
                LIMITS_WORDS,
                api.SmsService(limits, reads=_sender_reads, usage=Text("edge.help.sms.limits")),
                priority=SMS_PRIORITY,
            ),
        ),
    )
