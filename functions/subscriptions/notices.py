"""The SMS a renewal notice becomes: the product's name, amounts and dates written in the subscriber's language."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from functions.subscriptions.config import Catalogue
from functions.subscriptions.documents import Book
from functions.subscriptions.lifecycle import Notice, product_of
from shared import texts
from shared.events import SmsSend
from shared.operator import OperatorProfile


def product_name(catalogue: Catalogue, product_id: str, language: str) -> str:
    """The product's name in `language` (else its first name); its id when the catalogue no longer has it."""
    product = catalogue.product(product_id)
    return product.name_in(language) if product is not None else product_id


def local_date(when: datetime, zone: str, language: str) -> str:
    """'16/04/2026' (en), '16.04.2026' (ru, uz, ky), '2026年04月16日' (zh), on the operator's calendar."""
    local = when.astimezone(ZoneInfo(zone))
    return texts.render(
        "renewals.date", language, day=f"{local.day:02d}", month=f"{local.month:02d}", year=f"{local.year}"
    )


def sms(notice: Notice, book: Book, catalogue: Catalogue, *, profile: OperatorProfile, language: str) -> SmsSend:
    """The notice as an `sms.send` from the catalogue's short code, its reference naming the subscription."""
    params: dict[str, object] = {name: profile.currency.format(amount) for name, amount in notice.amounts.items()}
    params.update({name: local_date(moment, profile.timezone, language) for name, moment in notice.dates.items()})
    item = book.items.get(notice.item_id) if notice.item_id else None
    if item is not None:
        product = product_of(catalogue, item)
        params.update(
            name=product_name(catalogue, item.product, language),
            keyword=product.keyword if product else item.product.upper(),
            short_code=catalogue.short_code,
            period=texts.render(f"renewals.period.{item.period}", language) if item.period else "",
        )
    if notice.month is not None:
        year, month = notice.month.split("-")
        params["month"] = texts.render("renewals.month", language, month=month, year=year)
        params["lines"] = ", ".join(
            # A list's amounts are written here in the reader's words: notify localises whole amounts only.
            f"{product_name(catalogue, product, language)} "
            f"{profile.currency.localise(profile.currency.format(amount), language)}"
            for product, amount in notice.lines
        )
    reference = f"subscription:{item.id}" if item is not None else f"subscriptions:{book.msisdn}:{notice.month}"
    return SmsSend(
        to=book.msisdn,
        template=notice.template,
        params=params,
        language=language,
        sender=catalogue.short_code,
        reference=reference,
    )
