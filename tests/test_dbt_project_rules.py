"""dbt-project-evaluator's documentation, structure and governance rules, read
from Ferry's dbt manifest (`make dbt-rules` runs this file on its own).

Why not the package itself: dbt-project-evaluator is a dbt hub package that
needs dbt_utils, and no hub package is reachable here (packages.yml may only
use `local:`), nor is either on PyPI. So the rules that matter for Ferry's
public interface are checked here, one test per rule, named after the
evaluator's model (`fct_...`) so its documentation explains each one:
https://dbt-labs.github.io/dbt-project-evaluator/latest/rules/

Deliberate differences from the evaluator, each from STYLE.md:
- marts are named in plain English (`customer_profiles`), not `fct_`/`dim_`;
  every layer is told by its folder, and the folder by the name's prefix.
- audiences (`aud_`, built in their own schema) are a layer between marts and
  reporting (`rpt_`): the sync engine reads them, reports may read them.

The manifest says what the YAML declares. Whether the YAML covers every column a
model really builds is checked against the built sample warehouse
(`test_every_built_column_is_described`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import pytest

from orchestration.assets.dbt_project import load_manifest
from orchestration.paths import DBT_PROJECT_DIR

# The project's layers, upstream first: a model reads only its own layer or earlier ones.
LAYERS = ("staging", "intermediate", "marts", "audiences", "reporting")
# The name prefix each layer's models carry (marts: plain English, so none of these).
PREFIXES = {"staging": "stg_", "intermediate": "int_", "audiences": "aud_", "reporting": "rpt_"}
# Models under audiences/ that are not an audience but its history (no aud_ prefix).
AUDIENCE_HISTORY = ("audience_membership_history", "audience_size_history")
# Where every column must be described: the public interface and what marketers read.
DESCRIBED_LAYERS = ("marts", "audiences", "reporting")
# Shared doc blocks (models/_ferry__docs.md) a column of that name must use, so
# `profile_id` and its kin read the same in every model.
SHARED_DOCS = ("profile_id", "old_profile_id")

Manifest = dict[str, Any]
Node = dict[str, Any]


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest()


def _models(manifest: Manifest) -> Iterator[Node]:
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["config"].get("enabled", True):
            yield node


def _layer(node: Node) -> str:
    """The first folder under models/ (fqn: [project, folder, ..., name])."""
    return node["fqn"][1]


def _yaml_path(node: Node) -> str:
    return (node.get("patch_path") or "").split("://", 1)[-1]


def _where(node: Node) -> str:
    return f"{node['name']} ({_yaml_path(node) or node['original_file_path']})"


def _parents(manifest: Manifest, node: Node, kind: str) -> list[str]:
    return [p for p in node["depends_on"]["nodes"] if p.startswith(f"{kind}.")]


# --- documentation -------------------------------------------------------------


def test_fct_undocumented_models(manifest: Manifest) -> None:
    """Every model says what it is."""
    found = [_where(n) for n in _models(manifest) if not n["description"].strip()]
    assert not found, "models without a description:\n" + "\n".join(found)


def test_fct_undocumented_sources(manifest: Manifest) -> None:
    """Every source and source table says what it holds."""
    found = sorted(
        {
            s["source_name"]
            for s in manifest["sources"].values()
            if not s["source_description"].strip()
        }
        | {s["unique_id"] for s in manifest["sources"].values() if not s["description"].strip()}
    )
    assert not found, "sources without a description:\n" + "\n".join(found)


def test_every_declared_column_of_marts_audiences_and_reports_is_described(
    manifest: Manifest,
) -> None:
    """The evaluator asks it of public models (fct_undocumented_public_models); Ferry
    asks it of every mart, score, audience and report, which marketers read too."""
    found = [
        f"{_where(n)}: {column}"
        for n in _models(manifest)
        if _layer(n) in DESCRIBED_LAYERS
        for column, spec in n["columns"].items()
        if not spec.get("description", "").strip()
    ]
    assert not found, "columns without a description:\n" + "\n".join(found)


def test_shared_columns_use_the_shared_doc_block(manifest: Manifest) -> None:
    """A `profile_id` means one thing everywhere, so it is described once."""
    texts = {
        name: manifest["docs"][f"doc.ferry.{name}"]["block_contents"].strip()
        for name in SHARED_DOCS
    }
    found = [
        f"{_where(n)}: {column} (use {{{{ doc('{column}') }}}})"
        for n in _models(manifest)
        if _layer(n) in DESCRIBED_LAYERS
        for column, spec in n["columns"].items()
        # the block, then what this model adds (customer_events: when it is null)
        if column in texts and not spec.get("description", "").strip().startswith(texts[column])
    ]
    assert not found, "columns that do not use their shared doc block:\n" + "\n".join(found)


# --- governance ----------------------------------------------------------------


def _public(manifest: Manifest) -> list[Node]:
    return [n for n in _models(manifest) if n.get("access") == "public"]


def test_the_public_marts_are_public(manifest: Manifest) -> None:
    """The README's public contract, declared: a consumer outside Ferry may ref these."""
    public = {n["name"] for n in _public(manifest)}
    assert {
        "customer_profiles",
        "customer_identifiers",
        "customer_events",
        "profile_id_aliases",
    } <= public


