"""The clock's shared paged fan-out (shared/sweep.py): one event per due item, a follow-up tick when a
page is full, cursors that resume the right sweep, and event ids that stay the same across deploys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared import runtime, sweep
from shared.events import ClockTick, Envelope, ExpireAccount, derive_event_id

NOW = datetime(2026, 3, 16, 5, 0, tzinfo=timezone.utc)
A, B, C = "+998901234567", "+998901234568", "+998901234569"


def context(consumer: str = "ledger-expiry-sweep") -> runtime.Context[None]:
    tick = Envelope(id="tick-1", type="clock.ledger-expiry", occurred_at=NOW, correlation_id="tick-1", data={})
    return runtime.Context(consumer=consumer, event=tick, db=None, txn=None, now=NOW)  # emitting needs no Firestore


def finder(numbers: list[str], calls: list | None = None) -> sweep.Finder:
    """Accounts due one minute apart, paged like the Firestore query: after a position, at most `limit`."""
    items = [((NOW - timedelta(minutes=len(numbers) - i), number), number) for i, number in enumerate(numbers)]

    def find(before: datetime, after: sweep.Position | None, limit: int) -> list[sweep.Due]:
        if calls is not None:
            calls.append((before, after, limit))
        page = [(position, n) for position, n in items if position[0] <= before and (after is None or position > after)]
        return [sweep.Due(position, "ledger.expire-account", ExpireAccount(msisdn=n, due_before=before),
                          purpose=f"expire/{n}") for position, n in page[:limit]]
    return find


def test_a_full_page_fans_out_each_item_and_continues_after_its_last_item():
    ctx = context()
    sweep.run(ctx, ClockTick(at=NOW), [sweep.Sweep(finder([A, B, C]))], follow_up="clock.ledger-expiry", page_size=2)
    orders = [e for e in ctx.outbox if e.type == "ledger.expire-account"]
    [follow_up] = [e for e in ctx.outbox if e.type == "clock.ledger-expiry"]
    assert [e.data["msisdn"] for e in orders] == [A, B]
    # Ids as before the fan-out was shared: a tick redelivered across a deploy fans out the same events.
    assert [e.id for e in orders] == [derive_event_id("tick-1", f"ledger-expiry-sweep/expire/{n}") for n in (A, B)]
    assert follow_up.id == derive_event_id("tick-1", "ledger-expiry-sweep/next-page")
    assert follow_up.data["cursor"] == f"{(NOW - timedelta(minutes=2)).isoformat()}|{B}"

    rest = context()
    sweep.run(rest, ClockTick.model_validate(follow_up.data), [sweep.Sweep(finder([A, B, C]))],
              follow_up="clock.ledger-expiry", page_size=2)
    assert [e.data["msisdn"] for e in rest.outbox] == [C], "the last page is short: no further tick"


def test_named_sweeps_run_together_and_a_cursor_resumes_only_its_own():
    ctx, seen = context("missed-calls-housekeeping"), []
    sweeps = [sweep.Sweep(finder([A, B], seen), name="calls"), sweep.Sweep(finder([C]), name="fee")]
    sweep.run(ctx, ClockTick(at=NOW), sweeps, follow_up="clock.missed-calls", page_size=2)
    [follow_up] = [e for e in ctx.outbox if e.type == "clock.missed-calls"]
    assert follow_up.id == derive_event_id("tick-1", "missed-calls-housekeeping/next-page/calls")
    assert follow_up.data["cursor"].startswith("calls:")

    resumed = sweep.resumed(follow_up.data["cursor"], sweeps)
    assert [(s.name, after) for s, after in resumed] == [("calls", ((NOW - timedelta(minutes=1)), B))]


def test_a_tick_from_the_future_sweeps_only_up_to_now():
    seen: list = []
    sweep.run(context(), ClockTick(at=NOW + timedelta(days=3)), [sweep.Sweep(finder([A], seen))],
              follow_up="clock.ledger-expiry", page_size=10)
    assert seen == [(NOW, None, 10)]


@pytest.mark.parametrize("cursor", ["garbage", "fee:not-a-time|x", "nope:2026-03-16T05:00:00+00:00|x"])
def test_a_cursor_no_named_sweep_wrote_is_rejected(cursor):
    with pytest.raises(runtime.Rejected):
        sweep.resumed(cursor, [sweep.Sweep(finder([A]), name="calls"), sweep.Sweep(finder([B]), name="fee")])


@pytest.mark.parametrize("cursor", ["garbage", "not-a-time|x"])
def test_a_cursor_the_single_sweep_did_not_write_is_rejected(cursor):
    with pytest.raises(runtime.Rejected):
        sweep.resumed(cursor, [sweep.Sweep(finder([A]))])


# --- the services' own sweeps: event ids and cursors exactly as before the fan-out was shared ---


def test_missed_calls_housekeeping_fans_out_due_work_under_its_old_ids_and_cursors(monkeypatch):
    from functions.missed_calls import main, queries

    at = NOW - timedelta(minutes=5)
    users = {"due_at": [(at, A), (at, B)], "fee_due_at": [(at, C)]}
    monkeypatch.setattr(main, "SWEEP_PAGE", 2)
    monkeypatch.setattr(main.sweep, "due_positions", lambda db, collection, field, now, limit, after=None: users[field][:limit])
    monkeypatch.setattr(queries, "expired_voicemails", lambda db, before, limit, after=None: [(at, "CA1", A)])
    ctx = context("missed-calls-housekeeping")
    main.on_housekeeping_tick.handler(ctx, ClockTick(at=NOW))

    def derived(purpose: str) -> str:
        return derive_event_id("tick-1", f"missed-calls-housekeeping/{purpose}")

    due = [e for e in ctx.outbox if e.type == "missed-call.due"]
    assert [e.id for e in due] == [derived(p) for p in ("due/calls/" + A, "due/calls/" + B, "due/fee/" + C,
                                                        "due/voicemail/CA1")]
    assert [(e.data["work"], e.data["call_sid"]) for e in due] == [("calls", None), ("calls", None), ("fee", None),
                                                                  ("voicemail", "CA1")]
    [follow_up] = [e for e in ctx.outbox if e.type == "clock.missed-calls"]
    assert follow_up.id == derived("next-page/calls")
    assert follow_up.data["cursor"] == f"calls:{at.isoformat()}|{B}"


def test_ledger_expiry_sweep_orders_each_account_under_its_old_ids_and_cursor(monkeypatch):
    from functions.ledger import main
    from shared import ledger

    due = [(NOW - timedelta(minutes=2), A), (NOW - timedelta(minutes=1), B)]
    monkeypatch.setattr(main, "SWEEP_PAGE", 2)
    monkeypatch.setattr(ledger, "accounts_due", lambda db, due_before, limit, after=None: due[:limit])
    ctx = context("ledger-expiry-sweep")
    main.on_expiry_tick.handler(ctx, ClockTick(at=NOW))

    orders = [e for e in ctx.outbox if e.type == "ledger.expire-account"]
    assert [e.id for e in orders] == [derive_event_id("tick-1", f"ledger-expiry-sweep/expire/{n}") for n in (A, B)]
    [follow_up] = [e for e in ctx.outbox if e.type == "clock.ledger-expiry"]
    assert follow_up.id == derive_event_id("tick-1", "ledger-expiry-sweep/next-page")
    assert follow_up.data["cursor"] == f"{(NOW - timedelta(minutes=1)).isoformat()}|{B}"
