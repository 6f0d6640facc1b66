"""The USSD services live on this deployment, by service code (one entry per service).

Later services (transfers `*112#`, `*116#`, `*111#`, menus `#131#`) plug in by adding their
UssdService to `ussd_services`; the webhook does not change.
"""

from __future__ import annotations

from functions.edge import balance
from functions.edge.ussd import Registry, Reply, Situation, UssdService
from shared import localtime
from shared.operator import OperatorProfile


def balance_check(situation: Situation) -> Reply:
    """`*100#`: every bucket with its nearest expiry, on one final screen."""
    caller = situation.caller
    report = balance.report(situation.account, caller.language, situation.profile.currency,
                            localtime.zone_for(caller.msisdn, situation.profile.timezone))
    return Reply.end(report.render(caller.language))


BALANCE_CHECK = "balance_check"  # the service's name in the operator profile's `services`


def enabled(profile: OperatorProfile, service: str) -> bool:
    """The operator switched the service on (it names at least one preset for it)."""
    return bool(profile.services.get(service))


def ussd_services(profile: OperatorProfile) -> Registry:
    """The codes this operator serves: each service the profile switches on, with its code."""
    available = [
        (BALANCE_CHECK, UssdService(code=profile.short_codes.balance, name="edge.service.balance",
                                    handler=balance_check, needs_account=True)),
    ]
    return Registry.of(service for name, service in available if enabled(profile, name))
