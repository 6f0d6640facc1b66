"""Balance transfers at the edge: the USSD codes and menu, the SMS commands and the pay-card line."""

from __future__ import annotations

from dataclasses import replace

from functions.edge import api
from functions.transfers import edge_menu, edge_orders, edge_pay_card, policy
from shared.operator import OperatorProfile

USSD_PRIORITY = 20  # after the balance check in the help screen


def desk(profile: OperatorProfile) -> edge_orders.Desk:
    """The transfer policies the profile names, loaded (and validated) once."""
    return edge_orders.Desk(profile, policy.policies_for(profile))


def entries(profile: OperatorProfile) -> api.ServiceEntries | None:
    """What transfers serve on this deployment; None when the profile names no transfer policy."""
    if not profile.services.get(policy.SERVICE):
        return None
    transfer_desk = desk(profile)
    sms = edge_orders.sms_entries(transfer_desk)
    codes = edge_orders.ussd_services(transfer_desk) + edge_menu.ussd_services(transfer_desk)
    return api.ServiceEntries(
        ussd=tuple(replace(code, priority=USSD_PRIORITY) for code in codes),
        sms_patterns=(sms.order,),
        sms_keywords=sms.keywords,
        voice=edge_pay_card.voice_entries(profile),
    )
