"""Starting subscriptions and packs (subscription.requested); changing plan (subscription.plan-change-requested).

Each runs in ONE Firestore transaction (shared/runtime.py): every read first (the subscriber,
their book, the question waiting, their account), then the pure decisions (signup.py,
packs.py, plans.py), then the writes together: the consent record, the ledger debit and the
pack's allowances, the book, the request's record. The receipt SMS and subscription.started
leave through the outbox after the commit, so a redelivery changes and charges nothing twice;
the item's id comes from the request, so the same request published twice starts one item.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from functions.subscriptions import plans, pricing, signup, wording
from functions.subscriptions.config import Pack
from functions.subscriptions.documents import Book
from functions.subscriptions.refusal import Refusal
from functions.subscriptions.subscriber import Session, previous_owner, session
from shared import consent, ledger, runtime, texts
from shared.events import PlanChangeRequested, SubscriptionRequestDecided, SubscriptionRequested

logger = logging.getLogger("vas.subscriptions.subscribe")

REQUESTS = "subscription_requests"  # {request_id}: every request's outcome, refusals included (care reads it)

Request = SubscriptionRequested | PlanChangeRequested


def _open(ctx: runtime.Context[None], request: Request) -> Session | None:
    """The request's session; None when the request was the number's old owner's (answered, nothing changed)."""
    here = session(ctx, request.msisdn, f"subscriptions:{request.request_id}")
    refusal = previous_owner(here.subscriber, request.requested_at)
    if refusal is None:
        return here
    here.refuse(refusal, {})
    _record(ctx, request, "refused:previous_owner")
    return None


# --- subscribe --------------------------------------------------------------------------------


@runtime.consumer("subscriptions-request")
def on_requested(ctx: runtime.Context[None], request: SubscriptionRequested) -> None:
    """Ask before a paid start; once confirmed, charge, grant and start in this transaction, with a receipt."""
    here = _open(ctx, request)
    if here is None:
        return
    product = here.catalogue.product(request.product)
    if product is None:
        refusal = Refusal("unknown_product", "subscriptions.refused.unknown_product", {"product": request.product})
        _refused(here, request, refusal)
        return
    if signup.item_id(product.id, request.request_id) in here.book.items:
        logger.info("subscription request already applied", extra={"request_id": request.request_id})
        return
    waiting = _waiting(here)
    account = here.open_account()
    here.start_writing()
    price = pricing.price_at(product, signup.local_day(ctx.now, here.profile.timezone))  # as decide_start charges

    def start(consent_id: str | None) -> signup.Start | Refusal:
        return signup.decide_start(
            product,
            book=here.book,
            request_id=request.request_id,
            channel=request.channel,
            consent_id=consent_id,
            line_active=here.subscriber.active,
            balances=_balances(account, product),
            currency=here.profile.currency.code,
            zone=here.profile.timezone,
            now=ctx.now,
        )

    plain = request.consent is None and request.consent_reply is None
    checked = start(None) if plain else None
    if isinstance(checked, Refusal):  # refused now: no question is asked that a YES could not change
        _refused(here, request, checked, product=product)
        return
    question = _question(here, product, price=price)
    step = signup.consent_step(
        request,
        product,
        price=price,
        currency=here.profile.currency.code,
        waiting=waiting,
        language=here.language,
        shown=texts.render(question.template, here.language, **question.params),
    )
    _keep_consents(ctx, step, here.book)
    outcome = start(step.consent_id) if step.start else None
    if isinstance(outcome, signup.Start):
        _start(here, request, outcome, product, account)
        return
    here.save_book()
    named = {"name": product.name_in(here.language), "keyword": product.keyword}
    if isinstance(outcome, Refusal):
        here.refuse(outcome, named)
    elif step.pending is not None:
        here.tell(question.template, question.params, purpose="ask")
    elif step.answer is not None:
        priced = {**named, "price": price, "period": wording.period(product, here.language)}
        here.tell(step.answer, priced, purpose="answer")
    result = f"refused:{outcome.reason}" if isinstance(outcome, Refusal) else _unstarted(step)
    _record(ctx, request, result, consent_id=step.records[-1].id if step.records else None)
    logger.info("subscription request %s", result, extra={"msisdn": request.msisdn, "product": product.id})


