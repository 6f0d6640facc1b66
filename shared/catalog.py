"""The event catalog (shared/catalog.yaml + functions/*/catalog.yaml) as typed objects, and envelopes per topic."""

from __future__ import annotations

import functools
import json
import typing
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from shared import events, message_filter

PLATFORM_FILE = Path(__file__).with_name("catalog.yaml")
REPO = PLATFORM_FILE.parents[1]
SERVICES_DIR = REPO / "functions"
SERVICE_PART = "*/catalog.yaml"  # under SERVICES_DIR: functions/<service>/catalog.yaml
SECTIONS = ("topics", "consumers", "webhooks", "schedules")
PLATFORM_ONLY = ("dead_letter_topic", "defaults")
# The attributes shared/bus.py gives every message: a topic's own `attributes` cannot take these names.
RESERVED_ATTRIBUTES = ("event_id", "event_type", "correlation_id")


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    model: str
    description: str
    # The payload field whose value is the message's Pub/Sub ordering key: one key's messages are
    # delivered one at a time, in order (the subscriptions of the topic enable message ordering).
    ordering_key: str | None = None
    # Payload fields each message also carries as a Pub/Sub attribute of the same name, for consumers'
    # `filter:` (Pub/Sub filters on attributes only, so a consumer is not pushed what it would ignore).
    attributes: list[str] = []

    @property
    def payload_model(self) -> type[events.Payload]:
        return events.MODELS[self.model]

    def ordering_key_of(self, data: dict) -> str:
        """The ordering key of a message carrying `data` (a valid payload of this topic); "" for none."""
        return "" if self.ordering_key is None else str(data[self.ordering_key])

    def attributes_of(self, data: dict) -> dict[str, str]:
        """The declared attributes of a message carrying `data` (a valid payload, as JSON); a null field has none."""
        return {name: _attribute_text(data[name]) for name in self.attributes if data.get(name) is not None}


def _attribute_text(value: object) -> str:
    """A JSON value as an attribute's text: a string as it is, anything else as JSON (true, 12)."""
    return value if isinstance(value, str) else json.dumps(value)


class Consumer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    topic: str
    source: str
    entry_point: str
    dead_letter: bool = True
    max_delivery_attempts: int
    min_backoff_seconds: int
    max_backoff_seconds: int
    ack_deadline_seconds: int
    # Pub/Sub's filter syntax over the attributes its topic declares: only matching messages are pushed
    # (Pub/Sub acknowledges the others itself). None: every message.
    filter: str | None = None


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    source: str
    entry_point: str
    description: str


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    topic: str
    cron: str
    description: str


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dead_letter_topic: str
    topics: dict[str, Topic]
    consumers: dict[str, Consumer]
    webhooks: dict[str, Webhook]
    schedules: dict[str, Schedule]

    def topic(self, name: str) -> Topic:
        try:
            return self.topics[name]
        except KeyError:
            raise KeyError(f"topic {name!r} is not in the catalog") from None

    def consumer(self, name: str) -> Consumer:
        try:
            return self.consumers[name]
        except KeyError:
            raise KeyError(f"consumer {name!r} is not in the catalog") from None

    def consumers_of(self, topic: str) -> list[Consumer]:
        return [c for c in self.consumers.values() if c.topic == topic]

    def ordered(self, consumer: str) -> bool:
        """Whether the consumer's subscription delivers in order per key (its topic declares an ordering key)."""
        return self.topic(self.consumer(consumer).topic).ordering_key is not None


def parse(raw: dict) -> Catalog:
    defaults = raw.get("defaults", {})

    def named(section: str, extra: dict | None = None) -> dict:
        return {
            name: {"name": name, **(extra or {}), **(body or {})} for name, body in (raw.get(section) or {}).items()
        }

    catalog = Catalog(
        dead_letter_topic=raw["dead_letter_topic"],
        topics=named("topics"),
        consumers=named("consumers", defaults),
        webhooks=named("webhooks"),
        schedules=named("schedules"),
    )
    _check(catalog)
    return catalog


