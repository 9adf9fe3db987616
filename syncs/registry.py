"""Resolve a destination spec to a connector instance.

Why lazily: `type: meta` imports `connectors.meta.destination` only when a sync
to Meta runs, so a connector that is missing or broken fails that one sync with
a clear error instead of every sync at import time.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from connectors.base import Destination
from syncs.config import DestinationSpec


class DestinationUnavailable(RuntimeError):
    """The connector for a destination type cannot be imported or built."""


def _find_class(module: Any, spec: DestinationSpec) -> type:
    if spec.class_name:
        cls = getattr(module, spec.class_name, None)
        if cls is None:
            raise DestinationUnavailable(f"{module.__name__} has no class {spec.class_name!r}")
        return cls
    declared = getattr(module, "DESTINATION", None)  # a module may name its class explicitly
    if declared is not None:
        return declared
    found = [
        obj
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if obj.__module__ == module.__name__
        and callable(getattr(obj, "from_options", None))
        and callable(getattr(obj, "write", None))
    ]
    if len(found) != 1:
        raise DestinationUnavailable(
            f"{module.__name__}: expected exactly one destination class with from_options() and "
            f"write(), found {[c.__name__ for c in found]}; set `class:` in destinations.yml"
        )
    return found[0]


def build_destination(
    dest_config: DestinationSpec | dict[str, Any],
    environ: dict[str, str] | None = None,
    *,
    sync_name: str | None = None,
) -> Destination:
    """`type` -> connectors.<type>.destination.<Class>.from_options(options with ${VAR} expanded).

    ``sync_name`` reaches destinations that declare ``takes_sync_name``: one file
    or webhook destination shared by several syncs must keep their members apart
    (one latest file per sync, the sync named in each webhook batch).
    """
    spec = (
        dest_config
        if isinstance(dest_config, DestinationSpec)
        else DestinationSpec.model_validate(dest_config)
    )
    module_name = spec.module or f"connectors.{spec.type}.destination"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DestinationUnavailable(
            f"destination type {spec.type!r}: cannot import {module_name} ({exc})"
        ) from exc
    cls = _find_class(module, spec)
    options = spec.resolved_options(environ)
    if sync_name is not None and getattr(cls, "takes_sync_name", False):
        options.setdefault("sync", sync_name)
    destination = cls.from_options(options)
    if not isinstance(destination, Destination):
        raise DestinationUnavailable(f"{cls.__name__}.from_options did not return a Destination")
    return destination
