"""The USSD add-on: an offer under the answer of the subscriber's own request (the balance on `*100#`).

The first screen: the host's final answer with the add-on's lines under it, when a campaign fits the
subscriber, the moment, its cap and the screen (only campaigns whose add-on fits under this answer
are chosen from, so a play is reserved only for an offer shown). The play is reserved then, with the
edge's conditional write on `offer_caps/{msisdn}` (offer id `ussd:<sessionId>`); a later screen of
the session finds the campaign in that document as read, and writes nothing.

Interactive add-ons own the session's later inputs: 1 activates (through "<name> <price>/<period>.
1 Confirm 0 Close" when the campaign confirms), 2 shows more information (then 1 Activate, 0 Close).
Accepting or declining at the confirmation publishes `voice-plus.accepted` with the consent given in
the session; every step is a funnel event with an id derived from the offer and the input's place.
A later screen of a session whose campaign left the live pool since (paused, stopped), or whose
read failed, says the offer has ended: nothing activated, and the host's events are not sent again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from functions.edge import api
from functions.subscriptions import public as subscriptions
from functions.voice_plus import caps, fit, selection
from functions.voice_plus.addons import only_fitting
from functions.voice_plus.config import VoicePlusConfig
from functions.voice_plus.documents import CAPS, Campaign
from functions.voice_plus.live import process_pool
from functions.voice_plus.offer_events import ACCEPTED, FUNNEL, acceptance, consent_offer, funnel_step, priced
from shared import consent, store
from shared.events import FunnelStep
from shared.operator import OperatorProfile

logger = logging.getLogger(__name__)

ACTIVATE, INFO, CLOSE, CONFIRM = "1", "2", "0", "1"
_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,140}$")  # what an offer id may carry after its channel


def offer_id_for(session_id: str) -> str:
    """`ussd:<sessionId>`; a session id offer ids cannot carry is named by its hash."""
    reference = session_id if _REFERENCE.match(session_id) else hashlib.sha256(session_id.encode()).hexdigest()[:32]
    return f"ussd:{reference}"


def reads(request: api.UssdRequest, profile: OperatorProfile) -> tuple[api.DocumentPath, ...]:
    """The caps document and the subscriptions book, in the host's round trip."""
    return ((CAPS, request.msisdn), (subscriptions.BOOKS, request.msisdn))


def offered_campaign(caps_document: dict | None, offer_id: str) -> str | None:
    """The campaign this session's offer reserved, as the caps document holds it."""
    plays = (caps_document or {}).get("plays") or []
    return next((play["campaign"] for play in plays if play.get("offer") == offer_id), None)


# --- the menu after the first screen ----------------------------------------------------------


Screen = Literal["offer", "info", "confirm"]
Outcome = Literal["accepted", "declined", "closed", "invalid"]


@dataclass(frozen=True)
class Position:
    """Where the add-on's menu is after the session's inputs (replayed: gateways resend them all)."""

    screen: Screen = "offer"
    done: Outcome | None = None
    request_key: str | None = None  # the key that asked to activate
    confirm_key: str | None = None


def step(position: Position, typed: str, confirms: bool) -> Position:
    """The menu after one more input."""
    key = typed.strip()
    if position.screen == "confirm":
        return replace(position, done="accepted" if key == CONFIRM else "declined", confirm_key=key)
    if key == ACTIVATE:
        if confirms:
            return Position(screen="confirm", request_key=key)
        return Position(screen=position.screen, done="accepted", request_key=key, confirm_key=key)
    if key == INFO and position.screen == "offer":
        return Position(screen="info")
    if key == CLOSE and position.screen == "info":
        return replace(position, done="closed")
    return replace(position, done="invalid")


