"""Read the source registry (var ``ferry_sources`` in dbt_project.yml) into typed entries.

The dbt macros (dbt_project/macros/sources/) read the same YAML; this module exists so
`ferry sources docs`, `ferry load` and the rule compiler see it validated, with
errors naming the file and key (a typo in a contract type should fail here, not as a
cast error deep inside a build).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestration.paths import DBT_PROJECT_DIR

TypeFamily = Literal["text", "integer", "number", "boolean", "date", "timestamp"]
TYPE_FAMILIES: tuple[str, ...] = ("text", "integer", "number", "boolean", "date", "timestamp")
# Columns every raw table may carry; derived by staging when absent (never required).
LOADER_COLUMNS: dict[str, str] = {"_loader_id": "text", "_loaded_at": "timestamp"}


class RegistryError(ValueError):
    """The registry, or something checked against it, is wrong; the message names where."""


class Identifier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["customer_id", "national_id", "email", "phone", "anonymous_id"]
    column: str
    namespace: str | None = None
    # account_id: one person never holds two (a shop login); record_id: rows of one
    # system may duplicate each other (CRM contacts, form submissions).
    kind: Literal["account_id", "record_id"] | None = None


class Events(BaseModel):
    model_config = ConfigDict(extra="forbid")
    types: list[str] = Field(min_length=1)
    type: str | None = None
    channel: str | None = None
    occurred_at: str | None = None
    category: str | None = None
    amount: str | None = None
    attributes: list[str] = []
    where: str | None = None


class QuarantineRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str
    when: str
    detail: str


class Source(BaseModel):
    """One registry entry; see the comment above ``ferry_sources`` in dbt_project.yml."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    system: str | None = None
    relation: str | None = None
    model: str | None = None
    record_id: str | None = None
    record_time: str | None = None
    time_zone: str = "UTC"
    columns: dict[str, str] = {}
    identifiers: list[Identifier] = []
    person: list[str | dict[str, str]] = []
    events: Events | None = None
    consent: dict[Literal["email", "sms"], str] = {}
    quarantine: list[QuarantineRule] = []
    # engagement landed by Ferry's connectors: ready-made union rows
    events_model: str | None = None
    identifiers_model: str | None = None
    event_types: list[str] = []

    @field_validator("columns")
    @classmethod
    def _contract_types(cls, columns: dict[str, str]) -> dict[str, str]:
        for column, declared in columns.items():
            words = str(declared).split()
            if not words or words[0] not in TYPE_FAMILIES or words[1:] not in ([], ["optional"]):
                raise ValueError(
                    f"column {column!r}: type {declared!r} is not one of "
                    f"{', '.join(TYPE_FAMILIES)} (optionally followed by 'optional')"
                )
        return columns

    @property
    def source_system(self) -> str:
        return self.system or self.name.split("_", 1)[0]

    @property
    def is_record_source(self) -> bool:
        """Landed by the user (a raw relation with a contract), not by Ferry's connectors."""
        return self.relation is not None

    @property
    def schema_table(self) -> tuple[str, str]:
        schema, _, table = (self.relation or "").partition(".")
        return schema, table

    def contract(self) -> list[ContractColumn]:
        """The raw columns the table must (or may) hold, loader columns last."""
        out = [
            ContractColumn(c, d.split()[0], "optional" in d.split())
            for c, d in self.columns.items()
        ]
        out += [ContractColumn(c, t, True) for c, t in LOADER_COLUMNS.items()]
        return out

    def all_event_types(self) -> list[str]:
        return list(self.events.types if self.events else []) + list(self.event_types)


@dataclass(frozen=True)
class ContractColumn:
    name: str
    family: str
    optional: bool


def _project_file(project: Path) -> Path:
    return Path(project) / "dbt_project.yml"


def load_vars(project: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    path = _project_file(project)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise RegistryError(f"{path}: cannot read: {error}") from error
    return data.get("vars") or {}


def load_registry(project: Path = DBT_PROJECT_DIR) -> dict[str, Source]:
    """Every registry entry by name, validated; errors name the file and key."""
    path = _project_file(project)
    raw = load_vars(project).get("ferry_sources")
    if not isinstance(raw, dict) or not raw:
        raise RegistryError(f"{path}: vars.ferry_sources is missing or empty")
    attributes = person_attributes(project)
    sources: dict[str, Source] = {}
    for name, entry in raw.items():
        key = f"{path}: vars.ferry_sources.{name}"
        try:
            source = Source.model_validate({"name": name, **(entry or {})})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RegistryError(f"{key}.{where}: {first['msg']}") from None
        if source.is_record_source:
            if "." not in (source.relation or ""):
                raise RegistryError(f"{key}.relation: expected 'schema.table'")
            for required in ("record_id", "record_time"):
                if not getattr(source, required):
                    raise RegistryError(f"{key}.{required}: required for a raw source")
        if source.events and source.events.type is None and len(source.events.types) > 1:
            raise RegistryError(
                f"{key}.events.type: required when events.types lists more than one type "
                "(the SQL that picks a record's type)"
            )
        for item in source.person:
            for attribute in [item] if isinstance(item, str) else list(item):
                if attribute not in attributes:
                    raise RegistryError(
                        f"{key}.person: unknown attribute {attribute!r} "
                        f"(vars.ferry_person_attributes: {', '.join(attributes)})"
                    )
        sources[name] = source
    return sources


def person_attributes(project: Path = DBT_PROJECT_DIR) -> dict[str, str]:
    return dict(load_vars(project).get("ferry_person_attributes") or {})


def registry_event_types(project: Path = DBT_PROJECT_DIR) -> set[str]:
    """Every event type the registry says a source can emit, plus the role lists of
    var ferry_event_roles (names the scores already understand)."""
    types = {t for s in load_registry(project).values() for t in s.all_event_types()}
    for names in (load_vars(project).get("ferry_event_roles") or {}).values():
        types.update(names)
    return types


def record_id_namespaces(sources: dict[str, Source]) -> set[str]:
    """Customer-id namespaces declared record ids (kind record_id: CRM contacts), as
    the dbt macro ferry_record_id_namespaces reads them (namespace, else the system)."""
    return {
        identifier.namespace or source.source_system
        for source in sources.values()
        for identifier in source.identifiers
        if identifier.type == "customer_id" and identifier.kind == "record_id"
    }
