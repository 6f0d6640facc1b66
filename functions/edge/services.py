"""The services live on this deployment, found without naming them: every `functions.<service>.edge`.

A service plugs into the edge by having an `edge` module with `entries(profile)` (functions/edge/api.py);
the registries below gather what every such module declares, in priority order, so a new service
needs no edit here or anywhere else under functions/edge/.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from functions import discovery
from functions.edge import sms_keywords, ussd, voice
from functions.edge.api import ServiceEntries
from shared.operator import OperatorProfile

EDGE_MODULE = "edge"  # the module a service declares its entries in
_NOT_SERVICES = frozenset({"edge"})


def service_packages() -> tuple[str, ...]:
    """Every package under functions/ with an edge module, by name (a stable order)."""
    return discovery.packages_with(EDGE_MODULE, excluding=_NOT_SERVICES)


def service_entries(profile: OperatorProfile, packages: Iterable[str] | None = None) -> tuple[ServiceEntries, ...]:
    """What each service the profile switches on declares (`packages`: the service packages; default all)."""
    found = []
    for package in service_packages() if packages is None else packages:
        declared: ServiceEntries | None = importlib.import_module(f"{package}.{EDGE_MODULE}").entries(profile)
        if declared is not None:
            found.append(declared)
    return tuple(found)


def ussd_services(profile: OperatorProfile, packages: Iterable[str] | None = None) -> ussd.Registry:
    """The codes this operator serves, in priority order (the help screen's), and the add-ons riding on them."""
    everything = service_entries(profile, packages)
    declared = [service for entries in everything for service in entries.ussd]
    addons = [addon for entries in everything for addon in entries.ussd_addons]
    return ussd.Registry.of(sorted(declared, key=lambda service: service.priority), addons)


def sms_services(profile: OperatorProfile, packages: Iterable[str] | None = None) -> sms_keywords.Commands:
    """The commands an SMS to the short code may carry (help always), and the short codes services own."""
    commands = sms_keywords.Commands()
    everything = service_entries(profile, packages)
    declared: list[sms_keywords.SmsPattern | sms_keywords.SmsKeywords] = []
    for entries in everything:
        declared += [*entries.sms_patterns, *entries.sms_keywords]
    for entry in sorted(declared, key=lambda entry: entry.priority):
        if isinstance(entry, sms_keywords.SmsPattern):
            commands.add_pattern(entry)
        else:
            commands.add_keywords(entry)
    for entries in everything:
        for owned in entries.sms_short_codes:
            commands.add_short_code(owned.short_code, owned.service)
    return commands


def voice_routes(profile: OperatorProfile, packages: Iterable[str] | None = None) -> voice.VoiceRouter:
    """Every service's voice entries, tried in priority order; else "no voice service here"."""
    router = voice.VoiceRouter()
    for entries in service_entries(profile, packages):
        for entry in entries.voice:
            router.add(entry)
    return router
