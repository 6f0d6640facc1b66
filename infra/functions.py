"""Run catalog functions locally as functions-framework processes, as Cloud Run would."""

from __future__ import annotations

import sys
from pathlib import Path

from emulators.process import Service, free_port
from shared import catalog as catalog_module

REPO = Path(__file__).resolve().parent.parent

# Says "this machine": local stand-ins for the secrets (shared/settings.py); never set in the cloud.
LOCAL_ENV = {"VAS_ENV": "local"}


def function_service(name: str, *, env: dict[str, str], log_dir: Path, port: int | None = None) -> Service:
    """A functions-framework process serving catalog function `name` (consumer or webhook)."""
    catalog = catalog_module.load()
    spec = catalog.consumers.get(name) or catalog.webhooks[name]
    port = port or free_port()
    return Service(
        name,
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--source",
            str(REPO / spec.source),
            "--target",
            spec.entry_point,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        ready_url=f"http://127.0.0.1:{port}/",
        env={**LOCAL_ENV, **env, "PYTHONPATH": str(REPO), "VAS_FUNCTION": name, "PYTHONUNBUFFERED": "1"},
        log_dir=log_dir,
        cwd=REPO,
        ready_timeout=60,
    )
