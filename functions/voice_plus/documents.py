"""Where Voice+ and the add-on offers keep their state in Firestore, and what each document holds.

campaigns/{id}                 a campaign (`Campaign`): what it offers, to whom, when, how often, how
    it is said per language; its status (draft, live, paused, stopped). Written by the care CLI
    (and its YAML import) only, each change with its audit entry; read by the edge's campaign list
    (refreshed every `campaign_refresh_seconds`) and by the offers' transactions.
campaigns/{id}/audit/{n}       who changed what and when: the action, the fields before and after.
campaign_budgets/{id}          `used`: activations asked for (accepted offers not refused); the budget
    is checked and counted in the accepting transaction, so it is never passed.
offer_caps/{msisdn}            the subscriber's recent plays of every campaign (`plays`: campaign, offer
    id, at), the frequency caps' one source: written at the moment an offer is chosen (the edge's
    conditional write for calls and USSD, the top-up's transaction for SMS), so no two concurrent calls
    can both take the last play.
offer_sms/{msisdn}             the SMS add-on waiting for its keyword: campaign, offer id, keyword, until.
offers/{offer_id}              one offer made: campaign, channel, subscriber, language, what was shown,
    the answers, the outcome (accepted, declined, activated, failed:<reason>) — care reads it.
offer_log/{event_id}           the funnel's event log: one record per counted step (stats.py).
campaign_stats/{campaign}_{language}_{day}/shards/{n}   the sharded funnel counters (stats.py).
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal, Self

from pydantic import Field, HttpUrl, field_validator, model_validator

from shared.events import CampaignId, Language, OfferChannel
from shared.presets import Strict

CAMPAIGNS = "campaigns"
AUDIT = "audit"  # subcollection of campaigns/{id}
BUDGETS = "campaign_budgets"
CAPS = "offer_caps"
SMS_OFFERS = "offer_sms"
OFFERS = "offers"
LOG = "offer_log"
STATS = "campaign_stats"
SHARDS = "shards"  # subcollection of campaign_stats/{key}

Tier = Literal["override", "contract", "remnant"]
TIERS: tuple[Tier, ...] = ("override", "contract", "remnant")  # an override beats a contract beats a remnant
Status = Literal["draft", "live", "paused", "stopped"]
OfferKind = Literal["product", "plan", "bundle"]  # a subscription of the catalogue, a tariff plan, a pack
Action = Literal["activate", "info", "repeat"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_KEYS: dict[str, Action] = {"1": "activate", "2": "info", "9": "repeat"}


class Prompt(Strict):
    """What a caller hears in one language: a recorded audio file (<Play>), or a text spoken (<Say>)."""

    play: HttpUrl | None = None
    say: str | None = Field(default=None, min_length=1, max_length=600)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.play is None) == (self.say is None):
            raise ValueError("give either play (an audio URL) or say (a text to speak), not both")
        return self

    @property
    def shown(self) -> str:
        """What the consent records as heard: the text spoken, or the audio file played."""
        return self.say if self.say is not None else f"audio: {self.play}"


class Offer(Strict):
    """What accepting gives: a product, a plan or a bundle of the catalogue, and how it is accepted."""

    kind: OfferKind
    product: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The catalogue's product, pack or plan id")
    confirm: bool = Field(default=False, description="Ask 'press 1 again to confirm' (SMS: 'reply YES') first")
    keys: dict[str, Action] = Field(default_factory=lambda: dict(DEFAULT_KEYS))

    @field_validator("keys")
    @classmethod
    def _keys_usable(cls, keys: dict[str, Action]) -> dict[str, Action]:
        if any(len(key) != 1 or key not in "0123456789" for key in keys):
            raise ValueError(f"keys {sorted(keys)}: one digit each")
        if list(keys.values()).count("activate") != 1:
            raise ValueError("keys: exactly one key activates")
        return keys

    @property
    def activate_key(self) -> str:
        return next(key for key, action in self.keys.items() if action == "activate")


class HourWindow(Strict):
    """Hours of the day in the operator's zone, [start, end); end 00:00 means midnight."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end != time(0) and self.end <= self.start:
            raise ValueError(f"hours {self.start}–{self.end}: the end must come after the start (00:00 for midnight)")
        return self


