"""The real gcloud Pub/Sub and Firestore emulators, started and stopped by the project."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import requests

from emulators.process import Service, free_port

INSTALL_HINT = """\
The local stack needs the Google Cloud CLI with the Pub/Sub and Firestore emulators, and Java 11+:
  Debian/Ubuntu: apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator \\
                 google-cloud-cli-firestore-emulator default-jre-headless
  elsewhere:     gcloud components install beta pubsub-emulator cloud-firestore-emulator"""


def missing_tools() -> list[str]:
    """What is missing to run the emulators, in words an engineer can act on."""
    missing = []
    if not shutil.which("java"):
        missing.append("java (a JRE 11 or newer) is not on PATH")
    gcloud = shutil.which("gcloud")
    if not gcloud:
        missing.append("gcloud (Google Cloud CLI) is not on PATH")
        return missing
    sdk = Path(gcloud).resolve().parent.parent
    for component, path in (
        ("pubsub-emulator", "platform/pubsub-emulator"),
        ("cloud-firestore-emulator", "platform/cloud-firestore-emulator"),
    ):
        if not (sdk / path).exists():
            missing.append(f"gcloud component {component} is not installed (looked in {sdk / path})")
    return missing


@dataclass
class Emulators:
    project: str
    pubsub: Service
    firestore: Service

    @property
    def env(self) -> dict[str, str]:
        """The variables the Google client libraries read to talk to the emulators."""
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub.ready_url.removeprefix("http://").rstrip("/"),
            "FIRESTORE_EMULATOR_HOST": self.firestore.ready_url.removeprefix("http://").rstrip("/"),
            "GOOGLE_CLOUD_PROJECT": self.project,
            "VAS_PROJECT": self.project,
        }

    def clear_firestore(self) -> None:
        url = f"{self.firestore.ready_url}emulator/v1/projects/{self.project}/databases/(default)/documents"
        requests.delete(url, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.pubsub.stop()
        self.firestore.stop()


def start(project: str, log_dir: Path, pubsub_port: int | None = None, firestore_port: int | None = None) -> Emulators:
    problems = missing_tools()
    if problems:
        raise RuntimeError("Cannot start the emulators:\n  - " + "\n  - ".join(problems) + "\n" + INSTALL_HINT)
    pubsub_port = pubsub_port or free_port()
    firestore_port = firestore_port or free_port()
    pubsub = Service(
        "pubsub-emulator",
        [
            "gcloud",
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--project={project}",
            f"--host-port=127.0.0.1:{pubsub_port}",
            "--quiet",
        ],
        ready_url=f"http://127.0.0.1:{pubsub_port}/",
        log_dir=log_dir,
        ready_timeout=90,
    )
    firestore = Service(
        "firestore-emulator",
        ["gcloud", "emulators", "firestore", "start", f"--host-port=127.0.0.1:{firestore_port}", "--quiet"],
        ready_url=f"http://127.0.0.1:{firestore_port}/",
        log_dir=log_dir,
        ready_timeout=90,
    )
    pubsub.start(), firestore.start()
    try:
        pubsub.wait_ready(), firestore.wait_ready()
    except Exception:
        pubsub.stop()
        firestore.stop()
        raise
    return Emulators(project, pubsub, firestore)
