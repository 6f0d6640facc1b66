"""Pub/Sub subscription filters (https://cloud.google.com/pubsub/docs/subscription-message-filter), parsed.

A catalog consumer's `filter:` is handed to Pub/Sub as it is written (infra/topology.py, terraform/pubsub.tf);
Pub/Sub then acknowledges the messages it does not match without delivering them. Parsed here so the
catalog can refuse a filter Pub/Sub would refuse or one naming attributes its topic never sets, and so the
local push can match messages itself: the emulator stores a subscription's filter but delivers every message.

The grammar, as Pub/Sub's: `attributes.KEY = "v"`, `attributes.KEY != "v"`, `attributes:KEY` (has the key),
`hasPrefix(attributes.KEY, "v")`, joined by `AND` or `OR` (both in one expression only with parentheses), each
negated by `NOT` or `-`; at most 256 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_BYTES = 256  # Pub/Sub refuses a longer filter

Attributes = Mapping[str, str]
Predicate = Callable[[Attributes], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<attribute>attributes(?P<sep>[.:])(?P<key>[A-Za-z0-9_-]+))
      | (?P<word>AND|OR|NOT|hasPrefix)\b
      | (?P<symbol>!=|=|\(|\)|,|-)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Filter:
    """A parsed filter: its text, the attributes it reads, the values it compares them with, and its test."""

    text: str
    attributes: frozenset[str]
    compared: tuple[tuple[str, str, bool], ...]  # (attribute, value, whole value: not a hasPrefix) of each test
    matches: Predicate


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    key: str = ""
    sep: str = ""


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while text[position:].strip():
        found = _TOKEN.match(text, position)
        if found is None:
            raise ValueError(f"cannot read {text[position:].strip()[:20]!r}")
        kind = next(k for k in ("string", "attribute", "word", "symbol") if found.group(k))
        value = found.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(_Token(kind, value, found.group("key") or "", found.group("sep") or ""))
        position = found.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens, collecting what the filter reads."""

    def __init__(self, text: str):
        self.tokens, self.position = _tokens(text), 0
        self.attributes: set[str] = set()
        self.compared: list[tuple[str, str, bool]] = []

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def at(self, *texts: str) -> bool:
        """Whether the next token is one of these operators or words (never a quoted value that spells one)."""
        token = self.peek()
        return token is not None and token.kind in ("word", "symbol") and token.text in texts

    def take(self, kind: str, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            expected = text or kind
            raise ValueError(f"expected {expected} at {token.text if token else 'the end'!r}")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        terms, joiner = [self.term()], None
        while self.at("AND", "OR"):
            word = self.take("word").text
            if joiner not in (None, word):
                raise ValueError("AND and OR in one expression need parentheses")
            joiner = word
            terms.append(self.term())
        if joiner == "OR":
            return lambda attributes: any(term(attributes) for term in terms)
        return lambda attributes: all(term(attributes) for term in terms)

    def term(self) -> Predicate:
        if self.at("NOT", "-"):
            self.position += 1
            negated = self.term()
            return lambda attributes: not negated(attributes)
        if self.at("("):
            self.position += 1
            inner = self.expression()
            self.take("symbol", ")")
            return inner
        if self.at("hasPrefix"):
            self.position += 1
            self.take("symbol", "(")
            key = self.key(".")
            self.take("symbol", ",")
            prefix = self.value(key, whole=False)
            self.take("symbol", ")")
            return lambda attributes: key in attributes and attributes[key].startswith(prefix)
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.peek()
        if token is not None and token.kind == "attribute" and token.sep == ":":
            key = self.key(":")
            return lambda attributes: key in attributes
        key = self.key(".")
        operator = self.take("symbol").text
        if operator not in ("=", "!="):
            raise ValueError(f"expected = or != after attributes.{key}, not {operator!r}")
        value = self.value(key, whole=True)
        if operator == "=":
            return lambda attributes: attributes.get(key) == value
        return lambda attributes: attributes.get(key) != value

    def key(self, sep: str) -> str:
        token = self.take("attribute")
        if token.sep != sep:
            raise ValueError(f"expected attributes{sep}KEY, not {token.text!r}")
        self.attributes.add(token.key)
        return token.key

    def value(self, key: str, *, whole: bool) -> str:
        value = self.take("string").text
        self.compared.append((key, value, whole))
        return value


def parse(text: str) -> Filter:
    """The filter `text` parsed; ValueError saying why Pub/Sub would refuse it."""
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"a filter is at most {MAX_BYTES} bytes")
    parser = _Parser(text)
    if not parser.tokens:
        raise ValueError("the filter is empty")
    matches = parser.expression()
    if (left_over := parser.peek()) is not None:
        raise ValueError(f"unexpected {left_over.text!r}")
    return Filter(text, frozenset(parser.attributes), tuple(parser.compared), matches)
