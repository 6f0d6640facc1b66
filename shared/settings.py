"""Settings from the environment (VAS_*), the same names locally and in Cloud Run.

Secrets have no default: in Google Cloud they come from Secret Manager, and a function that
needs one refuses to start without it (`Settings.require`). Only the local stack and the tests,
which say so with `VAS_ENV=local`, get the stand-ins below.
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger("vas.settings")

# What the local stack, its carrier emulator and the tests sign and hash with (never used elsewhere).
LOCAL_STAND_INS = {
    "twilio_account_sid": "AC00000000000000000000000000000000",
    "twilio_auth_token": "local-twilio-auth-token",
    "ussd_gateway_secret": "local-ussd-gateway-secret",
    "voucher_code_key": "local-voucher-code-key",
    # The local SES (moto's server) takes any key; emulators/ses.py verifies this sender there.
    "ses_access_key_id": "local-ses-access-key-id",
    "ses_secret_access_key": "local-ses-secret-access-key",
    "email_sender": "notices@vas-local.example",
    # The payment emulator (emulators/payments/) checks this API key and signs its webhooks with this secret.
    "payments_secret_key": "sk_test_local_payments",
    "payments_webhook_secret": "whsec_local_payments",
}


class MissingSetting(RuntimeError):
    """A function started outside the local stack without a setting it cannot serve without."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VAS_", extra="ignore")

    env: Literal["local", "cloud"] = Field(
        default="cloud",
        description="'local' only for the local stack and tests: secrets get local stand-ins "
        "and Twilio's signature is checked against the URL the request came to",
    )
    project: str = Field(default="vas-local", description="Google Cloud project id")
    operator: str = Field(default="demo", description="Operator profile name in shared/operators/")
    operator_profile: str | None = Field(default=None, description="Path to a profile file; wins over `operator`")
    function: str = Field(default="", description="Name of the running function (for logs)")

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base: str | None = Field(default=None, description="Carrier emulator URL; None = Twilio")
    sms_status_callback_url: str | None = Field(default=None, description="Public URL of edge-message-status")
    webhook_base_url: str | None = Field(default=None, description="Public base URL the carrier signs against")

    ussd_gateway_secret: str | None = None
    voucher_code_key: str | None = Field(default=None, description="HMAC key pay-card codes are stored under")

    ses_access_key_id: str | None = None
    ses_secret_access_key: str | None = None
    ses_region: str = Field(default="eu-central-1", description="AWS region of the SES account notify sends with")
    ses_endpoint: str | None = Field(default=None, description="SES API URL; None = AWS (locally moto's server)")
    email_sender: str | None = Field(default=None, description="The SES-verified From address of every email")

    payments_secret_key: str | None = Field(default=None, description="The payment gateway's secret API key (sk_…)")
    payments_webhook_secret: str | None = Field(
        default=None, description="The signing secret (whsec_…) of the gateway's webhook endpoint"
    )
    payments_api_base: str | None = Field(default=None, description="Payment emulator URL; None = Stripe")

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _local_stand_ins(self) -> Settings:
        if self.local:
            for name, value in LOCAL_STAND_INS.items():
                if not getattr(self, name):
                    setattr(self, name, value)
        return self

    @property
    def local(self) -> bool:
        return self.env == "local"

    def require(self, *names: str) -> None:
        """Raise MissingSetting, naming each VAS_* variable, unless every setting `names` is set (or local)."""
        if self.local:
            return  # stand-ins above; no webhook_base_url means the URL the request came to
        missing = [f"VAS_{name.upper()}" for name in names if not getattr(self, name)]
        if missing:
            message = (
                f"{', '.join(missing)} not set: this function cannot serve without "
                f"{'it' if len(missing) == 1 else 'them'} (set VAS_ENV=local only on the local stack)"
            )
            logger.critical(message)
            raise MissingSetting(message)


@functools.cache
def get() -> Settings:
    return Settings()