class Schedule(Strict):
    """When the campaign runs, in the operator's zone: dates (inclusive), days of the week, hours."""

    starts: date
    ends: date | None = None
    days: tuple[Weekday, ...] = WEEKDAYS
    hours: tuple[HourWindow, ...] = ()  # none: all day

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.ends is not None and self.ends < self.starts:
            raise ValueError(f"ends {self.ends} is before starts {self.starts}")
        if not self.days:
            raise ValueError("days: at least one day of the week")
        return self


class Segment(Strict):
    """Who is offered it; every list left empty means everyone. Subscribers holding the product never are."""

    prefixes: tuple[str, ...] = Field(default=(), description="Number prefixes in international digits: 99890")
    plans: tuple[str, ...] = ()
    line_types: tuple[Literal["prepaid", "postpaid"], ...] = ()
    customer_types: tuple[Literal["individual", "corporate"], ...] = ()
    languages: tuple[Language, ...] = ()
    regions: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="The BSS's tags: each named one must have one of the values"
    )

    @field_validator("prefixes")
    @classmethod
    def _digits(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(prefix.lstrip("+") for prefix in prefixes)
        bad = [prefix for prefix in cleaned if not prefix.isdigit() or len(prefix) > 15]
        if bad:
            raise ValueError(f"prefixes {bad}: international digits, such as 99890")
        return cleaned


class Cap(Strict):
    """At most `plays` offers to one subscriber in any `period_hours`, at least `min_gap_minutes` apart."""

    plays: int = Field(ge=1, le=100)
    period_hours: int = Field(ge=1, le=24 * 31)
    min_gap_minutes: int = Field(default=0, ge=0, le=24 * 60 * 31)


class Campaign(Strict):
    """One campaign of one channel (voice: Voice+ on wrong-number calls; ussd; sms), as the operator set it."""

    id: CampaignId
    name: str = Field(min_length=1, max_length=120)
    channel: OfferChannel
    status: Status = "draft"
    tier: Tier = "contract"
    weight: int = Field(default=100, ge=1, le=10_000, description="Share among live campaigns of the same tier")
    offer: Offer
    voice: dict[Language, Prompt] = Field(default_factory=dict, description="voice: the offer heard, per language")
    voice_info: dict[Language, Prompt] = Field(default_factory=dict, description="voice: what key 'info' plays")
    text: dict[Language, str] = Field(default_factory=dict, description="ussd, sms: the offer's text, per language")
    info: dict[Language, str] = Field(default_factory=dict, description="ussd: the 'more information' screen")
    interactive: bool = Field(default=True, description="ussd: 1 activate / 2 more information; false: text only")
    keyword: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]{2,12}$", description="sms: the word a reply activates it with"
    )
    schedule: Schedule
    segment: Segment = Segment()
    cap: Cap
    budget: int | None = Field(default=None, ge=1, description="At most this many activations; none: no limit")

    @property
    def languages(self) -> frozenset[str]:
        """The languages it can be offered in: a subscriber speaking another is not offered it."""
        return frozenset(self.voice if self.channel == "voice" else self.text)

    @model_validator(mode="after")
    def _said_on_its_channel(self) -> Self:
        if self.channel == "voice":
            if not self.voice:
                raise ValueError("voice: a voice campaign needs a prompt (play or say) in at least one language")
            if self.text or self.keyword:
                raise ValueError("text, keyword: a voice campaign is heard; give voice (and voice_info)")
        else:
            if not self.text:
                raise ValueError(f"text: a {self.channel} campaign needs its offer's text in at least one language")
            if self.voice or self.voice_info:
                raise ValueError(f"voice: a {self.channel} campaign is read, not heard; give text")
        if self.channel == "sms" and self.keyword is None:
            raise ValueError("keyword: an SMS add-on is answered with its keyword (NET5)")
        if self.channel != "sms" and self.keyword is not None:
            raise ValueError("keyword: only an SMS add-on is answered with a keyword")
        if self.cap.min_gap_minutes > self.cap.period_hours * 60 and self.cap.plays > 1:
            raise ValueError("cap: a minimum gap longer than the period leaves room for one play only; set plays: 1")
        return self


def campaign_document(campaign: Campaign) -> dict:
    """A campaign as stored: JSON types (dates and times as ISO text), read back with `Campaign.model_validate`."""
    return campaign.model_dump(mode="json")
