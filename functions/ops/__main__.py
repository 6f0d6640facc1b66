"""Operator CLI: list and replay dead letters, list rejected messages, see and seek subscription backlogs.

python -m functions.ops dead-letters [--all]
python -m functions.ops replay MESSAGE_ID [MESSAGE_ID ...] | --all
python -m functions.ops rejected [--consumer NAME]
python -m functions.ops backlog
python -m functions.ops seek SUBSCRIPTION --to TIME [--discard-older]
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions
from google.cloud import firestore
from google.cloud.pubsub_v1 import SubscriberClient

from functions.ops import backlog, dead_letters, seek
from shared import bus, catalog, cli, settings, store
from shared.events import utcnow


def pubsub_now() -> datetime:
    """Now by Pub/Sub's clock, the real one: publish times and seeks are in it, even when the local
    stack's clock (`utcnow`) has been moved."""
    return datetime.now(UTC)


def list_dead_letters(show_replayed: bool) -> int:
    query = store.db().collection(store.DEAD_LETTERS)
    rows = [r for d in query.stream() if (r := d.to_dict()) is not None]  # a streamed document exists
    rows = [r for r in rows if show_replayed or r.get("status") == "dead"]
    for r in sorted(rows, key=lambda r: str(r.get("at"))):
        print(
            f"{r['message_id']:>12}  {r.get('status', ''):8}  {r.get('event_type') or '?':24}  "
            f"from {r.get('source_subscription') or '?'} after {r.get('delivery_count')} attempts  "
            f"event {r.get('event_id')}"
        )
    print(f"{len(rows)} dead letter(s)")
    return 0


def replay(message_ids: list[str], everything: bool) -> int:
    collection = store.db().collection(store.DEAD_LETTERS)
    if everything:
        docs = [d for d in collection.stream() if d.get("status") == "dead"]
    else:
        docs = [collection.document(m).get() for m in message_ids]
    failures = 0
    for doc in docs:
        stored = doc.to_dict()
        if stored is None:
            print(f"{doc.id}: no such dead letter", file=sys.stderr)
            failures += 1
            continue
        try:
            again = dead_letters.replay_of(stored, utcnow())
        except ValueError as error:
            print(f"{doc.id}: {error}", file=sys.stderr)
            failures += 1
            continue
        new_id = bus.publish_raw(again.topic, again.data, again.attributes)
        doc.reference.update({"status": "replayed", "replayed_as": new_id, "replayed_at": firestore.SERVER_TIMESTAMP})
        print(f"{doc.id}: replayed on {again.topic} as message {new_id}")
    return 1 if failures else 0


def list_rejected(consumer: str | None) -> int:
    query: firestore.CollectionReference | firestore.Query = store.db().collection(store.REJECTED)
    if consumer:
        query = query.where(filter=firestore.FieldFilter("consumer", "==", consumer))
    rows = [r for d in query.stream() if (r := d.to_dict()) is not None]  # a streamed document exists
    for r in rows:
        print(f"{r['consumer']:28} message {r['message_id']:>10}  {r['reason'].splitlines()[0][:120]}")
    print(f"{len(rows)} rejected message(s)")
    return 0


def backlog_reader() -> backlog.BacklogReader:
    """The emulator's own count locally (it has no Cloud Monitoring), Cloud Monitoring in Google Cloud."""
    project = settings.get().project
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        return backlog.EmulatorBacklog(project)
    return backlog.MonitoringBacklog(project)


def show_backlog() -> int:
    reader, now = backlog_reader(), pubsub_now()
    rows = reader.read(catalog.load().consumers, now)
    print(f"{'subscription':28} {'undelivered':>11}  oldest")
    for row in rows:
        print(f"{row.subscription:28} {_describe(row, now)}")
    waiting = [row for row in rows if row.undelivered]
    print(f"{sum(row.undelivered for row in waiting)} undelivered message(s) in {len(waiting)} subscription(s)")
    if reader.reoffers_what_it_counts:
        print(
            "Counted on the Pub/Sub emulator (no Cloud Monitoring): each subscription was seeked to a snapshot "
            "of itself and pulled without acknowledging, so every message counted is offered to its consumer "
            "again and starts its delivery attempts over."
        )
    return 0


