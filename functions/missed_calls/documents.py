"""Where the missed-call service keeps its state in Firestore, and what each document holds.

The service's consumers write these; the edge reads them to answer the IVR, the D query and the
voicemail line (it never writes them: changes travel as events).

missed_calls/{call_sid}          one forwarded call, the furthest state its events reached:
    caller, callee, reason, called_at, choice (none|voicemail|leave_number|other_number|notify_me),
    other_number, recording_sid, recording_url, recording_seconds, language (the caller's),
    status: pending (callee away) | notified (told on attach) | summarised (past retention, folded
    into the callee's summary) | dropped (black/white list), notified_at, notice_id

missed_call_users/{msisdn}       a subscriber's options and service state:
    registered (voice mailbox), registered_at, privacy (no 'is available' SMS about me),
    blacklist [E.164], whitelist [E.164], activation_notice_at, fee_months [YYYY-MM charged],
    usage {YYYY-MM: minor units charged per use this month},
    voicemail_pin {salt, hash, n, r, p, set_at} (scrypt; never the digits), voicemail_trust_own_phone
    (no PIN on an attested call from the owner's phone), voicemail_pin_failures [{call_sid, attempt,
    at}] (wrong PINs in a row), voicemail_pin_ok_at, voicemail_locked_at (a new PIN unlocks)

consents/{id}, consent_pending/{offer}:{msisdn}   the mailbox sign-up's consent (shared/consent.py)

voicemail_pin_guards/{msisdn}    the one document the edge writes: wrong PINs in a row and tries in
    flight, counted as the voicemail line compares them (functions/missed_calls/edge_pin_guard.py)

missed_call_notices/{callee}     the latest attach notice, for the D query:
    sent_at, window_ends_at, calls [{caller, count, first_at, last_at, choice, other_number, call_sids}]

missed_call_summaries/{callee}   calls that passed retention before the callee came back:
    count, callers, first_at, last_at (cleared when the callee is told)

voicemails/{call_sid}            a voice message left with key 1:
    callee, caller, recording_sid, recording_url, seconds, recorded_at, heard_at, delete_after, deleted

missed_call_charges/{message_id} one per billed SMS: status, amount, charged (bool), why not, entry_id
"""

MISSED_CALLS = "missed_calls"
USERS = "missed_call_users"
NOTICES = "missed_call_notices"
SUMMARIES = "missed_call_summaries"
VOICEMAILS = "voicemails"
CHARGES = "missed_call_charges"

# Billing tags on SmsSend.billing (notify echoes them in sms.final); the charge consumer prices them.
BILL_REMINDER = "missed-calls/reminder"
BILL_AVAILABILITY = "missed-calls/availability"
BILL_DETAILS = "missed-calls/details"
