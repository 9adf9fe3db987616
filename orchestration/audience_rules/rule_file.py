"""The rule file format, parsed into plain dataclasses with errors naming the key.

```yaml
name: outdoor_fans              # model aud_outdoor_fans
description: People into outdoor gear who browsed it lately
channel: email                  # email | sms | ads | none (consent applied)
conditions:                     # all must hold
  - trait: main_interest        # trait condition on customer_scores
    op: eq
    value: outdoor
  - event: page_view            # "did X at least N times in the last D days"
    at_least: 3
    in_last_days: 30
    category: outdoor
  - in_audience: aud_champions  # membership / non-membership of other audiences
  - not_in_audience: aud_win_back
  - any:                        # OR group
      - {trait: loyalty_status, op: in, value: [gold, platinum]}
      - expression: "loyalty_points >= 500 and lower(city) = 'paris'"
exclude:                        # any of these removes the profile
  - {trait: country, op: eq, value: US}
fields: [email, first_name, main_interest]
split: {holdout: 10, treatment: 90}
sync: {syncs: [...]}            # becomes config.meta.ferry (key/channel filled in)
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from orchestration.audience_rules.errors import RuleError

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TRAIT_OPS = (
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between",
    "contains", "starts_with", "is_null", "not_null", "is_true", "is_false",
)  # fmt: skip
CHANNELS = ("email", "sms", "ads", "none")
# Strings that would be executed by dbt's Jinja or collide with compiler placeholders.
FORBIDDEN_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}", "__ref_", "__ferry_")


@dataclass(frozen=True)
class Trait:
    column: str
    op: str
    value: Any
    key: str


@dataclass(frozen=True)
class Event:
    event_types: tuple[str, ...]
    at_least: int
    at_most: int | None
    in_last_days: int | None
    filters: dict[str, str]
    key: str


@dataclass(frozen=True)
class Membership:
    audience: str
    member: bool
    key: str


@dataclass(frozen=True)
class Expression:
    sql: str
    key: str


@dataclass(frozen=True)
class Group:
    kind: str  # "all" | "any"
    items: tuple[Condition, ...]
    key: str


Condition = Trait | Event | Membership | Expression | Group


@dataclass(frozen=True)
class Rule:
    file: str
    name: str  # model name, aud_<...>
    description: str
    channel: str
    conditions: Group
    exclusions: tuple[Condition, ...]
    fields: tuple[str, ...]
    split: dict[str, float]
    salt: str | None
    sync: dict[str, Any] = field(default_factory=dict)


def _check_strings(file: str, value: Any, key: str) -> None:
    """Refuse Jinja and placeholder markers anywhere in the file: the generated model
    is rendered by dbt, so `{{ env_var('SECRET') }}` in a value would run."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_strings(file, k, key)
            _check_strings(file, v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_strings(file, v, f"{key}[{i}]")
    elif isinstance(value, str):
        for marker in FORBIDDEN_MARKERS:
            if marker in value:
                raise RuleError(
                    file, key or "(top)", f"contains {marker!r}, which is not allowed in rules"
                )
        if "\x00" in value:
            raise RuleError(file, key or "(top)", "contains a NUL character")


def _int(file: str, key: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RuleError(file, key, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _name(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise RuleError(file, key, f"must be a lower-case name ([a-z][a-z0-9_]*), got {value!r}")
    return value


def _condition(file: str, raw: Any, key: str) -> Condition:
    if not isinstance(raw, dict):
        raise RuleError(file, key, "a condition must be a mapping")
    kinds = [
        k
        for k in ("trait", "event", "in_audience", "not_in_audience", "expression", "any", "all")
        if k in raw
    ]
    if len(kinds) != 1:
        raise RuleError(
            file, key,
            "a condition needs exactly one of trait, event, in_audience, not_in_audience, expression, any, all",
        )  # fmt: skip
    kind = kinds[0]
    allowed = {
        "trait": {"trait", "op", "value"},
        "event": {"event", "at_least", "at_most", "in_last_days", "category", "source", "channel"},
        "in_audience": {"in_audience"},
        "not_in_audience": {"not_in_audience"},
        "expression": {"expression"},
        "any": {"any"},
        "all": {"all"},
    }[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(file, f"{key}.{unknown[0]}", f"unknown key for a {kind} condition")
    if kind == "trait":
        column = _name(file, f"{key}.trait", raw["trait"])
        op = raw.get("op", "eq")
        if op not in TRAIT_OPS:
            raise RuleError(file, f"{key}.op", f"{op!r} is not one of {', '.join(TRAIT_OPS)}")
        value = raw.get("value")
        needs_value = op not in ("is_null", "not_null", "is_true", "is_false")
        if needs_value and value is None:
            raise RuleError(file, f"{key}.value", f"op {op} needs a value")
        if op in ("in", "not_in") and not (isinstance(value, list) and value):
            raise RuleError(file, f"{key}.value", f"op {op} needs a non-empty list")
        if op == "between" and not (isinstance(value, list) and len(value) == 2):
            raise RuleError(file, f"{key}.value", "op between needs a list of two values")
        scalars = value if isinstance(value, list) else [value]
        if needs_value and not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) or v is True or v is False
            for v in scalars
        ):
            raise RuleError(file, f"{key}.value", "values must be strings, numbers or booleans")
        return Trait(column, op, value, key)
    if kind == "event":
        types = raw["event"]
        types = [types] if isinstance(types, str) else types
        if not isinstance(types, list) or not types:
            raise RuleError(file, f"{key}.event", "must be an event type or a list of them")
        for i, t in enumerate(types):
            _name(file, f"{key}.event[{i}]" if len(types) > 1 else f"{key}.event", t)
        at_least = _int(file, f"{key}.at_least", raw.get("at_least", 1))
        at_most = raw.get("at_most")
        if at_most is not None:
            at_most = _int(file, f"{key}.at_most", at_most)
            if at_most < at_least:
                raise RuleError(file, f"{key}.at_most", "must be >= at_least")
        days = raw.get("in_last_days")
        if days is not None:
            days = _int(file, f"{key}.in_last_days", days, minimum=1)
        filters = {}
        for col in ("category", "source", "channel"):
            if col in raw:
                if not isinstance(raw[col], str):
                    raise RuleError(file, f"{key}.{col}", "must be a string")
                filters[col] = raw[col]
        return Event(tuple(types), at_least, at_most, days, filters, key)
    if kind in ("in_audience", "not_in_audience"):
        return Membership(_name(file, f"{key}.{kind}", raw[kind]), kind == "in_audience", key)
    if kind == "expression":
        if not isinstance(raw["expression"], str) or not raw["expression"].strip():
            raise RuleError(file, f"{key}.expression", "must be a non-empty SQL boolean expression")
        return Expression(raw["expression"], f"{key}.expression")
    items = raw[kind]
    if not isinstance(items, list) or not items:
        raise RuleError(file, f"{key}.{kind}", "must be a non-empty list of conditions")
    return Group(
        kind, tuple(_condition(file, c, f"{key}.{kind}[{i}]") for i, c in enumerate(items)), key
    )


def parse_rule(file: str, raw: Any) -> Rule:
    """Validate one parsed YAML document into a Rule."""
    if not isinstance(raw, dict):
        raise RuleError(file, "(top)", "a rule file must be a mapping")
    _check_strings(file, raw, "")
    known = {
        "name",
        "description",
        "channel",
        "conditions",
        "exclude",
        "fields",
        "split",
        "salt",
        "sync",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RuleError(file, unknown[0], f"unknown key (known: {', '.join(sorted(known))})")
    name = _name(file, "name", raw.get("name"))
    if not name.startswith("aud_"):
        name = f"aud_{name}"
    description = raw.get("description") or f"Rule-based audience {name}."
    if not isinstance(description, str):
        raise RuleError(file, "description", "must be a string")
    channel = raw.get("channel", "email")
    if channel not in CHANNELS:
        raise RuleError(file, "channel", f"must be one of {', '.join(CHANNELS)}, got {channel!r}")
    conditions = raw.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        raise RuleError(file, "conditions", "must be a non-empty list of conditions")
    group = Group(
        "all",
        tuple(_condition(file, c, f"conditions[{i}]") for i, c in enumerate(conditions)),
        "conditions",
    )
    exclude = raw.get("exclude") or []
    if not isinstance(exclude, list):
        raise RuleError(file, "exclude", "must be a list of conditions")
    exclusions = tuple(_condition(file, c, f"exclude[{i}]") for i, c in enumerate(exclude))
    fields = raw.get("fields") or []
    if not isinstance(fields, list):
        raise RuleError(file, "fields", "must be a list of column names")
    fields = tuple(_name(file, f"fields[{i}]", f) for i, f in enumerate(fields))
    split = raw.get("split") or {"all": 100}
    if not isinstance(split, dict):
        raise RuleError(file, "split", "must map variant names to percentages")
    for variant, pct in split.items():
        _name(file, f"split.{variant}", variant)
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or pct < 0:
            raise RuleError(file, f"split.{variant}", f"must be a percentage >= 0, got {pct!r}")
    if abs(sum(split.values()) - 100) > 1e-6:
        raise RuleError(file, "split", f"percentages add up to {sum(split.values())}, not 100")
    salt = raw.get("salt")
    if salt is not None and (
        not isinstance(salt, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", salt)
    ):
        raise RuleError(file, "salt", "must be a short string of letters, digits, _ . : -")
    sync = raw.get("sync") or {}
    if not isinstance(sync, dict):
        raise RuleError(file, "sync", "must be a mapping (the config.meta.ferry of the model)")
    return Rule(file, name, description.strip(), channel, group, exclusions, fields,
                {k: float(v) for k, v in split.items()}, salt, sync)  # fmt: skip
