"""Missed-call alerts at the edge: the caller IVR for forwarded calls, the voicemail line, the
service's own short code (D queries and option keywords) and the options menu (*160#)."""

from __future__ import annotations

from dataclasses import replace

from functions.edge import api
from functions.missed_calls import edge_ivr, edge_options, edge_voicemail
from functions.missed_calls.config import config_for
from shared import store
from shared.operator import OperatorProfile

USSD_PRIORITY = 30  # after the balance and transfers in the help screen
FORWARDED_PRIORITY = 10  # a forwarded call is ours whatever number it was forwarded to
NUMBER_PRIORITY = 50


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """What missed-call alerts serve; None when the profile names no preset for them."""
    config = config_for(profile)
    if config is None:
        return None
    return api.ServiceEntries(
        ussd=(replace(edge_options.ussd_service(profile, config), priority=USSD_PRIORITY),),
        sms_short_codes=(api.SmsShortCode(config.short_code, edge_options.sms_service(profile, config)),),
        voice=(
            api.VoiceEntry(
                api.Forwarded(),
                edge_ivr.forwarded_service(profile, config),
                ended=edge_ivr.forwarded_end(profile, config),
                priority=FORWARDED_PRIORITY,
            ),
            api.VoiceEntry(
                api.ServiceNumber(config.voicemail_number),
                edge_voicemail.voice_service(profile, config, store.db),
                priority=NUMBER_PRIORITY,
            ),
        ),
    )
