"""Voice+ at the edge: a campaign played to a caller whose call reached a number that does not exist.

The carrier says the announcement, then hands the call here (CallReason `not-exists`). The first
request chooses and reserves the offer at once: the caller's subscriber record, their caps document
and their subscriptions book come in the webhook's one read, the campaigns from the process-wide
pool (live.LivePool), and the play is counted by the edge's one conditional write on the caps
document (caps.reserve): no caller hears a campaign beyond its cap, however many calls arrive at
once. Not an active subscriber, no campaign that fits, or a caps document too busy to write: the
call ends at once (the caller heard the announcement only).

The offer is a <Gather> around the campaign's prompt in the caller's language; its action URL (signed
by Twilio with the rest) carries the offer, the campaign, the language, the step, the attempt and the
step's number `n`, so later steps read nothing but the caller's record. The campaign's keys decide:
activate (then "press it again to confirm" when the campaign asks for it) publishes
`voice-plus.accepted` with the consent (what was heard, both keys, the call's sid); info plays the
campaign's information (or the product's description, else its name and price) and the prompt again;
repeat plays the prompt again. No key is asked once more; another key is "not an option" once; then
goodbye.

Hang-ups (funnel "hangup"): every <Gather> has actionOnEmptyResult, so the only way an offer ends
without a step of ours is the caller hanging up while it waits. Each offer has ONE ending event id
(`ending_event_id`): the step that ends the call publishes its funnel step under it (confirmation
when accepted, key when declined, hangup after goodbye), and the call's status callback publishes
"hangup" under the same id for every call that had an offer. The step's publication is made before
its TwiML is answered, so before the call can end; the statistics count one event per id, so an
offer ended by us is not also counted as hung up, and one the caller left is counted once. The one
limit: the statistics count whichever of the two arrives first, and Pub/Sub without an ordering key
may (rarely) deliver the call's end before the step published earlier.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from google.cloud import firestore
from twilio.twiml.voice_response import Gather, VoiceResponse

from functions.edge import api
from functions.edge.api import Publication, Text
from functions.subscriptions import public as subscriptions
from functions.voice_plus import caps, selection
from functions.voice_plus.config import VoicePlusConfig
from functions.voice_plus.documents import CAPS, Campaign, Prompt
from functions.voice_plus.live import LivePool, process_pool
from functions.voice_plus.offer_events import acceptance, consent_offer, funnel_step
from shared import consent, store, texts
from shared.events import FunnelStep, derive_event_id
from shared.operator import OperatorProfile

logger = logging.getLogger(__name__)

ACCEPTED = "voice-plus.accepted"
FUNNEL = "voice-plus.funnel"
MENU, CONFIRM = "menu", "confirm"  # the steps after the offer
ATTEMPTS = 2  # no key or another key: asked once more, then goodbye
MAX_STEPS = 20  # a caller replaying the offer for ever is told goodbye (Twilio's hop limit is near)
GATHER_TIMEOUT_SECONDS = 6
# The confirm step's URL carries when the first key was pressed (signed, but replayable): a real
# confirmation comes within two gathers of it (seconds), so an older one, or one stamped in the
# future, is a replayed or forged step and records nothing.
FIRST_KEY_MAX_AGE = timedelta(minutes=10)
_CALL_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")


def offer_id_of(call_sid: str) -> str | None:
    """The offer a call makes: `voice:<CallSid>`; None for a sid that cannot name one."""
    return f"voice:{call_sid}" if _CALL_SID.match(call_sid) else None


def ending_event_id(offer_id: str) -> str:
    """The one event id under which an offer's end is counted (by our last step, or by the caller's hang-up)."""
    return derive_event_id(offer_id, "funnel/ending/0")


@dataclass(frozen=True)
class OfferCall:
    """One offer on one call, as every step knows it (carried in the signed action URLs)."""

    offer_id: str
    campaign: Campaign
    msisdn: str
    language: str
    n: int  # this step's number in the call: 0 the offer, then one more per request

    @property
    def prompt(self) -> Prompt:
        return self.campaign.voice[self.language]  # type: ignore[index]  # restored only in its languages

    def action(self, step: str, attempt: int = 1, at: datetime | None = None) -> str:
        """This webhook (relative URL) with the offer and the next step in its query."""
        query = {"step": step, "offer": self.offer_id, "campaign": self.campaign.id, "lang": self.language}
        query |= {"attempt": str(attempt), "n": str(self.n + 1)} | ({"at": api.stamp(at)} if at else {})
        return "?" + urlencode(query)

    def funnel(
        self, step: FunnelStep, now: datetime, detail: str | None = None, *, ending: bool = False
    ) -> Publication:
        """A funnel step of this offer, its event id from the offer and the step's number (or the offer's ending)."""
        payload, event_id = funnel_step(
            self.offer_id, self.campaign, self.language, self.msisdn, step, now, self.n, detail
        )
        return Publication(FUNNEL, payload, ending_event_id(self.offer_id) if ending else event_id)

    def accepted(self, first: consent.Answer, second: consent.Answer, *, yes: bool) -> Publication | None:
        """`voice-plus.accepted` with the consent (confirmed or declined); None when the product left the catalogue."""
        terms = subscriptions.terms(self.campaign.offer.product)
        if terms is None:
            return None
        given = consent.given(
            offer=consent_offer(self.campaign),
            msisdn=self.msisdn,
            channel="ivr",
            language=self.language,
            shown=self.prompt.shown,
            price=terms.price,
            currency=terms.currency,
            period=terms.period,
            request=first,
            confirmation=second,
            accepted=yes,
        )
        return Publication(ACCEPTED, *acceptance(self.offer_id, self.campaign, "voice", given, second.at))

    @classmethod
    def restore(cls, call: api.InboundCall, pool: selection.Pool) -> OfferCall | None:
        """The offer a later step's action URL carries, bound to this call; None for a URL we did not write."""
        query = call.query
        live = pool.by_id.get(query.get("campaign", ""))
        language, n = query.get("lang", ""), query.get("n", "")
        if (
            call.caller is None
            or live is None
            or live.campaign.channel != "voice"
            or query.get("offer") != offer_id_of(call.call_sid)
            or language not in texts.LANGUAGES
            or language not in live.campaign.voice
            or not n.isdigit()
            or int(n) > MAX_STEPS
        ):
            return None
        return cls(query["offer"], live.campaign, call.caller, language, int(n))