def _describe(row: backlog.Backlog, now: datetime) -> str:
    if not row.exists:
        return f"{'-':>11}  subscription not found"
    age = row.oldest_age(now)
    if age is None:
        return f"{row.undelivered:>11}  -"
    return f"{row.undelivered:>11}  {_duration(age)} old (published {row.oldest_published:%Y-%m-%d %H:%M:%S} UTC)"


def _duration(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    shown = ((days, "d"), (hours, "h"), (minutes, "m")) if days else ((hours, "h"), (minutes, "m"), (seconds, "s"))
    return "".join(f"{n}{unit}" for n, unit in shown if n) or "0s"


def seek_subscription(name: str, to: datetime, discard_older: bool) -> int:
    subscriber = SubscriberClient()
    path = subscriber.subscription_path(settings.get().project, name)
    try:
        subscription = subscriber.get_subscription(subscription=path)
    except exceptions.NotFound:
        print(f"{name}: no such subscription in project {settings.get().project}", file=sys.stderr)
        return 1
    [waiting] = backlog_reader().read([name], pubsub_now())
    try:
        seek.plan(name, to, waiting, discard_older=discard_older)
    except seek.SeekRefused as refusal:
        print(f"not seeked: {refusal}", file=sys.stderr)
        return 1
    subscriber.seek(request={"subscription": path, "time": to})
    print(f"{name}: seeked to {to.isoformat()}: messages published since then are offered again")
    if not subscription.retain_acked_messages:
        print(f"{name} does not retain acknowledged messages: only unacknowledged ones come back", file=sys.stderr)
    return 0


def catalog_subscription(name: str) -> str:
    """An argument type: a subscription the catalog declares; anything else is a usage error (exit 2)."""
    known = catalog.load().consumers
    if name not in known:
        raise argparse.ArgumentTypeError(f"{name!r} is not a catalog subscription; one of: {', '.join(sorted(known))}")
    return name


def seek_time(text: str) -> datetime:
    """An argument type: ISO 8601 with a zone, or a time ago such as -15m; a bad one is a usage error (exit 2)."""
    try:
        return seek.parse_time(text, pubsub_now())
    except seek.SeekRefused as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _time_ago_as_value(argv: list[str]) -> list[str]:
    """`--to -15m` as `--to=-15m`: argparse would otherwise take the time ago for an option."""
    joined, rest = [], iter(argv)
    for arg in rest:
        joined.append(f"--to={next(rest, '')}" if arg == "--to" else arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.ops", __doc__)
    listing = commands.add_parser("dead-letters", help="list dead letters waiting for a replay")
    listing.add_argument("--all", action="store_true", help="include the ones already replayed")
    again = commands.add_parser("replay", help="publish dead letters again on their original topic")
    again.add_argument("message_ids", nargs="*")
    again.add_argument("--all", action="store_true", help="every dead letter not yet replayed")
    rejected = commands.add_parser("rejected", help="list messages refused as invalid")
    rejected.add_argument("--consumer")
    commands.add_parser("backlog", help="undelivered messages and the oldest one's age, per catalog subscription")
    seeking = commands.add_parser("seek", help="offer a subscription's messages again from a time on")
    seeking.add_argument("subscription", type=catalog_subscription)
    seeking.add_argument(
        "--to",
        required=True,
        type=seek_time,
        metavar="TIME",
        help="ISO 8601 with a zone (2026-12-01T04:30:00Z) or a time ago (-15m, -2h, -1d)",
    )
    seeking.add_argument(
        "--discard-older",
        action="store_true",
        help="acknowledge undelivered messages published before TIME (they are never delivered)",
    )
    args = parser.parse_args(_time_ago_as_value(sys.argv[1:] if argv is None else argv))
    if args.command == "backlog":
        return show_backlog()
    if args.command == "seek":
        return seek_subscription(args.subscription, args.to, args.discard_older)
    if args.command == "dead-letters":
        return list_dead_letters(args.all)
    if args.command == "replay":
        if not args.message_ids and not args.all:
            parser.error("name message ids or --all")
        return replay(args.message_ids, args.all)
    return list_rejected(args.consumer)


if __name__ == "__main__":
    sys.exit(main())
