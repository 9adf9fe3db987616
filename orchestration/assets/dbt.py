"""dbt models as Dagster assets, grouped the way a marketer reads the pipeline.

Groups follow the dbt folder path: staging, identity, profiles, scores,
audiences, reporting. Keys are ``<group>/<model>`` for models and
``raw/<table>`` for sources, so the engagement pull assets (which land
``raw.<tool>_<entity>``) connect to the dbt sources that read them.
"""


from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Config, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.assets.dbt_project import ferry_dbt_project
from orchestration.resources import WarehouseResource

GROUPS = ("staging", "identity", "profiles", "scores", "audiences", "reporting")
MARKETER_GROUPS = frozenset({"profiles", "scores", "audiences", "reporting"})

# Folder names that mean one of the groups above.
_FOLDER_ALIASES = {
    "identity": "identity",
    "identities": "identity",
    "identity_resolution": "identity",
    "matching": "identity",
    "profiles": "profiles",
    "customers": "profiles",
    "core": "profiles",
    "scores": "scores",
    "traits": "scores",
    "consent": "scores",
    "pressure": "scores",
    "suppression": "scores",
    "suppressions": "scores",
    "engagement": "reporting",
    "reporting": "reporting",
    "reports": "reporting",
    "audiences": "audiences",
    "staging": "staging",
}
_TOP_FOLDER_DEFAULT = {"staging": "staging", "intermediate": "identity", "marts": "profiles"}
_PROFILE_MARTS = {"customer_profiles", "customer_identifiers", "customer_events", "profile_id_aliases"}


def group_for(dbt_resource_props: Mapping[str, Any]) -> str:
    """Pick the marketer-facing group of a dbt node from its folder path."""
    meta = (dbt_resource_props.get("config") or {}).get("meta") or dbt_resource_props.get("meta") or {}
    explicit = (meta.get("dagster") or {}).get("group")
    if explicit:
        return explicit
    if dbt_resource_props.get("resource_type") == "source":
        return "raw"
    fqn = list(dbt_resource_props.get("fqn") or [])
    folders = fqn[1:-1]  # drop project name and model name
    if dbt_resource_props.get("name") in _PROFILE_MARTS:
        return "profiles"
    # The most specific folder that names a group wins (marts/scores/... -> scores).
    for folder in reversed(folders):
        if folder in _FOLDER_ALIASES:
            return _FOLDER_ALIASES[folder]
    if folders:
        return _TOP_FOLDER_DEFAULT.get(folders[0], folders[0])
    return "profiles"


class FerryDbtTranslator(DagsterDbtTranslator):
    """Keys and groups from the dbt folder path; descriptions from the dbt docs."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props.get("resource_type") == "source":
            table = dbt_resource_props.get("identifier") or dbt_resource_props["name"]
            return AssetKey(["raw", table])
        return AssetKey([group_for(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return group_for(dbt_resource_props)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The groups marketers read (audiences, scores, profiles, reporting) show the dbt
        description only, not the SQL (with its dbt variables) that dagster-dbt appends by
        default; the engineers' groups (staging, identity) keep it."""
        if group_for(dbt_resource_props) in MARKETER_GROUPS:
            return (dbt_resource_props.get("description") or "").strip() or dbt_resource_props["name"]
        return super().get_description(dbt_resource_props)

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any):
        spec = super().get_asset_spec(manifest, unique_id, project)
        if unique_id.startswith("source."):
            # Sources are landed by the generator / an ELT tool / the engagement pulls.
            spec = spec.replace_attributes(group_name="raw")
        return spec


TRANSLATOR = FerryDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_code_references=False)
)

DBT_PROJECT = ferry_dbt_project()


def model_asset_key(model_name: str, manifest: Mapping[str, Any]) -> AssetKey:
    """The asset key of a dbt model by name (e.g. ``aud_win_back`` -> ``audiences/aud_win_back``)."""
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") in ("model", "seed", "snapshot") and node.get("name") == model_name:
            return TRANSLATOR.get_asset_key(node)
    raise KeyError(f"no dbt model named {model_name!r} in {DBT_PROJECT.manifest_path}")


class DbtBuildConfig(Config):
    """Launchpad options of the dbt build."""

    skip_tests: bool = False  # build models only (dbt tests and unit tests excluded), e.g. a quick rebuild
    full_refresh: bool = False  # rebuild incremental models from scratch


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="ferry_dbt_models",
    pool="warehouse",
)
def ferry_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    """Build the selected dbt models and run their tests (``dbt build``).

    Events from the first audience on are held until dbt exits; the audiences'
    materializations (and the campaign report's, with its figures) then carry what a marketer reads on the audience's page (size, change,
    consent, destinations, masked sample): the warehouse can only be read once
    dbt let go of it (DuckDB allows one writing process).
    """
    args = ["build"]
    if config.skip_tests:
        args += ["--exclude", "resource_type:test resource_type:unit_test"]
    if config.full_refresh:
        args.append("--full-refresh")
    invocation = dbt.cli(args, context=context)
    audiences = _audiences_by_key()
    campaigns = _campaign_key()
    held: list[Any] = []
    try:
        for event in invocation.stream():
            # From the first audience on, everything waits (Dagster wants a multi-asset's
            # outputs in dependency order, and models after an audience may read it).
            if held or _event_key(context, event) in audiences or _event_key(context, event) == campaigns:
                held.append(event)
            else:
                yield event
    finally:
        # If streaming fails (or the run is cancelled), never leave dbt holding the
        # warehouse: on DuckDB its file lock would block the syncs that follow.
        process = invocation.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except Exception:
                process.kill()
    yield from _with_facts(context, warehouse, held, audiences, campaigns)


def _audiences_by_key() -> dict[AssetKey, Any]:
    from orchestration.assets.catalog import load_audiences

    return {a.asset_key: a for a in load_audiences()}


def _event_key(context: AssetExecutionContext, event: Any) -> AssetKey | None:
    if isinstance(event, Output):
        return context.asset_key_for_output(event.output_name)
    return getattr(event, "asset_key", None)


def _campaign_key() -> AssetKey | None:
    from orchestration.assets.catalog import model_relation
    from orchestration.assets.engagement_facts import CAMPAIGN_MODEL

    found = model_relation(CAMPAIGN_MODEL)
    return found[0] if found else None


def _facts(context: AssetExecutionContext, conn: Any, key: AssetKey, audiences: dict[AssetKey, Any]) -> dict:
    from orchestration.assets.audience_facts import audience_facts, previous_row_count
    from orchestration.assets.catalog import model_relation
    from orchestration.assets.engagement_facts import CAMPAIGN_MODEL, campaign_facts

    if key in audiences:
        audience = audiences[key]
        return audience_facts(conn, audience, previous_row_count(context.instance, key))
    return campaign_facts(conn, model_relation(CAMPAIGN_MODEL)[1])


def _with_facts(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    held: list[Any],
    audiences: dict[AssetKey, Any],
    campaigns: AssetKey | None,
):
    """Yield the held events in their order; audiences and the campaign report carry their facts."""
    if not held:
        return
    with warehouse.connect() as conn:
        for event in held:
            key = _event_key(context, event) if isinstance(event, Output) else None
            if key is None or (key not in audiences and key != campaigns):
                yield event
                continue
            try:
                extra = _facts(context, conn, key, audiences)
            except Exception as exc:  # noqa: BLE001 - facts are for reading; the build itself succeeded
                context.log.warning(f"{key.to_user_string()}: could not read its figures ({type(exc).__name__}: {exc})")
                extra = {}
            yield event.with_metadata({**event.metadata, **extra})
