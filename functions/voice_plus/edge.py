"""Voice+ and the add-on offers at the edge: wrong-number calls, the add-on on `*100#`, the SMS offers' short code."""

from __future__ import annotations

from functions.edge import api
from functions.voice_plus import edge_sms, edge_ussd
from functions.voice_plus.config import config_for
from shared.operator import OperatorProfile


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """Voice+ on wrong-number calls, the USSD add-on and the SMS offers' code; None when the service is off."""
    config = config_for(profile)
    if config is None:
        return None
    return api.ServiceEntries(
        ussd_addons=edge_ussd.addons(config),
        sms_short_codes=edge_sms.short_codes(config),
    )
