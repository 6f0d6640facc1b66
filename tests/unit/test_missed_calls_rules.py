"""The missed-call rules of spec/missed-calls.md, pure: merging per caller, texts per choice, privacy and
priority, black and white lists, the monthly cap, retention summaries and the call's furthest state."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from functions.missed_calls import calls, charging, delivery, documents, housekeeping, options, reminders
from functions.missed_calls.config import load_preset
from functions.missed_calls.models import MissedCall, MissedCallUser, NetworkState
from shared import operator, texts
from shared.events import MissedCallOptionsChanged, MissedCallRecorded
from shared.money import Currency

UZS = Currency(code="UZS", minor_unit=2, symbol="so'm")
CONFIG = load_preset("demotel-reminder", UZS)
A, B, C, D = "+998901234567", "+998901234568", "+998901234569", "+998901234570"
T0 = datetime(2026, 5, 11, 5, 0, tzinfo=timezone.utc)  # 10:00 in Tashkent
TASHKENT = ZoneInfo("Asia/Tashkent")
CALLEE = reminders.Recipient(B, "en", TASHKENT)


def event(sid="CA1", caller=A, minutes=0, **fields) -> MissedCallRecorded:
    return MissedCallRecorded(call_sid=sid, caller=caller, callee=B, reason="unreachable",
                              called_at=T0 + timedelta(minutes=minutes), **fields)


def call(sid, caller=A, minutes=0, choice="none", **fields) -> MissedCall:
    return calls.merged(None, event(sid, caller, minutes, choice=choice, final=True, **fields), now=T0)


def reference(purpose: str) -> str:
    return f"ref/{purpose}"


def told(found, **kwargs):
    return reminders.callee_messages(reminders.digests(found), CALLEE, config=CONFIG, currency=UZS,
                                     reference=reference, **kwargs)


def rendered(outgoing) -> str:
    return texts.render(outgoing.sms.template, outgoing.sms.language, **outgoing.sms.params)


# --- a call's furthest state, whatever order its publications arrive in -------------------------

def test_a_choice_never_goes_back_to_none_and_final_only_goes_true():
    pressed = calls.merged(None, event(choice="leave_number", final=True), now=T0)
    late_first = calls.merged(pressed, event(choice="none", final=False), now=T0)
    assert (late_first.choice, late_first.final) == ("leave_number", True)


def test_recording_fields_only_fill_in_and_the_earliest_call_time_stands():
    first = calls.merged(None, event(minutes=1, choice="voicemail"), now=T0)
    recorded = calls.merged(first, event(choice="voicemail", recording_sid="RE1", recording_url="http://r/RE1",
                                         recording_seconds=12, final=True), now=T0)
    stale = calls.merged(recorded, event(minutes=2, choice="voicemail"), now=T0)
    assert (stale.recording_sid, stale.recording_seconds, stale.final) == ("RE1", 12, True)
    assert stale.called_at == T0


def test_a_reprompted_caller_s_final_key_wins_over_an_earlier_one():
    three = calls.merged(None, event(choice="other_number", other_number=C), now=T0)
    two = calls.merged(three, event(choice="leave_number", final=True), now=T0)
    assert (two.choice, two.other_number) == ("leave_number", None)


@pytest.mark.parametrize("user, verdict", [
    ({"blacklist": [A]}, "blacklist"),
    ({"whitelist": [C]}, "not_whitelisted"),
    ({"whitelist": [A, C]}, None),
    ({}, None),
])
def test_black_list_drops_and_a_non_empty_white_list_keeps_only_its_numbers(user, verdict):
    assert calls.screened_out(A, MissedCallUser.model_validate(user)) == verdict


def test_an_unregistered_callee_gets_a_number_reminder_and_the_recording_is_not_kept():
    left = call("CA1", choice="voicemail", recording_sid="RE1", recording_url="http://r/RE1")
    kept, discard = calls.with_mailbox(left, registered=False)
    assert (kept.choice, kept.recording_sid, discard) == ("leave_number", None, "RE1")
    assert calls.with_mailbox(left, registered=True) == (left, None)


def test_a_caller_who_is_still_in_the_ivr_is_not_told_yet_but_a_lost_final_does_not_lose_the_call():
    ongoing = calls.merged(None, event(), now=T0)
    assert not calls.journey_over(ongoing, T0 + timedelta(minutes=1))
    assert calls.journey_over(ongoing, T0 + calls.IVR_JOURNEY_MAX)


def test_a_hang_up_report_lets_the_key_land_before_a_reachable_callee_is_told_but_not_at_attach():
    hung_up = calls.merged(calls.merged(None, event(), now=T0), event(hung_up=True), now=T0 + timedelta(seconds=5))
    assert (hung_up.final, hung_up.hung_up_at) == (False, T0 + timedelta(seconds=5))
    assert not calls.journey_over(hung_up, T0 + timedelta(seconds=6))
    assert calls.journey_over(hung_up, T0 + timedelta(seconds=5) + calls.HANG_UP_SETTLE)
    assert calls.journey_over(hung_up, T0 + timedelta(seconds=6), at_attach=True)
    assert housekeeping.due_for_pending(hung_up, attached=True, retention=CONFIG.retention, now=T0) == \
        T0 + timedelta(seconds=5) + calls.HANG_UP_SETTLE
    keyed = calls.merged(hung_up, event(choice="leave_number", final=True), now=T0 + timedelta(seconds=6))
    assert (keyed.choice, keyed.final) == ("leave_number", True)
    assert calls.journey_over(keyed, T0 + timedelta(seconds=6))


def test_a_key_that_arrives_after_the_free_notice_reopens_the_call_but_a_late_key_4_does_not():
    told = calls.merged(None, event(hung_up=True), now=T0).model_copy(update={"status": calls.NOTIFIED})
    assert calls.merged(told, event(choice="leave_number", final=True), now=T0).status == calls.PENDING
    assert calls.merged(told, event(choice="notify_me", final=True), now=T0).status == calls.NOTIFIED
    keyed_and_told = calls.merged(None, event(choice="leave_number", final=True), now=T0).model_copy(
        update={"status": calls.NOTIFIED})
    assert calls.merged(keyed_and_told, event(hung_up=True), now=T0).status == calls.NOTIFIED


def test_the_newest_network_report_of_either_source_says_whether_the_callee_is_reachable():
    user = MissedCallUser(network={"state": "attached", "at": T0})
    subscriber = {"network_state": {"state": "detached", "at": T0 + timedelta(seconds=1)}}
    assert not calls.reachable(user, subscriber)
    assert calls.reachable(user, {})
    assert not calls.reachable(MissedCallUser(), {})


# --- one SMS per caller -----------------------------------------------------------------------

def test_three_calls_from_one_caller_who_left_their_number_make_one_sms_saying_three():
    [sms] = told([call("CA1", minutes=0), call("CA2", minutes=5), call("CA3", minutes=9, choice="leave_number")])
    assert sms.sms.template == "missed_calls.reminder.leave_number"
    assert sms.sms.params == {"caller": A, "count": 3, "first_at": "05-11 10:00", "last_at": "05-11 10:09"}
    assert sms.sms.billing == documents.BILL_REMINDER and sms.call_sids == ("CA1", "CA2", "CA3")
    assert rendered(sms).startswith(f"Missed calls from {A}: 3 (first 05-11 10:00, last 05-11 10:09)")


def test_each_caller_gets_their_own_sms_with_the_text_of_their_most_informative_key():
    found = [call("CA1", A, 0, "leave_number"), call("CA2", C, 1, "other_number", other_number=D),
             call("CA3", A, 2, "voicemail", recording_sid="RE3"), call("CA4", D, 3, "leave_number")]
    sent = {s.sms.params["caller"]: s for s in told(found)}
    assert sent[A].sms.template == "missed_calls.reminder.voicemail"
    assert sent[A].sms.params["voicemail_number"] == "06002" and sent[A].sms.params["count"] == 2
    assert sent[C].sms.template == "missed_calls.reminder.other_number" and sent[C].sms.params["number"] == D
    assert "Please call them back on " + D in rendered(sent[C])
    assert sent[D].sms.template == "missed_calls.reminder.leave_number"


def test_callers_who_chose_nothing_share_one_free_short_notice_with_the_d_query():
    found = [call("CA1", A, 0), call("CA2", C, 1), call("CA3", C, 2, "notify_me")]
    [notice] = told(found)
    assert notice.sms.template == "missed_calls.reminder.short_notice" and notice.sms.billing is None
    assert notice.sms.params == {"count": 3, "short_code": "06001", "hours": 24, "price": "50 so'm"}
    assert rendered(notice) == ("Missed calls: 3. Reply D to 06001 within 24 hours for details "
                                "(50 so'm per query SMS); this message is free.")


def test_times_are_the_callee_s_local_time_in_their_language():
    zh = reminders.Recipient(B, "zh", TASHKENT)
    assert reminders.short_time(T0, zh) == "05月11日10:00"
    assert reminders.short_time(T0, reminders.Recipient(B, "ru", TASHKENT)) == "11.05 10:00"


# --- key 4: privacy and caller priority ---------------------------------------------------------

@pytest.mark.parametrize("callee, caller, priority, allowed", [
    ({}, {}, "callee", True),
    ({"privacy": True}, {}, "callee", False),
    ({"privacy": True, "registered": True}, {"registered": True}, "callee", False),
    ({"privacy": True, "registered": True}, {"registered": True}, "caller", True),
    ({"privacy": True, "registered": True}, {}, "caller", False),
])
def test_availability_is_withheld_by_privacy_unless_both_are_registered_and_the_caller_has_priority(
        callee, caller, priority, allowed):
    assert reminders.availability_allowed(MissedCallUser.model_validate(callee), MissedCallUser.model_validate(caller),
                                          priority) is allowed


def test_the_available_sms_names_the_callee_and_the_time_of_the_call():
    [digest] = reminders.digests([call("CA1", A, 0, "notify_me"), call("CA2", A, 7, "notify_me")])
    sms = reminders.availability_message(digest, callee=B, caller=reminders.Recipient(A, "en", TASHKENT),
                                         config=CONFIG, reference=reference)
    assert (sms.sms.to, sms.sms.billing) == (A, documents.BILL_AVAILABILITY)
    assert rendered(sms) == f"The subscriber {B} you called at 05-11 10:07 is now available, please call them."


# --- options ---------------------------------------------------------------------------------

def change(action, number=None) -> MissedCallOptionsChanged:
    return MissedCallOptionsChanged(request_id="r1", msisdn=B, action=action, number=number, channel="sms",
                                    requested_at=T0)


def decide(user, action, number=None, balance=0):
    return options.decide(user, change(action, number), config=CONFIG, month="2026-05", balance=balance,
                          currency=UZS, next_fee_at=T0, now=T0)


def test_registering_charges_the_month_s_fee_when_the_balance_allows_and_a_repeat_changes_nothing():
    fee = CONFIG.charging.monthly_fee
    first = decide(options.new_user(B), "register", balance=fee)
    assert (first.fee, first.update["registered"], first.update["fee_months"]) == (fee, True, ["2026-05"])
    again = decide(options.new_user(B).model_copy(update=first.update), "register", balance=0)
    assert (again.fee, again.update, again.template) == (0, {}, "missed_calls.options.registered")


def test_registering_without_the_fee_is_refused_and_charges_nothing():
    refused = decide(options.new_user(B), "register", balance=CONFIG.charging.monthly_fee - 1)
    assert (refused.template, refused.fee, refused.update) == ("missed_calls.options.register_refused", 0, {})


def test_registering_again_in_a_paid_month_is_free():
    back = decide(options.new_user(B).model_copy(update={"fee_months": ["2026-05"]}), "register")
    assert (back.fee, back.update["registered"]) == (0, True)


def test_a_number_is_on_one_list_at_most_and_the_lists_are_capped():
    on_white = options.new_user(B).model_copy(update={"whitelist": [A]})
    moved = decide(on_white, "blacklist_add", A)
    assert moved.update == {"blacklist": [A], "whitelist": []}
    full = options.new_user(B).model_copy(update={"blacklist": [f"+99890{n:07d}" for n in range(options.LIST_LIMIT)]})
    assert decide(full, "blacklist_add", A).template == "missed_calls.options.blacklist_full"
    assert decide(full, "blacklist_add", A).update == {}


def test_repeated_list_and_privacy_requests_change_nothing_and_confirm_the_same():
    user = options.new_user(B).model_copy(update={"blacklist": [A], "privacy": True})
    assert decide(user, "blacklist_add", A).update == {}
    assert decide(user, "privacy_on").update == {}
    assert decide(user, "whitelist_remove", C).template == "missed_calls.options.whitelist_removed"
    assert decide(user, "blacklist_add").template == "missed_calls.options.number_missing"


# --- charging --------------------------------------------------------------------------------

def charge(status="delivered", price=50_00, used=0, cap=None, balance=10_000_00, subscriber=True):
    return charging.decide(status=status, price=price, subscriber=subscriber, used=used, cap=cap, balance=balance)


def test_only_a_delivered_sms_is_charged():
    assert charge().amount == 50_00 and charge().charged
    assert charge("undelivered").why_not == "not charged: undelivered" and not charge("failed").charged


def test_the_monthly_cap_charges_what_is_left_under_it_then_nothing():
    cap = 5_000_00
    assert charge(used=cap - 20_00, cap=cap).amount == 20_00
    assert charge(used=cap, cap=cap).why_not == "not charged: monthly cap reached"


def test_a_balance_short_of_the_price_charges_nothing_never_half():
    short = charge(balance=49_99)
    assert (short.amount, short.why_not) == (0, "not charged: insufficient balance")


def test_another_service_s_billing_tag_has_no_price_here():
    assert charging.price_of("zero-balance/callback", CONFIG) is None
    assert charging.price_of(documents.BILL_DETAILS, CONFIG) == CONFIG.charging.details_query_price


def test_the_calendar_month_is_the_operator_s():
    assert charging.month_of(datetime(2026, 5, 31, 20, 0, tzinfo=timezone.utc), TASHKENT) == "2026-06"
    assert charging.usage_after({"2026-05": 10}, "2026-05", 5) == {"2026-05": 15}


# --- retention -------------------------------------------------------------------------------

def test_calls_past_retention_are_counted_in_the_summary_not_lost():
    old = [call("CA1", A, 0), call("CA2", C, 5), call("CA3", A, 9)]
    summary = housekeeping.folded(None, old, callee=B, now=T0)
    summary = housekeeping.folded(summary, [call("CA4", D, 20)], callee=B, now=T0)
    assert (summary.count, summary.callers) == (4, [A, C, D])
    [sms] = [reminders.summary_message(summary, CALLEE, config=CONFIG, reference=reference)]
    assert rendered(sms) == ("Also 4 more calls from 3 numbers between 05-11 10:00 and 05-11 10:20 were older "
                             "than 72 hours and are not kept in detail.")


def test_when_the_clock_must_look_again():
    pending = call("CA1")
    assert housekeeping.due_for_pending(pending, attached=False, retention=CONFIG.retention, now=T0) == \
        T0 + CONFIG.retention
    ongoing = calls.merged(None, event(), now=T0)
    assert housekeeping.due_for_pending(ongoing, attached=True, retention=CONFIG.retention, now=T0) == \
        T0 + calls.IVR_JOURNEY_MAX
    assert housekeeping.due_after_delivery([], capped=True, now=T0) == T0
    assert housekeeping.due_after_delivery([], capped=False, now=T0) is None
    assert housekeeping.next_month_start(datetime(2026, 12, 31, 20, tzinfo=timezone.utc), TASHKENT) == \
        datetime(2027, 2, 1, tzinfo=TASHKENT)


def test_a_busy_or_unanswered_forward_proves_the_phone_is_on_and_an_unreachable_one_that_it_is_off():
    long_ago = MissedCallUser(network={"state": "detached", "at": T0 - timedelta(days=3)})
    busy = call("CA1").model_copy(update={"reason": "busy"})
    assert calls.reachable(long_ago, {}, busy)                  # on since: the HLR never said so
    assert not calls.reachable(long_ago, {})
    stale_on = MissedCallUser(network={"state": "attached", "at": T0 - timedelta(hours=1)})
    assert not calls.reachable(stale_on, {}, call("CA2").model_copy(update={"reason": "unreachable"}))
    newer_off = MissedCallUser(network={"state": "detached", "at": T0 + timedelta(minutes=1)})
    assert not calls.reachable(newer_off, {}, busy)              # the HLR's newer word wins
    assert calls.network_report(call("CA3").model_copy(update={"reason": "unconditional"})) is None


# --- a delivery decided without Firestore: read -> decide -> write ----------------------------

PROFILE = operator.load_file(Path("shared/operators/demo.yaml"))


def callee(**user) -> delivery.Callee:
    return delivery.Callee(B, options.new_user(B).model_copy(update=user), True, {"msisdn": B, "language": "en"},
                           CALLEE)


def test_a_delivery_tells_each_caller_once_marks_the_calls_and_keeps_the_notice():
    pending = [call("CA1", A, 0, "leave_number"), call("CA2", A, 5, "none"), call("CA3", C, 7, "notify_me")]
    state = delivery.DeliveryState(pending, summary=None, notice=None,
                                   callers={C: delivery.CallerToTell(options.new_user(C), "ru")})
    decided = delivery.decide(callee(), state, config=CONFIG, profile=PROFILE, now=T0 + timedelta(hours=1),
                              reference=reference, episode=T0, at_attach=True)
    purposes = [message.purpose for message in decided.messages]
    assert purposes == ["activation", f"reminder/{A}", "short-notice", f"available/{C}"]
    assert decided.told_sids == {"CA1", "CA2", "CA3"}
    assert {c.call_sid: (c.status, c.notice_id, c.availability) for c in decided.told} == {
        "CA1": (calls.NOTIFIED, f"ref/reminder/{A}", None), "CA2": (calls.NOTIFIED, f"ref/reminder/{A}", None),
        "CA3": (calls.NOTIFIED, "ref/short-notice", "sent")}
    assert decided.messages[-1].sms.language == "ru"
    assert [item.caller for item in decided.notice.calls] == [A, C]
    assert decided.user_fields == {"activation_notice_at": T0 + timedelta(hours=1), "due_at": None}
    assert not decided.summary_cleared


def test_a_delivery_withholds_availability_under_privacy_and_tells_the_summary_once():
    summary = housekeeping.folded(None, [call("CA0", D, -3000)], callee=B, now=T0)
    state = delivery.DeliveryState([call("CA3", C, 7, "notify_me")], summary=summary, notice=None)
    decided = delivery.decide(callee(privacy=True, activation_notice_at=T0), state, config=CONFIG, profile=PROFILE,
                              now=T0 + timedelta(hours=1), reference=reference, episode=T0, at_attach=True)
    assert [message.purpose for message in decided.messages] == ["short-notice", "summary"]
    assert decided.told[0].availability == "withheld_privacy"
    assert decided.summary_cleared


def test_a_delivery_leaves_a_call_still_in_the_ivr_and_comes_back_when_it_must_be_over():
    open_call = calls.merged(None, event("CA9", C, 50, choice="none"), now=T0)
    state = delivery.DeliveryState([call("CA1", A, 0, "leave_number")], summary=None, notice=None)
    now = T0 + timedelta(minutes=55)
    decided = delivery.decide(callee(activation_notice_at=T0), state, config=CONFIG, profile=PROFILE, now=now,
                              reference=reference, episode=T0, include=open_call)
    assert decided.told_sids == {"CA1"}
    assert decided.user_fields == {"due_at": calls.journey_ends_at(open_call)}


def test_a_delivery_past_the_cap_tells_the_oldest_and_comes_back_at_once():
    cap = CONFIG.max_calls_per_attach
    pending = [call(f"CA{i:04d}", A, i, "leave_number") for i in range(cap + 1)]
    decided = delivery.decide(callee(activation_notice_at=T0), delivery.DeliveryState(pending, None, None),
                              config=CONFIG, profile=PROFILE, now=T0 + timedelta(days=1), reference=reference,
                              episode=T0, at_attach=True)
    assert len(decided.told) == cap and decided.capped
    assert decided.user_fields == {"due_at": T0 + timedelta(days=1)}


def test_summarising_folds_only_calls_past_retention_and_looks_again_when_the_next_one_passes():
    pending = [call("CA1", A, 0), call("CA2", C, 10), call("CA3", A, 60 * 24 * 30)]
    now = T0 + CONFIG.retention + timedelta(minutes=5)
    folding = housekeeping.summarise(pending, None, callee=B, cap=CONFIG.max_calls_per_attach,
                                     retention=CONFIG.retention, now=now)
    assert folding.summarised == ("CA1",)
    assert (folding.summary.count, folding.summary.callers) == (1, [A])
    assert folding.due_at == pending[1].called_at + CONFIG.retention
    nothing = housekeeping.summarise(pending[2:], None, callee=B, cap=10, retention=CONFIG.retention, now=now)
    assert (nothing.summarised, nothing.summary) == ((), None)


# --- documents as models: what Firestore already holds still loads and is written back as read --

def test_a_stored_call_of_an_earlier_version_loads_with_defaults_and_keeps_fields_it_does_not_know():
    stored = {"call_sid": "CA1", "caller": A, "callee": B, "called_at": T0, "status": "pending",
              "some_future_field": {"kept": True}}
    loaded = MissedCall.model_validate(stored)
    assert (loaded.choice, loaded.final, loaded.hung_up_at) == ("none", False, None)
    assert loaded.fields() == stored, "no default it did not have, nothing it had lost"
    told = loaded.model_copy(update={"status": calls.NOTIFIED})
    assert told.fields() == {**stored, "status": calls.NOTIFIED}


def test_a_new_user_is_stored_exactly_as_before_and_a_bare_user_document_loads():
    assert options.new_user(B).fields() == {"msisdn": B, "registered": False, "privacy": False, "blacklist": [],
                                            "whitelist": [], "fee_months": [], "usage": {}}
    bare = MissedCallUser.model_validate({"due_at": T0})   # written by a merge before any option was set
    assert (bare.registered, bare.blacklist, bare.usage, bare.due_at) == (False, [], {}, T0)


def test_a_notice_and_a_summary_keep_their_stored_shape():
    [digest] = reminders.digests([call("CA1", A, 0, "other_number", other_number=C)])
    notice = reminders.notice_document(None, [digest], callee=B, episode=T0, now=T0, window=timedelta(hours=24))
    assert notice.fields() == {"callee": B, "episode": T0, "sent_at": T0, "window_ends_at": T0 + timedelta(hours=24),
                               "calls": [{"caller": A, "count": 1, "first_at": T0, "last_at": T0,
                                          "choice": "other_number", "other_number": C, "call_sids": ["CA1"]}]}
    summary = housekeeping.folded(None, [call("CA1")], callee=B, now=T0)
    assert set(summary.fields()) == {"callee", "count", "callers", "callers_beyond", "first_at", "last_at",
                                     "updated_at"}


def test_a_call_told_again_because_its_key_came_late_counts_once_in_the_d_notice():
    # The attach told A's two hung-up calls; CA2's key arrived afterwards and reopened it: told again.
    at_attach = reminders.digests([call("CA1", A, 0), call("CA2", A, 1)])
    first = reminders.notice_document(None, at_attach, callee=B, episode=T0, now=T0, window=timedelta(hours=24))
    reopened = reminders.digests([call("CA2", A, 1, "leave_number")])
    merged = reminders.notice_document(first, reopened, callee=B, episode=T0, now=T0, window=timedelta(hours=24))
    assert [(c.caller, c.count, c.choice) for c in merged.calls] == [(A, 2, "leave_number")]
    assert merged.calls[0].call_sids == ["CA1", "CA2"]
    # A capped attach's second part adds new calls; a notice stored before calls were listed still adds up.
    more = reminders.notice_document(merged, reminders.digests([call("CA3", A, 2)]), callee=B, episode=T0, now=T0,
                                     window=timedelta(hours=24))
    assert more.calls[0].count == 3
    legacy = first.model_copy(update={"calls": [c.model_copy(update={"call_sids": []}) for c in first.calls]})
    assert reminders.notice_document(legacy, reopened, callee=B, episode=T0, now=T0,
                                     window=timedelta(hours=24)).calls[0].count == 3


# --- a call arriving: keep, screen, tell now or come back later -------------------------------

def back_at(attached_at: datetime, **user) -> delivery.Callee:
    """B, whom this service last knew switched off, and whose attach the HLR has just reported."""
    away = callee(activation_notice_at=T0 - timedelta(days=1),
                  network=NetworkState(state="detached", at=T0 - timedelta(hours=1)), **user)
    hlr = {"state": "attached", "at": attached_at, "roaming": False}
    return dataclasses.replace(away, subscriber={**away.subscriber, "network_state": hlr})


def test_a_key_arriving_after_the_hlr_s_attach_but_before_the_service_s_is_told_as_the_attach_tells_it():
    # Provisioning took the attach in; this service's attach consumer has not yet. A's third call's
    # key arrives now: it is told with A's two hung-up calls, in one SMS, in the attach's episode.
    attached_at = T0 + timedelta(minutes=3)
    back = back_at(attached_at)
    hung_up = [calls.merged(None, event(f"CA{n}", A, n, hung_up=True), now=T0 + timedelta(minutes=n))
               for n in (0, 1)]
    arrived = delivery.arrival(None, event("CA2", A, 2, choice="leave_number", final=True), back,
                               retention=CONFIG.retention, now=attached_at + timedelta(seconds=1))
    assert arrived.tell_now, "A's journey is over: hung up or keyed to the end, as at the attach"
    assert arrived.at_attach
    assert calls.episode(back.user, back.subscriber) == attached_at
    decided = delivery.decide(back, delivery.DeliveryState(hung_up, None, None), config=CONFIG, profile=PROFILE,
                              now=attached_at + timedelta(seconds=1), reference=reference,
                              episode=calls.episode(back.user, back.subscriber), include=arrived.call,
                              at_attach=arrived.at_attach)
    [reminder] = decided.messages
    assert (reminder.sms.params["caller"], reminder.sms.params["count"]) == (A, 3)
    assert decided.told_sids == {"CA0", "CA1", "CA2"}
    assert [(c.caller, c.count) for c in decided.notice.calls] == [(A, 3)]
    assert decided.notice.episode == attached_at


def test_only_an_attach_newer_than_the_service_s_last_detach_counts_as_back_from_away():
    user = MissedCallUser(network={"state": "detached", "at": T0})
    assert calls.back_from_away(user, {"network_state": {"state": "attached", "at": T0 + timedelta(seconds=1)}})
    assert not calls.back_from_away(user, {"network_state": {"state": "attached", "at": T0}})
    assert not calls.back_from_away(user, {"network_state": {"state": "detached", "at": T0 + timedelta(hours=1)}})
    on = MissedCallUser(network={"state": "attached", "at": T0})
    assert not calls.back_from_away(on, {"network_state": {"state": "attached", "at": T0 + timedelta(hours=1)}})
    assert not calls.back_from_away(MissedCallUser(), {"network_state": {"state": "attached", "at": T0}})
    assert calls.episode(user, {}) == T0 and calls.episode(MissedCallUser(), {}) is None


def test_a_key_4_consumed_after_the_attach_told_its_call_answers_the_caller_once_but_tells_the_callee_nothing():
    # The attach told A's hung-up call in the free notice; A's key 4 is consumed afterwards.
    told = calls.merged(None, event(hung_up=True), now=T0).model_copy(
        update={"status": calls.NOTIFIED, "notice_id": "ref/short-notice"})
    back = callee(activation_notice_at=T0, network=NetworkState(state="attached", at=T0 + timedelta(minutes=1)))
    late = delivery.arrival(told, event(choice="notify_me", final=True, language="ru"), back,
                            retention=CONFIG.retention, now=T0 + timedelta(minutes=2))
    assert late.answer_key_4 and not late.tell_now and late.call.status == calls.NOTIFIED
    message, answered = delivery.decide_late_key_4(back, late.call, delivery.CallerToTell(options.new_user(A), None),
                                                   config=CONFIG, profile=PROFILE, reference=reference)
    assert (message.sms.to, message.sms.template, message.sms.language) == (A, reminders.AVAILABLE, "ru")
    assert (message.sms.params, message.sms.billing) == ({"callee": B, "called_at": "11.05 10:00"},
                                                         documents.BILL_AVAILABILITY)
    assert (answered.status, answered.availability, answered.notice_id) == (calls.NOTIFIED, "sent", "ref/short-notice")
    # Answered once: the same key (or the hang-up) arriving again asks nothing new.
    for again in (event(choice="notify_me", final=True), event(hung_up=True)):
        assert not delivery.arrival(answered, again, back, retention=CONFIG.retention, now=T0).answer_key_4
    # A key 4 already told with its call (availability decided then) is not answered twice.
    keyed = call("CA1", choice="notify_me").model_copy(update={"status": calls.NOTIFIED, "availability": "sent"})
    assert not delivery.arrival(keyed, event(hung_up=True), back, retention=CONFIG.retention, now=T0).answer_key_4
    # The callee's privacy still withholds it.
    private = dataclasses.replace(back, user=back.user.model_copy(update={"privacy": True}))
    withheld, marked = delivery.decide_late_key_4(private, late.call, delivery.CallerToTell(options.new_user(A), "en"),
                                                  config=CONFIG, profile=PROFILE, reference=reference)
    assert withheld is None and marked.availability == "withheld_privacy"


def test_an_arriving_call_from_a_blacklisted_caller_is_dropped_and_its_recording_not_kept():
    listed = callee(blacklist=[A], registered=True)
    arrived = delivery.arrival(None, event(choice="voicemail", recording_sid="RE1", final=True), listed,
                               retention=CONFIG.retention, now=T0)
    assert (arrived.call.status, arrived.call.dropped_reason, arrived.discard) == (calls.DROPPED, "blacklist", "RE1")
    assert not arrived.tell_now


def test_an_arriving_call_for_a_callee_away_comes_back_at_retention_and_one_on_a_busy_phone_is_told_now():
    away = delivery.arrival(None, event(final=True), callee(), retention=CONFIG.retention, now=T0)
    assert not away.tell_now
    assert away.user_fields == {"due_at": T0 + CONFIG.retention, "network": {"state": "detached", "at": T0}}
    busy = delivery.arrival(None, event(final=True).model_copy(update={"reason": "busy"}), callee(),
                            retention=CONFIG.retention, now=T0)
    assert busy.tell_now and busy.user_fields == {"network": {"state": "attached", "at": T0}}


# --- the monthly mailbox fee ------------------------------------------------------------------

def monthly(user, *, balance, blocked=False, fee=CONFIG.charging.monthly_fee):
    return options.monthly_fee(user, blocked=blocked, month="2026-05", fee=fee, balance=balance, next_fee_at=T0,
                               now=T0 - timedelta(days=1))


def test_a_new_month_charges_the_fee_once_and_a_balance_that_cannot_pay_lets_the_mailbox_lapse():
    fee = CONFIG.charging.monthly_fee
    registered = options.new_user(B).model_copy(update={"registered": True, "fee_due_at": T0 - timedelta(days=1)})
    assert options.fee_falls_due(registered, T0 - timedelta(days=1))
    assert not options.fee_falls_due(options.new_user(B), T0)
    charged = monthly(registered, balance=fee + 5)
    assert (charged.debit, charged.template, charged.balance) == (fee, "missed_calls.fee.charged", 5)
    assert charged.update == {"fee_due_at": T0, "fee_months": ["2026-05"]}
    lapsed = monthly(registered, balance=fee - 1)
    assert (lapsed.debit, lapsed.template, lapsed.balance) == (0, "missed_calls.fee.lapsed", fee - 1)
    assert lapsed.update == {"registered": False, "lapsed_at": T0 - timedelta(days=1), "fee_due_at": None}
    assert monthly(registered, balance=None).template == "missed_calls.fee.lapsed"


def test_no_fee_while_the_line_is_blocked_nor_twice_in_a_month_and_a_free_mailbox_says_nothing():
    registered = options.new_user(B).model_copy(update={"registered": True, "fee_months": ["2026-05"]})
    for outcome in (monthly(registered, balance=10**9, blocked=True), monthly(registered, balance=10**9)):
        assert (outcome.debit, outcome.template, outcome.update) == (0, None, {"fee_due_at": T0})
    free = monthly(options.new_user(B).model_copy(update={"registered": True}), balance=0, fee=0)
    assert (free.debit, free.template, free.update["fee_months"]) == (0, None, ["2026-05"])


# Fields each collection's queries filter or order on (queries.py, the sweeps, the voicemail line, reassignment).
QUERIED_CALL_FIELDS = {"callee", "status", "called_at"}
QUERIED_VOICEMAIL_FIELDS = {"callee", "deleted", "delete_after", "recorded_at", "called_at"}
QUERIED_CHARGE_FIELDS = {"payer", "month", "at"}


def test_every_new_document_carries_the_fields_its_queries_filter_or_order_on():
    from functions.missed_calls import voicemail
    from functions.missed_calls.models import ChargeRecord, Voicemail

    new_call = calls.merged(None, event("CA9", recording_sid="RE9"), now=T0)
    assert QUERIED_CALL_FIELDS <= new_call.fields().keys()
    assert QUERIED_VOICEMAIL_FIELDS <= voicemail.new_message(new_call, now=T0, retention=timedelta(days=7)).fields().keys()
    # A model made without a queried field that has a default still writes it: the sweeps and queries find it.
    bare_call = MissedCall(call_sid="CA9", caller=A, callee=B, called_at=T0)
    assert bare_call.fields()["status"] == "pending" and QUERIED_CALL_FIELDS <= bare_call.fields().keys()
    bare_message = Voicemail(call_sid="CA9", callee=B, caller=A, called_at=T0, recorded_at=T0, delete_after=T0)
    assert bare_message.fields()["deleted"] is False
    assert QUERIED_VOICEMAIL_FIELDS <= bare_message.fields().keys()
    charge = ChargeRecord(message_id="SM1", payer=B, billing="callee", status="delivered", price=0, amount=0,
                          charged=False, month="2026-11", at=T0, recorded_at=T0, event_id="e")
    assert QUERIED_CHARGE_FIELDS <= charge.fields().keys()
    assert MissedCall.QUERIED == QUERIED_CALL_FIELDS and Voicemail.QUERIED == QUERIED_VOICEMAIL_FIELDS
    assert ChargeRecord.QUERIED == QUERIED_CHARGE_FIELDS


def test_a_record_adds_its_pending_call_to_the_user_document_it_writes_anyway_and_a_delivery_ends_it():
    # CA2 is newer than the phone state the document knows: the record writes it anyway, the call joins the list.
    away = callee(pending_calls=["CA1"], due_at=T0, network=NetworkState(state="detached", at=T0))
    arrived = delivery.arrival(None, event("CA2", C, 1, choice="leave_number", final=True), away,
                               retention=CONFIG.retention, now=T0 + timedelta(minutes=40))
    assert arrived.user_fields["pending_calls"] == ["CA1", "CA2"] and "network" in arrived.user_fields
    again = delivery.arrival(arrived.call, event("CA2", C, 1, choice="leave_number", final=True), away,
                             retention=CONFIG.retention, now=T0 + timedelta(minutes=41))
    assert "pending_calls" not in again.user_fields

    pending = [call("CA1", A, 0, "leave_number"), call("CA2", C, 1, "leave_number")]
    state = delivery.DeliveryState(pending, summary=None, notice=None, pending_ids=["CA1", "CA2"])
    decided = delivery.decide(callee(activation_notice_at=T0), state, config=CONFIG, profile=PROFILE,
                              now=T0 + timedelta(hours=1), reference=reference, episode=T0, at_attach=True)
    assert decided.told_sids == {"CA1", "CA2"} and decided.user_fields["pending_calls"] == []
    unknown = delivery.DeliveryState(pending, summary=None, notice=None)  # an older user document: a query's answer
    assert "pending_calls" not in delivery.decide(callee(activation_notice_at=T0), unknown, config=CONFIG,
                                                  profile=PROFILE, now=T0 + timedelta(hours=1), reference=reference,
                                                  episode=T0, at_attach=True).user_fields


def test_pending_calls_that_change_nothing_else_are_listed_up_to_a_few_then_the_list_is_forgotten_once():
    # Calls older than the phone state known, retention no earlier: each listed alone costs a write of the user
    # document; past a few, the list is forgotten (the next delivery queries) and the calls after write nothing.
    later = NetworkState(state="detached", at=T0 + timedelta(minutes=30))
    few = callee(pending_calls=["CA1"], due_at=T0, network=later)
    joined = delivery.arrival(None, event("CA2", C, 1, choice="leave_number", final=True), few,
                              retention=CONFIG.retention, now=T0 + timedelta(minutes=40))
    assert joined.user_fields == {"pending_calls": ["CA1", "CA2"]}
    full = [f"CA{n}" for n in range(delivery.LISTED_ALONE)]
    many = callee(pending_calls=full, due_at=T0, network=later)
    first = delivery.arrival(None, event("CA99", C, 1, choice="leave_number", final=True), many,
                             retention=CONFIG.retention, now=T0 + timedelta(minutes=40))
    assert first.user_fields == {"pending_calls": None}
    forgotten = callee(pending_calls=None, due_at=T0, network=later)
    following = delivery.arrival(None, event("CA100", D, 2, choice="leave_number", final=True), forgotten,
                                 retention=CONFIG.retention, now=T0 + timedelta(minutes=40))
    assert following.call.status == calls.PENDING and following.user_fields == {}


def test_a_new_user_document_starts_the_list_so_its_first_pending_call_joins_it():
    # A detach creates the document before any call (the phone switched off): it must start the list, or every
    # attach of such a callee would query.
    assert delivery.without_document(B).fields()["pending_calls"] == []
    arrived = delivery.arrival(None, event("CA1", A, 0, choice="leave_number", final=True),
                               dataclasses.replace(callee(), user=delivery.without_document(B), user_exists=False),
                               retention=CONFIG.retention, now=T0 + timedelta(minutes=10))
    assert arrived.user_fields["pending_calls"] == ["CA1"]
