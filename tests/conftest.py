"""Test session: the real gcloud emulators start once for integration and e2e tests.

Unit tests need none of this and never start anything. Firestore is cleared between tests with
the emulator's own DELETE endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOG_DIR = REPO / ".run" / "test-logs"
PROJECT = "vas-test"


def _reset_caches() -> None:
    from shared import bus, operator, settings, store
    for cached in (settings.get, store.db, bus._publisher, operator.current):
        cached.cache_clear()


@pytest.fixture(scope="session")
def emulators():
    """The Pub/Sub and Firestore emulators, with every catalog topic created."""
    from emulators import gcloud
    from infra import topology

    running = gcloud.start(PROJECT, LOG_DIR)
    saved = dict(os.environ)
    os.environ.update(running.env)
    _reset_caches()
    topology.create(PROJECT, consumer_urls={})
    yield running
    running.stop()
    os.environ.clear()
    os.environ.update(saved)
    _reset_caches()


@pytest.fixture
def firestore_clean(emulators):
    emulators.clear_firestore()
    yield emulators


@pytest.fixture
def function_server(emulators):
    """Start functions-framework processes for catalog functions; all stopped after the test."""
    from infra.functions import function_service

    started = []

    def start(name: str, **env: str):
        service = function_service(name, env={**emulators.env, **env}, log_dir=LOG_DIR)
        started.append(service)
        return service.start().wait_ready()

    yield start
    for service in started:
        service.stop()
