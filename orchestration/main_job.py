"""The whole loop: Dagster jobs for the UI and the phased run behind `ferry demo`.

Phases (each one Dagster run on the instance, so the UI shows their history):
1. warehouse: dbt build of staging -> identity -> profiles -> scores -> audiences,
   with dbt tests and the Great Expectations gates as asset checks;
2. syncs: every sync asset (each re-checks its audience's gate, then runs the engine);
3. engagement: pull engagement back from every tool into raw tables;
4. reporting: dbt build of everything the engagement feeds (engagement staging ->
   events, suppressions, scores, audiences) and the reporting models: the loop
   closes here, so the next sync already honours a STOP or a bounce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, define_asset_job
from dagster._core.execution.build_resources import wrap_resources_for_execution

from orchestration.assets.syncs import preview_check_keys

PHASES = ("warehouse", "syncs", "engagement", "reporting")


def build_main_jobs() -> list:
    return [
        define_asset_job(
            "ferry_main",
            selection=AssetSelection.all() - AssetSelection.checks(*preview_check_keys()),
            description="The whole loop: dbt build and checks, every sync, engagement pull-back, reporting.",
        )
    ]


def phase_keys(defs: Definitions) -> dict[str, list[AssetKey]]:
    """Asset keys of each phase, from the groups the translator and factories set.

    The reporting phase is not only the reporting group: every warehouse asset
    downstream of the engagement pull (staging of the tools' events, events,
    suppressions, scores, audiences) is rebuilt with it, or the pulled engagement
    would sit in raw tables that no mart reads until the next full build.
    """
    graph = defs.resolve_asset_graph()
    out: dict[str, list[AssetKey]] = {p: [] for p in PHASES}
    for key in sorted(graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        group = graph.get(key).group_name or ""
        if group.startswith("sync_to_"):
            out["syncs"].append(key)
        elif group == "engagement":
            out["engagement"].append(key)
        elif group == "reporting":
            out["reporting"].append(key)
        else:
            out["warehouse"].append(key)
    if out["engagement"]:
        fed = AssetSelection.assets(*out["engagement"]).downstream(include_self=False).resolve(graph)
        rebuilt = [k for k in out["warehouse"] if k in fed]
        out["reporting"] = sorted(set(out["reporting"]) | set(rebuilt), key=lambda k: k.to_user_string())
    return out


def execute_selection(
    defs: Definitions, instance: DagsterInstance, selection: AssetSelection, *, name: str = "ferry_adhoc",
    run_config: dict | None = None, tags: dict | None = None,
):
    """Run any asset/check selection of the definitions in this process (what the UI would launch)."""
    job = define_asset_job(name, selection=selection).resolve(
        asset_graph=defs.resolve_asset_graph(), resource_defs=wrap_resources_for_execution(defs.resources)
    )
    return job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config or {}, tags=tags or {}
    )


def _op_name(graph, key) -> str | None:
    assets_def = graph.assets_def_for_key(key)
    return assets_def.op.name if assets_def.is_executable else None


def _is_dbt_asset(graph, key: AssetKey) -> bool:
    return graph.get(key).is_materializable and _op_name(graph, key) == "ferry_dbt_models"


def _is_dbt_check(graph, check_key) -> bool:
    """dbt tests surface as asset checks computed by the dbt op itself."""
    return _op_name(graph, check_key) == "ferry_dbt_models"


@dataclass
class PhaseResult:
    phase: str
    success: bool
    materialized: dict[AssetKey, dict[str, Any]] = field(default_factory=dict)  # key -> metadata values
    failures: dict[str, str] = field(default_factory=dict)  # step -> error message
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (check, passed, description)


def run_phase(
    defs: Definitions, instance: DagsterInstance, phase: str, keys: list[AssetKey], *, dbt_tests: bool = True,
    log_level: str = "CRITICAL",
) -> PhaseResult:
    """Materialize `keys` (and their checks) in one in-process run; never raises for step failures.

    ``dbt_tests=False`` skips dbt's own tests (the Great Expectations gates still
    run): test fixtures use it to keep a full build within their time budget.
    """
    if not keys:
        return PhaseResult(phase, True)
    graph = defs.resolve_asset_graph()
    run_config: dict = {}
    # Previews are run by hand from a sync's page; a phase syncs for real.
    selection = AssetSelection.assets(*keys) - AssetSelection.checks(*preview_check_keys())
    if not dbt_tests:
        run_config = {"ops": {"ferry_dbt_models": {"config": {"skip_tests": True}}}}
        wanted = set(keys)
        checks = [k for k in graph.asset_check_keys if k.asset_key in wanted and not _is_dbt_check(graph, k)]
        selection = selection.without_checks() | AssetSelection.checks(*checks)
    selected_dbt = any(graph.get(k).is_materializable and _is_dbt_asset(graph, k) for k in keys)
    run_config = dict(run_config if selected_dbt else {})
    # The phase summary says what failed and why; Dagster's own console log stays quiet.
    run_config["loggers"] = {"console": {"config": {"log_level": log_level}}}
    result = execute_selection(
        defs, instance, selection, name=f"ferry_{phase}", run_config=run_config,
        tags={"ferry/phase": phase, "ferry/trigger": "ferry demo"},
    )
    out = PhaseResult(phase, result.success)
    for event in result.all_events:
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            out.materialized[mat.asset_key] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        elif kind == "STEP_FAILURE":
            error = event.event_specific_data.error
            out.failures[event.step_key or "?"] = error.message.strip() if error else "failed"
        elif kind == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            out.checks.append((f"{ev.asset_key.to_user_string()}:{ev.check_name}", ev.passed,
                               ev.description or ""))
    return out
