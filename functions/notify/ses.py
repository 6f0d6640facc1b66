"""Amazon SES (API v2) through boto3: hand one email over, tell a refusal from an outage."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # stubs only: mypy-boto3-sesv2 is a dev dependency
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import EmailContentTypeDef

from shared import settings

# Two tries of at most 5 + 10 s finish well inside the push's 60 s ack deadline (and inside
# emails.SEND_LEASE); a longer outage is Pub/Sub's to retry.
TIMEOUTS = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})

# What SES answers when this email can never go as asked: sending it again changes nothing. Account
# settings an operator can fix (a suspended account, an unverified MAIL FROM domain, a missing identity
# or configuration set) are not among them: those emails retry, then wait in the dead-letter topic
# for a replay once the account is right.
PERMANENT = frozenset({"MessageRejected", "BadRequestException"})


class PermanentSesError(Exception):
    """SES refused this email for good (a rejected address, an unverified sender)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@functools.cache
def _client() -> SESV2Client:
    config = settings.get()
    return boto3.client(
        "sesv2",
        region_name=config.ses_region,
        endpoint_url=config.ses_endpoint or None,
        aws_access_key_id=config.ses_access_key_id,
        aws_secret_access_key=config.ses_secret_access_key,
        config=TIMEOUTS,
    )


def send(sender: str, to: str, subject: str, text: str, html: str) -> str:
    """SES's message id for the email it took; PermanentSesError when it refused it for good."""
    content: EmailContentTypeDef = {
        "Simple": {
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
        }
    }
    try:
        answer = _client().send_email(FromEmailAddress=sender, Destination={"ToAddresses": [to]}, Content=content)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in PERMANENT:
            raise PermanentSesError(code, error.response.get("Error", {}).get("Message", "")) from None
        raise
    return answer["MessageId"]
