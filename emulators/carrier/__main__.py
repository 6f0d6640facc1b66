"""`python -m emulators.carrier serve …` runs the emulator; `… phone --msisdn … <command>` is a handset."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from datetime import timedelta

from shared import log, settings


def _env(name: str) -> str | None:
    return os.environ.get(f"CARRIER_{name}") or None


def parser() -> argparse.ArgumentParser:
    s = settings.Settings(env="local")  # the emulator only ever plays the local carrier
    root = argparse.ArgumentParser(
        prog="python -m emulators.carrier",
        description="The carrier emulator: Twilio Messages API, SMS centre, "
        "USSD gateway and network simulator, and a phone CLI.",
    )
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the emulator (env CARRIER_* gives the defaults)")
    serve.add_argument("--host", default=_env("HOST") or "127.0.0.1")
    serve.add_argument("--port", type=int, default=int(_env("PORT") or 8099))
    serve.add_argument("--ussd-webhook", default=_env("USSD_WEBHOOK"), help="URL of the USSD edge function")
    serve.add_argument("--sms-webhook", default=_env("SMS_WEBHOOK"), help="URL of the inbound SMS edge function")
    serve.add_argument("--voice-webhook", default=_env("VOICE_WEBHOOK"), help="URL of the inbound voice edge function")
    serve.add_argument(
        "--voice-number",
        default=_env("VOICE_NUMBER"),
        help="the VAS number calls to switched-off phones are forwarded to",
    )
    serve.add_argument(
        "--voice-status-callback",
        default=_env("VOICE_STATUS_CALLBACK"),
        help="URL told (signed, CallStatus completed) when a call that reached the voice webhook ends",
    )
    serve.add_argument("--account-sid", default=s.twilio_account_sid)
    serve.add_argument("--auth-token", default=s.twilio_auth_token)
    serve.add_argument("--gateway-secret", default=s.ussd_gateway_secret, help="HMAC secret of the USSD gateway")
    serve.add_argument("--network-code", default=_env("NETWORK_CODE") or "43405", help="MCC+MNC sent as networkCode")
    serve.add_argument(
        "--publish-network-events",
        choices=("auto", "on", "off"),
        default=_env("PUBLISH_NETWORK_EVENTS") or "auto",
        help="publish attach/detach to Pub/Sub topic network.attachment of VAS_PROJECT; "
        "auto: only when PUBSUB_EMULATOR_HOST is set",
    )
    serve.add_argument(
        "--public-url",
        default=_env("PUBLIC_URL"),
        help="the URL others reach this emulator at (recording URLs start with it); "
        "default: http://<host>:<port>, 127.0.0.1 when listening on all addresses",
    )
    serve.add_argument(
        "--store-validity",
        type=int,
        default=int(_env("STORE_VALIDITY") or 72 * 3600),
        help="seconds an SMS waits for a detached phone before it is undelivered (30003)",
    )

    phone = commands.add_parser("phone", help="be a subscriber's handset")
    phone.add_argument("--carrier", default=_env("URL") or "http://127.0.0.1:8099", help="the emulator's URL")
    phone.add_argument("--msisdn", required=True, help="this phone's number, e.g. +998901234567")
    actions = phone.add_subparsers(dest="action", required=True)
    actions.add_parser("dial", help="dial a USSD string, e.g. '*100#'").add_argument("ussd")
    sms = actions.add_parser("sms", help="text a short code")
    sms.add_argument("to")
    sms.add_argument("body", nargs="+")
    actions.add_parser("call", help="call a number; while the call waits, type keys, speech or hang up").add_argument(
        "to"
    )
    actions.add_parser("inbox", help="show the messages the phone received")
    actions.add_parser("on", help="switch the phone on (attach)")
    actions.add_parser("off", help="switch the phone off (detach)")
    return root


def serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from emulators.carrier.app import create_app
    from emulators.carrier.service import Carrier, CarrierConfig

    log.setup("carrier-emulator", settings.get().log_level)
    publish = {"on": True, "off": False}.get(args.publish_network_events, bool(os.environ.get("PUBSUB_EMULATOR_HOST")))
    config = CarrierConfig(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        gateway_secret=args.gateway_secret,
        ussd_webhook=args.ussd_webhook,
        sms_webhook=args.sms_webhook,
        voice_webhook=args.voice_webhook,
        voice_number=args.voice_number,
        voice_status_callback=args.voice_status_callback,
        network_code=args.network_code,
        publish_network_events=publish,
        store_validity=timedelta(seconds=args.store_validity),
    )
    carrier = Carrier(config)
    server = make_server(args.host, args.port, create_app(carrier), threaded=True)
    config.public_url = (args.public_url or _listening_url(args.host, server.port)).rstrip("/")
    # Service.stop() sends SIGTERM: leave serve_forever and close the socket cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("carrier").info(
        "carrier emulator listening",
        extra={
            "url": f"http://{args.host}:{server.port}",
            "ussd_webhook": config.ussd_webhook,
            "sms_webhook": config.sms_webhook,
            "voice_webhook": config.voice_webhook,
            "public_url": config.public_url,
            "publish_network_events": config.publish_network_events,
            "project": settings.get().project,
        },
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        carrier.dispatcher.stop()
    return 0


def _listening_url(host: str, port: int) -> str:
    """The URL a local client reaches the server at (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    from emulators.carrier.phone import run

    extra = {"dial": lambda: [args.ussd], "sms": lambda: [args.to, *args.body], "call": lambda: [args.to]}.get(
        args.action, list
    )()
    return run(args.carrier, args.msisdn, args.action, extra)


if __name__ == "__main__":
    sys.exit(main())
