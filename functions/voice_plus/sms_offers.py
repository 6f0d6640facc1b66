"""An SMS add-on answered on the offers' short code (consumer `voice-plus-sms-reply`).

The top-up confirmation carried the offer (public.topup_addon wrote `offer_sms/{msisdn}`); the
subscriber's replies come here in turn (ordered by msisdn), each in ONE transaction:

- the offer's keyword, within `sms_offer_hours`: the consent is asked (shared.consent.asked, the
  question's text as shown) and an SMS names the product, its price and period: "reply YES";
- YES: the consent answered -> `voice-plus.accepted` with it (the accept consumer checks the budget
  and asks subscriptions to start it); NO: answered declined -> `voice-plus.accepted` with the
  declined record (kept and counted by the accept consumer), and "nothing was activated";
- too late (the offer's window or the question's passed, also for a YES/NO before the keyword):
  the expired consent kept, the funnel's "declined" (detail "expired"), and "this offer has expired".

The open offer is removed once decided, so a second YES finds nothing open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from functions.subscriptions import public as subscriptions
from functions.voice_plus.config import VoicePlusConfig, in_force
from functions.voice_plus.documents import CAMPAIGNS, SMS_OFFERS, Campaign
from functions.voice_plus.offer_events import ACCEPTED, FUNNEL, acceptance, consent_offer, emit, funnel_step, priced
from shared import consent, runtime, texts
from shared.events import FunnelStep, OfferSmsReplied, SmsSend
from shared.operator import OperatorProfile

logger = logging.getLogger(__name__)

# Places of an SMS offer's funnel steps (offered is 0): each counted once per offer.
KEY_STEP, DECISION_STEP = 1, 2


@runtime.consumer("voice-plus-sms-reply")
def on_sms_reply(ctx: runtime.Context[None], reply: OfferSmsReplied) -> None:
    """Ask on the keyword, accept on YES, decline on NO, expire when late: one open offer at a time."""
    profile, config = in_force()
    open_offer = ctx.get(ctx.doc(SMS_OFFERS, reply.msisdn)).to_dict()
    if open_offer is None:
        _tell(ctx, reply.msisdn, config, "voice_plus.sms.nothing_open", {}, None)
        return
    stored = ctx.get(ctx.doc(CAMPAIGNS, open_offer["campaign"])).to_dict()
    if stored is None:
        raise runtime.Rejected(f"open offer {open_offer['offer']} names campaign {open_offer['campaign']}, not stored")
    campaign = Campaign.model_validate(stored)
    pending = consent.read_pending(ctx, consent_offer(campaign), reply.msisdn)
    if pending is not None and pending.request.reference != open_offer.get("asked_reference"):
        pending = None  # a question of an earlier offer of the same campaign
    dialogue = Dialogue(ctx, reply, open_offer, campaign, config)
    if reply.consent_reply is None:
        dialogue.keyword(pending, profile)
    elif pending is None and dialogue.late:  # YES/NO before the keyword, after the offer's window
        dialogue.expire(None)
    elif pending is None:  # YES/NO before the keyword: say what to send
        dialogue.tell("voice_plus.sms.unknown", dialogue.reply_words(keyword=dialogue.campaign.keyword))
    else:
        dialogue.decide(pending)


@dataclass(frozen=True)
class Dialogue:
    """One reply about one open offer, inside the consumer's transaction (every read done)."""

    ctx: runtime.Context[None]
    reply: OfferSmsReplied
    open_offer: dict[str, Any]
    campaign: Campaign
    config: VoicePlusConfig

    @property
    def language(self) -> str:
        return self.open_offer["language"]

    @property
    def late(self) -> bool:
        """Whether the reply came once the open offer's window had passed."""
        return self.reply.said.at >= self.open_offer["until"]

    def reply_words(self, **more: Any) -> dict[str, Any]:
        return {"yes": consent.YES_WORD[self.language], "no": consent.NO_WORD[self.language], **more}

    def keyword(self, pending: consent.Consent | None, profile: OperatorProfile) -> None:
        """The keyword: ask the question (again, if asked already and still open); late: expired."""
        if self.late:
            self.expire(None)
            return
        terms = subscriptions.terms(self.campaign.offer.product)
        if terms is None:  # no longer sold: the offer ends
            self.close()
            self.tell("voice_plus.sms.expired")
            return
        words = self.reply_words(**priced(terms, self.language, profile.currency), short_code=self.config.short_code)
        question = texts.render("voice_plus.sms.question", self.language, **words)
        if pending is None:
            asked = consent.asked(
                offer=consent_offer(self.campaign),
                msisdn=self.reply.msisdn,
                channel="sms",
                language=self.language,
                shown=question,
                price=terms.price,
                currency=terms.currency,
                period=terms.period,
                request=self.reply.said,
                window=timedelta(hours=self.config.sms_offer_hours),
            )
            consent.write(self.ctx, asked)
            self.ctx.txn.update(
                self.ctx.doc(SMS_OFFERS, self.reply.msisdn),
                {"asked_reference": self.reply.said.reference, "until": asked.expires_at},
            )
            self.count("key", KEY_STEP)
        self.tell("voice_plus.sms.question", words)

    def decide(self, pending: consent.Consent) -> None:
        """YES or NO to the question: accepted or declined with the consent; too late: expired."""
        decided = consent.answered(pending, self.reply.said, accepted=bool(self.reply.consent_reply))
        if decided.status == "expired":
            self.expire(decided)
            return
        consent.write(self.ctx, decided)
        self.close()
        emit(
            self.ctx, ACCEPTED, acceptance(self.open_offer["offer"], self.campaign, "sms", decided, self.reply.said.at)
        )
        if decided.confirmed:  # the result's SMS comes from subscriptions (or the accept consumer)
            self.count("confirmation", DECISION_STEP)
        else:
            self.tell("voice_plus.sms.declined")

    def expire(self, expired: consent.Consent | None) -> None:
        """Too late: the expired question kept (if one was asked), the offer closed and counted declined."""
        if expired is not None:
            consent.write(self.ctx, expired)
        self.close()
        self.count("declined", DECISION_STEP, "expired")
        self.tell("voice_plus.sms.expired")

    def close(self) -> None:
        self.ctx.txn.delete(self.ctx.doc(SMS_OFFERS, self.reply.msisdn))

    def count(self, step: FunnelStep, n: int, detail: str | None = None) -> None:
        made = funnel_step(
            self.open_offer["offer"],
            self.campaign,
            self.language,
            self.reply.msisdn,
            step,
            self.reply.said.at,
            n,
            detail,
        )
        emit(self.ctx, FUNNEL, made)

    def tell(self, template: str, params: dict[str, Any] | None = None) -> None:
        _tell(self.ctx, self.reply.msisdn, self.config, template, params or {}, self.language)


def _tell(
    ctx: runtime.Context[None],
    msisdn: str,
    config: VoicePlusConfig,
    template: str,
    params: dict[str, Any],
    language: str | None,
) -> None:
    """An SMS from the offers' short code (in the subscriber's language when `language` is None)."""
    sms = SmsSend(to=msisdn, template=template, params=params, language=language, sender=config.short_code)
    ctx.emit("sms.send", sms, purpose=template)