def test_fct_public_models_without_contract(manifest: Manifest) -> None:
    found = [
        _where(n) for n in _public(manifest) if not n["config"].get("contract", {}).get("enforced")
    ]
    assert not found, "public models without an enforced contract:\n" + "\n".join(found)


def test_fct_undocumented_public_models(manifest: Manifest) -> None:
    """A public model and each of its columns described (and typed: the contract)."""
    found = [
        f"{_where(n)}: {column}"
        for n in _public(manifest)
        for column, spec in {"(model)": {"description": n["description"], "data_type": "-"},
                             **n["columns"]}.items()
        if not spec.get("description", "").strip() or not spec.get("data_type")
    ]  # fmt: skip
    assert not found, "public model parts without a description or data type:\n" + "\n".join(found)


def test_every_sync_is_an_exposure_of_an_audience(manifest: Manifest) -> None:
    """Lineage shows where each audience goes: one exposure per sync, on an audience."""
    exposures = list(manifest["exposures"].values())
    assert exposures
    found = [
        f"{e['name']} depends on {parent}"
        for e in exposures
        for parent in e["depends_on"]["nodes"]
        if _layer(manifest["nodes"][parent]) != "audiences"
    ]
    assert not found, "exposures on something other than an audience:\n" + "\n".join(found)


# --- structure -----------------------------------------------------------------


def test_fct_model_naming_conventions(manifest: Manifest) -> None:
    """A model's prefix says its layer, and its layer is its folder."""
    found = []
    for n in _models(manifest):
        layer, name = _layer(n), n["name"]
        named_for = [lay for lay, prefix in PREFIXES.items() if name.startswith(prefix)]
        if layer == "audiences" and name in AUDIENCE_HISTORY:
            continue
        expected = PREFIXES.get(layer)
        if (expected and not name.startswith(expected)) or (not expected and named_for):
            found.append(f"{_where(n)}: in {layer}/, named for {named_for or ['marts']}")
    assert not found, "models whose name and folder disagree:\n" + "\n".join(found)


def test_fct_model_directories(manifest: Manifest) -> None:
    """Staging models sit in the folder of their source; every model builds into the
    schema of its layer (a mart in intermediate/ built into marts is misfiled)."""
    found = []
    for n in _models(manifest):
        layer = _layer(n)
        if layer not in LAYERS:
            found.append(f"{_where(n)}: under models/{layer}, not one of {LAYERS}")
            continue
        if n["config"].get("schema") != layer:
            found.append(
                f"{_where(n)}: in {layer}/ but built into schema {n['config'].get('schema')}"
            )
        if layer == "staging":
            folder = PurePosixPath(n["original_file_path"]).parent.name
            source = n["name"].removeprefix("stg_").split("__", 1)[0]
            if folder != source:
                found.append(f"{_where(n)}: staging model of source {source} in folder {folder}")
    assert not found, "models in the wrong place:\n" + "\n".join(found)


