"""A service's part of the demo and the bench, found without naming services: `functions.<service>.<kind>`.

The rule is the edge's (functions/edge/services.py), found the same way (functions/discovery.py): every
package under functions/ that has a `demo` (or `bench`) module takes part, and the module's `SECTION`
says where and how. Nothing in infra/ names a service or imports more of it than that one module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from functions import discovery
from shared.operator import OperatorProfile

SECTION = "SECTION"  # the name a demo or bench module gives its section


class Section(Protocol):
    """What discovery needs of a section: where it goes and whether the profile runs its service."""

    @property
    def order(self) -> int: ...

    @property
    def switched_on(self) -> Callable[[OperatorProfile], bool]: ...


SectionT = TypeVar("SectionT", bound=Section)


def service_packages(kind: str) -> tuple[str, ...]:
    """Every package under functions/ with a module named `kind` (`demo`, `bench`), by name."""
    return discovery.packages_with(kind)


def declared(kind: str, section_type: type[SectionT], packages: Iterable[str] | None = None) -> list[SectionT]:
    """Every service's `kind` section, by its order (then package name), whether the profile runs it or not.

    `packages`: the service packages to read (default: every one discovery finds under functions/).
    """
    found: list[tuple[int, str, SectionT]] = []
    for package in service_packages(kind) if packages is None else packages:
        module = importlib.import_module(f"{package}.{kind}")
        section = getattr(module, SECTION, None)
        if not isinstance(section, section_type):
            raise TypeError(f"{module.__name__} declares no {SECTION} = {section_type.__name__}(...)")
        found.append((section.order, package, section))
    return [section for _, _, section in sorted(found, key=lambda item: item[:2])]


def sections(
    kind: str, section_type: type[SectionT], profile: OperatorProfile, packages: Iterable[str] | None = None
) -> list[SectionT]:
    """The `kind` sections of the services the profile switches on, in order."""
    return [section for section in declared(kind, section_type, packages) if section.switched_on(profile)]


def always(profile: OperatorProfile) -> bool:
    """A section every profile runs."""
    return True