def _hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response


def _goodbye(language: str, *texts_said: Text, publish: Iterable[Publication] = ()) -> api.VoiceAnswer:
    response = VoiceResponse()
    for said in texts_said:
        api.say(response, said, language)
    response.hangup()
    return api.VoiceAnswer(response, tuple(publish))


def _heard(into: Gather, prompt: Prompt, language: str) -> None:
    """A prompt inside a Gather: its audio, or its text in the language's voice."""
    if prompt.play is not None:
        into.play(str(prompt.play))
    else:
        api.say(into, Text("voice_plus.voice.prompt", {"text": prompt.say}), language)


def _menu(offer: OfferCall, *, first: Iterable[Text | Prompt] = (), attempt: int = 1) -> VoiceResponse:
    """The offer's prompt (after `first`) in a Gather whose every ending comes back to the menu step."""
    response = VoiceResponse()
    gather = Gather(
        num_digits=1,
        timeout=GATHER_TIMEOUT_SECONDS,
        action=offer.action(MENU, attempt),
        action_on_empty_result=True,
    )
    for part in first:
        if isinstance(part, Prompt):
            _heard(gather, part, offer.language)
        else:
            api.say(gather, part, offer.language)
    _heard(gather, offer.prompt, offer.language)
    response.append(gather)
    return response


def _confirm_question(offer: OfferCall, attempt: int, first_key_at: datetime) -> VoiceResponse:
    """'Press <key> again to confirm', its answer (or silence) coming back to the confirmation step."""
    response = VoiceResponse()
    gather = Gather(
        num_digits=1,
        timeout=GATHER_TIMEOUT_SECONDS,
        action=offer.action(CONFIRM, attempt, at=first_key_at),
        action_on_empty_result=True,
    )
    api.say(gather, Text("voice_plus.voice.confirm", {"digit": offer.campaign.offer.activate_key}), offer.language)
    response.append(gather)
    return response


def _information(offer: OfferCall, profile: OperatorProfile) -> Text | Prompt | None:
    """Key 'info': the campaign's own information, else the product's description, else its name and price."""
    own = offer.campaign.voice_info.get(offer.language)  # type: ignore[call-overload]  # a Language
    if own is not None:
        return own
    terms = subscriptions.terms(offer.campaign.offer.product)
    if terms is None:
        return None
    described = terms.description_in(offer.language)
    if described:
        return Text("voice_plus.voice.prompt", {"text": described})
    price = profile.currency.format(terms.price)
    return Text(f"voice_plus.voice.terms.{terms.period}", {"name": terms.name_in(offer.language), "price": price})