def test_fct_test_directories(manifest: Manifest) -> None:
    """A model's YAML (description, columns, tests) lives beside its SQL."""
    found = [
        f"{_where(n)}: SQL in {PurePosixPath(n['original_file_path']).parent}"
        for n in _models(manifest)
        if _yaml_path(n)
        and PurePosixPath(_yaml_path(n)).parent != PurePosixPath(n["original_file_path"]).parent
    ]
    assert not found, "model YAML away from the model:\n" + "\n".join(found)


def test_fct_staging_dependent_on_staging(manifest: Manifest) -> None:
    """Staging reads sources only (fct_staging_dependent_on_staging and
    fct_staging_dependent_on_marts_or_intermediate): the engagement models that read
    staging belong in intermediate."""
    found = [
        f"{_where(n)} reads {parent}"
        for n in _models(manifest)
        if _layer(n) == "staging"
        for parent in _parents(manifest, n, "model")
    ]
    assert not found, "staging models reading other models:\n" + "\n".join(found)


def test_fct_marts_or_intermediate_dependent_on_source(manifest: Manifest) -> None:
    """Only staging calls source() (also fct_direct_join_to_source)."""
    found = [
        f"{_where(n)} reads {parent}"
        for n in _models(manifest)
        if _layer(n) != "staging"
        for parent in _parents(manifest, n, "source")
    ]
    assert not found, "models past staging reading a source:\n" + "\n".join(found)


def test_models_read_only_upstream_layers(manifest: Manifest) -> None:
    """staging -> intermediate -> marts -> audiences -> reporting, never back."""
    found = []
    for n in _models(manifest):
        for parent in _parents(manifest, n, "model"):
            upstream = _layer(manifest["nodes"][parent])
            if LAYERS.index(upstream) > LAYERS.index(_layer(n)):
                found.append(f"{_where(n)} ({_layer(n)}) reads {parent} ({upstream})")
    assert not found, "models reading a later layer:\n" + "\n".join(found)


def test_fct_root_models(manifest: Manifest) -> None:
    """Every model traces back to a source, a seed or another model."""
    found = [_where(n) for n in _models(manifest) if not n["depends_on"]["nodes"]]
    assert not found, "models with no parent:\n" + "\n".join(found)


def test_fct_missing_primary_key_tests(manifest: Manifest) -> None:
    """Every model has a primary-key test: unique on a column, a unique combination,
    or a primary_key constraint of its contract."""
    keyed: set[str] = set()
    for node in manifest["nodes"].values():
        name = (node.get("test_metadata") or {}).get("name", "")
        if node["resource_type"] == "test" and "unique" in name:
            keyed.update(node["depends_on"]["nodes"])
    found = []
    for n in _models(manifest):
        constraints = [*n.get("constraints", []),
                       *(c for col in n["columns"].values() for c in col.get("constraints", []))]  # fmt: skip
        if n["unique_id"] not in keyed and not any(c["type"] == "primary_key" for c in constraints):
            found.append(_where(n))
    assert not found, "models without a primary-key test:\n" + "\n".join(found)


# --- the YAML against what is built ----------------------------------------------


