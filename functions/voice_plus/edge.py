"""Voice+ and the add-on offers at the edge: wrong-number calls, the add-on on `*100#`, the SMS offers' short code."""

from __future__ import annotations

from functions.edge import api
from functions.voice_plus import edge_sms, edge_ussd, edge_voice
from functions.voice_plus.config import config_for
from shared.operator import OperatorProfile

WRONG_NUMBER_PRIORITY = 5  # a wrong number is ours before any entry that takes calls by number


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """Voice+ on wrong-number calls, the USSD add-on and the SMS offers' code; None when the service is off."""
    config = config_for(profile)
    if config is None:
        return None
    return api.ServiceEntries(
        voice=(edge_voice.voice_entry(profile, config, priority=WRONG_NUMBER_PRIORITY),),
        ussd_addons=edge_ussd.addons(config),
        sms_short_codes=edge_sms.short_codes(config),
    )
