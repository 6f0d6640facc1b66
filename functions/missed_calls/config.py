"""The operator's missed-call service, as data: presets/<name>.yaml, named by the operator profile.

`services.missed_calls: [<preset>]` in the operator profile switches the service on. A preset says
which forwarded calls get the caller menu, how long missed calls and voice messages are kept,
the D-query window, what the service charges (monthly fee, price per delivered reminder, monthly
cap, the D query), whose feature wins when caller and callee both use the service, and the short
code and voicemail number subscribers use. Amounts are major units of the preset's currency,
held as minor units (shared/presets.py); a preset in another currency than the operator's is
refused. See presets/README.md for every field.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from shared.presets import Bucket, Money, PresetError, ServicePresets, Strict

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "missed_calls"  # the key of the operator profile's `services` naming the preset in force

# What a forwarded call of each kind gets: the full caller menu, or a reminder recorded for the
# callee with a short announcement (no keys).
ForwardHandling = Literal["menu", "reminder"]


class ConfigError(PresetError):
    """A preset that cannot be used; the message names the file and the field."""


class Forwards(Strict):
    """Per forward reason (spec: 'Busy and no-answer forwards follow the operator's configuration')."""

    unreachable: ForwardHandling = "menu"  # switched off / out of coverage: the seed's menu
    unconditional: ForwardHandling = "menu"
    busy: ForwardHandling = "reminder"
    no_answer: ForwardHandling = Field(default="reminder", alias="no-answer")
    unknown: ForwardHandling = "menu"  # the carrier gave no reason

    def handling(self, reason: str) -> ForwardHandling:
        return getattr(self, reason.replace("-", "_"))


class Charging(Strict):
    """What the service costs; every price is charged only for an SMS whose delivery is confirmed."""

    bucket: Bucket = "main"
    reminder_price: Money = Field(description="Per delivered reminder SMS to the callee")
    availability_price: Money = Field(description="Per delivered 'is available again' SMS (key 4) to the caller")
    details_query_price: Money = Field(description="Per delivered answer to a D query")
    monthly_fee: Money = Field(description="Registered users (voice mailbox), each calendar month")
    monthly_cap: Money | None = Field(default=None, description="Per-use charges stop at this sum a month")


class VoicemailSettings(Strict):
    max_seconds: int = Field(default=60, ge=5, le=600, description="Longest voice message (Record maxLength)")
    silence_seconds: int = Field(default=5, ge=1, le=30, description="Silence that ends a recording")
    retention_days: int = Field(default=7, ge=1, le=365, description="Deleted (with the recording) after this")
    max_wrong_pins: int = Field(
        default=5,
        ge=3,
        le=10,
        description="Wrong PINs in a row that lock the mailbox (the owner is told by SMS; "
        "setting a new PIN unlocks it)",
    )


class MissedCallConfig(Strict):
    name: str
    title: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    short_code: str = Field(default="06001", description="D queries and option keywords are texted here")
    voicemail_number: str = Field(default="06002", description="The callee calls it to hear voice messages")
    ussd_menu: str = Field(
        default="*160#",
        pattern=r"^[*#]\d{1,6}(\*\d{1,6})*#$",
        description="USSD menu of the subscriber's options: status, voice mailbox, privacy, " "black and white lists",
    )
    forwards: Forwards = Forwards()
    retention_hours: int = Field(
        default=72, ge=1, le=24 * 90, description="Missed calls kept for an absent callee; older ones are summarised"
    )
    details_window_hours: int = Field(default=24, ge=1, le=24 * 30, description="How long a D reply gets details")
    caller_priority: Literal["callee", "caller"] = Field(
        default="callee",
        description="Both registered: whose setting wins when the callee's privacy meets the caller's key 4",
    )
    activation_notice: bool = Field(default=True, description="Tell each subscriber once that the service is on")
    max_calls_per_attach: int = Field(
        default=200, ge=10, le=400, description="Missed calls one transaction delivers; more continue in the next"
    )
    charging: Charging
    voicemail: VoicemailSettings = VoicemailSettings()

    @model_validator(mode="after")
    def _windows(self) -> Self:
        if self.details_window_hours > self.retention_hours:
            raise ValueError(
                f"details_window_hours ({self.details_window_hours}) cannot exceed retention_hours "
                f"({self.retention_hours}): the details would be gone"
            )
        return self

    @property
    def retention(self) -> timedelta:
        return timedelta(hours=self.retention_hours)

    @property
    def details_window(self) -> timedelta:
        return timedelta(hours=self.details_window_hours)

    @property
    def voicemail_retention(self) -> timedelta:
        return timedelta(days=self.voicemail.retention_days)


PRESETS = ServicePresets(SERVICE, PRESETS_DIR, MissedCallConfig, kind="missed-call preset", error=ConfigError)
load_config = PRESETS.load_file  # (path, currency): one file, validated
load_preset = PRESETS.load  # (name, currency): a shipped preset
preset_names = PRESETS.names  # (): the shipped presets
config_for = PRESETS.for_profile  # (profile): the preset in force; None when the service is off
