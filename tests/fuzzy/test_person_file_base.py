"""The base warehouse of person-file builds: built once per project version.

`ferry fuzzy evaluate-file` copies a cached warehouse holding the nodes that never
read the file, and builds only the others (test_one_matching_path checks that the
clusters are those of a full build). Here: the cache is keyed by everything the
build depends on besides the data, reused while that holds, and rebuilt (old copy
dropped) when it does not, or when the project changes during the build, or when the
cached file cannot be opened; two evaluations at once never copy a base the other is
dropping. A tiny stand-in project and build keep this fast; the build callable is
what dbt_build would run, writing a real DuckDB file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.person_file_base import (
    FILE_SOURCE,
    copy_base,
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


def _built(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute(
            "select count(*) from information_schema.schemata where schema_name = 'raw'"
        ).fetchone() == (1,)
        return con.execute("select built from staging.stg_empty").fetchone()[0]


def _db(root: Path, name: str) -> Path:
    """Where an evaluation's scratch warehouse lives (its folder exists, as in a build)."""
    (root / name).mkdir(exist_ok=True)
    return root / name / "person_file.duckdb"


def _bases(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.base-*"))


def test_the_base_is_built_once_per_project_version(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    cache, build = tmp_path / "cache", _Build()
    select = ("+customer_identifiers",)

    assert copy_base(_db(tmp_path, "one"), select, cache, project, build) is False
    assert build.calls == [(select, (FILE_SOURCE,))]
    assert _built(_db(tmp_path, "one")) == 1
    [base] = _bases(cache)

    assert copy_base(_db(tmp_path, "two"), select, cache, project, build)
    assert len(build.calls) == 1 and _built(_db(tmp_path, "two")) == 1

    (project / "models" / "a.sql").write_text("select 2 as a\n")
    assert not copy_base(_db(tmp_path, "three"), select, cache, project, build)
    assert len(build.calls) == 2
    assert not base.exists() and len(_bases(cache)) == 1  # the stale copy is dropped


def test_a_failed_base_build_leaves_no_cache(tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    cache = tmp_path / "cache"

    def failing(database: Path, workdir: Path, select, exclude) -> None:
        raise RuntimeError("dbt build of +customer_identifiers failed")

    with pytest.raises(RuntimeError, match="failed"):
        copy_base(_db(tmp_path, "x"), ("+x",), cache, project, failing)
    assert _bases(cache) == []


def test_a_project_changed_during_the_build_is_not_cached(tmp_path: Path) -> None:
    """A branch switch or a steward's save while dbt builds: that base serves this run,
    and is never found later under the key of the version before."""
    project, cache = _project(tmp_path / "p"), tmp_path / "cache"
    build = _Build()

    def changing(database: Path, workdir: Path, select, exclude) -> None:
        build(database, workdir, select, exclude)
        (project / "models" / "a.sql").write_text("select 3 as a\n")

    assert not copy_base(_db(tmp_path, "a"), ("+x",), cache, project, changing)
    assert _built(_db(tmp_path, "a")) == 1 and _bases(cache) == []
    assert not copy_base(_db(tmp_path, "b"), ("+x",), cache, project, build)
    assert len(build.calls) == 2 and len(_bases(cache)) == 1


def test_a_base_that_cannot_be_opened_is_rebuilt(tmp_path: Path) -> None:
    project, cache, build = _project(tmp_path / "p"), tmp_path / "cache", _Build()
    copy_base(_db(tmp_path, "a"), ("+x",), cache, project, build)
    [base] = _bases(cache)
    base.write_bytes(b"not a duckdb file" * 100)

    assert not copy_base(_db(tmp_path, "b"), ("+x",), cache, project, build)
    assert len(build.calls) == 2 and _built(_db(tmp_path, "b")) == 1


def test_an_evaluation_never_copies_a_base_another_is_dropping(tmp_path: Path) -> None:
    """Two evaluations of different project versions at once (two checkouts sharing
    FERRY_HOME): the other's build drops this version's base when it finishes; this
    evaluation, started while that build runs, still gets a whole copy (rebuilt), never
    a missing file."""
    project, cache = _project(tmp_path / "p"), tmp_path / "cache"
    checkout = _project(tmp_path / "checkout")
    build = _Build()
    copy_base(_db(tmp_path, "warm"), ("+x",), cache, project, build)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def blocking(database: Path, workdir: Path, select, exclude) -> None:
        build(database, workdir, select, exclude)
        inside.set()
        release.wait()

    other = threading.Thread(
        target=copy_base, args=(_db(tmp_path, "other"), ("+x",), cache, checkout, blocking)
    )
    other.start()
    inside.wait()  # the other evaluation holds the lock, its build under way

    def first() -> None:
        try:
            copy_base(_db(tmp_path, "first"), ("+x",), cache, project, build)
        except BaseException as exc:  # reported below
            errors.append(exc)

    mine = threading.Thread(target=first)
    mine.start()
    release.set()
    other.join()
    mine.join()
    assert errors == []
    assert _built(_db(tmp_path, "first")) == 1 and len(build.calls) == 3


def test_the_fingerprint_sees_what_dbt_reads(tmp_path: Path, monkeypatch) -> None:
    """Folders named like dbt's output below the top, symlinked folders, installed
    packages and computed env_var names are inputs too."""
    project = _project(tmp_path / "p")
    (project / "models" / "logs").mkdir()
    (project / "models" / "logs" / "stg_logs.sql").write_text("select 1\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "m.sql").write_text("select 1\n")
    (project / "models" / "shared").symlink_to(shared, target_is_directory=True)
    (project / "dbt_packages" / "pkg" / "macros").mkdir(parents=True)
    (project / "dbt_packages" / "pkg" / "macros" / "x.sql").write_text(
        "{% macro x() %}1{% endmacro %}"
    )
    (project / "models" / "region.sql").write_text(
        "select '{{ env_var('FERRY_' ~ 'REGION', 'eu') }}'\n"
    )
    monkeypatch.delenv("FERRY_REGION", raising=False)
    first = project_fingerprint(project)

    for path in (
        project / "models" / "logs" / "stg_logs.sql",
        shared / "m.sql",
        project / "dbt_packages" / "pkg" / "macros" / "x.sql",
    ):
        path.write_text(path.read_text() + "-- changed\n")
        assert project_fingerprint(project) != first, path
        path.write_text(path.read_text().removesuffix("-- changed\n"))
        assert project_fingerprint(project) == first
    monkeypatch.setenv("FERRY_REGION", "us")
    assert project_fingerprint(project) != first


def test_each_evaluation_builds_the_nodes_that_read_the_file() -> None:
    assert file_nodes(("+customer_identifiers", "+fuzzy_review_queue")) == (
        "source:crm.contacts+,+customer_identifiers",
        "source:crm.contacts+,+fuzzy_review_queue",
    )
