"""Heavy fixtures built in the background while earlier tests run.

Why: most of the default run's time is dbt builds inside session- and module-scoped
fixtures, and the machine has two cores. A fixture registered here (by the name of
the fixture that returns it) is queued when the session starts if any selected test
uses it, in the order the tests first need them, and one worker thread builds the
queue while the main thread runs the tests before them. The fixture then only waits
for (or, if nobody started it yet, builds inline) the same result; while it waits,
the main thread builds the next queued jobs itself. Builders drive
subprocesses (dbt, the generator), so the worker barely holds the GIL; a failure is
raised again in every fixture that asks for the result, so the tests still fail.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

Builder = Callable[[Path], Any]


@dataclass
class _Task:
    name: str
    build: Builder
    users: tuple[str, ...]
    future: Future = field(default_factory=Future)
    claimed: bool = False
    ran: str = ""  # "background" or "inline", and for how long
    waited: float = 0.0  # seconds the tests spent waiting for it
    work: Path | None = None  # made on the main thread when the task is queued


_TASKS: dict[str, _Task] = {}
_LOCK = threading.Lock()
_CLEANUPS: list[Callable[[], None]] = []
_STATE: dict[str, Any] = {"factory": None, "stop": threading.Event(), "worker": None, "order": []}


def job(name: str, users: tuple[str, ...] = ()) -> Callable[[Builder], Builder]:
    """Register `build(work_dir)` as the result of fixture `name`, queued for the tests
    using that fixture or one of `users` (the decorated function is returned unchanged)."""

    def register(build: Builder) -> Builder:
        _TASKS.setdefault(name, _Task(name, build, users=(name, *users)))
        return build

    return register


def result(name: str, tmp_path_factory: pytest.TempPathFactory | None = None) -> Any:
    """The result of job `name`: built here unless the worker already claimed it."""
    task = _TASKS[name]
    _run(task, tmp_path_factory or _STATE["factory"])
    if threading.current_thread() is threading.main_thread() and not task.future.done():
        # The worker is building it: rather than idle, build the next queued jobs here.
        while not task.future.done() and (spare := _next_unclaimed()) is not None:
            _run(spare, tmp_path_factory or _STATE["factory"])
        began = time.monotonic()
        concurrent.futures.wait([task.future])
        task.waited += time.monotonic() - began
    return task.future.result()


def _next_unclaimed() -> _Task | None:
    with _LOCK:
        return next((t for t in _STATE["order"] if not t.claimed), None)


def on_session_end(cleanup: Callable[[], None]) -> None:
    """Run `cleanup` when the session ends (servers a job started)."""
    _CLEANUPS.append(cleanup)


def _run(task: _Task, factory: pytest.TempPathFactory) -> None:
    with _LOCK:
        if task.claimed:
            return
        task.claimed = True
    where = "inline" if threading.current_thread() is threading.main_thread() else "background"
    began = time.monotonic()
    try:
        task.future.set_result(task.build(task.work or factory.mktemp(task.name)))
    except BaseException as exc:  # noqa: BLE001 - any failure is re-raised where the result is asked for
        task.future.set_exception(exc)
    finally:
        task.ran = f"{where} {time.monotonic() - began:.1f}s"


def uses_a_job(item: pytest.Item) -> bool:
    """Whether the test asks (directly or through its fixtures) for a queued build."""
    used = set(getattr(item, "fixturenames", ()))
    return any(used.intersection(t.users) for t in _TASKS.values())


def builds_last(items: list[pytest.Item], root: Path) -> None:
    """Reorder `items` in place: the areas (folders under `root`, or single files at its top)
    none of whose tests use a queued build run first, the others after, each in its order.

    Why: the worker builds on one core while the main thread runs tests on the other.
    Run in collection order, the areas that need builds come first, so the main thread
    waits for (or builds) them, and the areas that need none (connectors, syncs, faults,
    linters: about half of the run) are left to the end on one core while the other
    idles. Reordered, they overlap the builds. Whole areas move, not single files, so an
    area's session fixtures (tests/orchestration's environment) keep their scope.
    """

    def area(item: pytest.Item) -> str:
        path = Path(item.path)
        return path.relative_to(root).parts[0] if path.is_relative_to(root) else str(path)

    needing = {area(item) for item in items if uses_a_job(item)}
    items.sort(key=lambda item: area(item) in needing)  # stable: each group keeps its order


def start(items: Iterable[pytest.Item], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Queue the jobs the selected tests use, in order of first use, on one worker thread."""
    _STATE["factory"] = tmp_path_factory
    order: list[_Task] = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        order += [t for t in _TASKS.values() if t not in order and used.intersection(t.users)]
    if not order:
        return
    # pytest's temporary directories are not made thread-safely: the base and one folder
    # per queued job are made here, before the worker starts.
    tmp_path_factory.getbasetemp()
    for task in order:
        task.work = tmp_path_factory.mktemp(task.name)
    _STATE["order"] = order

    def work() -> None:
        for task in order:
            if _STATE["stop"].is_set():
                return
            _run(task, tmp_path_factory)

    worker = threading.Thread(target=work, name="prebuild", daemon=True)
    _STATE["worker"] = worker
    worker.start()


def finish() -> None:
    """Stop queuing, wait for the job in progress, then run the cleanups."""
    _STATE["stop"].set()
    worker = _STATE["worker"]
    if worker is not None:
        worker.join()
    while _CLEANUPS:
        _CLEANUPS.pop()()


def summary() -> list[str]:
    """One line per job that ran: where, how long, and how long tests waited for it."""
    return [f"{t.name}: {t.ran}, tests waited {t.waited:.1f}s" for t in _TASKS.values() if t.ran]


def call_in_subprocess(
    module: str, function: str, *args: Any, env: dict[str, str] | None = None, **kwargs: Any
) -> Any:
    """`module.function(*args, **kwargs)` in a fresh interpreter (with `env`), returning its
    result: CPU-heavy Python (the sample generator, an in-process Dagster run) must not hold
    the GIL the tests in the main thread need, nor change their os.environ."""
    code = (
        "import importlib, pickle, sys\n"
        "m, f, a, k, out = pickle.load(sys.stdin.buffer)\n"
        "r = getattr(importlib.import_module(m), f)(*a, **k)\n"
        "open(out, 'wb').write(pickle.dumps(r))\n"
    )
    with tempfile.TemporaryDirectory(prefix="ferry-prebuild-") as tmp:
        out = Path(tmp) / "result.pickle"
        done_ = subprocess.run(
            [sys.executable, "-c", code],
            input=pickle.dumps((module, function, args, kwargs, str(out))),
            capture_output=True,
            check=False,
            timeout=900,
            env=env,
        )
        if done_.returncode != 0:
            raise RuntimeError(
                f"{module}.{function} failed in a subprocess:\n{done_.stderr.decode()[-4000:]}"
            )
        return pickle.loads(out.read_bytes())


def generate(path: Path, people: int, seed: int, as_of: Any) -> Path:
    """`ferry generate` into `path`, in a subprocess (see call_in_subprocess)."""
    call_in_subprocess("sample_data", "generate", people, seed, path, as_of=as_of)
    return path
