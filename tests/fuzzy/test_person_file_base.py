"""The base warehouse of person-file builds: built once per project version.

`ferry fuzzy evaluate-file` copies a cached warehouse holding the nodes that never
read the file, and builds only the others (test_one_matching_path checks that the
clusters are those of a full build). Here: the cache is keyed by everything the
build depends on besides the data, reused while that holds, and rebuilt (old copy
dropped) when it does not. A tiny stand-in project and build keep this fast; the
build callable is what dbt_build would run, writing a real DuckDB file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.person_file_base import (
    FILE_SOURCE,
    base_warehouse,
    file_nodes,
    project_fingerprint,
)


def _project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: p\nvars:\n  x: \"{{ env_var('FERRY_TEST_X', '1') }}\"\n"
    )
    (root / "models" / "a.sql").write_text("select 1 as a\n")
    return root


class _Build:
    """Records each build and leaves a table in the database, as dbt would."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], tuple[str, ...]]] = []

    def __call__(
        self, database: Path, workdir: Path, select: tuple[str, ...], exclude: tuple[str, ...]
    ) -> None:
        self.calls.append((select, exclude))
        with duckdb.connect(str(database)) as con:
            con.execute("create schema if not exists staging")
            con.execute("create table staging.stg_empty as select 1 as built")


def test_the_fingerprint_follows_inputs_not_outputs(tmp_path: Path, monkeypatch) -> None:
    project = _project(tmp_path / "p")
    monkeypatch.delenv("FERRY_TEST_X", raising=False)
    first = project_fingerprint(project)

    # dbt's own output and local state are not inputs
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.log").write_text("x")
    (project / "warehouse.duckdb").write_bytes(b"x")
    assert project_fingerprint(project) == first

    # an environment variable the project reads is an input
    monkeypatch.setenv("FERRY_TEST_X", "2")
    assert project_fingerprint(project) != first
    monkeypatch.delenv("FERRY_TEST_X")
    assert project_fingerprint(project) == first

    # so is every model, macro or seed
    (project / "models" / "a.sql").write_text("select 2 as a\n")
    assert project_fingerprint(project) != first


def test_the_base_is_built_once_per_project_version(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    cache, build = tmp_path / "cache", _Build()
    select = ("+customer_identifiers",)

    base = base_warehouse("person_file", select, cache, project, build)
    assert build.calls == [(select, (FILE_SOURCE,))]
    with duckdb.connect(str(base), read_only=True) as con:
        assert con.execute("select built from staging.stg_empty").fetchone() == (1,)
        assert con.execute(
            "select count(*) from information_schema.schemata where schema_name = 'raw'"
        ).fetchone() == (1,)

    assert base_warehouse("person_file", select, cache, project, build) == base
    assert len(build.calls) == 1  # reused

    (project / "models" / "a.sql").write_text("select 2 as a\n")
    rebuilt = base_warehouse("person_file", select, cache, project, build)
    assert rebuilt != base and rebuilt.is_file() and len(build.calls) == 2
    assert not base.exists()  # the stale copy is dropped
    assert sorted(p.name for p in cache.iterdir()) == [rebuilt.name]


def test_a_failed_base_build_leaves_no_cache(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    cache = tmp_path / "cache"

    def failing(database: Path, workdir: Path, select, exclude) -> None:
        raise RuntimeError("dbt build of +customer_identifiers failed")

    with pytest.raises(RuntimeError, match="failed"):
        base_warehouse("person_file", ("+customer_identifiers",), cache, project, failing)
    assert list(cache.glob("*.duckdb")) == []


def test_each_evaluation_builds_the_nodes_that_read_the_file() -> None:
    assert file_nodes(("+customer_identifiers", "+fuzzy_review_queue")) == (
        "source:crm.contacts+,+customer_identifiers",
        "source:crm.contacts+,+fuzzy_review_queue",
    )
