"""`make bench`: throughput and latency of the platform's paths on the local stack, as figures.

Everything runs on this machine (emulators included), so the absolute figures describe this
machine; the ratios against a raw ceiling measured in the same run are what to compare. Every section
runs `--runs` times (each run with its ceilings); each figure prints the median of the runs and, in
brackets, their spread (lowest–highest).

Cost per event (infra/cost.py): the function processes count their Firestore reads, writes, deletes and
transaction commits, Pub/Sub messages published and requests served (shared/metering.py); with the CPU
time of their processes, each section prints them per business event next to the design's minimum, and
in US dollars per million events at list prices (README.md cites them).

  raw ceiling   publish → push → a no-op functions-framework function (same emulator, same server, same push:
                the local stand-in for Pub/Sub's push by default, the emulator's with --push emulator)
  tx ceiling    a Firestore transaction straight on the emulator (BenchStage.transaction_ceiling)

Each service measures its own paths in `functions/<service>/bench.py` (its `SECTION`, found by
infra/sections.py, skipped when the operator profile switches the service off), against those ceilings:

  notify        sms.send published → SMS recorded by the carrier emulator (push, functions-framework,
                Firestore transaction, Twilio API call)
  ledger        *100#: the USSD webhook's latency for a balance check (HMAC, two Firestore reads)
  transfers     USSD *112# → both SMS recorded, against the transaction ceiling; policy decisions/s
  missed calls  the TwiML webhook's latency for a forwarded call (answer, then key 2), and
                attach → one SMS per caller for a subscriber with many missed calls from many callers
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from emulators.process import Service, free_port
from infra import bench_soak, cost, demo, push as local_push, sections, stack as stack_module
from infra.bench_common import (
    SESSIONS,
    SOAK_MINUTES,
    BenchOption,
    BenchSection,
    BenchStage,
    Figure,
    Rate,
    progress,
    publish_all,
    summarise,
    wait_until_count,
)
from infra.functions import REPO
from infra.topology import push_endpoint
from shared import catalog, metering, operator
from shared.operator import OperatorProfile

LOG_DIR = REPO / ".run" / "bench-logs"
CEILING_ACK_DEADLINE_SECONDS = 10  # the emulator's default, which the pushed ceiling subscription gets
BENCH_MODULE = "bench"  # the module a service declares its measurements in
DRAIN_TIMEOUT_SECONDS = 120.0  # the longest a measurement's tail may take before the next begins
# The counts of the whole bench, beside those the sections declare.
PLATFORM_OPTIONS = (
    BenchOption(SESSIONS, 8, "concurrent webhook sessions for the USSD and voice latencies"),
    BenchOption(SOAK_MINUTES, 10, "minutes of the soak's steady mixed load, memory sampled (0: no soak)"),
)


def bench_sections(profile: OperatorProfile, packages: Iterable[str] | None = None) -> list[BenchSection]:
    """The measurements of the services this profile runs, in order."""
    return sections.sections(BENCH_MODULE, BenchSection, profile, packages)


def raw_ceiling(stack: stack_module.Stack, messages: int) -> float:
    """Events/s from publish through push to a no-op functions-framework function (same emulator, same server)."""
    name = f"bench-ceiling-{uuid.uuid4().hex[:8]}"  # each run its own topic and subscription
    count_file = LOG_DIR / f"{name}.count"
    count_file.write_bytes(b"")
    port = free_port()
    ceiling_push: local_push.LocalPush | None = None
    noop = (
        Service(
            "bench-noop",
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(REPO / "infra/bench_noop.py"),
                "--target",
                "noop",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            ready_url=f"http://127.0.0.1:{port}/",
            env={"VAS_BENCH_COUNT_FILE": str(count_file)},
            log_dir=LOG_DIR,
            cwd=REPO,
        )
        .start()
        .wait_ready()
    )
    try:
        publisher, subscriber = PublisherClient(), SubscriberClient()
        topic = publisher.topic_path(stack.project, name)
        publisher.create_topic(name=topic)
        url = f"http://127.0.0.1:{port}/"
        subscription: dict = {"name": subscriber.subscription_path(stack.project, name), "topic": topic}
        if stack.push is None:  # pushed as the stack's subscriptions are
            subscription["push_config"] = {"push_endpoint": push_endpoint(url, stack.project, name)}
        subscriber.create_subscription(request=subscription)
        if stack.push is not None:
            ceiling_push = local_push.LocalPush(stack.project, stack.push.in_flight)
            ceiling_push.route(name, url, name, CEILING_ACK_DEADLINE_SECONDS)
        envelopes = [
            catalog.make_envelope(
                "sms.send",
                {"to": "+998901000001", "template": "edge.balance.report"},
                event_id=f"ceiling-{i}",
                source="bench",
            ).model_copy(update={"type": name})
            for i in range(messages)
        ]
        started = time.perf_counter()
        publish_all(envelopes)
        wait_until_count(lambda: count_file.stat().st_size, messages, timeout=300)
        return messages / (time.perf_counter() - started)
    finally:
        if ceiling_push is not None:
            ceiling_push.stop()
        noop.stop()


def parse(argv: list[str] | None, declared: list[BenchSection]) -> tuple[int, int, dict[str, int], str]:
    """The events per throughput run, the runs, each count the sections declare (`--name`, its default if not
    given), and who pushes (`--push`).

    Every section's counts are accepted, those of services the profile switches off too (unused then).
    """
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300, help="SMS events per throughput run")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of every section (each with its ceiling); medians and spreads"
    )
    parser.add_argument(
        "--push",
        choices=local_push.DELIVERIES,
        default=local_push.LOCAL,
        help="who pushes to the functions: production-like concurrency (local, default) or the emulator",
    )
    options = [*PLATFORM_OPTIONS, *(option for section in declared for option in section.options)]
    for option in options:
        parser.add_argument(f"--{option.name}", type=int, default=option.default, help=option.help)
    args = vars(parser.parse_args(argv))
    if args["runs"] < 1:
        parser.error("--runs must be at least 1")
    counts = {option.name: args[option.name.replace("-", "_")] for option in options}
    return args["messages"], args["runs"], counts, args["push"]


def main(argv: list[str] | None = None) -> int:
    messages, runs, counts, push = parse(argv, sections.declared(BENCH_MODULE, BenchSection))
    # Stopped by a signal (a background job ignores Ctrl-C), the bench still stops the stack it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # Every function process of the stack counts what it does into this directory (shared/metering.py).
    meter_dir = LOG_DIR / f"meter-{uuid.uuid4().hex[:8]}"
    meter_dir.mkdir()
    os.environ[metering.METER_DIR_VARIABLE] = str(meter_dir)
    started = time.perf_counter()
    progress("starting the stack")
    stack = stack_module.start(auto_ports=True, log_dir=LOG_DIR, say=lambda *_: None, push=push)
    try:
        # The settings (and so the profile) are read once the stack has set the local ones.
        profile = operator.current()
        measured = bench_sections(profile)
        demo.seed(stack, say=lambda *_: None)
        meter = cost.CostMeter(
            meter_dir,
            {name: _process_group(service) for name, service in stack.functions.items()},
            set(catalog.load().consumers),
        )
        # Run after run, each ceiling next to its path (the raw one here, the transaction one in its section),
        # so that a busy moment of the shared machine weighs on both.
        by_run = []
        for run in range(runs):
            progress(f"run {run + 1} of {runs}: raw ceiling")
            ceiling = raw_ceiling(stack, messages)
            stage = BenchStage(stack, profile, demo.SUBSCRIBERS, messages, ceiling, counts, meter, run)
            by_run.append(
                [timed(section.name, section.measure, stage, f"run {run + 1} of {runs}") for section in measured]
            )
        # Once, after the runs: the loads too long to repeat (the last run's stage: its ceiling, its counts).
        loads = bench_soak.prepare(stage, measured)
        once = [
            timed(section.name, section.measure_once, stage, "once") if section.measure_once else []
            for section in measured
        ]
        soaked = timed("soak", lambda stage: bench_soak.soak(stage, loads, meter.process_groups), stage, "once")
    finally:
        stack.stop()
    progress(f"the stack's part took {time.perf_counter() - started:.0f} s")
    # Pure in-process measurements once the emulators no longer share the machine.
    figures = []
    for index, section in enumerate(measured):
        section_figures = summarise([run[index] for run in by_run]) + once[index]
        if section.measure_alone:
            section_figures += summarise([section.measure_alone() for _ in range(runs)])
        figures.append(section_figures)
    figures.append(soaked)
    print(render(figures))
    progress(f"the bench took {time.perf_counter() - started:.0f} s")
    return 0


def timed(name: str, measure: Callable[[BenchStage], list[Figure]], stage: BenchStage, which: str) -> list[Figure]:
    """The figures of one measurement, and last its wall time (said on stderr as soon as it is known)."""
    progress(f"{which}: {name}")
    started = time.perf_counter()
    try:
        figures = measure(stage)
    except (TimeoutError, RuntimeError) as error:
        if which != "once":
            raise  # the runs' figures are compared run by run: a run without them has nothing to compare
        progress(f"{which}: {name} failed: {error}")  # the figures measured so far still print
        figures = [Rate(name, float("nan"), "", f"FAILED: {error}")]
    # The work the measurement started (status callbacks, charges, a backlog) ends before the next one begins,
    # so that no section measures another's tail.
    drained = stage.meter.settle(DRAIN_TIMEOUT_SECONDS)
    seconds = time.perf_counter() - started
    progress(f"{which}: {name} took {seconds:.1f} s, of which {drained:.1f} s for its work to drain")
    return [*figures, Rate("wall time", seconds, "s", f"{name}, {'once' if which == 'once' else 'one run'}", digits=0)]


def _process_group(service: Service) -> int:
    """The process group a started service leads (emulators/process.py starts each in its own session)."""
    if service.proc is None:
        raise RuntimeError(f"{service.name} was not started")
    return service.proc.pid


def render(figures: list[list[Figure]]) -> str:
    """Each section's figures, one a line, a blank line between sections."""
    return "\n\n".join("\n".join(figure.line() for figure in section) for section in figures)


if __name__ == "__main__":
    sys.exit(main())