# --- the handler --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UssdAddOn:
    """The add-on of one operator's preset."""

    config: VoicePlusConfig

    def __call__(self, request: api.Request[api.UssdRequest], host: api.Reply) -> api.Reply | None:
        """The host's screen with the offer (first screen), or the add-on's later screens; None: no offer."""
        offer_id = offer_id_for(request.input.session_id)
        msisdn, language = request.caller.msisdn, request.caller.language
        later = bool(request.input.inputs)  # typed at the add-on's screen: the host had answered finally
        ended = _ended(language) if later else None
        if not request.read:  # the play cannot be checked: nothing is shown, nothing activated
            return ended
        pool = process_pool(request.profile.timezone, self.config.campaign_refresh_seconds).current()
        campaign_id = offered_campaign(request.document(CAPS, msisdn), offer_id)
        if not later and campaign_id is None:
            campaign_id = self._reserve(request, host, pool, offer_id)
        if campaign_id is None:
            return None
        live = pool.by_id.get(campaign_id)
        if live is None or language not in live.campaign.text:  # paused or stopped since it was shown
            return ended  # a first screen: the host's answer alone
        campaign, offer_text = live.campaign, live.campaign.text[language]  # type: ignore[index]  # checked above
        if request.input.inputs:  # the session's later screens: the first one was shown
            return self._later(request, campaign, offer_id, offer_text)
        shown = fit.with_ussd_addon(host.text, fit.ussd_addon(campaign, language), self.config)
        if shown is None:  # reserved for a screen that fitted then (a repeated request): the answer changed since
            return None
        offered = _published(FUNNEL, funnel_step(offer_id, campaign, language, msisdn, "offered", request.now, 0))
        return api.Reply(shown, keep_open=campaign.interactive, publish=(offered,))

    def _reserve(
        self, request: api.Request[api.UssdRequest], host: api.Reply, pool: selection.Pool, offer_id: str
    ) -> str | None:
        """Reserve this session's play of a campaign whose add-on fits under the host's answer; None: no offer."""
        msisdn, language = request.caller.msisdn, request.caller.language
        who = selection.audience(
            msisdn,
            language,
            request.document(store.SUBSCRIBERS, msisdn),
            request.document(subscriptions.BOOKS, msisdn),
        )
        if who is None:
            return None
        fitting = only_fitting(
            pool,
            "ussd",
            language,
            lambda campaign: fit.with_ussd_addon(host.text, fit.ussd_addon(campaign, language), self.config)
            is not None,
        )
        horizon = timedelta(days=self.config.caps_horizon_days)
        now = request.now

        def choose(plays: caps.Plays) -> selection.Live | None:
            return selection.choose(fitting, "ussd", who, now, plays, seed=offer_id)

        if choose(caps.plays_of(request.document(CAPS, msisdn))) is None:
            return None  # none fits even the plays as read (newer ones only narrow it): no write to try
        try:
            return api.change_document(
                store.db(),
                CAPS,
                msisdn,
                lambda stored: caps.reserve(stored, offer_id, choose, now, horizon),
                as_read=request.as_read(CAPS, msisdn),  # no second read: the lookup's, with its version
            )
        except api.DocumentBusy:
            logger.warning("no USSD add-on: the caps kept changing", extra={"msisdn": msisdn})
        except Exception:  # the balance is answered all the same, without an offer
            logger.exception("no USSD add-on: the play could not be reserved", extra={"msisdn": msisdn})
        return None

    def _later(
        self, request: api.Request[api.UssdRequest], campaign: Campaign, offer_id: str, offer_text: str
    ) -> api.Reply:
        """The screen after the session's inputs, publishing what the last input decided (only it)."""
        language, inputs, msisdn = request.caller.language, request.input.inputs, request.caller.msisdn
        terms = subscriptions.terms(campaign.offer.product)
        if terms is None:  # the product left the catalogue since
            return _ended(language)
        price = priced(terms, language, request.profile.currency)
        confirm_screen = api.Text("voice_plus.ussd.confirm", price).render(language)
        info_screen = "\n".join(
            (_information(campaign, terms, language, price), api.Text("voice_plus.ussd.info_menu").render(language))
        )

        def menu(at: Position, typed: str) -> Position:
            return step(at, typed, campaign.offer.confirm)

        before = api.replay(inputs[:-1], menu, Position())
        position = api.replay(inputs[-1:], menu, before)
        counted = before.done is None  # an input after the menu's end changes nothing and publishes nothing

        def funnel(step_name: FunnelStep, detail: str | None) -> tuple[api.Publication, ...]:
            if not counted:
                return ()
            made = funnel_step(offer_id, campaign, language, msisdn, step_name, request.now, len(inputs), detail)
            return (_published(FUNNEL, made),)

        if position.done is None:
            if position.screen == "info":
                return api.Reply(info_screen, keep_open=True, publish=funnel("played", "info"))
            return api.Reply(confirm_screen, keep_open=True, publish=funnel("key", position.request_key))
        if position.done in ("closed", "invalid"):
            key = "voice_plus.ussd.closed" if position.done == "closed" else "voice_plus.ussd.invalid"
            return api.Reply.end(api.Text(key).render(language))
        accepted = position.done == "accepted"
        session = request.input.session_id
        read_last = info_screen if before.screen == "info" else offer_text
        given = consent.given(
            offer=consent_offer(campaign),
            msisdn=msisdn,
            channel="ussd",
            language=language,
            shown=confirm_screen if campaign.offer.confirm else read_last,
            price=terms.price,
            currency=terms.currency,
            period=terms.period,
            request=consent.Answer(text=position.request_key or "", reference=session, at=request.now),
            confirmation=consent.Answer(text=position.confirm_key or "", reference=session, at=request.now),
            accepted=accepted,
        )
        # The accept consumer counts accepted or declined; the edge counts the key that decided.
        counted_step: tuple[api.Publication, ...] = ()
        if accepted:
            counted_step = funnel("confirmation" if campaign.offer.confirm else "key", position.confirm_key)
        decided = (_published(ACCEPTED, acceptance(offer_id, campaign, "ussd", given, request.now)),) if counted else ()
        thanks = "voice_plus.ussd.thanks" if accepted else "voice_plus.ussd.closed"
        return api.Reply.end(api.Text(thanks).render(language), publish=(*counted_step, *decided))


def _ended(language: str) -> api.Reply:
    """The session's end when its offer ended before the subscriber's answer: nothing activated."""
    return api.Reply.end(api.Text("voice_plus.ussd.ended").render(language))


def _published(topic: str, event_and_id: tuple[object, str]) -> api.Publication:
    event, event_id = event_and_id
    return api.Publication(topic, event, event_id)


def _information(campaign: Campaign, terms: subscriptions.Terms, language: str, price: dict[str, str]) -> str:
    """The "more information" screen: the campaign's, else the product's description, else its terms."""
    own = campaign.info.get(language)  # type: ignore[call-overload]  # a Language key
    if own:
        return own
    described = terms.description_in(language)
    stated = api.Text("voice_plus.ussd.terms", price).render(language)
    return f"{described}\n{stated}" if described else stated


def addons(config: VoicePlusConfig) -> tuple[api.UssdAddOn, ...]:
    """The add-on riding on the preset's host codes."""
    return (api.UssdAddOn(hosts=config.ussd_hosts, handler=UssdAddOn(config), reads=reads),)
