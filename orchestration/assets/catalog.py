"""What the manifest says to orchestrate: audiences, their syncs and their relations.

Sync declarations are read and validated by the sync engine's own loader
(``syncs.config.load_syncs``) so Dagster and ``ferry sync`` can never disagree
about what a sync is. This module adds what the UI needs on top: the
audience's description, its asset key and its check settings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from dagster import AssetKey

from orchestration.assets.dbt import TRANSLATOR
from orchestration.assets.dbt_project import ferry_dbt_project, load_manifest
from orchestration.paths import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

DESTINATIONS_FILE = Path(os.environ.get("FERRY_DESTINATIONS_FILE", DBT_PROJECT_DIR / "destinations.yml"))
DEFAULT_MAX_SIZE_CHANGE = 0.5  # share of the last synced size
DEFAULT_MIN_CHANGE_ROWS = 10  # tiny audiences may always move this much


@dataclass(frozen=True)
class AudienceChecksConfig:
    """``config.meta.ferry_checks`` of an audience model (optional).

    Kept beside ``meta.ferry`` rather than inside it because the sync engine
    validates ``meta.ferry`` strictly and these settings are the gate's, not the sync's.
    """

    max_size_change: float = DEFAULT_MAX_SIZE_CHANGE
    min_change_rows: int = DEFAULT_MIN_CHANGE_ROWS


@dataclass(frozen=True)
class Audience:
    name: str
    description: str
    asset_key: AssetKey
    schema_name: str
    table: str
    key: str
    channel: str
    checks: AudienceChecksConfig
    syncs: tuple[Any, ...] = field(default_factory=tuple)  # syncs.config.SyncConfig

    @property
    def relation(self) -> str:
        return f"{self.schema_name}.{self.table}"

    @property
    def title(self) -> str:
        """'aud_win_back' -> 'Win back', 'aud_nps_detractors' -> 'NPS detractors'."""
        from orchestration.assets.marketer_words import audience_title

        return audience_title(self.name)


def _checks_config(node: dict[str, Any]) -> AudienceChecksConfig:
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    raw = meta.get("ferry_checks") or {}
    default_share = float(os.environ.get("FERRY_MAX_AUDIENCE_SIZE_CHANGE", DEFAULT_MAX_SIZE_CHANGE))
    try:
        return AudienceChecksConfig(
            max_size_change=float(raw.get("max_size_change", default_share)),
            min_change_rows=int(raw.get("min_change_rows", DEFAULT_MIN_CHANGE_ROWS)),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model {node.get('name')}: meta.ferry_checks: {exc}") from None


@lru_cache(maxsize=1)
def _sync_declarations() -> tuple[tuple[Any, ...], dict[str, str], dict[str, str]]:
    """(valid syncs, error key -> message, error key -> model): see syncs.config.SyncLoad.

    One bad `meta.ferry` block or destination costs only its own syncs: the code
    location loads with the others, and each problem is logged here, listed by
    `ferry sync list` and shown as a failed check on its audience.
    """
    if not DESTINATIONS_FILE.exists():
        log.warning("%s not found: no sync assets", DESTINATIONS_FILE)
        return (), {}, {}
    from syncs.config import SyncConfigError, load_sync_declarations

    try:
        loaded = load_sync_declarations(ferry_dbt_project().manifest_path, DESTINATIONS_FILE)
    except SyncConfigError as exc:  # nothing readable: no syncs, one error
        log.error("no sync loaded: %s", exc)
        return (), {str(DESTINATIONS_FILE.name): str(exc)}, {}
    for message in loaded.errors.values():
        log.warning("sync not loaded: %s", message)
    return tuple(loaded.syncs), dict(loaded.errors), dict(loaded.error_models)


def load_sync_configs() -> tuple[Any, ...]:
    """Every valid declared sync (validated by the sync engine's own loader)."""
    return _sync_declarations()[0]


def load_sync_errors() -> dict[str, tuple[str | None, str]]:
    """Declarations that did not load: error key -> (the model declaring it, or None; message)."""
    _, errors, models = _sync_declarations()
    return {key: (models.get(key), message) for key, message in errors.items()}


def _model_nodes(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        node["name"]: node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
    }


@lru_cache(maxsize=1)
def load_audiences() -> tuple[Audience, ...]:
    """Audiences that have at least one sync, in name order."""
    manifest = load_manifest()
    nodes = _model_nodes(manifest)
    by_audience: dict[str, list[Any]] = {}
    for sync in load_sync_configs():
        by_audience.setdefault(sync.audience, []).append(sync)
    out = []
    for name in sorted(by_audience):
        node = nodes[name]
        first = by_audience[name][0]
        out.append(
            Audience(
                name=name,
                description=(node.get("description") or "").strip(),
                asset_key=TRANSLATOR.get_asset_key(node),
                schema_name=first.schema_name,
                table=first.table,
                key=first.key,
                channel=first.channel,
                checks=_checks_config(node),
                syncs=tuple(by_audience[name]),
            )
        )
    return tuple(out)


def model_relation(name: str) -> tuple[AssetKey, str] | None:
    """(asset key, schema.table) of a dbt model by name, or None if the project has no such model."""
    node = _model_nodes(load_manifest()).get(name)
    if node is None:
        return None
    return TRANSLATOR.get_asset_key(node), f"{node.get('schema')}.{node.get('alias') or name}"
