"""Sync configuration: audiences' `meta.ferry` from the dbt manifest plus destinations.yml.

Why read the manifest and not the YAML files: dbt has already resolved schemas,
aliases and config inheritance there, so the relation we diff against is exactly
the one dbt built. Everything is validated at load time with pydantic, and every
error names the model (or the destinations file) and the key that is wrong, so a
typo fails `ferry sync plan` instead of a 3 a.m. scheduled run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.quiet_hours import QuietHours
from syncs.schedule import validate_cron

Mode = Literal["upsert", "mirror", "insert", "send", "delete"]
Channel = Literal["email", "sms", "ads", "none"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SyncConfigError(ValueError):
    """A sync or destination declaration is invalid; the message names where and which key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """One destination field fed from one audience column.

    `on_null: keep` (the default) means a NULL in the warehouse leaves the
    destination's value alone (the field is left out of the payload); `clear`
    sends an explicit null so the destination blanks it.
    """

    column: str
    on_null: Literal["keep", "clear"] = "keep"

    @field_validator("column")
    @classmethod
    def _column_is_identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"column {value!r} is not a plain column name")
        return value


class Policies(_Strict):
    """What must hold before a record leaves the warehouse."""

    pressure_cap: float | None = None  # suppress members whose marketing pressure >= cap
    max_removal_share: float = Field(default=0.2, ge=0, le=1)  # mirror: share of held records
    test_mode: bool = False  # only the seed list leaves
    test_seeds: tuple[str, ...] = ()  # record keys allowed out in test mode
    respect_holdout: bool = True  # variant = 'holdout' never syncs
    max_attempts: int = Field(default=5, ge=1)  # rejections before a record is parked
    quiet_hours: QuietHours | None = None  # sms: deferred (not failed) in the recipient's night


class DestinationSpec(_Strict):
    """One entry of destinations.yml."""

    type: str
    options: dict[str, Any] = Field(default_factory=dict)
    class_name: str | None = Field(default=None, alias="class")
    # A destination outside connectors/ (a plugin package): its module path, e.g. acme_crm.destination.
    module: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("type")
    @classmethod
    def _type_is_module_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"type {value!r} is not a connector package name")
        return value

    def resolved_options(self, environ: dict[str, str] | None = None) -> dict[str, Any]:
        """Options with `${VAR}` / `${VAR:-default}` expanded; an option whose variable is unset is left out.

        Expanded at build time, not load time, so secrets never sit in config objects
        that get printed. A missing credential fails the connector's build unless the
        sandbox was chosen (FERRY_SANDBOX=1 or `sandbox: true`).
        """
        return _expand(dict(self.options), os.environ if environ is None else environ)

    def referenced_variables(self) -> set[str]:
        """Every environment variable the options reference (`${VAR}` anywhere in them)."""
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, str):
                found.update(m.group(1) for m in _ENV.finditer(value))

        walk(self.options)
        return found

    def referenced_variable(self, option: str) -> str | None:
        """The environment variable an option is exactly `${VAR}` of (for error messages)."""
        value = self.options.get(option)
        whole = _ENV.fullmatch(value) if isinstance(value, str) else None
        return whole.group(1) if whole else None


