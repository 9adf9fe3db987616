"""Type families of the raw contracts, the Python side of the rules the dbt macros
apply (dbt_project/macros/sources/registry.sql: ferry_type_family, ferry_type_accepts).
Kept to these few lines so the two stay easy to compare."""

from __future__ import annotations

INTEGER_TYPES = frozenset(
    {"integer", "int", "int2", "int4", "int8", "bigint", "smallint", "tinyint", "hugeint",
     "ubigint", "uinteger", "usmallint", "utinyint", "long", "short"}
)  # fmt: skip
NUMBER_TYPES = frozenset({"double", "double precision", "float", "float4", "float8", "real"})

# DuckDB type each family is loaded as.
DUCKDB_TYPES: dict[str, str] = {
    "text": "varchar", "integer": "bigint", "number": "double", "boolean": "boolean",
    "date": "date", "timestamp": "timestamp",
}  # fmt: skip


def family_of(data_type: str) -> str | None:
    """The contract family of a warehouse type name (None: none of them)."""
    t = data_type.lower()
    if t.startswith(("timestamp", "datetime")):
        return "timestamp"
    if t == "date":
        return "date"
    if t in ("boolean", "bool"):
        return "boolean"
    if t in INTEGER_TYPES:
        return "integer"
    if t.startswith(("decimal", "numeric")) or t in NUMBER_TYPES:
        return "number"
    if t.startswith(("varchar", "character", "char")) or t in ("text", "string"):
        return "text"
    return None


def accepts(declared: str, found: str | None) -> bool:
    """An integer is a number; timestamps may be ISO-8601 text (staging parses them)."""
    return (
        found == declared
        or (declared == "number" and found == "integer")
        or (declared == "timestamp" and found == "text")
    )
