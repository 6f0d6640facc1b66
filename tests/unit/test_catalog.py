"""The catalog: merged from the platform's file and each service's, consistent, matched by the code, exportable."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from infra import schemas
from shared import bus, message_filter
from shared import catalog as catalog_module

REPO = Path(__file__).resolve().parents[2]
CATALOG = catalog_module.load()


def test_a_consumer_of_an_undeclared_topic_is_refused():
    raw = catalog_module.read()
    raw["consumers"]["notify-sms-send"]["topic"] = "sms.sned"
    with pytest.raises(ValueError, match="sms.sned is not declared"):
        catalog_module.parse(raw)


def test_a_topic_without_a_payload_model_is_refused():
    raw = catalog_module.read()
    raw["topics"]["sms.send"]["model"] = "SmsSendV2"
    with pytest.raises(ValueError, match="SmsSendV2 is not in shared/events.py"):
        catalog_module.parse(raw)


@pytest.mark.parametrize(("topic", "field", "why"), [
    ("transfer.requested", "sendr", "'sendr' is not a field of TransferRequested"),
    ("missed-call.recorded", "recording_sid", "'recording_sid' is optional in MissedCallRecorded"),
    ("voucher.redeem-requested", "secret_code", "'secret_code' is secret in VoucherRedeemRequested"),
])
def test_an_ordering_key_must_be_a_required_public_field_of_the_payload(topic, field, why):
    raw = catalog_module.read()
    raw["topics"][topic]["ordering_key"] = field
    with pytest.raises(ValueError, match=f"topic {topic}: ordering_key {why}"):
        catalog_module.parse(raw)


def test_one_senders_callees_or_cards_events_carry_its_ordering_key_and_their_subscriptions_order_by_it():
    keys = {name: topic.ordering_key for name, topic in CATALOG.topics.items() if topic.ordering_key}
    assert {"transfer.requested": "sender", "voucher.redeem-requested": "card_serial",
            "missed-call.recorded": "callee", "network.attachment": "msisdn", "bss.topup": "msisdn",
            "sms.final": "to"}.items() <= keys.items()
    assert CATALOG.ordered("transfers-execute") and CATALOG.ordered("missed-calls-attach")
    assert CATALOG.ordered("missed-calls-charge"), "one payer's charges in turn, on its one account"
    assert not CATALOG.ordered("notify-sms-send"), "SMS have no subject to order by: every one in parallel"
    request = {"sender": "+998901234567", "recipient": "+998901234568"}
    assert CATALOG.topic("transfer.requested").ordering_key_of(request) == "+998901234567"
    assert CATALOG.topic("sms.send").ordering_key_of({"to": "+998901234567"}) == ""
    sms = catalog_module.make_envelope("sms.send", {"to": "+998901234567", "template": "t"}, event_id="e")
    assert bus.ordering_key(sms.model_copy(update={"type": "bench-ceiling-1"})) == "", "a topic not the catalog's"


@pytest.mark.parametrize(("topic", "attributes", "why"), [
    ("balance.changed", ["directoin"], "attribute 'directoin' is not a field of BalanceChanged"),
    ("voucher.redeem-requested", ["secret_code"], "attribute 'secret_code' is secret in VoucherRedeemRequested"),
    ("balance.changed", ["event_type"], "attribute 'event_type' is not a field|attribute 'event_type' is reserved"),
])
def test_a_topics_attributes_must_be_public_fields_of_the_payload(topic, attributes, why):
    raw = catalog_module.read()
    raw["topics"][topic]["attributes"] = attributes
    with pytest.raises(ValueError, match=f"topic {topic}: ({why})"):
        catalog_module.parse(raw)


@pytest.mark.parametrize(("consumer", "text", "why"), [
    ("subscriptions-topup", 'attributes.delta = "5"', "reads delta, which topic balance.changed does not set"),
    ("notify-sms-send", 'attributes.to = "+998901234567"', r"reads to, which topic sms.send does not set \(its attributes: none\)"),
    ("subscriptions-topup", 'attributes.direction = "credits"', "compares direction with 'credits', never one of credit, debit"),
    ("subscriptions-topup", 'attributes.direction == "credit"', "is not a Pub/Sub filter: expected string at '='"),
    ("subscriptions-topup", 'attributes:direction AND attributes.direction = "credit" OR attributes:direction',
     "is not a Pub/Sub filter: AND and OR in one expression need parentheses"),
])
def test_a_consumers_filter_is_pubsub_syntax_over_the_attributes_its_topic_declares(consumer, text, why):
    raw = catalog_module.read()
    raw["consumers"][consumer]["filter"] = text
    with pytest.raises(ValueError, match=f"consumer {consumer}: filter .* {why}"):
        catalog_module.parse(raw)


def test_the_renewals_top_up_consumer_is_pushed_credits_only_and_the_bus_marks_each_change_with_its_direction():
    topup = CATALOG.consumer("subscriptions-topup")
    assert topup.topic == "balance.changed" and topup.filter == 'attributes.direction = "credit"'
    accepts = message_filter.parse(topup.filter).matches
    change = {"msisdn": "+998901234567", "bucket": "main", "balance": 0, "total": 0, "reason": "usage",
              "reference": "r", "entry_id": "e"}
    for delta, direction in ((500, "credit"), (-500, "debit"), (0, "debit")):
        envelope = catalog_module.make_envelope("balance.changed", {**change, "delta": delta}, event_id=f"e{delta}")
        _, attributes = bus.encode(envelope)
        assert attributes["direction"] == direction and attributes["event_id"] == f"e{delta}"
        assert accepts(attributes) == (direction == "credit")
    _, attributes = bus.encode(catalog_module.make_envelope("sms.send", {"to": "+998901234567", "template": "t"},
                                                            event_id="s"))
    assert set(attributes) == {"event_id", "event_type", "correlation_id"}, "a topic declaring none gets none"


@pytest.mark.parametrize(("text", "attributes", "matched"), [
    ('attributes.direction = "credit"', {"direction": "credit"}, True),
    ('attributes.direction = "credit"', {"direction": "debit"}, False),
    ('attributes.direction = "credit"', {}, False),
    ('attributes.direction != "credit"', {}, True),
    ("attributes:direction", {"direction": ""}, True),
    ("NOT attributes:direction", {"direction": ""}, False),
    ("-attributes:direction", {}, True),
    ('hasPrefix(attributes.bucket, "data")', {"bucket": "data_mb"}, True),
    ('hasPrefix(attributes.bucket, "data")', {}, False),
    ('attributes.a = "1" AND (attributes.b = "2" OR attributes:c)', {"a": "1", "c": "x"}, True),
    ('attributes.a = "1" AND (attributes.b = "2" OR attributes:c)', {"a": "1", "b": "3"}, False),
    ('attributes.a = "1" OR attributes.a = "2" OR attributes.a = "3"', {"a": "3"}, True),
    (r'attributes.a = "say \"hi\""', {"a": 'say "hi"'}, True),
])
def test_filters_match_attributes_as_pubsub_does(text, attributes, matched):
    assert message_filter.parse(text).matches(attributes) is matched


@pytest.mark.parametrize("text", ["", "direction = \"credit\"", 'attributes.a = "1" attributes.b = "2"',
                                  'attributes.a = "1" AND', '(attributes:a', 'attributes.a = "' + "x" * 256 + '"'])
def test_a_filter_pubsub_would_refuse_is_refused(text):
    with pytest.raises(ValueError):
        message_filter.parse(text)


PLATFORM = yaml.safe_load(catalog_module.PLATFORM_FILE.read_text())
NEW_SERVICE = {"topics": {"new.asked": {"model": "ClockTick", "description": "A request to the new service."}},
               "consumers": {"new-asked": {"topic": "new.asked", "source": "functions/new/main.py",
                                           "entry_point": "on_asked"}}}


def test_a_service_adds_its_topics_and_consumers_from_its_own_file():
    merged = catalog_module.parse(catalog_module.merge({"shared/catalog.yaml": PLATFORM,
                                                        "functions/new/catalog.yaml": NEW_SERVICE}))
    assert merged.consumer("new-asked").max_delivery_attempts == PLATFORM["defaults"]["max_delivery_attempts"]
    assert merged.topic("new.asked").model == "ClockTick" and "sms.send" in merged.topics


def test_a_name_declared_in_two_files_is_refused_naming_both():
    again = {"topics": {"sms.send": PLATFORM["topics"]["sms.send"]}}
    with pytest.raises(ValueError, match="topics sms.send is declared twice: in shared/catalog.yaml and "
                                         "functions/new/catalog.yaml"):
        catalog_module.merge({"shared/catalog.yaml": PLATFORM, "functions/new/catalog.yaml": again})


def test_a_name_written_twice_in_one_file_is_refused_not_silently_the_last(tmp_path):
    part = tmp_path / "catalog.yaml"
    part.write_text("topics:\n  a.b:\n    model: SmsSend\n  a.b:\n    model: TopUp\n")
    with pytest.raises(yaml.YAMLError, match="'a.b' is written twice"):
        catalog_module.load_file(part)


def test_only_the_platform_file_sets_the_defaults_and_the_dead_letter_topic():
    own_defaults = {**NEW_SERVICE, "defaults": {"max_delivery_attempts": 1}}
    with pytest.raises(ValueError, match="functions/new/catalog.yaml: defaults cannot be declared here"):
        catalog_module.merge({"shared/catalog.yaml": PLATFORM, "functions/new/catalog.yaml": own_defaults})


def _declared_by_service() -> dict[str, dict]:
    """functions/<service>/catalog.yaml -> its content, for every service that has one."""
    return {path.parent.name: yaml.safe_load(path.read_text()) or {} for path in catalog_module.files()[1:]}


def test_each_service_declares_its_own_functions_and_schedules():
    for service, part in _declared_by_service().items():
        for section in ("consumers", "webhooks"):
            for name, function in (part.get(section) or {}).items():
                assert Path(function["source"]).parts[:2] == ("functions", service), \
                    f"{service}'s catalog declares {name}, a function of {function['source']}"
        for name, schedule in (part.get("schedules") or {}).items():
            owners = {Path(c.source).parts[1] for c in CATALOG.consumers_of(schedule["topic"])}
            assert owners == {service}, f"{service}'s catalog declares schedule {name}, whose ticks go to {owners}"
    declared = {name for part in _declared_by_service().values() for name in part.get("consumers") or {}}
    assert declared == set(CATALOG.consumers), "a consumer is declared outside its service's folder"


def test_a_service_declares_only_the_topics_addressed_to_it_alone():
    """The rule of shared/catalog.yaml's header: a topic others may publish or subscribe to is the platform's."""
    for service, part in _declared_by_service().items():
        for topic in part.get("topics") or {}:
            consumers = {Path(c.source).parts[1] for c in CATALOG.consumers_of(topic)}
            assert consumers == {service}, f"{service}'s catalog declares {topic}, which {sorted(consumers)} consume"


def test_defaults_apply_where_a_consumer_says_nothing_and_overrides_win():
    assert CATALOG.consumer("notify-sms-send").max_delivery_attempts == 5
    assert CATALOG.consumer("ops-dead-letter").dead_letter is False


def _registered(source: str):
    """Load a function source the way functions-framework does and return its registry."""
    from functions_framework import _function_registry

    name = f"probe_{Path(source).parent.name}"
    spec = importlib.util.spec_from_file_location(name, REPO / source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as functions-framework does: a dataclass in the module looks itself up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
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
