"""docs/sources.md, generated from the source registry: what each raw table must hold.

Generated, never edited: `ferry sources docs` writes it, `ferry sources docs --check`
(and a test) fails when it no longer matches the registry.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR, PROJECT_ROOT
from orchestration.sources.registry import LOADER_COLUMNS, Source, load_registry

DOCS_PATH = PROJECT_ROOT / "docs" / "sources.md"

HEADER = """# Sources and their raw contracts

<!-- Generated from the source registry (var `ferry_sources` in
dbt_project/dbt_project.yml) by `ferry sources docs`; do not edit by hand. -->

Every source is optional: a raw table that is absent is skipped with one line in
the build log (`source shop: raw.shop_orders not found, skipped`) and everything
downstream builds from the others. A present table is checked against its
contract by `ferry sources check` (and the `raw_contracts` test of every build):
each missing or mistyped column is named; the staging model reads a missing
column as null. Types are families: `text`, `integer`, `number` (integers
accepted), `boolean`, `date` and `timestamp` (ISO-8601 text accepted, with or
without an offset; staging converts it to UTC). `_loader_id` (a row id from the loader) and `_loaded_at` (when it
landed) are optional everywhere: without them staging derives a row hash and the
build time. Load a CSV or Parquet file with `ferry load <source> FILE`.
"""


def _identifier_text(source: Source) -> str:
    parts = []
    for ident in source.identifiers:
        if ident.type == "customer_id":
            namespace = ident.namespace or source.source_system
            parts.append(
                f"customer id `{ident.column}` as `{namespace}:<id>` ({ident.kind or 'account_id'})"
            )
        else:
            parts.append(f"{ident.type.replace('_', ' ')} `{ident.column}`")
    return "; ".join(parts)


def _person_text(source: Source) -> str:
    names = []
    for item in source.person:
        names += [item] if isinstance(item, str) else [f"{k} <- `{v}`" for k, v in item.items()]
    return ", ".join(names)


def _section(source: Source) -> list[str]:
    lines = [f"## {source.name}", ""]
    if source.description:
        lines += [source.description, ""]
    if not source.is_record_source:
        landed_by = (
            "Landed by Ferry's own connectors (connectors/engagement_store.py owns the "
            f"raw tables); union rows from `{source.events_model}` and "
            f"`{source.identifiers_model}`."
        )
        lines += [
            landed_by,
            "",
            f"- event types: {', '.join(f'`{t}`' for t in source.event_types)}",
            "",
        ]
        return lines
    staging = f"`{source.model}`" if source.model else "generic (from this registry entry)"
    lines += [
        f"- raw table: `{source.relation}`; staging: {staging}",
        f"- record id: `{source.record_id}`; record time: `{source.record_time}`"
        + (f" (zone-less times in {source.time_zone})" if source.time_zone != "UTC" else ""),
    ]
    if source.identifiers:
        lines.append(f"- identifiers: {_identifier_text(source)}")
    if source.person:
        lines.append(f"- person attributes: {_person_text(source)}")
    if source.events:
        lines.append(f"- event types: {', '.join(f'`{t}`' for t in source.events.types)}")
    if source.consent:
        lines.append(
            "- consent: " + ", ".join(f"{ch} <- `{col}`" for ch, col in source.consent.items())
        )
    lines += ["", "| column | type | required |", "|---|---|---|"]
    for column in source.contract():
        required = (
            "no (derived when absent)"
            if column.name in LOADER_COLUMNS
            else ("no" if column.optional else "yes")
        )
        lines.append(f"| `{column.name}` | {column.family} | {required} |")
    return [*lines, ""]


def render(project: Path = DBT_PROJECT_DIR) -> str:
    registry = load_registry(project)
    lines = [HEADER]
    for source in registry.values():
        lines += _section(source)
    return "\n".join(lines).rstrip() + "\n"


def write(project: Path = DBT_PROJECT_DIR, path: Path = DOCS_PATH) -> bool:
    """Write the page; True when it changed."""
    text = render(project)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
