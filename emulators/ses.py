"""Amazon SES, locally: moto's server (pinned moto[server] in requirements-dev.txt) on a free port.

SES sends only from a verified identity; the sender is verified here at startup, as the operator
verifies it once in the SES console. Sent mail is read back from moto's `/moto-api/data.json`.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests

from emulators.process import Service, free_port
from shared.settings import LOCAL_STAND_INS

REGION = "eu-central-1"


@dataclass
class SesEmulator:
    service: Service
    sender: str

    @property
    def url(self) -> str:
        return self.service.ready_url.removesuffix("/moto-api/")

    @property
    def env(self) -> dict[str, str]:
        """The settings notify reads to send through this SES (shared/settings.py)."""
        return {"VAS_SES_ENDPOINT": self.url, "VAS_SES_REGION": REGION, "VAS_EMAIL_SENDER": self.sender}

    def sent(self) -> list[dict]:
        """Every email SES took so far: id, source, destinations, subject and body (the HTML part)."""
        answer = requests.get(f"{self.url}/moto-api/data.json", timeout=10)
        answer.raise_for_status()
        return answer.json().get("ses", {}).get("Message", [])

    def stop(self) -> None:
        self.service.stop()


def _moto_server() -> str:
    """The moto_server beside this interpreter (a virtualenv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server is not installed: pip install -r requirements-dev.txt")
    return found


def start(log_dir: Path, port: int | None = None, sender: str = LOCAL_STAND_INS["email_sender"]) -> SesEmulator:
    """moto's server answering, with `sender` verified as an SES identity."""
    port = port or free_port()
    service = Service(
        "ses-emulator",
        [_moto_server(), "-H", "127.0.0.1", "-p", str(port)],
        ready_url=f"http://127.0.0.1:{port}/moto-api/",
        log_dir=log_dir,
        ready_timeout=60,
    )
    emulator = SesEmulator(service.start(), sender)
    try:
        service.wait_ready()
        client = boto3.client(
            "sesv2",
            endpoint_url=emulator.url,
            region_name=REGION,
            aws_access_key_id=LOCAL_STAND_INS["ses_access_key_id"],
            aws_secret_access_key=LOCAL_STAND_INS["ses_secret_access_key"],
        )
        client.create_email_identity(EmailIdentity=sender)
    except BaseException:
        service.stop()
        raise
    return emulator
