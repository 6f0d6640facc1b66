"""The one catalog: consistent in itself, matched by the code, exportable as JSON Schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from infra import schemas
from shared import catalog as catalog_module

REPO = Path(__file__).resolve().parents[2]
CATALOG = catalog_module.load()


def test_a_consumer_of_an_undeclared_topic_is_refused():
    raw = yaml.safe_load(catalog_module.CATALOG_FILE.read_text())
    raw["consumers"]["notify-sms-send"]["topic"] = "sms.sned"
    with pytest.raises(ValueError, match="sms.sned is not declared"):
        catalog_module.parse(raw)


def test_a_topic_without_a_payload_model_is_refused():
    raw = yaml.safe_load(catalog_module.CATALOG_FILE.read_text())
    raw["topics"]["sms.send"]["model"] = "SmsSendV2"
    with pytest.raises(ValueError, match="SmsSendV2 is not in shared/events.py"):
        catalog_module.parse(raw)


def test_defaults_apply_where_a_consumer_says_nothing_and_overrides_win():
    assert CATALOG.consumer("notify-sms-send").max_delivery_attempts == 5
    assert CATALOG.consumer("ops-dead-letter").dead_letter is False


def _registered(source: str):
    """Load a function source the way functions-framework does and return its registry."""
    from functions_framework import _function_registry

    spec = importlib.util.spec_from_file_location(f"probe_{Path(source).parent.name}", REPO / source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, _function_registry.REGISTRY_MAP


@pytest.mark.parametrize("name", sorted(CATALOG.consumers))
def test_every_consumer_entry_point_is_a_cloudevent_function(name):
    consumer = CATALOG.consumer(name)
    assert (REPO / consumer.source).is_file(), f"{consumer.source} does not exist"
    module, registry = _registered(consumer.source)
    assert callable(getattr(module, consumer.entry_point, None)), f"{consumer.source} lacks {consumer.entry_point}"
    assert registry.get(consumer.entry_point) == "cloudevent"


@pytest.mark.parametrize("name", sorted(CATALOG.webhooks))
def test_every_webhook_entry_point_is_an_http_function(name):
    webhook = CATALOG.webhooks[name]
    module, registry = _registered(webhook.source)
    assert callable(getattr(module, webhook.entry_point, None)), f"{webhook.source} lacks {webhook.entry_point}"
    assert registry.get(webhook.entry_point, "http") == "http"


def test_each_event_schema_describes_its_payload(tmp_path):
    written = schemas.export(tmp_path)
    assert len(written) == len(CATALOG.topics)
    sms = schemas.event_schema("sms.send")
    assert sms["properties"]["type"] == {"const": "sms.send", "description": "The topic name"}
    assert {"to", "template"} <= set(sms["properties"]["data"]["required"])
