"""Operator CLI: list and replay dead letters, list rejected messages.

  python -m functions.ops dead-letters [--all]
  python -m functions.ops replay MESSAGE_ID [MESSAGE_ID ...] | --all
  python -m functions.ops rejected [--consumer NAME]
"""

from __future__ import annotations

import sys

from google.cloud import firestore

from functions.ops import dead_letters
from shared import bus, cli, store
from shared.events import utcnow


def list_dead_letters(show_replayed: bool) -> int:
    query = store.db().collection(store.DEAD_LETTERS)
    rows = [d.to_dict() for d in query.stream()]
    rows = [r for r in rows if show_replayed or r.get("status") == "dead"]
    for r in sorted(rows, key=lambda r: str(r.get("at"))):
        print(f"{r['message_id']:>12}  {r.get('status', ''):8}  {r.get('event_type') or '?':24}  "
              f"from {r.get('source_subscription') or '?'} after {r.get('delivery_count')} attempts  "
              f"event {r.get('event_id')}")
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
        if not doc.exists:
            print(f"{doc.id}: no such dead letter", file=sys.stderr)
            failures += 1
            continue
        try:
            again = dead_letters.replay_of(doc.to_dict(), utcnow())
        except ValueError as error:
            print(f"{doc.id}: {error}", file=sys.stderr)
            failures += 1
            continue
        new_id = bus.publish_raw(again.topic, again.data, again.attributes)
        doc.reference.update({"status": "replayed", "replayed_as": new_id, "replayed_at": firestore.SERVER_TIMESTAMP})
        print(f"{doc.id}: replayed on {again.topic} as message {new_id}")
    return 1 if failures else 0


def list_rejected(consumer: str | None) -> int:
    query = store.db().collection(store.REJECTED)
    if consumer:
        query = query.where(filter=firestore.FieldFilter("consumer", "==", consumer))
    rows = [d.to_dict() for d in query.stream()]
    for r in rows:
        print(f"{r['consumer']:28} message {r['message_id']:>10}  {r['reason'].splitlines()[0][:120]}")
    print(f"{len(rows)} rejected message(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.ops", __doc__)
    listing = commands.add_parser("dead-letters", help="list dead letters waiting for a replay")
    listing.add_argument("--all", action="store_true", help="include the ones already replayed")
    again = commands.add_parser("replay", help="publish dead letters again on their original topic")
    again.add_argument("message_ids", nargs="*")
    again.add_argument("--all", action="store_true", help="every dead letter not yet replayed")
    rejected = commands.add_parser("rejected", help="list messages refused as invalid")
    rejected.add_argument("--consumer")
    args = parser.parse_args(argv)
    if args.command == "dead-letters":
        return list_dead_letters(args.all)
    if args.command == "replay":
        if not args.message_ids and not args.all:
            parser.error("name message ids or --all")
        return replay(args.message_ids, args.all)
    return list_rejected(args.consumer)


if __name__ == "__main__":
    sys.exit(main())
