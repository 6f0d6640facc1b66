"""Money is integer minor units; this turns it into what a subscriber reads, and back."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field


class Currency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    minor_unit: int = Field(ge=0, le=4, description="Digits after the decimal point (ISO 4217)")
    symbol: str | None = None

    def format(self, minor: int) -> str:
        """12345 with minor_unit 2 -> '123.45 UZS'; whole amounts lose the decimals: '25 000 UZS'."""
        sign = "-" if minor < 0 else ""
        units, cents = divmod(abs(minor), 10 ** self.minor_unit)
        whole = f"{units:,}".replace(",", " ")
        text = whole if cents == 0 else f"{whole}.{cents:0{self.minor_unit}d}"
        return f"{sign}{text} {self.symbol or self.code}"

    def to_minor(self, text: str) -> int:
        """What a subscriber typed ('2500', '2.50') in major units -> minor units; ValueError if not exact."""
        try:
            value = Decimal(text.strip().replace(" ", ""))
        except InvalidOperation:
            raise ValueError(f"not an amount: {text!r}") from None
        minor = value * (10 ** self.minor_unit)
        if minor != minor.to_integral_value() or not value.is_finite():
            raise ValueError(f"{text!r} has more decimals than {self.code} allows")
        return int(minor)
