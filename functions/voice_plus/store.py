"""Saving campaigns: checked whole before anything is written, each change with its audit entry in ONE transaction.

A campaign is refused, with every reason naming its field, when:
- the model refuses it (documents.Campaign: prompts per channel, keys, schedule, segment, cap);
- its add-on text cannot fit where it rides (fit.problems: the USSD screen, the SMS segment budget);
- its offer is not in the catalogue in force with the right kind (product -> a subscription,
  bundle -> a pack, plan -> a tariff plan: subscriptions.public.terms);
- an SMS keyword is one the short code answers itself (YES/NO words, HELP) or is taken by another
  live or paused SMS campaign;
- it speaks a language the operator does not serve;
- its cap's period is longer than the plays are kept (config.caps_horizon_days);
- its status moves other than draft -> live, live <-> paused, any -> stopped; a stopped campaign is final.

Every save writes campaigns/{id} and campaigns/{id}/audit/{n} together: who, the action, when, and
`changes` {field: {before, after}} (Firestore keeps no array inside an array, so not [before, after]).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore
from pydantic import ValidationError

from functions.subscriptions import public as subscriptions
from functions.voice_plus import fit
from functions.voice_plus.config import VoicePlusConfig
from functions.voice_plus.documents import AUDIT, BUDGETS, CAMPAIGNS, Campaign, Status, campaign_document
from shared import runtime
from shared.consent import NO_WORDS, YES_WORDS
from shared.operator import OperatorProfile

# The kind of catalogue entry each offer kind must name (subscriptions.public.Terms.kind).
CATALOGUE_KIND = {"product": "subscription", "bundle": "pack", "plan": "plan"}
# Words the offers' short code answers itself: an SMS keyword equal to one would never reach its campaign.
HELP_WORDS = frozenset({"HELP", "INFO", "YORDAM", "ПОМОЩЬ", "СПРАВКА"})
RESERVED_WORDS = frozenset(word.upper() for word in (*YES_WORDS, *NO_WORDS)) | HELP_WORDS
# The moves a status may make; stopped is final.
MOVES: dict[Status, frozenset[Status]] = {
    "draft": frozenset({"draft", "live", "stopped"}),
    "live": frozenset({"live", "paused", "stopped"}),
    "paused": frozenset({"paused", "live", "stopped"}),
    "stopped": frozenset(),
}
KEYWORD_HOLDERS: tuple[Status, ...] = ("live", "paused")  # campaigns whose keyword a new one may not take
AUDIT_DIGITS = 6  # audit/{n} zero-padded, so the entries list in order


@dataclass
class Refused(Exception):
    """A campaign (or a change to it) refused; every reason names the field and why."""

    campaign_id: str
    reasons: list[str]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} refused:\n" + "\n".join(f"  {reason}" for reason in self.reasons)


def parsed(raw: Mapping[str, Any]) -> Campaign:
    """The campaign a YAML entry or a stored document describes; Refused naming each field the model refuses."""
    try:
        return Campaign.model_validate(raw)
    except ValidationError as error:
        reasons = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'campaign'}: {problem['msg']}"
            for problem in error.errors()
        ]
        raise Refused(str(raw.get("id", "?")), reasons) from None


def offer_problems(campaign: Campaign) -> list[str]:
    """Why the offer cannot be made: its product missing from the catalogue in force, or of another kind."""
    offer = campaign.offer
    terms = subscriptions.terms(offer.product)
    wanted = CATALOGUE_KIND[offer.kind]
    if terms is None:
        return [f"offer.product: {offer.product} is not in the catalogue in force"]
    if terms.kind != wanted:
        return [f"offer.product: {offer.product} is a {terms.kind}, but offer.kind {offer.kind} needs a {wanted}"]
    return []


def language_problems(campaign: Campaign, profile: OperatorProfile) -> list[str]:
    """The languages the campaign speaks that the operator does not serve, per field."""
    served = set(profile.languages)
    found = []
    for field in ("voice", "voice_info", "text", "info"):
        extra = sorted(set(getattr(campaign, field)) - served)
        if extra:
            found.append(f"{field}: languages {extra} are not the operator's ({', '.join(profile.languages)})")
    return found


def keyword_problems(campaign: Campaign, others: list[Campaign]) -> list[str]:
    """An SMS keyword the short code answers itself, or one another live or paused SMS campaign uses."""
    if campaign.keyword is None:
        return []
    if campaign.keyword in RESERVED_WORDS:
        return [f"keyword: {campaign.keyword} is a word the short code answers itself (YES, NO, HELP)"]
    holders = sorted(
        other.id
        for other in others
        if other.id != campaign.id and other.keyword == campaign.keyword and other.status in KEYWORD_HOLDERS
    )
    return [f"keyword: {campaign.keyword} is used by campaign {', '.join(holders)}"] if holders else []


def move_problems(before: Campaign | None, after: Campaign) -> list[str]:
    """A status move that is not allowed (draft -> live, live <-> paused, any -> stopped); stopped is final."""
    if before is None:
        return [] if after.status in ("draft", "live", "paused") else ["status: a new campaign cannot start stopped"]
    if before.status == "stopped":
        return ["status: the campaign is stopped, which is final; create a new one"]
    if after.status not in MOVES[before.status]:
        return [f"status: {before.status} cannot move to {after.status}"]
    if after.channel != before.channel:
        return [f"channel: a campaign stays on its channel ({before.channel}); create a new one"]
    return []


def problems(
    campaign: Campaign,
    before: Campaign | None,
    others: list[Campaign],
    config: VoicePlusConfig,
    profile: OperatorProfile,
) -> list[str]:
    """Every reason the campaign cannot be saved over `before`; empty when it can."""
    found = move_problems(before, campaign)
    found += language_problems(campaign, profile)
    found += offer_problems(campaign)
    found += fit.problems(campaign, config)
    found += keyword_problems(campaign, others)
    if campaign.cap.period_hours > config.caps_horizon_days * 24:
        found.append(
            f"cap.period_hours: {campaign.cap.period_hours} h is longer than plays are kept "
            f"({config.caps_horizon_days} days, caps_horizon_days)"
        )
    return found


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The stored fields that differ: {field: {before, after}}."""
    old = before or {}
    return {
        field: {"before": old.get(field), "after": value}
        for field, value in sorted(after.items())
        if old.get(field) != value
    }


