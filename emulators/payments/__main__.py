"""`python -m emulators.payments serve …` runs the payment emulator (Stripe's API for the real stripe client)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from shared import log, settings


def _env(name: str) -> str | None:
    return os.environ.get(f"PAYMENTS_{name}") or None


def parser() -> argparse.ArgumentParser:
    s = settings.Settings(env="local")  # the emulator only ever plays the local gateway
    root = argparse.ArgumentParser(
        prog="python -m emulators.payments",
        description="The payment emulator: Stripe's customers, payment methods and PaymentIntents, "
        "with signed payment_intent.* webhooks.",
    )
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator (env PAYMENTS_* gives the defaults)")
    serve.add_argument("--host", default=_env("HOST") or "127.0.0.1")
    serve.add_argument("--port", type=int, default=int(_env("PORT") or 9012))
    serve.add_argument(
        "--webhook-url",
        default=_env("WEBHOOK_URL"),
        help="where payment_intent.* events are POSTed (the credits-payment-webhook function)",
    )
    serve.add_argument("--secret-key", default=s.payments_secret_key, help="the API key clients must present")
    serve.add_argument("--webhook-secret", default=s.payments_webhook_secret, help="the webhooks' signing secret")
    return root


def serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from emulators.payments.app import create_app
    from emulators.payments.processor import Processor
    from emulators.payments.webhooks import WebhookSender

    log.setup("payments-emulator", settings.get().log_level)
    sender = WebhookSender(args.webhook_secret, args.webhook_url)
    server = make_server(args.host, args.port, create_app(Processor(), sender, args.secret_key), threaded=True)
    # Service.stop() sends SIGTERM: leave serve_forever and close the socket cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("payments").info(
        "payment emulator listening",
        extra={"url": f"http://{args.host}:{server.port}", "webhook_url": args.webhook_url},
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        sender.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