class _SyncEntry(_Strict):
    """One item of `meta.ferry.syncs` as written in YAML."""

    destination: str
    mode: Mode
    name: str | None = None
    schedule: str | None = None
    identifiers: dict[str, str]
    fields: dict[str, str | FieldMapping] = Field(default_factory=dict)
    policies: Policies = Field(default_factory=Policies)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            validate_cron(value)
        return value

    @field_validator("identifiers")
    @classmethod
    def _identifiers(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("at least one identifier is required")
        for column in value.values():
            if not _NAME.match(column):
                raise ValueError(f"column {column!r} is not a plain column name")
        return value


class FerryMeta(_Strict):
    """`config.meta.ferry` of one audience model."""

    key: str = "profile_id"
    channel: Channel = "none"
    occurrence: str | None = None
    syncs: list[_SyncEntry] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _columns(self) -> FerryMeta:
        for column in (self.key, self.occurrence):
            if column is not None and not _NAME.match(column):
                raise ValueError(f"column {column!r} is not a plain column name")
        return self


class SyncConfig(_Strict):
    """A fully resolved sync: audience relation + destination + mode + mappings + policies."""

    name: str
    audience: str  # dbt model name, e.g. aud_win_back
    schema_name: str
    table: str
    destination_name: str
    destination: DestinationSpec
    mode: Mode
    key: str = "profile_id"
    channel: Channel = "none"
    occurrence: str | None = None
    identifiers: dict[str, str]
    fields: dict[str, FieldMapping] = Field(default_factory=dict)
    schedule: str | None = None
    policies: Policies = Field(default_factory=Policies)
    # Schema of the policy marts (customer_suppressions, customer_consent,
    # marketing_pressure), read from the manifest: `dev_marts` on a developer's target.
    marts_schema: str = "marts"

    @property
    def relation(self) -> str:
        return f"{self.schema_name}.{self.table}"

    def payload_columns(self) -> dict[str, tuple[str, str]]:
        """Destination field -> (audience column, on_null). Identifiers are never blanked."""
        out: dict[str, tuple[str, str]] = {
            name: (column, "keep") for name, column in self.identifiers.items()
        }
        for name, mapping in self.fields.items():
            out[name] = (mapping.column, mapping.on_null)
        return out


_UNSET = object()


def _expand(value: Any, environ: Any) -> Any:
    """Expand `${VAR}` / `${VAR:-default}`. An option that is exactly `${VAR}` with VAR unset
    (and no default) is dropped, so the connector's own default (often: its local sandbox) applies."""
    if isinstance(value, dict):
        out = {k: _expand(v, environ) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _UNSET}
    if isinstance(value, list):
        return [v for v in (_expand(v, environ) for v in value) if v is not _UNSET]
    if not isinstance(value, str):
        return value
    whole = _ENV.fullmatch(value)
    if whole:
        found = environ.get(whole.group(1))
        if found not in (None, ""):
            return found
        return whole.group(2) if whole.group(2) is not None else _UNSET
    return _ENV.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def _where(error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _read_destinations(path: Path) -> dict[str, Any]:
    """The raw `destinations` mapping; a file that cannot be read at all is one error for every sync."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise SyncConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("destinations"), dict):
        raise SyncConfigError(
            f"{path}: key 'destinations' must be a mapping of name -> destination"
        )
    return raw["destinations"]


def _destination(path: Path, name: Any, body: Any, check_connector: bool = True) -> DestinationSpec:
    """One destination (and, with ``check_connector``, its options checked against its
    connector, which is imported for it); errors name file and key."""
    if not _NAME.match(str(name)):
        raise SyncConfigError(f"{path}: destinations.{name}: name must be a plain identifier")
    try:
        spec = DestinationSpec.model_validate(body or {})
    except ValidationError as exc:
        raise SyncConfigError(f"{path}: destinations.{name}.{_where(exc)}") from None
    if not check_connector:
        return spec
    from syncs.registry import option_errors  # registry imports this module

    problem = option_errors(spec)
    if problem:
        raise SyncConfigError(f"{path}: destinations.{name}.{problem}")
    return spec


def load_destinations(path: str | Path) -> dict[str, DestinationSpec]:
    """Parse destinations.yml: the first error (naming the file and key) raises.

    Connectors are not imported here (see syncs.registry): the sync loader checks
    the options of the destinations that syncs use.
    """
    path = Path(path)
    return {
        name: _destination(path, name, body, check_connector=False)
        for name, body in _read_destinations(path).items()
    }


def _model_meta(node: dict[str, Any]) -> dict[str, Any] | None:
    config_meta = (node.get("config") or {}).get("meta") or {}
    meta = config_meta.get("ferry", (node.get("meta") or {}).get("ferry"))
    return meta


def _declared_in(node: dict[str, Any]) -> str:
    """The file a model's meta comes from, relative to the dbt project: its YAML
    (`patch_path`, which dbt prefixes with `<project>://`), else its SQL file."""
    path = node.get("patch_path") or node.get("original_file_path") or ""
    return path.split("://", 1)[-1]


@dataclass(frozen=True)
class SyncLoad:
    """Every sync that loaded, and one error per declaration that did not.

    Why not raise: one bad `meta.ferry` block or destination must not take every
    other sync (and the Dagster code location) down with it. `errors` maps the
    sync name (or `<model>` when the name cannot be known) to its message, which
    names the file and the key.
    """

    syncs: list[SyncConfig]
    errors: dict[str, str]
    error_models: dict[str, str] = field(
        default_factory=dict
    )  # error key -> the model declaring it

    def find(self, name: str) -> SyncConfig:
        """The sync called `name`; its own load error, or the known names, otherwise."""
        if name in self.errors:
            raise SyncConfigError(self.errors[name])
        return find_sync(self.syncs, name)


def load_syncs(manifest_path: str | Path, destinations_path: str | Path) -> list[SyncConfig]:
    """Every sync declared by an audience model in the dbt manifest, validated (strict).

    Raises SyncConfigError naming the YAML file, the model and the key (e.g.
    `models/audiences/starter/_starter__models.yml: model aud_win_back:
    meta.ferry.syncs.0.mode: ...`) or the destinations file and key; with
    several problems, every one of them, one per line.
    """
    loaded = load_sync_declarations(manifest_path, destinations_path)
    if loaded.errors:
        raise SyncConfigError("\n".join(loaded.errors.values()))
    return loaded.syncs


def load_sync_declarations(manifest_path: str | Path, destinations_path: str | Path) -> SyncLoad:
    """The syncs that are valid plus an error per invalid declaration (see SyncLoad).

    Raises only when nothing can be read: the manifest or destinations file is
    missing or is not YAML/JSON.
    """
    manifest_path = Path(manifest_path)
    destinations_path = Path(destinations_path)
    destinations: dict[str, DestinationSpec] = {}
    broken: dict[str, str] = {}  # destination name -> its error
    for name, body in _read_destinations(destinations_path).items():
        try:
            destinations[name] = _destination(destinations_path, name, body)
        except SyncConfigError as exc:
            broken[str(name)] = str(exc)
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise SyncConfigError(
            f"{manifest_path}: dbt manifest not found (run `dbt parse` or `dbt build` first)"
        ) from None
    marts_schema = _policy_schema(manifest)
    syncs: list[SyncConfig] = []
    errors: dict[str, str] = {}
    models: dict[str, str] = {}
    seen: dict[str, str] = {}
    for node in sorted(manifest.get("nodes", {}).values(), key=lambda n: n.get("unique_id", "")):
        if node.get("resource_type") != "model":
            continue
        raw = _model_meta(node)
        if raw is None:
            continue
        model = node["name"]
        declared = _declared_in(node)
        file = f"{declared}: " if declared else ""
        try:
            meta = FerryMeta.model_validate(raw)
        except ValidationError as exc:
            errors[model] = f"{file}model {model}: meta.ferry.{_where(exc)}"
            models[model] = model
            continue
        for i, entry in enumerate(meta.syncs):
            where = f"{file}model {model}: meta.ferry.syncs.{i}"
            name = entry.name or f"{model}__{entry.destination}"
            try:
                if name in seen:
                    raise SyncConfigError(
                        f"{where}.name: sync name {name!r} is already used by {seen[name]}; set `name:`"
                    )
                seen[name] = where
                sync = _sync_config(
                    node, meta, entry, name, where, destinations, broken, destinations_path
                )
                syncs.append(sync.model_copy(update={"marts_schema": marts_schema}))
            except SyncConfigError as exc:
                # A duplicate name must not hide the valid sync that owns the name.
                key = where if any(s.name == name for s in syncs) else name
                errors[key], models[key] = str(exc), model
    return SyncLoad(syncs, errors, models)


POLICY_MODELS = ("customer_suppressions", "customer_consent", "marketing_pressure")


def _policy_schema(manifest: dict[str, Any]) -> str:
    """The schema dbt built the policy marts in (the first of POLICY_MODELS found), else `marts`."""
    by_name = {
        n.get("name"): n
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") == "model"
    }
    for model in POLICY_MODELS:
        if by_name.get(model, {}).get("schema"):
            return str(by_name[model]["schema"])
    return "marts"


def _sync_config(
    node: dict[str, Any],
    meta: FerryMeta,
    entry: _SyncEntry,
    name: str,
    where: str,
    destinations: dict[str, DestinationSpec],
    broken: dict[str, str],
    destinations_path: Path,
) -> SyncConfig:
    """One validated sync, or SyncConfigError naming the file and key."""
    if entry.destination in broken:
        raise SyncConfigError(
            f"{where}.destination: {entry.destination!r} is invalid: {broken[entry.destination]}"
        )
    if entry.destination not in destinations:
        known = ", ".join(sorted(set(destinations) | set(broken))) or "none"
        raise SyncConfigError(
            f"{where}.destination: {entry.destination!r} is not declared in "
            f"{destinations_path.name} (known: {known})"
        )
    if entry.mode == "send" and meta.channel == "none":
        # Sends are messages to people: they must say which consent applies.
        raise SyncConfigError(f"{where}.mode: send needs meta.ferry.channel (email, sms or ads)")
    if entry.policies.quiet_hours is not None and meta.channel != "sms":
        raise SyncConfigError(
            f"{where}.policies.quiet_hours: quiet hours follow the recipient's phone "
            f"time zone; they need meta.ferry.channel sms (got {meta.channel!r})"
        )
    spec = destinations[entry.destination]
    from syncs.registry import unsupported_mode  # registry imports this module

    refused = unsupported_mode(spec, entry.mode)
    if refused:
        raise SyncConfigError(f"{where}.mode: {refused}")
    fields = {
        k: v if isinstance(v, FieldMapping) else FieldMapping(column=v)
        for k, v in entry.fields.items()
    }
    clash = set(fields) & set(entry.identifiers)
    if clash:
        raise SyncConfigError(f"{where}.fields: {sorted(clash)} also declared as identifiers")
    return SyncConfig(
        name=name,
        audience=node["name"],
        schema_name=node.get("schema") or "audiences",
        table=node.get("alias") or node["name"],
        destination_name=entry.destination,
        destination=spec,
        mode=entry.mode,
        key=meta.key,
        channel=meta.channel,
        occurrence=meta.occurrence,
        identifiers=dict(entry.identifiers),
        fields=fields,
        schedule=entry.schedule,
        policies=entry.policies,
    )


def find_sync(syncs: list[SyncConfig], name: str) -> SyncConfig:
    """The sync called `name`, or an error listing the known ones."""
    for sync in syncs:
        if sync.name == name:
            return sync
    known = ", ".join(s.name for s in syncs) or "none"
    raise SyncConfigError(f"no sync named {name!r} (known: {known})")
