"""The services live on this deployment: USSD codes, SMS commands and voice numbers.

Each service the operator profile switches on is registered here with its code; the webhooks
only ask the registries, so a new service plugs in by adding its entries, not by changing them.
"""

from __future__ import annotations

from functions.edge import balance, pay_card, sms_keywords, transfer_menu, transfers, voice
from functions.edge.ussd import Registry, Reply, Situation, UssdService
from functions.transfers import policy as transfer_policy
from shared import localtime
from shared.operator import OperatorProfile


def balance_check(situation: Situation) -> Reply:
    """`*100#`: every bucket with its nearest expiry, on one final screen."""
    caller = situation.caller
    report = balance.report(situation.account, caller.language, situation.profile.currency,
                            localtime.zone_for(caller.msisdn, situation.profile.timezone))
    return Reply.end(report.render(caller.language))


BALANCE_CHECK = "balance_check"           # the services' names in the operator profile's `services`
TRANSFERS = transfer_policy.SERVICE


def enabled(profile: OperatorProfile, service: str) -> bool:
    """The operator switched the service on (it names at least one preset for it)."""
    return bool(profile.services.get(service))


def transfer_desk(profile: OperatorProfile) -> transfers.Desk:
    """The transfer policies the profile names, loaded (and validated) once."""
    return transfers.Desk(profile, transfer_policy.policies_for(profile))


def ussd_services(profile: OperatorProfile) -> Registry:
    """The codes this operator serves: each service the profile switches on, with its code."""
    registry = Registry()
    if enabled(profile, BALANCE_CHECK):
        registry.add(UssdService(code=profile.short_codes.balance, name="edge.service.balance",
                                 handler=balance_check, needs_account=True))
    if enabled(profile, TRANSFERS):
        desk = transfer_desk(profile)
        for service in transfers.ussd_services(desk) + transfer_menu.ussd_services(desk):
            registry.add(service)
    return registry


def sms_services(profile: OperatorProfile) -> sms_keywords.Commands:
    """The commands an SMS to the short code may carry: the built-in ones, and transfers' when on."""
    commands = sms_keywords.Commands()
    if enabled(profile, TRANSFERS):
        for command, service in transfers.sms_services(transfer_desk(profile)).items():
            commands.add(command, service)
    return commands


def voice_routes(profile: OperatorProfile) -> voice.VoiceRouter:
    """Called number -> voice service: the pay-card IVR when transfers are on."""
    return voice.VoiceRouter(routes=pay_card.routes(profile) if enabled(profile, TRANSFERS) else {})
