"""What rules may touch: the trait table's columns, the event types and categories of
the timeline, profile fields for output, other audiences' membership, a few functions.

Discovered, not hand-kept: the trait columns (and their coarse types) and the event
types and categories are read from the warehouse (marts.customer_scores and
marts.customer_events in the DuckDB file), so a column added to customer_scores is
usable in a rule with no Python change. Sensitive columns are refused whatever the
warehouse holds (DENIED_TRAITS). Event types also include what the source registry
declares (var ferry_sources) and the scores' role lists (var ferry_event_roles), so
a rule may name an event no source has emitted yet. Compiling against a warehouse
writes what it saw to audience_rules/_catalog.json, which a compile without a
warehouse (CI's `ferry audiences compile --check`) reads instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# Never filterable, whatever customer_scores holds: contact details and free text
# (output fields go through PROFILE_FIELDS; rules never filter on raw PII).
DENIED_TRAITS: frozenset[str] = frozenset(
    {"email", "phone", "first_name", "last_name", "street", "postcode", "notes", "comment"}
)
DENIED_PATTERN = re.compile(r"(_hash|_sha256|_e164)$")
# Above this many distinct categories for one event type, its categories are not checked.
MAX_CATEGORIES = 500
SNAPSHOT_REL = Path("audience_rules") / "_catalog.json"


def coarse_type(data_type: str) -> str:
    """The compiler's operator types (text, number, bool, date, timestamp), from the
    raw contracts' type families (orchestration/sources/contract.py)."""
    from orchestration.sources.contract import family_of

    family = family_of(data_type) or "text"
    return {"integer": "number", "boolean": "bool"}.get(family, family)


def is_denied(column: str) -> bool:
    return column in DENIED_TRAITS or bool(DENIED_PATTERN.search(column))


@dataclass(frozen=True)
class Catalog:
    """What a rule may name; `origin` says where it was read (shown in errors)."""

    traits: dict[str, str]
    event_types: frozenset[str]
    # per event type, its categories (lowercased); an event type not here is not checked
    categories: dict[str, frozenset[str]] = field(default_factory=dict)
    origin: str = ""

    def to_json(self) -> str:
        data = {
            "traits": self.traits,
            "event_types": sorted(self.event_types),
            "categories": {k: sorted(v) for k, v in sorted(self.categories.items())},
        }
        return json.dumps(data, indent=1) + "\n"


def _registry_event_types(project: Path) -> set[str]:
    """The registry's event types; none for a rules folder outside a dbt project."""
    from orchestration.sources.registry import registry_event_types

    if not (Path(project) / "dbt_project.yml").exists():
        return set()
    return registry_event_types(project)


def from_warehouse(database: Path, project: Path) -> Catalog | None:
    """The catalog of a built DuckDB warehouse; None when it holds no customer_scores."""
    import duckdb

    if not Path(database).is_file():
        return None
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error:
        return None
    try:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'customer_scores' "
            "order by ordinal_position"
        ).fetchall()
        rows = (
            con.execute(
                "select event_type, count(distinct lower(category)), "
                "list(distinct lower(category)) filter (where category is not null) "
                "from marts.customer_events group by 1"
            ).fetchall()
            if columns
            else []
        )
    except duckdb.Error:
        return None
    finally:
        con.close()
    if not columns:
        return None
    traits = {name: coarse_type(t) for name, t in columns if not is_denied(name)}
    categories = {
        event_type: frozenset(values or [])
        for event_type, n, values in rows
        if event_type is not None and n <= MAX_CATEGORIES
    }
    types = {r[0] for r in rows if r[0] is not None} | _registry_event_types(project)
    return Catalog(traits, frozenset(types), categories, f"warehouse {database}")


def from_snapshot(project: Path) -> Catalog | None:
    path = Path(project) / SNAPSHOT_REL
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    traits = {k: v for k, v in data["traits"].items() if not is_denied(k)}
    types = set(data["event_types"]) | _registry_event_types(project)
    categories = {k: frozenset(v) for k, v in data.get("categories", {}).items()}
    return Catalog(traits, frozenset(types), categories, f"snapshot {path}")


def load_catalog(project: Path, database: Path | None = None) -> Catalog:
    """The warehouse's catalog when one is built (`database`, else FERRY_DUCKDB_PATH),
    else the snapshot the last compile against a warehouse left."""
    from orchestration.audience_rules.errors import RuleError
    from orchestration.paths import duckdb_path

    found = from_warehouse(Path(database) if database else duckdb_path(), project)
    found = found or from_snapshot(project)
    if found is None:
        raise RuleError(
            str(SNAPSHOT_REL), "traits",
            "no catalog of trait columns: build the warehouse (dbt build) or commit "
            f"{SNAPSHOT_REL} from a compile against one",
        )  # fmt: skip
    return found


# Contact fields only customer_profiles holds (output fields, never filters on PII).
PROFILE_FIELDS: tuple[str, ...] = (
    "email", "phone", "first_name", "last_name", "postcode", "email_is_valid", "phone_is_valid",
)  # fmt: skip

# customer_events columns an event condition may filter on.
EVENT_FILTERS: dict[str, str] = {"category": "text", "source": "text", "channel": "text"}

TRAIT_MODEL = "customer_scores"
EVENT_MODEL = "customer_events"
PROFILE_MODEL = "customer_profiles"

# sqlglot expression classes allowed inside a free-form `expression`: comparisons,
# boolean logic, arithmetic, literals, columns, and a few pure scalar functions.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        "Lower", "Upper", "Trim", "Length", "Coalesce", "Abs", "Round", "Floor", "Ceil",
        "Substring", "Concat", "DPipe", "Least", "Greatest", "If", "Nullif", "Case",
    }
)  # fmt: skip

# Structural nodes allowed in expressions (no subqueries, tables, DDL/DML, commands).
ALLOWED_NODES: frozenset[str] = frozenset(
    {
        "Column", "Identifier", "Literal", "Boolean", "Null", "Paren", "Neg", "Not",
        "And", "Or", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Is", "In", "Between",
        "Like", "ILike", "Add", "Sub", "Mul", "Div", "Mod", "Tuple", "When", "Ifs",
    }
)  # fmt: skip
