"""What Terraform deploys beyond the event catalog, merged from the platform's file and each service's own.

shared/infrastructure.yaml defines every secret and the platform's TTL collections; a service's
functions/<service>/infrastructure.yaml (optional) declares its Firestore composite indexes, its TTL
collections and the secrets and settings its functions read. terraform/infrastructure.tf merges the
same files and refuses the same problems; tests/unit/test_terraform.py holds Terraform, and the Python
that writes the collections and requires the settings, to this merge.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.settings import Settings

PLATFORM_FILE = Path(__file__).with_name("infrastructure.yaml")
REPO = PLATFORM_FILE.parents[1]
SERVICES_DIR = REPO / "functions"
SERVICE_PART = "*/infrastructure.yaml"  # under SERVICES_DIR: functions/<service>/infrastructure.yaml


class _Declared(BaseModel):
    """A section of a declaration file: unknown keys refused, a key left empty in YAML means nothing declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        return {key: value for key, value in data.items() if value is not None} if isinstance(data, dict) else data


Part = TypeVar("Part", bound=_Declared)


class Index(_Declared):
    collection: str
    fields: list[tuple[str, Literal["ASCENDING", "DESCENDING", "CONTAINS"]]] = Field(min_length=1)


class PlatformFirestore(_Declared):
    ttl_collections: list[str] = Field(default_factory=list)


class ServiceFirestore(PlatformFirestore):
    indexes: dict[str, Index] = Field(default_factory=dict)


class Secret(_Declared):
    env: str
    description: str


class Reads(_Declared):
    """What a service's functions are given: secrets by name, plain settings by shared/settings.py field."""

    secrets: list[str] = Field(default_factory=list)
    settings: list[str] = Field(default_factory=list)


class PlatformPart(_Declared):
    firestore: PlatformFirestore = PlatformFirestore()
    secrets: dict[str, Secret] = Field(default_factory=dict)


class ServicePart(_Declared):
    firestore: ServiceFirestore = ServiceFirestore()
    reads: Reads = Reads()


class Infrastructure(BaseModel):
    model_config = ConfigDict(frozen=True)
    indexes: dict[str, Index]
    ttl_collections: dict[str, str]  # collection -> the file declaring it
    secrets: dict[str, Secret]
    reads: dict[str, Reads]  # service -> what its functions read

    def ttl_collections_of(self, file: str) -> set[str]:
        return {collection for collection, declared_in in self.ttl_collections.items() if declared_in == file}


def files() -> list[Path]:
    """The platform's file, then each service's own part (functions/<service>/infrastructure.yaml)."""
    return [PLATFORM_FILE, *sorted(SERVICES_DIR.glob(SERVICE_PART))]


def service_of(file: str) -> str:
    """functions/<service>/infrastructure.yaml -> <service>."""
    return Path(file).parts[1]


def _parsed(file: str, raw: dict[str, Any] | None, model: type[Part], problems: list[str]) -> Part | None:
    """One file's content as `model`, or None; each problem added names the file and the key.

    A key the file may not declare is reported and left out, so that the rest is still checked (as
    Terraform reports every problem at once).
    """
    content = copy.deepcopy(raw or {})
    try:
        return model.model_validate(content)
    except ValidationError as error:
        unknown = [detail["loc"] for detail in error.errors() if detail["type"] == "extra_forbidden"]
        for detail in error.errors():
            where = ".".join(str(part) for part in detail["loc"])
            if detail["type"] == "extra_forbidden":
                problems.append(f"{file}: {where} cannot be declared here")
            else:
                problems.append(f"{file}: {where}: {detail['msg']}")
        if len(unknown) < len(error.errors()):
            return None
    for *path, key in unknown:
        section: Any = content  # a mapping the error located an unknown key in
        for step in path:
            section = section[step]
        del section[key]
    return model.model_validate(content)


def _both(first: str, second: str) -> str:
    """Two files in a stable order (Terraform lists them sorted too)."""
    return " and ".join(sorted([first, second]))


def merge(parts: dict[str, dict[str, Any] | None]) -> Infrastructure:
    """The declarations of every file (file name -> content), the first being the platform's.

    Refused, every problem named: a key a file may not declare, an index name or a TTL collection
    declared twice, the same index under two names, a secret no definition answers, a setting
    shared/settings.py does not have — as terraform/infrastructure.tf refuses them.
    """
    platform_file = next(iter(parts))
    problems: list[str] = []
    platform = _parsed(platform_file, parts[platform_file], PlatformPart, problems)
    secrets = platform.secrets if platform else {}
    ttl_declared_in = {c: platform_file for c in platform.firestore.ttl_collections} if platform else {}
    index_declared_in: dict[str, str] = {}
    indexes: dict[str, Index] = {}
    reads: dict[str, Reads] = {}
    for file, raw in list(parts.items())[1:]:
        part = _parsed(file, raw, ServicePart, problems)
        if part is None:
            continue
        for name, index in part.firestore.indexes.items():
            if name in index_declared_in:
                problems.append(f"firestore index {name} is declared twice: in {_both(index_declared_in[name], file)}")
            same = [other for other, known in indexes.items() if known == index and other != name]
            if same:
                shape = json.dumps([list(field) for field in index.fields], separators=(",", ":"))
                names = " and ".join(sorted([same[0], name]))
                problems.append(f"firestore indexes {names} are the same index ({index.collection} {shape})")
            index_declared_in[name], indexes[name] = file, index
        for collection in part.firestore.ttl_collections:
            if collection in ttl_declared_in:
                problems.append(
                    f"TTL collection {collection} is declared twice: in {_both(ttl_declared_in[collection], file)}"
                )
            ttl_declared_in[collection] = file
        problems += [
            f"{file} reads secret {secret}, which {platform_file} does not define"
            for secret in part.reads.secrets
            if secret not in secrets
        ]
        problems += [
            f"{file} reads setting {setting}, which shared/settings.py does not have"
            for setting in part.reads.settings
            if setting not in Settings.model_fields
        ]
        reads[service_of(file)] = part.reads
    if problems:
        raise ValueError("the infrastructure declarations disagree:\n  " + "\n  ".join(problems))
    return Infrastructure(indexes=indexes, ttl_collections=ttl_declared_in, secrets=secrets, reads=reads)


def read() -> dict[str, dict[str, Any] | None]:
    """Every declaration file's content by its path in the repository, the platform's first."""
    return {str(path.relative_to(REPO)): yaml.safe_load(path.read_text()) for path in files()}


@functools.cache
def load() -> Infrastructure:
    return merge(read())
