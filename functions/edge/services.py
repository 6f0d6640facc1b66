"""The services live on this deployment: USSD codes, SMS commands and voice numbers.

Each service the operator profile switches on is registered here with its code; the webhooks
only ask the registries, so a new service plugs in by adding its entries, not by changing them.
"""

from __future__ import annotations

from functions.edge import balance, pay_card, sms_keywords, transfer_menu, transfers, voice
from functions.edge import missed_call_ivr, missed_call_options, voicemail_line
from functions.edge import zero_balance
from functions.edge.ussd import Registry, Reply, Situation, UssdService
from functions.missed_calls import config as missed_calls_config
from functions.transfers import policy as transfer_policy
from functions.zero_balance import config as zero_balance_config
from shared import localtime, store
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
    add_missed_calls_ussd(registry, profile)
    return registry


def sms_services(profile: OperatorProfile) -> sms_keywords.Commands:
    """The commands an SMS to the short code may carry: help always, the balance and transfers' when on."""
    commands = sms_keywords.Commands(services=dict(sms_keywords.ALWAYS))
    if enabled(profile, BALANCE_CHECK):
        commands.add(sms_keywords.Command.BALANCE, sms_keywords.BALANCE)
    if enabled(profile, TRANSFERS):
        for command, service in transfers.sms_services(transfer_desk(profile)).items():
            commands.add(command, service)
    add_missed_calls_sms(commands, profile)
    add_zero_balance_sms(commands, profile)
    return commands


def voice_routes(profile: OperatorProfile) -> voice.VoiceRouter:
    """Called number -> voice service: the pay-card IVR when transfers are on."""
    router = voice.VoiceRouter(routes=pay_card.routes(profile) if enabled(profile, TRANSFERS) else {})
    add_missed_calls_voice(router, profile)
    return router


# --- missed-call alerts (functions/missed_calls/config.py names the codes) -------------------

def add_missed_calls_ussd(registry: Registry, profile: OperatorProfile) -> None:
    """The options menu (*160#) when missed-call alerts are on."""
    config = missed_calls_config.config_for(profile)
    if config is not None:
        registry.add(missed_call_options.ussd_service(profile, config))


def add_missed_calls_sms(commands: sms_keywords.Commands, profile: OperatorProfile) -> None:
    """The service's own short code (06001): D queries and option keywords."""
    config = missed_calls_config.config_for(profile)
    if config is not None:
        commands.add_short_code(config.short_code, missed_call_options.sms_service(profile, config))


def add_missed_calls_voice(router: voice.VoiceRouter, profile: OperatorProfile) -> None:
    """Forwarded calls go to the caller IVR; the voicemail number to the voicemail line."""
    config = missed_calls_config.config_for(profile)
    if config is not None:
        router.forwarded = missed_call_ivr.forwarded_service(profile, config)
        router.forwarded_ended = missed_call_ivr.forwarded_end(profile, config)
        router.routes.update(voicemail_line.routes(profile, config, store.db))


# --- zero-balance callback requests (functions/zero_balance/config.py names the code) ---------

def add_zero_balance_sms(commands: sms_keywords.Commands, profile: OperatorProfile) -> None:
    """The ZeroX answer code (06005): a zero-balance caller's 1, 2 or 0 to the offer."""
    config = zero_balance_config.config_for(profile)
    if config is not None:
        commands.add_short_code(config.short_code, zero_balance.sms_service(config))
