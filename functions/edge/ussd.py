"""USSD in the Africa's Talking convention: parse the gateway's form, route by service code, reply.

The gateway posts `sessionId, serviceCode, phoneNumber, networkCode, text` (the subscriber's inputs
joined by `*`) and shows our `CON …` (wait for input) or `END …` (close the session) reply.

An add-on (`UssdAddOn`, an offer under the balance) rides on a host code: asked once the host's
answer to the session's first screen is final, it may show that screen with its own lines, and then
owns the session's later inputs (the host, having ended, expects none). If it fails, the host's
answer stands.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, TypeVar

from functions.edge import pager, request_ids
from functions.edge.replies import Text
from functions.edge.request import DocumentPath, Reads, Request, RequestDocuments
from functions.edge.screen import Reply
from functions.edge.subscribers import Caller, refusal
from shared.ledger import Account
from shared.msisdn import InvalidMsisdn
from shared.operator import OperatorProfile

logger = logging.getLogger(__name__)

_MAX_FIELD = 200  # no gateway field is longer; longer ones are not a real request
_MAX_CODE_SHOWN = 20  # an unknown code is echoed back, but never a wall of text

# `*112#`, `#131#`, and the dial string some gateways send whole: `*112*998971300909*2500#`.
_SERVICE_CODE = re.compile(r"^(?P<base>[*#]\d{1,6})(?P<extra>(?:\*[^*#]*)*)#$")


class MalformedRequest(ValueError):
    """The gateway's request lacks what any answer needs (a readable phone number)."""


@dataclass(frozen=True)
class UssdRequest:
    session_id: str
    service_code: str  # normalised base code, e.g. "*100#" (or the raw text if unrecognised)
    msisdn: str  # E.164
    network_code: str
    inputs: tuple[str, ...]  # what the subscriber typed after the code, in order

    @property
    def request_id(self) -> str:
        """Our id of this request: the session, the phone, the code and the inputs (a retry gets the same)."""
        return request_ids.ussd_request_id(self.session_id, self.msisdn, self.service_code, *self.inputs)


def split_service_code(raw: str) -> tuple[str, tuple[str, ...]]:
    """`*112*99897*2500#` -> (`*112#`, ("99897", "2500")); `*100#` -> (`*100#`, ())."""
    code = re.sub(r"\s+", "", raw or "")
    match = _SERVICE_CODE.match(code)
    if not match:
        return code, ()
    extra = match.group("extra")
    return match.group("base") + "#", tuple(extra.split("*")[1:]) if extra else ()


def parse(form: Mapping[str, str], profile: OperatorProfile) -> UssdRequest:
    """Validate the gateway's fields; raises MalformedRequest when no answer can be addressed."""
    fields = {
        name: (form.get(name) or "") for name in ("sessionId", "serviceCode", "phoneNumber", "networkCode", "text")
    }
    too_long = [name for name, value in fields.items() if len(value) > _MAX_FIELD]
    if too_long:
        raise MalformedRequest(f"fields too long: {', '.join(too_long)}")
    try:
        msisdn = profile.msisdn(fields["phoneNumber"])
    except InvalidMsisdn as error:
        raise MalformedRequest(str(error)) from None
    code, dialled = split_service_code(fields["serviceCode"])
    typed = tuple(fields["text"].split("*")) if fields["text"] else ()
    return UssdRequest(
        session_id=fields["sessionId"],
        service_code=code,
        msisdn=msisdn,
        network_code=fields["networkCode"],
        inputs=dialled + typed,
    )


# --- services ------------------------------------------------------------------------------

ServiceHandler = Callable[[Request[UssdRequest]], Reply]
# An add-on: the request (its inputs: those typed after the host's final screen) and the host's first
# screen -> the screen to show instead, or None to leave the host's answer alone.
AddOnHandler = Callable[[Request[UssdRequest], Reply], Reply | None]