def _build_reporting(warehouse: Path, work: Path) -> None:
    """The sample warehouse stops before reporting: build those few models on a copy."""
    env = {
        **os.environ,
        "FERRY_DUCKDB_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [str(Path(sys.executable).with_name("dbt")), "run", "--quiet",
           "--select", "path:models/reporting",
           "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (
        f"dbt run of reporting failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    )


def test_every_built_column_is_described(
    manifest: Manifest, sample_warehouse_build: tuple[Path, dict], tmp_path: Path
) -> None:
    """Each column a mart, score, audience or report really has is declared in its
    YAML (and so described, by the test above): the manifest alone cannot tell a
    column the YAML forgot."""
    built, info = sample_warehouse_build
    assert info["success"], f"sample warehouse build failed: {info['failures']}"
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built, warehouse)
    _build_reporting(warehouse, tmp_path)
    found, checked = [], 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for n in _models(manifest):
            if _layer(n) not in DESCRIBED_LAYERS:
                continue
            rows = con.execute(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ?",
                [n["schema"], n["alias"]],
            ).fetchall()
            assert rows, f"{_where(n)} was not built into {n['schema']}.{n['alias']}"
            checked += 1
            declared = {c.lower() for c in n["columns"]}
            found += [f"{_where(n)}: {c}" for (c,) in rows if c.lower() not in declared]
    assert checked >= 30
    assert not found, "built columns the YAML does not declare (nor describe):\n" + "\n".join(found)


# --- the rules catch what they are for ---------------------------------------------


def _node(name: str, path: str, schema: str, parents: tuple[str, ...] = (), **extra: Any) -> Node:
    folders = PurePosixPath(path).parts[1:-1]
    return {
        "unique_id": f"model.ferry.{name}", "name": name, "resource_type": "model",
        "fqn": ["ferry", *folders, name], "original_file_path": path,
        "patch_path": f"ferry://{PurePosixPath(path).parent}/_models.yml",
        "description": "A model.", "config": {"enabled": True, "schema": schema},
        "depends_on": {"nodes": list(parents)}, "columns": {}, "schema": schema, "alias": name,
        **extra,
    }  # fmt: skip


def _sound() -> Manifest:
    stg = _node("stg_shop__orders", "models/staging/shop/stg_shop__orders.sql", "staging",
                ("source.ferry.shop.orders",))  # fmt: skip
    mart = _node(
        "customer_orders", "models/marts/core/customer_orders.sql", "marts", (stg["unique_id"],)
    )
    return {
        "nodes": {n["unique_id"]: n for n in (stg, mart)},
        "sources": {},
        "exposures": {},
        "docs": {},
    }


def _misfiled_mart(m: Manifest) -> None:
    node = m["nodes"]["model.ferry.customer_orders"]
    node.update(fqn=["ferry", "intermediate", "customer_orders"],
                original_file_path="models/intermediate/customer_orders.sql",
                patch_path="ferry://models/intermediate/_models.yml")  # fmt: skip


def _staging_on_staging(m: Manifest) -> None:
    other = _node("stg_shop__lines", "models/staging/shop/stg_shop__lines.sql", "staging",
                  ("model.ferry.stg_shop__orders",))  # fmt: skip
    m["nodes"][other["unique_id"]] = other


def _public_without_contract(m: Manifest) -> None:
    m["nodes"]["model.ferry.customer_orders"]["access"] = "public"


def _undescribed_column(m: Manifest) -> None:
    m["nodes"]["model.ferry.customer_orders"]["columns"] = {"order_id": {"description": ""}}


@pytest.mark.parametrize(
    ("fault", "rule"),
    [
        (_misfiled_mart, test_fct_model_directories),
        (_misfiled_mart, test_fct_model_naming_conventions),
        (_staging_on_staging, test_fct_staging_dependent_on_staging),
        (_public_without_contract, test_fct_public_models_without_contract),
        (
            _undescribed_column,
            test_every_declared_column_of_marts_audiences_and_reports_is_described,
        ),
    ],
    ids=[
        "misfiled mart (directories)",
        "misfiled mart (naming)",
        "staging on staging",
        "public without contract",
        "undescribed column",
    ],  # fmt: skip
)
def test_a_rule_reports_its_fault(fault, rule) -> None:
    manifest = _sound()
    rule(manifest)  # the sound project passes
    fault(manifest)
    with pytest.raises(AssertionError):
        rule(manifest)
