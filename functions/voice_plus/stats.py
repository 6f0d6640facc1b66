"""The offers' funnel, counted per campaign, language and day in the operator's zone, and reconciled with its log.

Every step of every offer is one `voice-plus.funnel` event whose id comes from the offer and the
step (`funnel_event_id`), so a step published twice is one event, counted once (the runtime's
processed marker, and its log record). Counting runs in ONE transaction:

- offer_log/{event_id}: the step as it happened (campaign, language, day, step, offer, subscriber, at);
- campaign_stats/{campaign}_{language}_{day}/shards/{n}: the step's field incremented in one of
  SHARDS documents, n taken from the event id, so a busy campaign's counters take SHARDS times the
  write rate of one document (Firestore's distributed-counter pattern).

`funnel` sums the shards for the care CLI; `reconcile` counts the log again and names every counter
that does not match it exactly (the log is the truth; the shards are what a report can afford to read).
"""

from __future__ import annotations

import zlib
from collections import Counter
from datetime import date, timedelta
from typing import NamedTuple, get_args

from google.cloud import firestore

from functions.voice_plus.config import in_force
from functions.voice_plus.documents import CAMPAIGNS, LOG, SHARDS, STATS, Campaign
from shared import catalog, localtime, runtime
from shared.events import Envelope, FunnelStep, OfferFunnel, derive_event_id

TOPIC = "voice-plus.funnel"
SHARD_COUNT = 10  # writes a campaign's day in one language can take: about SHARD_COUNT per second
STEPS: tuple[FunnelStep, ...] = get_args(FunnelStep)


def funnel_event_id(offer_id: str, step: FunnelStep, n: int = 1) -> str:
    """The id of the `n`-th `step` of offer `offer_id`: the same step published again is not counted again."""
    return derive_event_id(offer_id, f"funnel/{step}/{n}")


def funnel_envelope(step: OfferFunnel, source: str, n: int = 1) -> Envelope:
    """The funnel event for `step`, with its deterministic id (a consumer appends it to its outbox)."""
    event_id = funnel_event_id(step.offer_id, step.step, n)
    return catalog.make_envelope(TOPIC, step, event_id=event_id, source=source)


def stats_key(campaign_id: str, language: str, day: str) -> str:
    return f"{campaign_id}_{language}_{day}"


def shard_of(event_id: str) -> int:
    """The counter shard an event increments: spread evenly, the same for a redelivery."""
    return zlib.crc32(event_id.encode()) % SHARD_COUNT


def _shard(db: firestore.Client, key: str, n: int) -> firestore.DocumentReference:
    return db.collection(STATS).document(key).collection(SHARDS).document(str(n))


@runtime.consumer("voice-plus-stats")
def on_funnel(ctx: runtime.Context[None], step: OfferFunnel) -> None:
    """Log the step once and count it in one shard of its campaign's, language's and day's counters."""
    profile, _ = in_force()
    log_ref = ctx.doc(LOG, ctx.event.id)
    if ctx.get(log_ref).exists:  # counted under this id already: its marker expired, its log did not
        return
    day = localtime.day_of(step.at, profile.timezone)
    ctx.txn.create(
        log_ref,
        {
            "campaign": step.campaign_id,
            "language": step.language,
            "day": day,
            "step": step.step,
            "channel": step.channel,
            "offer_id": step.offer_id,
            "msisdn": step.msisdn,
            "detail": step.detail,
            "at": step.at,
        },
    )
    shard = _shard(ctx.db, stats_key(step.campaign_id, step.language, day), shard_of(ctx.event.id))
    # An increment needs no read: the shard is never part of the transaction's reads, so it adds no contention.
    ctx.txn.set(
        shard,
        {"campaign": step.campaign_id, "language": step.language, "day": day, step.step: firestore.Increment(1)},
        merge=True,
    )


# --- reading the counters (the care CLI) ------------------------------------------------------


class FunnelRow(NamedTuple):
    """One campaign's funnel in one language on one day: how many offers reached each step."""

    campaign: str
    language: str
    day: str
    counts: dict[str, int]

    def count(self, step: FunnelStep) -> int:
        return self.counts.get(step, 0)

    @property
    def conversion(self) -> float | None:
        """Activations per offer made; None before any offer."""
        offered = self.count("offered")
        return self.count("activated") / offered if offered else None


