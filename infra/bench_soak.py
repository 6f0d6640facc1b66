"""The soak of `make bench`: a steady mixed load for `--soak-minutes`, every function's resident memory sampled.

Each service brings its share of the load (`BenchSection.soak`: transfers, SMS, balance checks, missed calls and
attaches), run round after round at a pace well under what the stack drains, so the soak measures a steady state,
not a backlog. Every `SAMPLE_SECONDS` the resident memory (RSS) of each function's process group is read from
/proc (functions-framework's process and its gunicorn worker). A function whose memory keeps growing under a steady
load leaks: growth is the mean of the last third of the samples over the mean of the first third.

Target: growth ≤ GROWTH_TARGET (5 %). A Python process's RSS moves by a few MB without a leak (allocator arenas
returned or not, caches filled once, logging buffers); 5 % of a function's ~60–100 MB is 3–5 MB, while a leak of
even one small object per event grows steadily over 10 minutes of this load and shows above it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from emulators.carrier.client import CarrierClient
from infra import cost
from infra.bench_common import (
    SOAK_MINUTES,
    SOAK_ROUND_SECONDS,
    BenchSection,
    BenchStage,
    Figure,
    Memory,
    Rate,
    SoakLoad,
    progress,
    wait_until_count,
)

SAMPLE_SECONDS = 15.0
GROWTH_TARGET = 0.05
DRAIN_TIMEOUT_SECONDS = 180.0
MB = 1024 * 1024


@dataclass(frozen=True)
class Samples:
    """One function's RSS samples over the soak, in bytes, in order."""

    function: str
    rss: tuple[int, ...]

    @property
    def growth(self) -> float:
        """The mean of the last third of the samples over the mean of the first third, minus 1."""
        third = max(1, len(self.rss) // 3)
        first = statistics.fmean(self.rss[:third])
        return statistics.fmean(self.rss[-third:]) / first - 1 if first else 0.0

    def figure(self) -> Memory:
        met = "met" if self.growth <= GROWTH_TARGET else "NOT MET"
        return Memory(
            self.function,
            self.rss[0] / MB,
            self.rss[-1] / MB,
            max(self.rss) / MB,
            self.growth,
            f"{len(self.rss)} samples; target growth ≤ {100 * GROWTH_TARGET:.0f} %: {met}",
        )


def sample(process_groups: Mapping[str, int], into: dict[str, list[int]]) -> None:
    """One RSS reading of every function's process group."""
    rss = cost.process_rss_bytes(set(process_groups.values()))
    for function, group in process_groups.items():
        into.setdefault(function, []).append(rss[group])


Loads = list[tuple[str, SoakLoad]]


def prepare(stage: BenchStage, sections: Sequence[BenchSection]) -> Loads:
    """Every section's round of load, its parties provisioned (before the storm, whose tail may clog the stack)."""
    if stage.count(SOAK_MINUTES) <= 0:
        return []
    return [(section.name, section.soak(stage)) for section in sections if section.soak is not None]


def soak(stage: BenchStage, loads: Loads, process_groups: Mapping[str, int]) -> list[Figure]:
    """Every section's round of load each SOAK_ROUND_SECONDS for --soak-minutes, RSS sampled every SAMPLE_SECONDS;
    the figures: the load, how soon it drained, and each function's memory."""
    minutes = stage.count(SOAK_MINUTES)
    if minutes <= 0:
        return []
    carrier = CarrierClient(stage.stack.carrier_url)
    before = carrier.message_count()
    samples: dict[str, list[int]] = {}
    sample(process_groups, samples)
    started = time.perf_counter()
    end, next_sample = started + 60 * minutes, started + SAMPLE_SECONDS
    rounds = sms = 0
    while (now := time.perf_counter()) < end:
        for _, load in loads:
            sms += load(rounds)
        rounds += 1
        if now >= next_sample:
            sample(process_groups, samples)
            next_sample += SAMPLE_SECONDS
        time.sleep(max(0.0, started + rounds * SOAK_ROUND_SECONDS - time.perf_counter()))
    sample(process_groups, samples)
    progress(f"  soak: {rounds} rounds of {', '.join(name for name, _ in loads)}; waiting for its {sms} SMS")
    try:
        drained = wait_until_count(
            lambda: carrier.message_count() - before, sms, DRAIN_TIMEOUT_SECONDS, "soak SMS", interval=0.5
        )
        drain_note = f"{sms} SMS at the carrier {drained:.1f} s after the last round"
    except TimeoutError as error:
        drain_note = f"NOT drained: {error}"
    pace = Rate(
        "soak",
        minutes,
        "minutes",
        f"{rounds} rounds, one every {SOAK_ROUND_SECONDS} s, of {', '.join(name for name, _ in loads)}; {drain_note}",
        digits=0,
    )
    memory = [Samples(function, tuple(rss)).figure() for function, rss in sorted(samples.items())]
    worst = max(memory, key=lambda figure: figure.growth)
    summary = Rate(
        "memory growth",
        100 * worst.growth,
        "%",
        f"the most of any function ({worst.label}); target ≤ {100 * GROWTH_TARGET:.0f} % "
        f"(RSS of each function's process group, every {SAMPLE_SECONDS:.0f} s)",
    )
    return [pace, summary, *memory]
