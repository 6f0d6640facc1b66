"""Which campaign a subscriber is offered, now, on one channel: pure, and fast enough to run in the webhook.

The campaigns live on a channel are compiled once per refresh into `Live` entries (sets and minutes
instead of models), grouped by tier. A selection then walks the tiers in order (override, contract,
remnant) and, in the first tier with any campaign that fits, picks one by weight:

- fits the subscriber: their language has a prompt or text; the segment takes them (prefix, plan,
  line type, customer type, language, region, every named attribute); they do not hold the product;
- fits the moment, in the operator's zone: within the dates, on one of the days, within one of the
  hours windows;
- fits the budget as last read (the accepting transaction counts it exactly);
- fits the frequency cap: fewer than `plays` plays in the last `period_hours`, the last one at least
  `min_gap_minutes` ago.

The weighted pick is seeded by the offer's reference (the call's sid …), so a webhook request Twilio
repeats chooses the same campaign. The cap is held by caps.reserve, which runs this selection on the
plays as stored and writes the new play only if nobody wrote since.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from functions.subscriptions import public as subscriptions
from functions.voice_plus.documents import TIERS, WEEKDAYS, Campaign
from shared.events import OfferChannel


@dataclass(frozen=True, slots=True)
class Audience:
    """The subscriber as targeting sees them (their record and their subscriptions book)."""

    msisdn: str  # E.164
    language: str
    tariff_plan: str = "standard"
    line_type: str = "prepaid"
    customer_type: str = "individual"
    region: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    holds: frozenset[str] = frozenset()  # product and plan ids live in their book

    @property
    def digits(self) -> str:
        return self.msisdn.lstrip("+")


def audience(
    msisdn: str, language: str, subscriber: Mapping[str, Any] | None, book: Mapping[str, Any] | None
) -> Audience | None:
    """The subscriber as targeting sees them; None for a number that is not an active subscriber of ours."""
    if not subscriber or subscriber.get("status") != "active":
        return None
    return Audience(
        msisdn=msisdn,
        language=language,
        tariff_plan=subscriber.get("tariff_plan") or "standard",
        line_type=subscriber.get("line_type") or "prepaid",
        customer_type=subscriber.get("customer_type") or "individual",
        region=subscriber.get("region"),
        attributes=subscriber.get("attributes") or {},
        holds=subscriptions.held(book),
    )


def _minutes(moment: Any) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True, slots=True)
class Live:
    """A live campaign compiled for selection."""

    campaign: Campaign
    id: str
    rank: int  # the tier's place: 0 override, 1 contract, 2 remnant
    weight: int
    languages: frozenset[str]
    prefixes: tuple[str, ...]
    plans: frozenset[str]
    line_types: frozenset[str]
    customer_types: frozenset[str]
    segment_languages: frozenset[str]
    regions: frozenset[str]
    attributes: tuple[tuple[str, frozenset[str]], ...]
    product: str
    starts: date
    ends: date | None
    days: frozenset[int]  # Monday 0
    hours: tuple[tuple[int, int], ...]  # [start, end) minutes of the day; end 1440 for midnight
    plays: int
    period: timedelta
    min_gap: timedelta
    budget_left: int | None

    @classmethod
    def of(cls, campaign: Campaign, budget_used: int = 0) -> Live:
        segment, schedule = campaign.segment, campaign.schedule
        return cls(
            campaign=campaign,
            id=campaign.id,
            rank=TIERS.index(campaign.tier),
            weight=campaign.weight,
            languages=campaign.languages,
            prefixes=segment.prefixes,
            plans=frozenset(segment.plans),
            line_types=frozenset(segment.line_types),
            customer_types=frozenset(segment.customer_types),
            segment_languages=frozenset(segment.languages),
            regions=frozenset(segment.regions),
            attributes=tuple((name, frozenset(values)) for name, values in segment.attributes.items()),
            product=campaign.offer.product,
            starts=schedule.starts,
            ends=schedule.ends,
            days=frozenset(WEEKDAYS.index(day) for day in schedule.days),
            hours=tuple((_minutes(window.start), _minutes(window.end) or 24 * 60) for window in schedule.hours),
            plays=campaign.cap.plays,
            period=timedelta(hours=campaign.cap.period_hours),
            min_gap=timedelta(minutes=campaign.cap.min_gap_minutes),
            budget_left=None if campaign.budget is None else campaign.budget - budget_used,
        )

    def takes(self, who: Audience) -> bool:
        """The segment, the language and the product: whether this campaign is for this subscriber."""
        if who.language not in self.languages or self.product in who.holds:
            return False
        if self.prefixes and not who.digits.startswith(self.prefixes):
            return False
        if self.plans and who.tariff_plan not in self.plans:
            return False
        if self.line_types and who.line_type not in self.line_types:
            return False
        if self.customer_types and who.customer_type not in self.customer_types:
            return False
        if self.segment_languages and who.language not in self.segment_languages:
            return False
        if self.regions and who.region not in self.regions:
            return False
        return all(who.attributes.get(name) in values for name, values in self.attributes)

    def runs_at(self, local: datetime) -> bool:
        """The schedule, at `local` (the operator's zone)."""
        return self.runs_on(local.date(), local.weekday(), local.hour * 60 + local.minute)

    def runs_on(self, day: date, weekday: int, minute: int) -> bool:
        """The schedule on a local date, weekday (Monday 0) and minute of the day."""
        if day < self.starts or (self.ends is not None and day > self.ends) or weekday not in self.days:
            return False
        return not self.hours or any(start <= minute < end for start, end in self.hours)

    def cap_allows(self, plays: Sequence[datetime], now: datetime) -> bool:
        """Fewer than `plays` plays within the period, and the last one at least the minimum gap ago."""
        since = now - self.period
        recent = [at for at in plays if at > since]
        if len(recent) >= self.plays:
            return False
        return not (self.min_gap and recent and max(recent) > now - self.min_gap)


CHANNELS: tuple[OfferChannel, ...] = ("voice", "ussd", "sms")


@dataclass(frozen=True)
class Pool:
    """The live campaigns of every channel, by tier, as compiled at one refresh."""

    tiers: Mapping[OfferChannel, tuple[tuple[Live, ...], ...]]  # channel -> tiers in order -> campaigns
    by_id: Mapping[str, Live]
    zone: tzinfo

    @classmethod
    def of(cls, campaigns: Iterable[tuple[Campaign, int]], zone: tzinfo) -> Pool:
        """From (campaign, budget used) pairs; only live ones are kept."""
        compiled = [Live.of(campaign, used) for campaign, used in campaigns if campaign.status == "live"]
        tiers: dict[OfferChannel, tuple[tuple[Live, ...], ...]] = {}
        for channel in CHANNELS:
            on_channel = [live for live in compiled if live.campaign.channel == channel]
            tiers[channel] = tuple(
                tuple(sorted((live for live in on_channel if live.rank == rank), key=lambda live: live.id))
                for rank in range(len(TIERS))
            )
        return cls(tiers=tiers, by_id={live.id: live for live in compiled}, zone=zone)


def weighted(candidates: Sequence[Live], seed: str) -> Live:
    """One candidate by weight, the same one for the same seed (a repeated request chooses again alike)."""
    total = sum(live.weight for live in candidates)
    point = zlib.crc32(seed.encode()) % total
    for live in candidates:
        point -= live.weight
        if point < 0:
            return live
    return candidates[-1]  # unreachable: the point is below the total


def choose(
    pool: Pool,
    channel: OfferChannel,
    who: Audience,
    now: datetime,
    plays: Mapping[str, Sequence[datetime]],
    seed: str,
) -> Live | None:
    """The campaign to offer: the first tier with any that fits (subscriber, moment, budget, cap), by weight."""
    # The moment in the operator's zone, worked out once for every campaign.
    local = now.astimezone(pool.zone)
    day, weekday, minute = local.date(), local.weekday(), local.hour * 60 + local.minute
    for tier in pool.tiers.get(channel, ()):
        fits = [
            live
            for live in tier
            if (live.budget_left is None or live.budget_left > 0)
            and live.takes(who)
            and live.runs_on(day, weekday, minute)
            and live.cap_allows(plays.get(live.id, ()), now)
        ]
        if fits:
            return weighted(fits, seed)
    return None