def _stored_campaign(snapshot: firestore.DocumentSnapshot) -> Campaign | None:
    return Campaign.model_validate(snapshot.to_dict()) if snapshot.exists else None


Change = Callable[[Campaign | None], Campaign]  # the campaign as stored (None: new) -> as it is to be saved


def save(
    db: firestore.Client,
    campaign_id: str,
    change: Change,
    *,
    by: str,
    action: str,
    now: datetime,
    config: VoicePlusConfig,
    profile: OperatorProfile,
) -> tuple[Campaign, dict[str, dict[str, Any]]]:
    """Apply `change` to the stored campaign with its audit entry, in one transaction: (saved, changes made).

    Refused, writing nothing, when the result cannot be saved; an unchanged campaign writes nothing.
    """
    ref = db.collection(CAMPAIGNS).document(campaign_id)
    sms_campaigns = db.collection(CAMPAIGNS).where(filter=firestore.FieldFilter("channel", "==", "sms"))

    @firestore.transactional
    def write(transaction: firestore.Transaction) -> tuple[Campaign, dict[str, dict[str, Any]]]:
        # Reads first (the campaign, its audit so far, the SMS keywords in use), then the writes.
        snapshot = ref.get(transaction=transaction)
        audit = list(ref.collection(AUDIT).stream(transaction=transaction))
        others = [Campaign.model_validate(other.to_dict()) for other in sms_campaigns.stream(transaction=transaction)]
        before = _stored_campaign(snapshot)
        campaign = change(before)
        if campaign.id != campaign_id:
            raise Refused(campaign_id, [f"id: {campaign.id} is another campaign"])
        reasons = problems(campaign, before, others, config, profile)
        if reasons:
            raise Refused(campaign_id, reasons)
        document = campaign_document(campaign)
        changed = changes(snapshot.to_dict(), document)
        if changed:
            transaction.set(ref, document)
            # create, not set: two saves numbering the same entry cannot both commit.
            entry = ref.collection(AUDIT).document(f"{len(audit) + 1:0{AUDIT_DIGITS}d}")
            transaction.create(entry, {"by": by, "action": action, "at": now, "changes": changed})
        return campaign, changed

    return runtime.transact(db, write, label="campaign-save")  # care's saves contending on one campaign retried


def imported(raw: Mapping[str, Any]) -> Change:
    """A YAML entry as a change: checked by the model; an entry naming no status keeps the stored one."""

    def change(before: Campaign | None) -> Campaign:
        if before is not None and "status" not in raw:
            return parsed({**raw, "status": before.status})
        return parsed(raw)

    return change


def moved_to(campaign_id: str, status: Status) -> Change:
    """Start, pause or stop: the stored campaign with another status."""

    def change(before: Campaign | None) -> Campaign:
        if before is None:
            raise Refused(campaign_id, ["id: no such campaign"])
        return before.model_copy(update={"status": status})

    return change


ACTIONS: dict[Status, str] = {"live": "start", "paused": "pause", "stopped": "stop", "draft": "draft"}


def read(db: firestore.Client, campaign_id: str) -> Campaign | None:
    """The stored campaign, or None."""
    return _stored_campaign(db.collection(CAMPAIGNS).document(campaign_id).get())


def every(db: firestore.Client) -> list[Campaign]:
    """Every stored campaign, by id."""
    return sorted((Campaign.model_validate(s.to_dict()) for s in db.collection(CAMPAIGNS).stream()), key=lambda c: c.id)


def budgets_used(db: firestore.Client, campaign_ids: list[str]) -> dict[str, int]:
    """Activations counted against each campaign's budget (campaign_budgets/{id} `used`; none yet: 0)."""
    refs = [db.collection(BUDGETS).document(campaign_id) for campaign_id in campaign_ids]
    found = {snapshot.id: int((snapshot.to_dict() or {}).get("used", 0)) for snapshot in db.get_all(refs)}
    return {campaign_id: found.get(campaign_id, 0) for campaign_id in campaign_ids}


def audit_of(db: firestore.Client, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's audit entries, oldest first."""
    entries = db.collection(CAMPAIGNS).document(campaign_id).collection(AUDIT).stream()
    return [entry.to_dict() for entry in sorted(entries, key=lambda entry: entry.id)]
