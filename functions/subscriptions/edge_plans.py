"""The tariff plan change code (M1's `#100#`): the plans, the fee (the first change free), confirm.

    root: the plans and the next change's fee ── n: checked now (plans.decide_change) ── 1 Confirm
                                                  └ refused: why, at once                 └ 0 Close

The edge checks the change with the caller's balance and book as it reads them, so a change that
cannot be made is explained before any confirmation; the confirmed one is published as
`subscription.plan-change-requested` with the consent record naming the fee, and the service
checks it again in the transaction that debits the fee and confirms by SMS. A closed session
publishes nothing: no plan changes and nothing is charged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from functions.edge import api
from functions.edge.api import Text
from functions.subscriptions import edge_requests, plans, signup
from functions.subscriptions.config import Catalogue, Plan, PlanChange
from functions.subscriptions.edge_terms import Shop, book_of, book_reads
from functions.subscriptions.plans import PlanQuote
from functions.subscriptions.refusal import Refusal
from shared import consent
from shared.operator import OperatorProfile

ROOT, CONFIRM = "root", "confirm"
CHANGE, REFUSED, CLOSED = "change", "refused", "closed"
CONFIRM_KEY, CLOSE = "1", "0"

# Why a change is refused, as the edge tells it at once (plans.decide_change's reasons).
_REFUSALS = {
    "same_plan": "edge.subscriptions.plans.same_plan",
    "line_not_active": "edge.subscriptions.plans.line_not_active",
    "insufficient_balance": "edge.subscriptions.plans.balance",
}

Quote = Callable[[Plan], PlanQuote | Refusal]


@dataclass(frozen=True)
class Position:
    screen: str = ROOT
    plan: str | None = None
    chosen: str | None = None  # the key that picked the plan
    answer: str | None = None  # the key pressed on the confirm screen
    refusal: Refusal | None = None
    mistake: bool = False
    done: str | None = None


def step(position: Position, typed: str, offered: list[Plan], quote: Quote) -> Position:
    """The position after one input."""
    key = typed.strip()
    if position.screen == CONFIRM:
        return replace(position, answer=key[:20], done=CHANGE if key == CONFIRM_KEY else CLOSED)
    if key == CLOSE:
        return Position(done=CLOSED)
    if not key.isdigit() or not 1 <= int(key) <= len(offered):
        return Position(mistake=True)
    plan = offered[int(key) - 1]
    decided = quote(plan)
    if isinstance(decided, Refusal):
        return Position(plan=plan.id, refusal=decided, done=REFUSED)
    return Position(CONFIRM, plan=plan.id, chosen=key)


@dataclass(frozen=True)
class PlanMenu:
    """The plan change code of one operator's catalogue."""

    profile: OperatorProfile
    catalogue: Catalogue
    rule: PlanChange

    def answer(self, request: api.Request[api.UssdRequest]) -> api.Reply:
        shop = Shop.for_request(request, self.catalogue)
        book = book_of(request)
        balance = request.account.balance(self.rule.bucket) if request.account else 0

        def quote(plan: Plan) -> PlanQuote | Refusal:
            return plans.decide_change(
                self.rule,
                current=book.plan,
                wanted=plan,
                line_active=True,  # the edge answers only active lines (a blocked one is refused before)
                balance=balance,
                changes_so_far=book.plan_changes,
            )

        offered = list(self.catalogue.plans)
        position = api.replay(request.input.inputs, lambda at, typed: step(at, typed, offered, quote), Position())
        if position.done == CLOSED:
            return api.Reply.end(shop.render(Text("edge.subscriptions.plans.closed")))
        if position.done == REFUSED:
            return api.Reply.end(self._refused(shop, position))
        plan = self.catalogue.plan(position.plan or "")
        fee = plans.change_fee(self.rule, book.plan_changes)
        if position.done == CHANGE and plan is not None:
            return self._change(request, shop, plan, fee, position)
        if position.screen == CONFIRM and plan is not None:
            return api.Reply.con(self._confirm_screen(shop, plan, fee))
        mistake = shop.render(Text("edge.menu.invalid_choice")) + "\n" if position.mistake else ""
        return api.Reply.con(mistake + self._root(shop, book.plan, fee))

    def _fee(self, shop: Shop, fee: int) -> str:
        if fee == 0:
            return shop.render(Text("edge.subscriptions.plans.fee_free"))
        return shop.render(Text("edge.subscriptions.plans.fee", {"fee": shop.money(fee)}))

    def _root(self, shop: Shop, current: str | None, fee: int) -> str:
        lines = []
        for plan in self.catalogue.plans:
            key = "edge.subscriptions.plans.current_line" if plan.id == current else "edge.subscriptions.plans.line"
            lines.append(
                shop.render(
                    Text(key, {"name": plan.name_in(shop.language), "price": shop.priced(plan.monthly_fee, "monthly")})
                )
            )
        return shop.render(
            Text("edge.subscriptions.plans.root", {"fee": self._fee(shop, fee), "lines": shop.numbered(lines)})
        )

    def _confirm_screen(self, shop: Shop, plan: Plan, fee: int) -> str:
        """What the subscriber reads before confirming, and what the consent record keeps."""
        return shop.render(
            Text("edge.subscriptions.plans.confirm", {"name": plan.name_in(shop.language), "fee": self._fee(shop, fee)})
        )

    def _refused(self, shop: Shop, position: Position) -> str:
        assert position.refusal is not None and position.plan is not None  # REFUSED is reached with both
        plan = self.catalogue.plan(position.plan)
        params = {
            "name": plan.name_in(shop.language) if plan else position.plan,
            "min_balance": shop.money(self.rule.min_balance),
            "code": self.rule.ussd_code,
        }
        return shop.render(Text(_REFUSALS.get(position.refusal.reason, "edge.subscriptions.plans.refused"), params))

    def _change(
        self, request: api.Request[api.UssdRequest], shop: Shop, plan: Plan, fee: int, position: Position
    ) -> api.Reply:
        msisdn, now, request_id = request.caller.msisdn, request.now, request.input.request_id
        # USSD inputs carry no time of their own: both answers are stamped with this round.
        record = consent.given(
            offer=signup.plan_offer_of(plan.id),
            msisdn=msisdn,
            channel="ussd",
            language=shop.language,
            shown=self._confirm_screen(shop, plan, fee),
            price=fee,
            currency=self.profile.currency.code,  # what the charge is made in (the service checks it)
            period="once",
            request=consent.Answer(text=position.chosen or "", reference=request_id, at=now),
            confirmation=consent.Answer(text=position.answer or "", reference=request_id, at=now),
            accepted=True,
        )
        event = edge_requests.change_plan(request_id, msisdn, plan, now, record)
        return api.Reply.end(shop.render(Text("edge.subscriptions.ussd.accepted")), (event,))


def ussd_service(profile: OperatorProfile, catalogue: Catalogue, rule: PlanChange) -> api.UssdService:
    menu = PlanMenu(profile, catalogue, rule)
    return api.UssdService(
        code=rule.ussd_code,
        name="edge.subscriptions.plans.service",
        handler=menu.answer,
        needs_account=True,
        reads=lambda request, _profile: book_reads(request.msisdn),
    )
