"""Settings from the environment (VAS_*), the same names locally and in Cloud Run."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VAS_", extra="ignore")

    project: str = Field(default="vas-local", description="Google Cloud project id")
    operator: str = Field(default="demo", description="Operator profile name in shared/operators/")
    operator_profile: str | None = Field(default=None, description="Path to a profile file; wins over `operator`")
    function: str = Field(default="", description="Name of the running function (for logs)")

    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = "local-twilio-auth-token"
    twilio_api_base: str | None = Field(default=None, description="Carrier emulator URL; None = Twilio")
    sms_status_callback_url: str | None = Field(default=None, description="Public URL of edge-message-status")
    webhook_base_url: str | None = Field(default=None, description="Public base URL the carrier signs against")

    ussd_gateway_secret: str = "local-ussd-gateway-secret"

    log_level: str = "INFO"


@functools.cache
def get() -> Settings:
    return Settings()
