"""Voice+ and the add-on offers' measurements in `make bench` (infra/bench.py).

voice+ call    the wrong-number call's first request (signed by Twilio) → the offer's TwiML, with 20 live campaigns
               (the campaign chosen and its play reserved in the caps document); target p99 ≤ 50 ms
*100# add-on   the balance check's answer with a live USSD add-on under it; target p99 ≤ 50 ms
selection      campaign selections per second in one process, 20 live campaigns (pure: selection.choose);
               target ≥ 50 000
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from functions.voice_plus import store as campaigns
from functions.voice_plus.config import config_for
from functions.voice_plus.documents import TIERS, Campaign, campaign_document
from functions.voice_plus.selection import Audience, Pool, choose
from infra import bench_common as bench
from infra.demo_common import DemoSubscriber
from shared import settings, store
from shared.events import utcnow
from shared.operator import OperatorProfile

LIVE_CAMPAIGNS = 20  # the figure: the webhook chooses among this many live campaigns
SELECTION_TARGET = 50_000  # selections per second in one process
CALLERS = 64  # bench subscribers the calls and *100# requests rotate through (8 at once are 8 numbers)
CALLS, USSD_REQUESTS = "voice-plus-calls", "addon-requests"  # the section's command-line counts
LANGUAGES = ("en", "ru", "uz", "ky", "zh")
PRODUCTS = ("data-1gb", "voice-100", "sms-200", "data-monthly")  # packs of the demo catalogue
WRONG_NUMBER = "+998909999999"  # no subscriber: the network says it does not exist
BENCH_BY = "bench"


def bench_campaign(campaign_id: str, n: int, reach: str) -> Campaign:
    """The n-th of the bench's voice campaigns: tiers, weights, segments and hours spread like a real list.

    reach "everyone": the segment takes any subscriber, so the live webhook always has an offer to make;
    "mixed": every third targets a region or plan nobody in the mix has (the selection walks past it).
    """
    narrow = reach == "mixed" and n % 3 == 0
    segment = {"regions": ["karakalpakstan"]} if narrow else ({"plans": ["standard", "gold"]} if n % 3 == 1 else {})
    hours = [{"start": "00:00", "end": "00:00"}] if n % 4 else [{"start": "06:00", "end": "23:00"}]
    return Campaign.model_validate(
        {
            "id": campaign_id,
            "name": f"Bench offer {n}",
            "channel": "voice",
            "status": "live",
            "tier": TIERS[n % len(TIERS)],
            "weight": 10 + n * 7,
            "offer": {"kind": "bundle", "product": PRODUCTS[n % len(PRODUCTS)], "confirm": n % 2 == 0},
            "voice": {language: {"say": f"Bench offer {n}. Press 1 to activate."} for language in LANGUAGES},
            "schedule": {"starts": "2026-01-01", "hours": [] if reach == "everyone" else hours},
            "segment": segment,
            "cap": {"plays": 100, "period_hours": 1},
        }
    )


def mix_audiences() -> list[Audience]:
    """Subscribers as targeting sees them: languages, plans, regions and held products varied."""
    return [
        Audience(
            msisdn=f"+99890{n:07d}",
            language=LANGUAGES[n % len(LANGUAGES)],
            tariff_plan=("standard", "gold", "youth")[n % 3],
            region=("tashkent", "samarkand", None)[n % 3],
            attributes={"segment": "youth"} if n % 2 else {},
            holds=frozenset({PRODUCTS[n % len(PRODUCTS)]}) if n % 5 == 0 else frozenset(),
        )
        for n in range(64)
    ]


def selections_per_second(seconds: float = 2.0) -> float:
    """How many `choose` calls one process makes per second: 20 live campaigns, a mix of subscribers and plays."""
    pool = Pool.of(
        ((bench_campaign(f"bench-{n}", n, "mixed"), 0) for n in range(LIVE_CAMPAIGNS)), ZoneInfo("Asia/Tashkent")
    )
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    plays = [
        {f"bench-{(n + k) % LIVE_CAMPAIGNS}": [now - timedelta(minutes=10 * k)] for k in range(n % 4)}
        for n in range(64)
    ]
    mix = list(zip(mix_audiences(), plays, strict=True))
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    for who, played in itertools.cycle(mix):
        choose(pool, "voice", who, now, played, f"voice:CA{done}")
        done += 1
        if done % 1000 == 0 and time.perf_counter() >= deadline:
            break
    return done / (time.perf_counter() - started)


def measure_alone() -> list[bench.Figure]:
    """Selections per second in one process, and their ratio to the target."""
    rate = selections_per_second()
    return [
        bench.Rate(
            "selection", rate, "choices/s", f"one process, {LIVE_CAMPAIGNS} live campaigns; target ≥ 50 000", digits=0
        ),
        bench.ratio(rate, SELECTION_TARGET, "of the target"),
    ]


@contextmanager
def saved_live(stage: bench.BenchStage, live: list[Campaign]) -> Iterator[None]:
    """The campaigns saved live (through the care CLI's checks and audit) for the measurement, stopped after it."""
    config = config_for(stage.profile)
    if config is None:
        raise RuntimeError("Voice+ is off in this profile")
    db = store.db()
    for campaign in live:
        campaigns.save(
            db,
            campaign.id,
            campaigns.imported(campaign_document(campaign)),
            by=BENCH_BY,
            action="import",
            now=utcnow(),
            config=config,
            profile=stage.profile,
        )
    time.sleep(config.campaign_refresh_seconds + 0.5)  # the edge's list takes them up
    try:
        yield
    finally:
        for campaign in live:
            campaigns.save(
                db,
                campaign.id,
                campaigns.moved_to(campaign.id, "stopped"),
                by=BENCH_BY,
                action="stop",
                now=utcnow(),
                config=config,
                profile=stage.profile,
            )


def bench_callers(stage: bench.BenchStage) -> list[str]:
    """Subscribers of their own for the latencies: consecutive requests (8 at once) come from different numbers.

    A caller's plays are one document; 8 sessions over the demo's 6 subscribers would make two calls of one
    number write it at once, which real wrong-number traffic (many callers) does not.
    """
    callers = [f"+9989072{stage.run}{i:04d}" for i in range(CALLERS)]
    stage.provision([DemoSubscriber(m, "Bench", "en", main=100_000_00) for m in callers])
    return callers


def voice_latency(stage: bench.BenchStage, calls: int, sessions: int, callers: list[str]) -> tuple[float, float]:
    """p50/p99 of the wrong-number call's first request: the campaign chosen, its play reserved, the offer's TwiML."""
    url, run = stage.stack.url_of("edge-voice") + "/", uuid.uuid4().hex[:8]  # Twilio signs the URL with its "/"
    account = bench.local_credential(settings.get().twilio_account_sid)

    def call(session: requests.Session, i: int) -> float:
        params = {
            "AccountSid": account,
            "CallSid": f"CA{run}{i:024d}",
            "From": callers[i % len(callers)],
            "To": WRONG_NUMBER,
            "CallReason": "not-exists",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        started = time.perf_counter()
        answer = bench.twilio_post(session, url, params)
        elapsed = bench.milliseconds_since(started)
        if answer.status_code != 200 or "<Gather" not in answer.text:
            raise RuntimeError(f"no offer on a wrong-number call: {answer.status_code} {answer.text[:200]}")
        return elapsed

    return bench.percentiles(bench.in_sessions(calls, sessions, call))


def addon_latency(
    stage: bench.BenchStage, count: int, sessions: int, addon: Campaign | None, callers: list[str]
) -> tuple[float, float, int]:
    """p50/p99 of the *100# answer (with the add-on live, or none: the ceiling), and how many answers carried it."""
    url, run = stage.stack.url_of("edge-ussd"), uuid.uuid4().hex[:8]
    carried = 0

    def check(session: requests.Session, i: int) -> float:
        nonlocal carried
        caller = callers[i % len(callers)]
        started = time.perf_counter()
        screen = bench.ussd(session, url, f"bench-addon-{run}-{i}", caller, stage.profile.short_codes.balance)
        elapsed = bench.milliseconds_since(started)
        if not screen.startswith(("END ", "CON ")):
            raise RuntimeError(f"unexpected *100# answer: {screen[:200]}")
        carried += addon is not None and any(text in screen for text in addon.text.values())
        return elapsed

    p50, p99 = bench.percentiles(bench.in_sessions(count, sessions, check))
    return p50, p99, carried


def bench_addon(run: str) -> Campaign:
    """A live interactive USSD add-on for everyone, short enough for the balance's screen in every language."""
    return Campaign.model_validate(
        {
            "id": f"bench-addon-{run}",
            "name": "Bench add-on",
            "channel": "ussd",
            "status": "live",
            "tier": "override",
            "offer": {"kind": "bundle", "product": "voice-100"},
            "text": {
                "en": "100 min 8000",
                "ru": "100 мин 8000",
                "uz": "100 daq 8000",
                "ky": "100 мүн 8000",
                "zh": "100分钟8000",
            },
            "schedule": {"starts": "2026-01-01"},
            "cap": {"plays": 100, "period_hours": 1},
        }
    )


def measure(stage: bench.BenchStage) -> list[bench.Figure]:
    """The Voice+ webhook's latency with 20 live campaigns, and the *100# answer's with an add-on live."""
    calls, requests_count, sessions = stage.count(CALLS), stage.count(USSD_REQUESTS), stage.count(bench.SESSIONS)
    run = uuid.uuid4().hex[:6]
    live = [bench_campaign(f"bench-{run}-{n}", n, "everyone") for n in range(LIVE_CAMPAIGNS)]
    callers = bench_callers(stage)
    with saved_live(stage, live):
        v50, v99 = voice_latency(stage, calls, sessions, callers)
    b50, b99, _ = addon_latency(stage, requests_count, sessions, None, callers)  # the ceiling: no add-on live
    addon = bench_addon(run)
    with saved_live(stage, [addon]):
        u50, u99, carried = addon_latency(stage, requests_count, sessions, addon, callers)
    return [
        bench.Latency(
            "voice+ call",
            v50,
            v99,
            f"wrong-number call → offer TwiML, {LIVE_CAMPAIGNS} live campaigns, "
            f"{calls} calls, {sessions} at once; target p99 ≤ 50 ms",
        ),
        bench.Latency(
            "*100# add-on",
            u50,
            u99,
            f"balance + add-on, {requests_count} requests ({carried} with the "
            f"offer), {sessions} at once; target p99 ≤ 50 ms",
        ),
        bench.Latency("*100# alone", b50, b99, "the same requests with no add-on live (its ceiling, this run)"),
        bench.ratio(b99, u99, "*100# p99 without the add-on / with it (1.0: the add-on costs nothing)"),
    ]


def _switched_on(profile: OperatorProfile) -> bool:
    return config_for(profile) is not None


SECTION = bench.BenchSection(
    order=80,
    measure=measure,
    measure_alone=measure_alone,
    options=(
        bench.BenchOption(CALLS, 300, "wrong-number calls for the Voice+ webhook's latency"),
        bench.BenchOption(USSD_REQUESTS, 300, "*100# requests with an add-on live"),
    ),
    switched_on=_switched_on,
)