def _waiting(here: Session) -> consent.Consent | None:
    """The question the book says is waiting for this subscriber's SMS reply (asked of them, not an old owner)."""
    pending, owner_since = here.book.pending, here.subscriber.owner_since
    if pending is None or (owner_since is not None and pending.asked_at < owner_since):
        return None
    ref = here.ctx.doc(consent.COLLECTION, pending.consent_id)
    stored = here.ctx.read(ref).get(ref)
    return consent.Consent.model_validate(stored) if stored else None


def _balances(account: ledger.Book, product: signup.Product) -> dict[str, int]:
    """What the decision reads of the account: the price's bucket and every allowance bucket."""
    buckets = {product.bucket, *(allowance.bucket for allowance in getattr(product, "allowances", []))}
    return {bucket: account.account.balance(bucket) for bucket in buckets}


def _question(here: Session, product: signup.Product, *, price: int) -> signup.Question:
    """The SMS question naming the price and period (and the trial, or what a pack grants) before any charge."""
    language = here.language
    params: dict[str, Any] = {
        "name": product.name_in(language),
        "price": here.profile.currency.format(price),
        "period": wording.period(product, language),
        "yes": consent.YES_WORD[language],
        "no": consent.NO_WORD[language],
        "minutes": int(consent.SMS_REPLY_WINDOW.total_seconds() // 60),
    }
    if isinstance(product, Pack):
        granted = [(allowance.bucket, allowance.amount) for allowance in product.allowances]
        granting = {"allowances": wording.allowances(granted, language, here.profile.currency)}
        return signup.Question("subscriptions.ask_pack", {**params, **granting, "days": product.validity_days})
    if signup.gets_trial(product, here.book):
        return signup.Question("subscriptions.ask_trial", {**params, "days": product.trial_days})
    return signup.Question("subscriptions.ask", params)


def _keep_consents(ctx: runtime.Context[None], step: signup.ConsentStep, book: Book) -> None:
    """Write the step's consent records and keep the book's waiting question in step with them."""
    successor = signup.offer_of(step.pending.product) if step.pending else None
    for record in step.records:
        consent.write(ctx, record)
        if record.status == "replaced" and record.offer != successor:
            # consent.write keeps a replaced question's pointer for its successor; another product's has none.
            ctx.txn.delete(ctx.doc(consent.PENDING, consent.pending_key(record.offer, record.msisdn)))
    if step.pending is not None:
        book.pending = step.pending
    elif step.clear_pending:
        book.pending = None


def _unstarted(step: signup.ConsentStep) -> str:
    """The request's outcome when nothing started: asked, declined, expired, or the answer given."""
    if step.pending is not None:
        return "asked"
    if step.records:
        return step.records[-1].status
    return (step.answer or "nothing").rsplit(".", 1)[-1]


def _start(
    here: Session, request: SubscriptionRequested, start: signup.Start, product: signup.Product, account: ledger.Book
) -> None:
    """Apply a start: the charge, the allowances (and what carries over), the book, the receipt and the fact."""
    item = start.item
    if start.charge:
        account.debit(item.bucket, start.charge, reason=f"subscription:{product.id}", reference=item.id)
    for bucket, amount in start.carried:
        # Moved, not added: what the live identical packs hold leaves their lots and expires with the new one.
        account.debit(bucket, amount, reason=f"carry-over:{product.id}", reference=item.id)
        account.credit(bucket, amount, expires_at=item.expires_at, reason=f"carry-over:{product.id}", reference=item.id)
    for bucket, amount in start.grants:
        account.credit(bucket, amount, expires_at=item.expires_at, reason=f"pack:{product.id}", reference=item.id)
    if account.entries:
        ledger.save(here.ctx, account)
    signup.started(here.book, start, now=here.ctx.now)
    here.save_book()
    template, params = _receipt(here, start, product, account)
    here.tell(template, params, purpose="receipt")
    here.fact(
        "subscription.started", item.id, product.id, item.status, start.charge, next_charge_at=item.next_charge_at
    )
    _record(here.ctx, request, "started", consent_id=item.consent_id, item_id=item.id, charged=start.charge)
    logger.info(
        "subscription started",
        extra={"msisdn": request.msisdn, "product": product.id, "item": item.id, "charged": start.charge},
    )


def _receipt(
    here: Session, start: signup.Start, product: signup.Product, account: ledger.Book
) -> tuple[str, dict[str, Any]]:
    """The receipt after the charge (or the trial's start): what was charged, the balance left, what comes next."""
    item, language, zone = start.item, here.language, here.subscriber.zone
    params: dict[str, Any] = {
        "name": product.name_in(language),
        "price": start.charge,
        "balance": account.account.balance(item.bucket),
        "period": wording.period(product, language),
    }
    if isinstance(product, Pack):
        assert item.expires_at is not None  # a pack always expires
        params |= {
            "allowances": wording.allowances(start.grants, language, here.profile.currency),
            "carried": wording.allowances(start.carried, language, here.profile.currency),
            "expires": wording.day(item.expires_at, zone, language),
        }
        return ("subscriptions.pack_carried" if start.carried else "subscriptions.pack_bought"), params
    assert item.next_charge_at is not None  # a subscription always has its next charge
    params["next"] = wording.day(item.next_charge_at, zone, language)
    if item.status == "trial":
        first_charge = pricing.price_at(product, signup.local_day(item.next_charge_at, here.profile.timezone))
        return "subscriptions.trial_started", {**params, "price": first_charge}
    return "subscriptions.started", params


def _refused(
    here: Session,
    request: SubscriptionRequested,
    refusal: Refusal,
    *,
    product: signup.Product | None = None,
) -> None:
    """Nothing starts: tell the subscriber why and record it (what an old owner left is filed all the same)."""
    here.start_writing()
    here.refuse(refusal, {"name": product.name_in(here.language), "keyword": product.keyword} if product else {})
    _record(here.ctx, request, f"refused:{refusal.reason}")
    logger.info(
        "subscription request refused",
        extra={"msisdn": request.msisdn, "product": request.product, "reason": refusal.reason},
    )


def _record(
    ctx: runtime.Context[None],
    request: Request,
    outcome: str,
    *,
    consent_id: str | None = None,
    item_id: str | None = None,
    charged: int = 0,
) -> None:
    """Keep what became of a request (started, asked, declined, refused:<reason>, …) for care and tests."""
    plan = isinstance(request, PlanChangeRequested)
    wanted = request.plan if isinstance(request, PlanChangeRequested) else request.product
    ctx.txn.set(
        ctx.doc(REQUESTS, record_id(request.request_id)),
        {
            "request_id": request.request_id,
            "msisdn": request.msisdn,
            "product": wanted,
            "kind": "plan" if plan else "product",
            "channel": request.channel,
            "source": request.source,
            "requested_at": request.requested_at,
            "outcome": outcome,
            "consent_id": consent_id,
            "item_id": item_id,
            "charged": charged,
            "event_id": ctx.event.id,
            "at": ctx.now,
        },
    )
    # The asking service (an offer's campaign …) counts what became of its request from this fact.
    ctx.emit(
        "subscription.request-decided",
        SubscriptionRequestDecided(
            request_id=request.request_id,
            msisdn=request.msisdn,
            product=wanted,
            kind="plan" if plan else "product",
            source=request.source,
            channel=request.channel,
            outcome=outcome,
            decided_at=ctx.now,
        ),
        purpose=f"decided/{outcome}",
    )


def record_id(request_id: str) -> str:
    """The request's own id names its record, unless Firestore cannot take it as a document id (a '/', say)."""
    if "/" in request_id or request_id.startswith("__") or request_id in (".", ".."):
        return hashlib.sha256(request_id.encode()).hexdigest()[:32]
    return request_id


# --- tariff plan change (M1's #100#) --------------------------------------------------------


@runtime.consumer("subscriptions-plan-change")
def on_plan_change(ctx: runtime.Context[None], request: PlanChangeRequested) -> None:
    """Change plan when the rule still allows it in this transaction: the fee from main, the book, an SMS."""
    here = _open(ctx, request)
    if here is None:
        return
    account = here.open_account()
    here.start_writing()
    if request.consent is not None:
        consent.write(ctx, request.consent)
        if not request.consent.confirmed:  # "Close" on the confirmation screen: kept, and nothing changes
            _record(ctx, request, request.consent.status, consent_id=request.consent.id)
            return
    decided = _plan_decision(here, request, account)
    if isinstance(decided, Refusal):
        wanted = here.catalogue.plan(request.plan)
        here.refuse(decided, {"plan": wanted.name_in(here.language)} if wanted else {})
        _record(ctx, request, f"refused:{decided.reason}")
        logger.info("plan change refused", extra={"msisdn": request.msisdn, "reason": decided.reason})
        return
    _change_plan(here, request, decided, account)


def _plan_decision(here: Session, request: PlanChangeRequested, account: ledger.Book) -> plans.PlanQuote | Refusal:
    """The rule decided again on what the transaction read; a fee needs the subscriber's yes to that very fee."""
    rule = here.catalogue.plan_change
    if rule is None:
        return Refusal("unknown_plan", "subscriptions.refused.unknown_plan")
    decided = plans.decide_change(
        rule,
        current=here.book.plan or here.subscriber.tariff_plan,
        wanted=here.catalogue.plan(request.plan),
        line_active=here.subscriber.active,
        balance=account.account.balance(rule.bucket),
        changes_so_far=here.book.plan_changes,
    )
    given = request.consent
    if given is not None and not signup.consented_to(
        given, signup.plan_offer_of(request.plan), request.plan, request.source
    ):
        given = None  # a consent to something else confirms no fee of this change
    if isinstance(decided, plans.PlanQuote) and decided.fee and (given is None or given.price != decided.fee):
        return Refusal("fee_not_confirmed", "subscriptions.refused.plan_fee_not_confirmed", {"fee": decided.fee})
    return decided


def _change_plan(here: Session, request: PlanChangeRequested, quote: plans.PlanQuote, account: ledger.Book) -> None:
    """Apply a change: the fee debited (when not free), the book's plan and count, the SMS and the fact."""
    rule = here.catalogue.plan_change
    assert rule is not None  # a quote comes from the catalogue's rule
    change_id = signup.item_id(f"plan-{quote.plan.id}", request.request_id)
    if quote.fee:
        account.debit(rule.bucket, quote.fee, reason=f"plan-change:{quote.plan.id}", reference=change_id)
        ledger.save(here.ctx, account)
    here.book.plan, here.book.plan_changes = quote.plan.id, here.book.plan_changes + 1
    here.save_book()
    params = {
        "plan": quote.plan.name_in(here.language),
        "fee": quote.fee,
        "balance": account.account.balance(rule.bucket),
        "next_fee": plans.change_fee(rule, here.book.plan_changes),
    }
    here.tell("subscriptions.plan_changed" if quote.fee else "subscriptions.plan_changed_free", params, purpose="plan")
    here.fact("subscription.started", change_id, quote.plan.id, "active", quote.fee)
    _record(here.ctx, request, "changed", consent_id=request.consent.id if request.consent else None, charged=quote.fee)
    logger.info("plan changed", extra={"msisdn": request.msisdn, "plan": quote.plan.id, "fee": quote.fee})
