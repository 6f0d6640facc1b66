"""The operator profile: who runs this deployment, chosen by configuration (VAS_OPERATOR)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Self

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import settings, text_catalog, zones
from shared.events import Language
from shared.money import Currency
from shared.msisdn import normalise

PROFILES_DIR = Path(__file__).with_name("operators")


class ShortCodes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    balance: str = Field(default="*100#", description="USSD service code of the balance check")
    sms: str = Field(default="21112", description="Short code subscribers text for services")
    sender: str = Field(default="VAS", description="Sender id of the platform's SMS")
    hotline: str = Field(default="0890", description="Customer care number quoted in help texts")
    # Balance transfers (functions/transfers/edge_orders.py); a code with fixed inputs names the whole dial string.
    transfer: str = Field(default="*112#", description="USSD transfer: <code>*<recipient>*<amount>#")
    topup_request: str = Field(default="*116#", description="USSD 'please top me up': <code>*<msisdn>*<amount>#")
    transfer_bar: str = Field(default="*111*0151#", description="USSD that bars the caller's outgoing transfers")
    transfer_menu: str = Field(default="#131#", description="USSD menu: send credit, limits left, recent transfers")
    transfer_menu_aliases: tuple[str, ...] = Field(default=(), description="More codes of that menu, e.g. *100*6*3#")
    pay_card: str = Field(default="0670", description="IVR number activating a pay card for another subscriber")


class OperatorProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 country; resolves national numbers")
    national_number_length: int = Field(ge=4, le=15)
    number_format: Literal["international", "national"] = Field(
        default="international",
        description="How texts write a number for subscribers to copy: international "
        "digits without '+' (998901234567) or national, trunk prefix "
        "included (07901234567)",
    )
    currency: Currency
    timezone: str = Field(description="IANA zone for times shown to subscribers, e.g. Asia/Tashkent")
    languages: list[Language] = Field(min_length=1)
    default_language: Language
    short_codes: ShortCodes = ShortCodes()
    services: dict[str, list[str]] = Field(default_factory=dict, description="Service -> enabled preset names")
    texts: dict[str, dict[Language, str]] = Field(
        default_factory=dict, description="Text key -> language -> the operator's own wording (shared/texts)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return zones.valid_zone(value)

    @model_validator(mode="after")
    def _default_is_offered(self) -> Self:
        if self.default_language not in self.languages:
            raise ValueError(f"default_language {self.default_language} is not in languages {self.languages}")
        return self

    @model_validator(mode="after")
    def _texts_fit_the_catalog(self) -> Self:
        problems = text_catalog.override_problems(self.texts, self.languages)
        if problems:
            raise ValueError("texts: " + "; ".join(problems))
        return self

    def msisdn(self, raw: str) -> str:
        """Normalise a number as this operator's subscribers write it."""
        return normalise(raw, self.country)

    def example_number(self) -> str:
        """A mobile number of this operator's country, written as its subscribers type one (help texts)."""
        example = phonenumbers.example_number_for_type(self.country, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            raise ProfileError(f"no example mobile number is known for country {self.country}")
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if self.number_format == "national"
            else phonenumbers.PhoneNumberFormat.E164
        )
        return "".join(ch for ch in phonenumbers.format_number(example, style) if ch.isdigit())

    def language_for(self, preferred: str | None) -> str:
        return preferred if preferred in self.languages else self.default_language


class ProfileError(ValueError):
    pass


def load_file(path: Path) -> OperatorProfile:
    try:
        return OperatorProfile.model_validate(yaml.safe_load(Path(path).read_text()))
    except FileNotFoundError:
        raise ProfileError(f"operator profile {path} does not exist") from None
    except ValueError as error:
        raise ProfileError(f"operator profile {path} is invalid:\n{error}") from None


@functools.cache
def current() -> OperatorProfile:
    s = settings.get()
    return load_file(Path(s.operator_profile) if s.operator_profile else PROFILES_DIR / f"{s.operator}.yaml")