def _check(catalog: Catalog) -> None:
    problems = []
    for topic in catalog.topics.values():
        if topic.model not in events.MODELS:
            problems.append(f"topic {topic.name}: model {topic.model} is not in shared/events.py")
        else:
            if topic.ordering_key is not None:
                problems += _ordering_key_problems(topic)
            problems += _attribute_problems(topic)
    for consumer in list(catalog.consumers.values()) + list(catalog.schedules.values()):
        if consumer.topic not in catalog.topics:
            problems.append(f"{consumer.name}: topic {consumer.topic} is not declared")
    for consumer in catalog.consumers.values():
        if consumer.filter is not None and consumer.topic in catalog.topics:
            problems += _filter_problems(consumer, catalog.topics[consumer.topic])
    if catalog.dead_letter_topic not in catalog.topics:
        problems.append(f"dead-letter topic {catalog.dead_letter_topic} is not declared")
    if problems:
        raise ValueError("the catalog is inconsistent:\n  " + "\n  ".join(problems))


def _ordering_key_problems(topic: Topic) -> list[str]:
    """Why `topic`'s ordering key cannot be used: it must be a required, non-secret field of its payload model."""
    model, key = topic.payload_model, topic.ordering_key
    field = model.model_fields.get(key or "")
    where = f"topic {topic.name}: ordering_key {key!r}"
    if field is None:
        return [f"{where} is not a field of {topic.model} (its fields: {', '.join(model.model_fields)})"]
    if not field.is_required():
        return [f"{where} is optional in {topic.model}: every message needs a key"]
    if key in events.secret_fields(model):
        # Ordering keys are message metadata, shown in consoles and logs unredacted.
        return [f"{where} is secret in {topic.model}: an ordering key is never redacted"]
    return []


def _attribute_problems(topic: Topic) -> list[str]:
    """Why `topic`'s attributes cannot be set: each is a non-secret field of its payload model, declared once."""
    model, problems = topic.payload_model, []
    for name in topic.attributes:
        where = f"topic {topic.name}: attribute {name!r}"
        if name not in model.model_fields:
            problems.append(f"{where} is not a field of {topic.model} (its fields: {', '.join(model.model_fields)})")
        elif name in events.secret_fields(model):
            problems.append(f"{where} is secret in {topic.model}: an attribute is never redacted")
        elif name.startswith("goog") or name in RESERVED_ATTRIBUTES:
            problems.append(f"{where} is reserved: Pub/Sub or shared/bus.py sets it")
    if len(set(topic.attributes)) != len(topic.attributes):
        problems.append(f"topic {topic.name}: an attribute is declared twice")
    return problems


def _filter_problems(consumer: Consumer, topic: Topic) -> list[str]:
    """Why `consumer`'s filter would not work: Pub/Sub refuses it, or it reads an attribute its topic never sets,
    or compares one with a value its field never takes (which would silently match nothing)."""
    where = f"consumer {consumer.name}: filter {consumer.filter!r}"
    try:
        parsed = message_filter.parse(consumer.filter or "")
    except ValueError as error:
        return [f"{where} is not a Pub/Sub filter: {error}"]
    unknown = sorted(parsed.attributes - set(topic.attributes))
    if unknown:
        declared = ", ".join(topic.attributes) or "none"
        return [
            f"{where} reads {', '.join(unknown)}, which topic {topic.name} does not set (its attributes: {declared})"
        ]
    problems = []
    for name, value, whole in parsed.compared:
        allowed = _literal_values(topic.payload_model, name)
        if allowed is not None and not any(
            option == value or (not whole and option.startswith(value)) for option in allowed
        ):
            problems.append(f"{where} compares {name} with {value!r}, never one of {', '.join(sorted(allowed))}")
    return problems


