"""Sync declarations that did not load, shown where a marketer looks: on their audience.

Why a check and not an exception: one bad `meta.ferry` block or destination
option used to stop every sync and the whole code location. Now the other syncs
load, the loader logs the problem, `ferry sync list` prints it, and the audience
that declared it carries a failed check whose description names the file and key.
"""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from orchestration.assets.catalog import load_sync_errors, model_relation


def _check_for(model: str, messages: list[str]) -> AssetChecksDefinition | None:
    found = model_relation(model)
    if found is None:
        return None
    text = "\n".join(f"- {m}" for m in messages)

    @asset_check(
        asset=found[0],
        name="sync_declarations_valid",
        description=f"Sync declarations of {model} that did not load (fix the YAML):\n{text}",
        blocking=False,
    )
    def _declarations() -> AssetCheckResult:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=f"{len(messages)} sync declaration(s) of {model} did not load",
            metadata={"errors": MetadataValue.md(text)},
        )

    return _declarations


def build_sync_declaration_checks() -> list[AssetChecksDefinition]:
    by_model: dict[str, list[str]] = {}
    for model, message in load_sync_errors().values():
        if model is not None:
            by_model.setdefault(model, []).append(message)
    checks = [_check_for(model, messages) for model, messages in sorted(by_model.items())]
    return [c for c in checks if c is not None]
