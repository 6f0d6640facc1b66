"""Customer care for Voice+ and the add-on offers: campaigns (the console comes later).

python -m functions.voice_plus import FILE.yaml --by NAME   save one campaign or a list (each saved or refused)
python -m functions.voice_plus list                         every campaign: status, channel, tier, offer
python -m functions.voice_plus show ID                      a campaign as stored
python -m functions.voice_plus start|pause|stop ID --by NAME   draft -> live, live <-> paused, any -> stopped
python -m functions.voice_plus audit ID                     who changed what, and when
python -m functions.voice_plus stats [ID] [--days N]        the funnel per campaign, language and day

A file holds one campaign (a mapping) or several (a list, or `campaigns: [...]`). Each is checked
whole before it is saved (functions/voice_plus/store.py) and refused with every reason, naming the
field; an entry naming no status keeps the stored one. Times and days are the operator's (its
profile's time zone). A change reaches the edge within `campaign_refresh_seconds`.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from functions.voice_plus import store as campaigns
from functions.voice_plus.config import VoicePlusConfig, config_for
from functions.voice_plus.documents import Campaign, Status
from shared import cli, operator, store
from shared.events import utcnow
from shared.operator import OperatorProfile

COMMAND_STATUS: dict[str, Status] = {"start": "live", "pause": "paused", "stop": "stopped"}


def _config() -> tuple[OperatorProfile, VoicePlusConfig] | None:
    profile = operator.current()
    config = config_for(profile)
    if config is None:
        print("Voice+ is off: the operator profile names no preset under services.voice_plus", file=sys.stderr)
    return None if config is None else (profile, config)


def entries_of(loaded: Any) -> list[Mapping[str, Any]] | str:
    """The campaigns a YAML file holds, or why it holds none."""
    if isinstance(loaded, Mapping) and "campaigns" in loaded:
        loaded = loaded["campaigns"]
    found = [loaded] if isinstance(loaded, Mapping) else loaded
    if not isinstance(found, list) or not found or not all(isinstance(entry, Mapping) for entry in found):
        return "the file holds no campaign: give a mapping, a list of them, or campaigns: [...]"
    return found


def import_file(path: Path, by: str) -> int:
    """Save every campaign of the file; 0 when all were saved, 1 when any was refused (the others are saved)."""
    found = _config()
    if found is None:
        return 1
    profile, config = found
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    entries = entries_of(loaded)
    if isinstance(entries, str):
        print(f"{path}: {entries}", file=sys.stderr)
        return 1
    db, refused = store.db(), 0
    for entry in entries:
        try:
            campaign_id = campaigns.parsed(entry).id  # checked before its id names a document
            saved, changed = campaigns.save(
                db,
                campaign_id,
                campaigns.imported(entry),
                by=by,
                action="import",
                now=utcnow(),
                config=config,
                profile=profile,
            )
        except campaigns.Refused as refusal:
            refused += 1
            print(refusal, file=sys.stderr)
            continue
        what = f"{len(changed)} fields changed" if changed else "unchanged"
        print(f"campaign {saved.id} saved ({saved.status}, {saved.channel}): {what}")
    return 1 if refused else 0


def list_campaigns() -> int:
    db = store.db()
    found = campaigns.every(db)
    used = campaigns.budgets_used(db, [campaign.id for campaign in found]) if found else {}
    print(f"campaigns: {len(found)}")
    for campaign in found:
        print(
            f"  {campaign.id}  {campaign.status:<7} {campaign.channel:<5} {campaign.tier}/{campaign.weight}  "
            f"{campaign.offer.kind} {campaign.offer.product}  {budget_line(campaign, used[campaign.id])}  "
            f"{campaign.name}"
        )
    return 0


def budget_line(campaign: Campaign, used: int) -> str:
    """Activations counted against the budget, and the budget."""
    return f"budget {used}/{campaign.budget if campaign.budget is not None else 'unlimited'}"


def describe(campaign: Campaign, used: int) -> list[str]:
    """A campaign as care reads it."""
    schedule, segment, cap = campaign.schedule, campaign.segment, campaign.cap
    hours = ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in schedule.hours) or "all day"
    said = campaign.voice if campaign.channel == "voice" else campaign.text
    targeted = {name: value for name, value in segment.model_dump(mode="json").items() if value}
    return [
        f"{campaign.id} ({campaign.channel}) {campaign.name}: {campaign.status}; tier {campaign.tier}, "
        f"weight {campaign.weight}",
        f"offer: {campaign.offer.kind} {campaign.offer.product}; keys "
        f"{', '.join(f'{key} {action}' for key, action in campaign.offer.keys.items())}; "
        f"confirmation {'asked' if campaign.offer.confirm else 'none'}"
        + (f"; keyword {campaign.keyword}" if campaign.keyword else ""),
        f"schedule: {schedule.starts} to {schedule.ends or 'open'}; {' '.join(schedule.days)}; {hours}",
        f"segment: {targeted or 'everyone'}",
        f"cap: {cap.plays} plays in {cap.period_hours} h, {cap.min_gap_minutes} min apart; "
        + budget_line(campaign, used),
        *(f"  {language}: {getattr(prompt, 'shown', prompt)}" for language, prompt in sorted(said.items())),
    ]


def show(campaign_id: str) -> int:
    db = store.db()
    campaign = campaigns.read(db, campaign_id)
    if campaign is None:
        print(f"no campaign {campaign_id}", file=sys.stderr)
        return 1
    print("\n".join(describe(campaign, campaigns.budgets_used(db, [campaign_id])[campaign_id])))
    return 0


def move(campaign_id: str, status: Status, by: str) -> int:
    found = _config()
    if found is None:
        return 1
    profile, config = found
    try:
        moved, changed = campaigns.save(
            store.db(),
            campaign_id,
            campaigns.moved_to(campaign_id, status),
            by=by,
            action=campaigns.ACTIONS[status],
            now=utcnow(),
            config=config,
            profile=profile,
        )
    except campaigns.Refused as refusal:
        print(refusal, file=sys.stderr)
        return 1
    print(f"campaign {moved.id} is {moved.status}" + ("" if changed else " (already)"))
    return 0


def audit(campaign_id: str) -> int:
    zone = ZoneInfo(operator.current().timezone)
    entries = campaigns.audit_of(store.db(), campaign_id)
    if not entries:
        print(f"no audit for campaign {campaign_id}", file=sys.stderr)
        return 1
    for entry in entries:
        at: datetime = entry["at"]
        print(f"{at.astimezone(zone):%Y-%m-%d %H:%M:%S}  {entry['action']:<7} by {entry['by']}")
        for field, change in entry["changes"].items():
            print(f"    {field}: {change['before']!r} -> {change['after']!r}")
    return 0


def show_stats(campaign_id: str | None, days: int) -> int:
    from functions.voice_plus import stats  # the funnel's counters; only this command needs them

    until = utcnow().astimezone(ZoneInfo(operator.current().timezone)).date()
    rows = stats.funnel(store.db(), campaign_id, until - timedelta(days=days - 1), until)
    print(stats.format_funnel(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, commands = cli.commands("functions.voice_plus", __doc__)
    imports = commands.add_parser("import", help="save the campaigns of a YAML file (each saved or refused)")
    imports.add_argument("file", metavar="FILE.yaml", type=Path)
    commands.add_parser("list", help="every campaign")
    for name, help_text in (("show", "a campaign as stored"), ("audit", "who changed a campaign, what and when")):
        commands.add_parser(name, help=help_text).add_argument("id", metavar="ID")
    for name in COMMAND_STATUS:
        commands.add_parser(name, help=f"{name} a campaign").add_argument("id", metavar="ID")
    for name in ("import", *COMMAND_STATUS):
        commands.choices[name].add_argument("--by", default=getpass.getuser(), help="who (default: you)")
    statistics = commands.add_parser("stats", help="the funnel per campaign, language and day")
    statistics.add_argument("id", metavar="ID", nargs="?")
    statistics.add_argument("--days", type=int, default=7, help="the last N days in the operator's zone (default 7)")
    args = parser.parse_args(argv)
    if args.command == "import":
        return import_file(args.file, args.by)
    if args.command in COMMAND_STATUS:
        return move(args.id, COMMAND_STATUS[args.command], args.by)
    if args.command == "stats":
        return show_stats(args.id, max(args.days, 1))
    handlers = {"list": list_campaigns, "show": lambda: show(args.id), "audit": lambda: audit(args.id)}
    return handlers[args.command]()


if __name__ == "__main__":
    sys.exit(main())