@dataclass(frozen=True)
class VoicePlus:
    """The wrong-number calls' handler: the offer on the first request, the keys on later ones."""

    config: VoicePlusConfig
    pool: LivePool
    db: Callable[[], firestore.Client]  # store.db in production

    def reads(self, call: api.InboundCall, profile: OperatorProfile) -> list[api.DocumentPath]:
        """The first request reads the caps and the subscriptions book with the caller; later steps nothing."""
        if call.caller is None or "offer" in call.query:
            return []
        return [(CAPS, call.caller), (subscriptions.BOOKS, call.caller)]

    def __call__(self, request: api.Request[api.InboundCall]) -> VoiceResponse | api.VoiceAnswer:
        """The offer's step; on any failure (the campaigns or the caps unreadable) a quiet end, never "unavailable"."""
        try:
            if "offer" in request.input.query:
                return self._step(request)
            return self._offer(request)
        except Exception:  # the caller heard "does not exist": an offer left out is all they may notice
            logger.exception("Voice+ step failed: no offer", extra={"sid": request.input.call_sid})
            return _hang_up()

    def _offer(self, request: api.Request[api.InboundCall]) -> VoiceResponse | api.VoiceAnswer:
        call, now = request.input, request.now
        offer_id = offer_id_of(call.call_sid)
        if not request.read or call.caller is None or offer_id is None:
            return _hang_up()
        who = selection.audience(
            call.caller,
            request.caller.language,
            request.document(store.SUBSCRIBERS, call.caller),
            request.document(subscriptions.BOOKS, call.caller),
        )
        if who is None:
            return _hang_up()
        pool = self.pool.current()
        horizon = timedelta(days=self.config.caps_horizon_days)

        def choose(plays: caps.Plays) -> selection.Live | None:
            return selection.choose(pool, "voice", who, now, plays, seed=offer_id)

        # Nothing fits the caps as read: no write (most repeat callers are capped).
        if caps.reserve(request.document(CAPS, call.caller), offer_id, choose, now, horizon)[1] is None:
            return _hang_up()
        try:
            campaign_id = api.change_document(
                self.db(),
                CAPS,
                call.caller,
                lambda stored: caps.reserve(stored, offer_id, choose, now, horizon),
                as_read=request.as_read(CAPS, call.caller),  # no second read: the lookup's, with its version
            )
        except api.DocumentBusy:
            return _hang_up()
        live = pool.by_id.get(campaign_id or "")
        if live is None:
            return _hang_up()
        offer = OfferCall(offer_id, live.campaign, call.caller, request.caller.language, 0)
        return api.VoiceAnswer(_menu(offer), (offer.funnel("offered", now),))

    def _step(self, request: api.Request[api.InboundCall]) -> VoiceResponse | api.VoiceAnswer:
        call, now = request.input, request.now
        offer = OfferCall.restore(call, self.pool.current())
        if offer is None:
            return _goodbye(request.caller.language, Text("voice_plus.voice.goodbye"))
        attempt = 2 if call.query.get("attempt") == "2" else 1
        if call.query.get("step") == CONFIRM:
            return self._confirmation(request, offer, attempt)
        key = (call.digits or "")[:1]
        action = offer.campaign.offer.keys.get(key)
        pressed = (offer.funnel("key", now, key),) if key else ()
        if action == "activate":
            return self._activate(request, offer, pressed)
        if action in ("info", "repeat"):
            heard = _information(offer, request.profile) if action == "info" else None
            played = offer.funnel("played", now, action)
            return api.VoiceAnswer(_menu(offer, first=[heard] if heard else []), (*pressed, played))
        if attempt < ATTEMPTS:
            said = [Text("voice_plus.voice.not_an_option")] if key else []
            return api.VoiceAnswer(_menu(offer, first=said, attempt=attempt + 1), pressed)
        ended = offer.funnel("hangup", now, "no key" if not key else "wrong key", ending=True)
        return _goodbye(offer.language, Text("voice_plus.voice.goodbye"), publish=(*pressed, ended))

    def _activate(
        self, request: api.Request[api.InboundCall], offer: OfferCall, pressed: tuple[Publication, ...]
    ) -> api.VoiceAnswer:
        """The activating key: ask to confirm, or accept at once (the same key stands for the confirmation)."""
        call, now, key = request.input, request.now, offer.campaign.offer.activate_key
        if offer.campaign.offer.confirm:
            return api.VoiceAnswer(_confirm_question(offer, 1, now), pressed)
        answer = consent.Answer(text=key, reference=call.call_sid, at=now)
        return self._decided(offer, answer, answer, yes=True, publish=pressed)

    def _confirmation(self, request: api.Request[api.InboundCall], offer: OfferCall, attempt: int) -> api.VoiceAnswer:
        """The confirmation step: the activating key again accepts; another key declines; silence asks once more."""
        call, now, key = request.input, request.now, offer.campaign.offer.activate_key
        first_at = api.unstamp(call.query.get("at", ""))
        if first_at is None or not now - FIRST_KEY_MAX_AGE <= first_at <= now:  # a stale step: nothing recorded
            return _goodbye(offer.language, Text("voice_plus.voice.goodbye"))
        typed = (call.digits or "")[:1]
        if not typed and attempt < ATTEMPTS:
            return api.VoiceAnswer(_confirm_question(offer, attempt + 1, first_at))
        first = consent.Answer(text=key, reference=call.call_sid, at=first_at)
        second = consent.Answer(text=typed, reference=call.call_sid, at=now)
        return self._decided(offer, first, second, yes=typed == key)

    def _decided(
        self,
        offer: OfferCall,
        first: consent.Answer,
        second: consent.Answer,
        *,
        yes: bool,
        publish: tuple[Publication, ...] = (),
    ) -> api.VoiceAnswer:
        """The answer given: the consent published, the offer's ending counted, then thanks (or not) and goodbye."""
        accepted = offer.accepted(first, second, yes=yes)
        if accepted is None:
            ended = offer.funnel("hangup", second.at, "unavailable", ending=True)
            return _goodbye(offer.language, Text("voice_plus.voice.unavailable"), publish=(*publish, ended))
        if yes:
            ended = offer.funnel("confirmation", second.at, second.text, ending=True)
            said = Text("voice_plus.voice.thanks")
        elif second.text:
            ended = offer.funnel("key", second.at, second.text, ending=True)
            said = Text("voice_plus.voice.not_confirmed")
        else:
            ended = offer.funnel("hangup", second.at, "no confirmation", ending=True)
            said = Text("voice_plus.voice.not_confirmed")
        return _goodbye(offer.language, said, publish=(*publish, accepted, ended))

    def ended(self, request: api.Request[api.InboundCall]) -> tuple[Publication, ...]:
        """The call's end: "hangup" under the offer's ending id, for a call that had an offer (its caps play)."""
        call = request.input
        offer_id = offer_id_of(call.call_sid)
        if not request.read or call.caller is None or offer_id is None:
            return ()
        stored = request.document(CAPS, call.caller) or {}
        play = next((play for play in stored.get("plays") or [] if play.get("offer") == offer_id), None)
        live = self.pool.current().by_id.get(play["campaign"]) if play else None
        if live is None:
            return ()
        language = request.caller.language if request.caller.language in live.campaign.voice else None
        if language is None:
            return ()
        offer = OfferCall(offer_id, live.campaign, call.caller, language, 0)
        return (offer.funnel("hangup", request.now, "caller", ending=True),)

    def end_reads(self, call: api.InboundCall, profile: OperatorProfile) -> list[api.DocumentPath]:
        return [(CAPS, call.caller)] if call.caller else []


def voice_entry(profile: OperatorProfile, config: VoicePlusConfig, priority: int) -> api.VoiceEntry:
    """Voice+ on wrong-number calls for this operator, selecting from the process's campaign pool."""
    return entry(VoicePlus(config, process_pool(profile.timezone, config.campaign_refresh_seconds), store.db), priority)


def entry(service: VoicePlus, priority: int) -> api.VoiceEntry:
    """The edge's entry: wrong numbers (and their later steps) answered, their ends counted as hang-ups."""
    return api.VoiceEntry(
        api.WrongNumber(),
        api.VoiceService(service, service.reads),
        ended=api.VoiceEndHandler(service.ended, service.end_reads),
        priority=priority,
    )
