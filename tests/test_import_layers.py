"""The package layering, read from the source: imports go one way.

``orchestration -> syncs -> connectors``; ``identity`` and ``sample_data`` stand
apart. Every import statement counts, top-level or inside a function (a lazy
import is still a dependency). Read with ``ast``, so nothing is imported to
check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("orchestration", "syncs", "connectors", "identity", "sample_data")

# package -> top-level packages (first-party or not) it must never import
FORBIDDEN = {
    "identity": {"orchestration", "syncs", "connectors", "sample_data", "dagster"},
    "sample_data": {"orchestration", "syncs", "connectors", "identity", "dagster"},
    "syncs": {"orchestration", "dagster", "dagster_dbt"},
    "connectors": {"orchestration", "syncs", "dagster", "dagster_dbt"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:  # `from connectors.sendgrid import engagement`
                yield node.lineno, f"{base}.{alias.name}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_allows(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for module, path in _modules(package).items()
        for line, name in _imports(module, path)
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(sorted(set(wrong)))


def _graph(package: str) -> dict[str, set[str]]:
    """module -> modules of the same package it imports (a name that is not a
    module, like a class imported from one, resolves to its module)."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for _, name in _imports(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            # a module importing its own package's __init__ is not an edge of the cycle check
            if name and name != module and not module.startswith(name + "."):
                graph[module].add(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle if there is any (depth-first search, grey/black marks)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules_of_connectors() -> None:
    cycle = _cycle(_graph("connectors"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_a_cycle_and_a_relative_import(tmp_path: Path) -> None:
    """The checks above can fail: a made-up cycle is found, a relative import resolved."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    global ROOT
    saved = ROOT
    try:
        ROOT = tmp_path
        pkg = tmp_path / "connectors" / "tool"
        pkg.mkdir(parents=True)
        (tmp_path / "connectors" / "__init__.py").write_text("")
        (pkg / "__init__.py").write_text("")
        (pkg / "a.py").write_text("from . import b\n")
        (pkg / "b.py").write_text("def f():\n    from connectors.tool.a import x\n")
        assert _cycle(_graph("connectors")) is not None
        (tmp_path / "connectors" / "c.py").write_text("from syncs.config import load_syncs\n")
        with pytest.raises(AssertionError, match="c.py:1 imports syncs.config"):
            test_package_imports_only_what_its_layer_allows("connectors")
    finally:
        ROOT = saved


def test_no_sandbox_globals_outside_the_sandboxes() -> None:
    """Production code never reaches into a sandbox's process-wide instance: the
    sandboxes' own modules (and the tests) may name ``_LOCAL``, nothing else."""
    wrong = []
    for package in FIRST_PARTY:
        for path in _modules(package).values():
            # a vendor's sandbox module (sandbox.py, datamanager_sandbox.py)
            if package == "connectors" and path.name.endswith("sandbox.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = getattr(node, "attr", None) or getattr(node, "id", None)
                if name == "_LOCAL" or (isinstance(node, ast.Constant) and node.value == "_LOCAL"):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not wrong, "sandbox globals used in: " + ", ".join(wrong)
