"""Stripe's test cards: the numbers, the `tok_…` / `pm_card_…` shortcuts, and how each one answers a charge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    """Why a charge fails, as Stripe's card_error spells it."""

    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
EXPIRED_CARD = Decline("expired_card", "expired_card", "Your card has expired.")
AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
# Stripe's test mode refuses any number that is not one of its test cards.
LIVE_CARD_IN_TEST_MODE = Decline(
    "card_declined",
    "test_mode_live_card",
    "Your card was declined. Your request was in test mode, but used a non test card.",
)


@dataclass(frozen=True)
class TestCard:
    number: str
    decline: Decline | None  # None: the charge succeeds
    needs_authentication: bool = False  # on-session it asks for 3-D Secure; off-session it fails with the decline

    __test__ = False  # a card, not a pytest class

    @property
    def brand(self) -> str:
        return brand_of(self.number)


# The shortcut names after `tok_` and `pm_card_`, as in Stripe's documentation.
TEST_CARDS = {
    "visa": TestCard("4242424242424242", None),
    "mastercard": TestCard("5555555555554444", None),
    "chargeDeclined": TestCard("4000000000000002", GENERIC_DECLINE),
    "chargeDeclinedInsufficientFunds": TestCard("4000000000009995", INSUFFICIENT_FUNDS),
    "chargeDeclinedExpiredCard": TestCard("4000000000000069", EXPIRED_CARD),
    "authenticationRequired": TestCard("4000002760003184", AUTHENTICATION_REQUIRED, needs_authentication=True),
}
_BY_NUMBER = {card.number: card for card in TEST_CARDS.values()}


def by_shortcut(identifier: str, prefix: str) -> TestCard | None:
    """The test card `tok_visa` or `pm_card_visa` names (prefix `tok_` or `pm_card_`), None for any other id."""
    return TEST_CARDS.get(identifier.removeprefix(prefix)) if identifier.startswith(prefix) else None


def by_number(number: str) -> TestCard:
    """The test card with this number; any other number is a live card, declined in test mode."""
    return _BY_NUMBER.get(number) or TestCard(number, LIVE_CARD_IN_TEST_MODE)


def brand_of(number: str) -> str:
    """The card network from the number's first digits (the brands Stripe names)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def luhn_valid(number: str) -> bool:
    """Whether the number passes the Luhn check every card number carries."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0
