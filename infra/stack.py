"""The whole platform on one machine: `make run`.

Starts the real Pub/Sub and Firestore emulators, the carrier emulator, SES (moto), the payment emulator and
every catalog function as a functions-framework process; creates topics and subscriptions from the catalog, pushed to
the functions with production's concurrency by infra/push.py (or, with `--push emulator`, by the
emulator's own one-at-a-time push); seeds the demo operator; plays the scripted demo and prints
what each phone saw; then serves until Ctrl-C and stops every process it started.

  python -m infra.stack                 # make run
  python -m infra.stack --demo-only     # run the demo and exit (the e2e test does this)
  python -m infra.stack --push emulator # the emulator pushes, one message at a time per subscription
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from emulators import gcloud, payments as payments_emulator, ses as ses_emulator
from emulators.process import Service, free_port
from infra import push as local_push
from infra.clock import LocalClock
from infra.functions import LOCAL_ENV, REPO, function_service
from shared import catalog as catalog_module, settings
from shared.clock import CLOCK_FILE_VARIABLE, write_moved_seconds

PROJECT = "vas-local"
LOG_DIR = REPO / ".run" / "logs"

# Fixed ports make the phone CLI and a browser easy to point at; --ports auto avoids clashes.
FIXED_PORTS = {
    "pubsub": 8085,
    "firestore": 8086,
    "carrier": 9000,
    "ses": 9025,
    "payments": 9012,
    "functions": 8100,
    "clock": 8099,
}


@dataclass
class Stack:
    """Everything the stack started, with the URLs the demo and the tests need."""

    project: str
    emulators: gcloud.Emulators
    carrier: Service
    functions: dict[str, Service] = field(default_factory=dict)
    clock: LocalClock | None = None
    clock_url: str = ""  # the clock's control endpoint (python -m infra.clock --url)
    ses: ses_emulator.SesEmulator | None = None
    push: local_push.LocalPush | None = None  # None when the emulator pushes
    payments: payments_emulator.PaymentsEmulator | None = None

    @property
    def carrier_url(self) -> str:
        return self.carrier.ready_url.removesuffix("health").rstrip("/")

    def url_of(self, function: str) -> str:
        return self.functions[function].ready_url.rstrip("/")

    @property
    def function_urls(self) -> dict[str, str]:
        """Every catalog function's URL, by name (the demo calls a service's own HTTP function)."""
        return {name: self.url_of(name) for name in self.functions}

    @property
    def ses_url(self) -> str:
        return self.ses.url if self.ses else ""

    @property
    def env(self) -> dict[str, str]:
        """What a function (or a CLI) needs to reach this stack."""
        return {
            **self.emulators.env,
            **LOCAL_ENV,
            "VAS_OPERATOR": os.environ.get("VAS_OPERATOR", "demo"),
            "VAS_TWILIO_API_BASE": self.carrier_url,
            CLOCK_FILE_VARIABLE: os.environ[CLOCK_FILE_VARIABLE],
            **(self.ses.env if self.ses else {}),
            **(self.payments.env if self.payments else {}),
        }

    def stop(self) -> None:
        if self.clock is not None:
            self.clock.stop()
        if self.push is not None:  # before the functions, so the pushes under way get their answers
            self.push.stop()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: s.stop(), self.functions.values()))
        self.carrier.stop()
        if self.payments is not None:
            self.payments.stop()
        if self.ses is not None:
            self.ses.stop()
        self.emulators.stop()


def _port(auto: bool, key: str, offset: int = 0) -> int:
    return free_port() if auto else FIXED_PORTS[key] + offset


# Every catalog schedule ticks this often locally (Cloud Scheduler follows the cron in production).
CLOCK_SECONDS = 60.0


def start(
    auto_ports: bool = False,
    project: str = PROJECT,
    log_dir: Path = LOG_DIR,
    max_backoff_seconds: int | None = None,
    say: Callable[[str], object] = print,
    clock_seconds: float = CLOCK_SECONDS,
    push: str = local_push.LOCAL,
    push_in_flight: int = local_push.IN_FLIGHT,
) -> Stack:
    """Start the stack and return it ready: topology created, every process answering.

    `push` says who delivers the subscriptions: the local stand-in for Pub/Sub's push (`local`) or
    the emulator's own push loop (`emulator`); `push_in_flight` is the stand-in's messages in flight per
    subscription.
    """
    problems = gcloud.missing_tools()
    if problems:
        raise SystemExit("Cannot start the local stack:\n  - " + "\n  - ".join(problems) + "\n" + gcloud.INSTALL_HINT)
    log_dir.mkdir(parents=True, exist_ok=True)
    catalog = catalog_module.load()
    say(f"Starting the Pub/Sub and Firestore emulators (logs in {log_dir.relative_to(REPO)}/) …")
    emulators = gcloud.start(project, log_dir, _port(auto_ports, "pubsub"), _port(auto_ports, "firestore"))
    os.environ.update({**emulators.env, **LOCAL_ENV})  # the demo and the bench sign as the local carrier
    # Every process of this stack reads the one movable clock; a new stack starts it unmoved.
    clock_path = log_dir / "clock.json"
    write_moved_seconds(clock_path, 0.0)
    os.environ[CLOCK_FILE_VARIABLE] = str(clock_path)
    try:
        ses = ses_emulator.start(log_dir, _port(auto_ports, "ses"))
    except BaseException:
        emulators.stop()
        raise

    names = list(catalog.webhooks) + list(catalog.consumers)
    ports = {name: _port(auto_ports, "functions", i) for i, name in enumerate(names)}
    # Twilio signs the exact URL it was given: give the path ("/") a request will carry.
    urls = {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
    carrier_port = _port(auto_ports, "carrier")
    carrier_url = f"http://127.0.0.1:{carrier_port}"
    payments_port = _port(auto_ports, "payments")
    function_env = {
        **emulators.env,
        **LOCAL_ENV,
        "VAS_OPERATOR": os.environ.get("VAS_OPERATOR", "demo"),
        "VAS_TWILIO_API_BASE": carrier_url,
        "VAS_SMS_STATUS_CALLBACK_URL": urls["edge-message-status"],
        "VAS_PAYMENTS_API_BASE": f"http://127.0.0.1:{payments_port}",
        CLOCK_FILE_VARIABLE: str(clock_path),
        **ses.env,
    }
    carrier = Service(
        "carrier-emulator",
        [
            sys.executable,
            "-m",
            "emulators.carrier",
            "serve",
            "--port",
            str(carrier_port),
            "--ussd-webhook",
            urls["edge-ussd"],
            "--sms-webhook",
            urls["edge-sms"],
            "--voice-webhook",
            urls["edge-voice"],
            # A call's end reaches the same function (Twilio's status callback URL of the number).
            "--voice-status-callback",
            urls["edge-voice"] + "?callback=status",
        ],
        ready_url=f"{carrier_url}/health",
        env={**function_env, "PYTHONPATH": str(REPO)},
        log_dir=log_dir,
        cwd=REPO,
    )
    # The gateway reports each payment's outcome to the credits webhook, as Stripe would.
    payments = payments_emulator.PaymentsEmulator(
        payments_emulator.service(log_dir, payments_port, webhook_url=urls["credits-payment-webhook"], env=function_env)
    )
    # The demo, the bench and care's CLI run in this process and charge cards through it too.
    os.environ.update(payments.env)
    settings.get.cache_clear()
    stack = Stack(project, emulators, carrier, ses=ses, payments=payments)
    try:
        say(f"Starting the carrier emulator, the payment emulator and {len(names)} functions …")
        carrier.start()
        payments.service.start()
        for name in names:
            stack.functions[name] = function_service(name, env=function_env, log_dir=log_dir, port=ports[name]).start()
        carrier.wait_ready()
        payments.service.wait_ready()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: s.wait_ready(), stack.functions.values()))
        stack.push = local_push.deliver(
            project,
            {name: urls[name] for name in catalog.consumers},
            push,
            catalog,
            max_backoff_seconds=max_backoff_seconds,
            in_flight=push_in_flight,
        )
        say(
            f"Topology created: {len(catalog.topics)} topics, {len(catalog.consumers)} subscriptions"
            + (" pushed by the emulator." if stack.push is None else f", {stack.push.in_flight} pushes in flight each.")
        )
        stack.clock = LocalClock(clock_seconds, path=clock_path).start()
        stack.clock_url = stack.clock.serve(_port(auto_ports, "clock"))
        if clock_seconds > 0:
            say(f"Schedules ({', '.join(catalog.schedules)}) tick every {clock_seconds:g}s.")
    except BaseException:
        stack.stop()
        raise
    return stack


def serve_until_interrupted(stack: Stack) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"\nServing. Carrier emulator: {stack.carrier_url}   USSD webhook: {stack.url_of('edge-ussd')}")
    print(
        f"Try a phone: .venv/bin/python -m emulators.carrier phone --carrier {stack.carrier_url} "
        f"--msisdn +998901000001 dial '*100#'"
    )
    if stack.payments is not None:
        print(f"Payment emulator (Stripe's API): {stack.payments.url}   its payments: /admin/payment_intents")
    print(f"Move the clock: .venv/bin/python -m infra.clock --url {stack.clock_url} advance 25h")
    print("Press Ctrl-C to stop everything.")
    while not stop.is_set():
        for name, service in stack.functions.items():
            code = service.exit_code()
            if code is not None:
                print(f"{name} exited ({code}); its log: {service.log_path}", file=sys.stderr)
                stop.set()
        stop.wait(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-only", action="store_true", help="run the demo, print it, stop everything")
    parser.add_argument("--no-demo", action="store_true", help="start and seed, but play no demo")
    parser.add_argument(
        "--ports", choices=("fixed", "auto"), default="fixed", help="fixed well-known ports (default) or free ones"
    )
    parser.add_argument(
        "--clock-seconds",
        type=float,
        default=CLOCK_SECONDS,
        help="how often every catalog schedule ticks locally (0: never)",
    )
    parser.add_argument(
        "--push",
        choices=local_push.DELIVERIES,
        default=local_push.LOCAL,
        help="who pushes to the functions: production-like concurrency (local, default) or the emulator",
    )
    parser.add_argument(
        "--push-in-flight",
        type=int,
        default=local_push.IN_FLIGHT,
        help=f"messages the local push has in flight per subscription (default {local_push.IN_FLIGHT})",
    )
    args = parser.parse_args(argv)

    from infra import demo

    started = time.monotonic()
    stack = start(
        auto_ports=args.ports == "auto",
        clock_seconds=args.clock_seconds,
        push=args.push,
        push_in_flight=args.push_in_flight,
    )
    try:
        print(f"Everything is up in {time.monotonic() - started:.1f}s.")
        demo.seed(stack)
        if not args.no_demo:
            transcript = demo.play(stack)
            print(transcript.render())
            if not transcript.ok:
                print(
                    "The demo did not go as scripted; see the transcript above and the logs in .run/logs/.",
                    file=sys.stderr,
                )
                return 1
        if not args.demo_only:
            serve_until_interrupted(stack)
    finally:
        print("Stopping every process the stack started …")
        stack.stop()
        print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