def _literal_values(model: type[events.Payload], field: str) -> set[str] | None:
    """The texts a Literal field's attribute can take; None when the field is not a Literal of strings."""
    annotation = model.model_fields[field].annotation
    if typing.get_origin(annotation) is not typing.Literal:
        return None
    options = typing.get_args(annotation)
    return set(options) if all(isinstance(option, str) for option in options) else None


def files() -> list[Path]:
    """The platform's catalog file, then each service's own part (functions/<service>/catalog.yaml)."""
    return [PLATFORM_FILE, *sorted(SERVICES_DIR.glob(SERVICE_PART))]


def merge(parts: dict[str, dict]) -> dict:
    """One raw catalog from its parts (file name -> content), the first being the platform's.

    Only the platform's part sets `dead_letter_topic` and `defaults`; a name declared in two parts
    is refused with both files named, as Terraform refuses it (terraform/catalog.tf).
    """
    platform = next(iter(parts))
    merged = {key: parts[platform][key] for key in PLATFORM_ONLY if key in parts[platform]}
    declared_in: dict[tuple[str, str], str] = {}
    problems = []
    for file, part in parts.items():
        allowed = {*SECTIONS, *PLATFORM_ONLY} if file == platform else set(SECTIONS)
        if set(part) - allowed:
            problems.append(f"{file}: {', '.join(sorted(set(part) - allowed))} cannot be declared here")
        for section in SECTIONS:
            for name, body in (part.get(section) or {}).items():
                if (section, name) in declared_in:
                    problems.append(f"{section} {name} is declared twice: in {declared_in[section, name]} and {file}")
                declared_in[section, name] = file
                merged.setdefault(section, {})[name] = body
    if problems:
        raise ValueError("the catalog files disagree:\n  " + "\n  ".join(problems))
    return merged


class _UniqueKeys(yaml.SafeLoader):
    """YAML that refuses a key written twice in one mapping (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is written twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_file(path: Path) -> dict:
    """One catalog file; a name written twice in it is refused, as one declared in two files is."""
    return yaml.load(path.read_text(), Loader=_UniqueKeys) or {}  # a SafeLoader: no arbitrary objects


def read() -> dict:
    """The raw catalog merged from every catalog file."""
    return merge({str(path.relative_to(REPO)): load_file(path) for path in files()})


@functools.cache
def load() -> Catalog:
    return parse(read())


def make_envelope(
    topic: str,
    payload: events.Payload | dict,
    *,
    event_id: str,
    correlation_id: str | None = None,
    source: str = "",
    occurred_at: datetime | None = None,
) -> events.Envelope:
    """Validate a payload against its topic's model and wrap it for publishing."""
    model = load().topic(topic).payload_model
    data = model.model_validate(payload.model_dump() if isinstance(payload, BaseModel) else payload)
    return events.Envelope(
        id=event_id,
        type=topic,
        occurred_at=occurred_at or events.utcnow(),
        correlation_id=correlation_id or event_id,
        source=source,
        data=data.model_dump(mode="json"),
    )


def redacted_message(data: bytes, *topics: str) -> tuple[str, list[str]]:
    """A message's text fit to store or log, and the secret fields blanked in it (events.SECRET).

    The envelope's own type says which fields are secret, and so do `topics` (where it arrived): a
    rejected message may name a wrong type or none. Nothing to blank: the text as it came.
    """
    text = data.decode("utf-8", errors="replace")
    try:
        envelope = json.loads(text)
    except ValueError:
        return text, []
    payload = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(payload, dict):
        return text, []
    known = load().topics
    models = {
        known[topic].payload_model
        for topic in (envelope.get("type"), *topics)
        if isinstance(topic, str) and topic in known
    }
    blanked = payload
    for model in models:
        blanked = events.redacted(model, blanked)
    hidden = sorted(key for key in payload if blanked[key] != payload[key])
    if not hidden:
        return text, []
    return json.dumps({**envelope, "data": blanked}, ensure_ascii=False), hidden
