"""The operator's offer channels, as data: presets/<name>.yaml.

`services.voice_plus: [<preset>]` in the operator profile switches the service on. The campaigns
themselves are the operator's day-to-day work and live in Firestore (documents.py), managed with the
care CLI (`python -m functions.voice_plus`) and importable from YAML; the preset holds what a
deployment fixes once: the short code SMS offers are answered on, how much of a USSD screen an
add-on may take, how many SMS segments a top-up confirmation may grow to, how long an SMS offer
stays open, and how fresh the campaign list the edge selects from must be.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from shared.presets import PresetError, ServicePresets, Strict

PRESETS_DIR = Path(__file__).with_name("presets")
SERVICE = "voice_plus"  # the key of the operator profile's `services` naming the preset in force


class ConfigError(PresetError):
    """A preset that cannot be used; the message names the file and the field."""


class UssdScreen(Strict):
    """A USSD screen: 182 septets, so 182 GSM-7 characters or about 80 UCS-2 ones (Cyrillic, Chinese)."""

    gsm7: int = Field(default=182, ge=40, le=182, description="Characters a screen holds in GSM-7")
    ucs2: int = Field(default=80, ge=20, le=80, description="Characters a screen holds in UCS-2 (the pager's 80)")


class AddOnRoom(Strict):
    """How much of a screen an add-on (its text and its menu line) may take; the rest is the answer's own."""

    gsm7: int = Field(default=100, ge=20, le=182)
    ucs2: int = Field(default=44, ge=10, le=80)


class VoicePlusConfig(Strict):
    name: str
    title: str
    short_code: str = Field(pattern=r"^[0-9]{3,8}$", description="SMS add-on offers are answered on it (keyword, YES)")
    ussd_hosts: tuple[str, ...] = Field(
        default=("*100#",), min_length=1, description="The USSD answers add-ons ride on (the balance check)"
    )
    ussd_screen: UssdScreen = UssdScreen()
    ussd_addon_room: AddOnRoom = AddOnRoom()
    sms_segment_budget: int = Field(
        default=2, ge=1, le=6, description="A top-up confirmation with its add-on never takes more SMS segments"
    )
    sms_offer_hours: int = Field(default=24, ge=1, le=168, description="An SMS add-on's keyword is taken this long")
    caps_horizon_days: int = Field(
        default=31, ge=1, le=366, description="Plays older than this are forgotten: no cap period may be longer"
    )
    campaign_refresh_seconds: float = Field(
        default=5, gt=0, le=300, description="The edge's campaign list is at most this old (a pause takes this long)"
    )

    @model_validator(mode="after")
    def _room_within_screen(self) -> VoicePlusConfig:
        if self.ussd_addon_room.gsm7 > self.ussd_screen.gsm7 or self.ussd_addon_room.ucs2 > self.ussd_screen.ucs2:
            raise ValueError("ussd_addon_room: an add-on cannot take more than the whole screen (ussd_screen)")
        return self


PRESETS = ServicePresets(SERVICE, PRESETS_DIR, VoicePlusConfig, kind="voice_plus preset", error=ConfigError)
load_config = PRESETS.load_file  # (path, currency): one file, validated
load_preset = PRESETS.load  # (name, currency): a shipped preset
preset_names = PRESETS.names  # (): the shipped presets
config_for = PRESETS.for_profile  # (profile): the preset in force; None when the service is off
in_force = PRESETS.in_force  # (): (profile, config) for handlers