def _days(since: date, until: date) -> list[str]:
    return [(since + timedelta(days=n)).isoformat() for n in range((until - since).days + 1)]


def _campaigns(db: firestore.Client, campaign_id: str | None) -> list[Campaign]:
    if campaign_id is not None:
        stored = db.collection(CAMPAIGNS).document(campaign_id).get()
        return [Campaign.model_validate(stored.to_dict())] if stored.exists else []
    return [Campaign.model_validate(snapshot.to_dict()) for snapshot in db.collection(CAMPAIGNS).stream()]


def _summed(db: firestore.Client, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], Counter[str]]:
    """Every shard of every (campaign, language, day) summed, read in one round trip."""
    refs = [_shard(db, stats_key(*key), n) for key in keys for n in range(SHARD_COUNT)]
    sums: dict[tuple[str, str, str], Counter[str]] = {key: Counter() for key in keys}
    for snapshot in db.get_all(refs) if refs else []:
        stored = snapshot.to_dict() if snapshot.exists else None
        if stored:
            key = (stored["campaign"], stored["language"], stored["day"])
            sums[key].update({step: int(stored.get(step, 0)) for step in STEPS})
    return sums


def funnel(db: firestore.Client, campaign_id: str | None, since: date, until: date) -> list[FunnelRow]:
    """A campaign's (or every one's) funnel per language and day, `since` to `until` inclusive, empty days left out."""
    keys = [
        (campaign.id, language, day)
        for campaign in _campaigns(db, campaign_id)
        for language in sorted(campaign.languages)
        for day in _days(since, until)
    ]
    rows = [
        FunnelRow(campaign, language, day, {step: counts[step] for step in STEPS if counts[step]})
        for (campaign, language, day), counts in _summed(db, keys).items()
    ]
    return sorted((row for row in rows if row.counts), key=lambda row: (row.campaign, row.day, row.language))


COLUMNS: tuple[tuple[str, FunnelStep], ...] = (
    ("offered", "offered"),
    ("replays", "played"),
    ("keys", "key"),
    ("confirmed", "confirmation"),
    ("declined", "declined"),
    ("accepted", "accepted"),
    ("activated", "activated"),
    ("failed", "failed"),
    ("hangups", "hangup"),
)


def format_funnel(rows: list[FunnelRow]) -> str:
    """The funnel as a table for the care CLI: one line per campaign, day and language, conversion last."""
    if not rows:
        return "No offers in these days."
    header = ["campaign", "day", "lang", *(title for title, _ in COLUMNS), "conversion"]
    lines = [
        [
            row.campaign,
            row.day,
            row.language,
            *(str(row.count(step)) for _, step in COLUMNS),
            "-" if row.conversion is None else f"{row.conversion:.1%}",
        ]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    aligned = [
        [
            cell.ljust(width) if i < 3 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        for line in [header, *lines]
    ]
    return "\n".join("  ".join(line).rstrip() for line in aligned)


class Difference(NamedTuple):
    """A counter that does not match the log: the step, in one language, logged and counted."""

    language: str
    step: str
    logged: int
    counted: int


def reconcile(db: firestore.Client, campaign_id: str, day: date) -> list[Difference]:
    """Every (language, step) of the campaign's day whose shards' sum differs from the log's count; empty when exact."""
    logged: Counter[tuple[str, str]] = Counter()
    query = (
        db.collection(LOG)
        .where(filter=firestore.FieldFilter("campaign", "==", campaign_id))
        .where(filter=firestore.FieldFilter("day", "==", day.isoformat()))
    )
    for snapshot in query.stream():
        record = snapshot.to_dict() or {}
        logged[(record["language"], record["step"])] += 1
    campaign = _campaigns(db, campaign_id)
    languages = {language for language, _ in logged} | (set(campaign[0].languages) if campaign else set())
    keys = [(campaign_id, language, day.isoformat()) for language in sorted(languages)]
    counted: dict[tuple[str, str], int] = {
        (language, step): sums[step] for (_, language, _), sums in _summed(db, keys).items() for step in STEPS
    }
    return [
        Difference(language, step, logged[(language, step)], counted.get((language, step), 0))
        for language, step in sorted(set(logged) | set(counted))
        if logged[(language, step)] != counted.get((language, step), 0)
    ]