@dataclass(frozen=True)
class UssdService:
    """One service code: its name in the help screen, its handler, and what it must read first."""

    code: str
    name: str  # text key of its name, e.g. edge.service.balance
    handler: ServiceHandler
    needs_account: bool = False  # the edge reads the ledger account in the same round trip
    reads: Reads[UssdRequest] | None = None  # further documents the handler needs, read in that same round trip
    usage: Text | None = None  # how to dial it when it takes inputs (`*112*number*amount#`), for the help
    example: str | None = None  # a dial string to copy, in the operator's number format, for the help
    priority: int = 100  # lower first: its place in the help screen

    def documents_for(self, request: UssdRequest, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        return tuple(self.reads(request, profile)) if self.reads else ()


@dataclass(frozen=True)
class UssdAddOn:
    """What rides on other services' answers (an offer under the balance): the host codes, its handler, its reads.

    It is asked after a host's FINAL answer (END) to the session's first screen, and may show that
    screen with its own lines; the host's answer was final, so every input after it is the add-on's.
    """

    hosts: tuple[str, ...]  # service codes whose first answer it may ride on, e.g. ("*100#",)
    handler: AddOnHandler
    reads: Reads[UssdRequest] | None = None  # documents it needs, read in the host's round trip

    def documents_for(self, request: UssdRequest, profile: OperatorProfile) -> tuple[DocumentPath, ...]:
        return tuple(self.reads(request, profile)) if self.reads else ()


@dataclass
class Registry:
    """Service codes -> services. A new service plugs in with one `add`.

    A code may carry fixed inputs (`*111*0151#`, an alias such as `*100*6*3#`): it is served for
    requests to its base code whose inputs start with them, the longest match first, so
    `*100*6*3#` reaches its menu while `*100#` stays the balance check.
    """

    services: dict[str, UssdService] = field(default_factory=dict)
    addons: dict[str, tuple[UssdAddOn, ...]] = field(default_factory=dict)  # host code -> add-ons, in order

    @classmethod
    def of(cls, services: Iterable[UssdService], addons: Iterable[UssdAddOn] = ()) -> Registry:
        registry = cls()
        for service in services:
            registry.add(service)
        for addon in addons:
            registry.add_addon(addon)
        return registry

    def add_addon(self, addon: UssdAddOn) -> None:
        for host in addon.hosts:
            base, fixed = split_service_code(host)
            code = _code_with(base, fixed)
            self.addons[code] = (*self.addons.get(code, ()), addon)

    def addons_for(self, code: str) -> tuple[UssdAddOn, ...]:
        """The add-ons riding on the answers of `code` (a routed request's service code)."""
        return self.addons.get(code, ())

    def documents_for(
        self, service: UssdService | None, seen: UssdRequest, profile: OperatorProfile
    ) -> tuple[DocumentPath, ...]:
        """What the routed service and the add-ons on its code read, in one round trip."""
        if service is None:
            return ()
        riding = (path for addon in self.addons_for(seen.service_code) for path in addon.documents_for(seen, profile))
        return (*service.documents_for(seen, profile), *riding)

    def add(self, service: UssdService) -> None:
        base, fixed = split_service_code(service.code)
        if not _SERVICE_CODE.match(service.code.replace(" ", "")):
            raise ValueError(f"{service.code!r} is not a USSD code (e.g. *112# or *111*0151#)")
        code = _code_with(base, fixed)
        if code in self.services:
            raise ValueError(f"USSD code {code} is registered twice")
        self.services[code] = service

    def find(self, code: str) -> UssdService | None:
        return self.services.get(code)

    def route(self, request: UssdRequest) -> tuple[UssdService | None, UssdRequest]:
        """The service for a request, and the request as it sees it (its code's fixed inputs removed)."""
        for taken in range(len(request.inputs), -1, -1):
            code = _code_with(request.service_code, request.inputs[:taken])
            service = self.services.get(code)
            if service is not None:
                return service, replace(request, service_code=code, inputs=request.inputs[taken:])
        return None, request

    def help(self, code: str, language: str) -> Text:
        """The answer to a code nobody serves: what exists instead."""
        entries = [
            Text(
                "edge.ussd.service_example" if service.example else "edge.ussd.service_entry",
                {
                    "code": service.usage.render(language) if service.usage else service.code,
                    "name": Text(service.name).render(language),
                    **({"example": service.example} if service.example else {}),
                },
            ).render(language)
            for service in self.services.values()
        ]
        return Text("edge.ussd.unknown_code", {"code": code[:_MAX_CODE_SHOWN] or "?", "services": "\n".join(entries)})


def _code_with(base: str, inputs: tuple[str, ...]) -> str:
    """`*111#` + ("0151",) -> `*111*0151#`."""
    return base if not inputs else base[:-1] + "*" + "*".join(inputs) + "#"


def answer(
    request: UssdRequest,
    caller: Caller,
    registry: Registry,
    profile: OperatorProfile,
    account: Account | None = None,
    documents: RequestDocuments | None = None,
    *,
    now: datetime,
) -> Reply:
    """The reply to a parsed request once the caller (and what its service reads) is known, a page at a
    time when it is longer than a screen (functions/edge/pager.py)."""
    language = caller.language
    refused = refusal(caller, profile)
    if refused is not None:
        return pager.page(request.inputs, lambda _: Reply.end(refused.render(language)), _more(language))
    service, seen = registry.route(request)
    if service is None:
        unknown = Reply.end(registry.help(request.service_code, language).render(language))
        return pager.page(request.inputs, lambda _: unknown, _more(language))

    def request_for(inputs: tuple[str, ...]) -> Request[UssdRequest]:
        return Request(
            channel="ussd",
            input=replace(seen, inputs=inputs),
            caller=caller,
            profile=profile,
            account=account,
            documents=documents or RequestDocuments(),
            now=now,
        )

    def reply_for(inputs: tuple[str, ...]) -> Reply:
        return service.handler(request_for(inputs))

    riding = _addon_screens(registry.addons_for(seen.service_code), request_for, reply_for)
    return pager.page(seen.inputs, riding or reply_for, _more(language))


def _addon_screens(
    addons: tuple[UssdAddOn, ...],
    request_for: Callable[[tuple[str, ...]], Request[UssdRequest]],
    host_reply: Callable[[tuple[str, ...]], Reply],
) -> Callable[[tuple[str, ...]], Reply] | None:
    """The session's screens when an add-on rides on the host's final first screen; None when none does.

    Each screen is asked once per request (the pager asks again for every input it replays, and an
    add-on may write when it first shows itself). The host's events go with the first screen. An
    add-on that no longer shows itself (its offer ended since) may still claim the later inputs of a
    session it was shown in: they were typed at its screen, not the host's.
    """
    if not addons:
        return None
    first = host_reply(())
    if first.keep_open:  # the host's own menu: its inputs are its own
        return None
    for addon in addons:
        shown = _asked(addon, request_for(()), first)
        if shown is not None:
            return _riding(addon, shown, first, request_for)
    return _claimed_later(addons, first, request_for, host_reply)


def _asked(addon: UssdAddOn, request: Request[UssdRequest], first: Reply) -> Reply | None:
    """The add-on's screen for the request; None when it has none, or fails."""
    try:
        return addon.handler(request, first)
    except Exception:  # an add-on never costs the subscriber the answer they asked for
        logger.exception(
            "USSD add-on failed; the host's answer stands",
            extra={"host": request.input.service_code, "inputs": len(request.input.inputs)},
        )
        return None


def _riding(
    addon: UssdAddOn, shown: Reply, first: Reply, request_for: Callable[[tuple[str, ...]], Request[UssdRequest]]
) -> Callable[[tuple[str, ...]], Reply]:
    """The add-on's screens once it showed itself on the first one (`shown`, carrying the host's events too)."""

    @functools.cache
    def screen(inputs: tuple[str, ...]) -> Reply:
        if not inputs:
            return replace(shown, publish=(*first.publish, *shown.publish))
        return addon.handler(request_for(inputs), first) or first

    return screen


def _claimed_later(
    addons: tuple[UssdAddOn, ...],
    first: Reply,
    request_for: Callable[[tuple[str, ...]], Request[UssdRequest]],
    host_reply: Callable[[tuple[str, ...]], Reply],
) -> Callable[[tuple[str, ...]], Reply]:
    """The session's screens when no add-on showed itself on the first one: later inputs an add-on claims
    are its own (the host's events are not published again); the rest are the host's."""

    @functools.cache
    def screen(inputs: tuple[str, ...]) -> Reply:
        if not inputs:
            return first
        for addon in addons:
            claimed = _asked(addon, request_for(inputs), first)
            if claimed is not None:
                return claimed
        return host_reply(inputs)

    return screen


def _more(language: str) -> str:
    return Text("edge.ussd.more").render(language)


class MenuPosition(Protocol):
    """Where a USSD menu is: `done` is set once a final choice was made."""

    @property
    def done(self) -> object: ...


Position = TypeVar("Position", bound=MenuPosition)


def replay(inputs: Iterable[str], step: Callable[[Position, str], Position], start: Position) -> Position:
    """A USSD menu's position after the session's inputs, replayed from `start` (gateways resend
    every input each round, so a menu is a pure fold); inputs after a final choice (`done`) are ignored."""
    position = start
    for typed in inputs:
        if position.done:
            break
        position = step(position, typed)
    return position
