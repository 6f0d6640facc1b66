"""Subscription tracking at the edge: the catalogue's USSD menu, its short code, and the plan change code.

Everything is answered at once from what the edge reads with the caller's record (the book
`subscriptions/{msisdn}`, and for a plan change the caller's account); what needs a decision is
published (edge_requests.py) and the subscriptions consumers decide, charge and confirm by SMS.
"""

from __future__ import annotations

from dataclasses import replace

from functions.edge import api
from functions.subscriptions import edge_menu, edge_plans, edge_sms
from functions.subscriptions.config import config_for
from shared.operator import OperatorProfile

USSD_PRIORITY = 40  # after the balance, transfers and missed-call alerts in the help screen


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """What subscription tracking serves; None when the profile names no catalogue."""
    catalogue = config_for(profile)
    if catalogue is None:
        return None
    codes = [edge_menu.ussd_service(profile, catalogue)]
    if catalogue.plan_change is not None and catalogue.plans:
        codes.append(edge_plans.ussd_service(profile, catalogue, catalogue.plan_change))
    return api.ServiceEntries(
        ussd=tuple(replace(code, priority=USSD_PRIORITY) for code in codes),
        sms_short_codes=(api.SmsShortCode(catalogue.short_code, edge_sms.sms_service(catalogue)),),
    )
