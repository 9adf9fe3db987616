"""Resolve a destination spec to a connector instance.

Why lazily: `type: meta` imports `connectors.meta.destination` only when a sync
to Meta runs, so a connector that is missing or broken fails that one sync with
a clear error instead of every sync at import time.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pydantic import ValidationError

from connectors.base import Capabilities, Destination, MissingCredentials
from syncs.config import DestinationSpec, SyncConfig


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


def _connector_class(spec: DestinationSpec) -> type:
    module_name = spec.module or f"connectors.{spec.type}.destination"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DestinationUnavailable(
            f"destination type {spec.type!r}: cannot import {module_name} ({exc})"
        ) from exc
    return _find_class(module, spec)


def option_errors(spec: DestinationSpec, environ: dict[str, str] | None = None) -> str | None:
    """What is wrong with a destination's declaration, as `<key>: <problem>`, or None.

    Checked when syncs load, so a typo fails `ferry sync list` and the Dagster
    load with the file and key instead of the first scheduled run: the connector
    must exist, and its options must fit the connector's `options_model`
    (environment variables expanded; values are never quoted back, they may be
    secrets). Missing credentials are not checked here (see MissingCredentials).
    """
    try:
        cls = _connector_class(spec)
    except DestinationUnavailable as exc:
        return f"type: {exc}"
    model = getattr(cls, "options_model", None)
    if model is None:
        return None
    try:
        model.model_validate(spec.resolved_options(environ))
    except ValidationError as exc:
        return "; ".join(
            f"options.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return None


def unsupported_mode(spec: DestinationSpec, mode: str) -> str | None:
    """Why a destination type cannot take a sync mode (from its declared capabilities), or None."""
    try:
        cls = _connector_class(spec)
    except DestinationUnavailable:
        return None  # reported once, on the destination
    capabilities = getattr(cls, "capabilities", None)
    if isinstance(capabilities, Capabilities) and mode not in capabilities.modes:
        return (
            f"destination type {spec.type!r} does not support mode {mode!r} "
            f"(it supports {', '.join(sorted(capabilities.modes))})"
        )
    return None


def build_destination(
    dest_config: DestinationSpec | dict[str, Any],
    environ: dict[str, str] | None = None,
    *,
    sync: SyncConfig | None = None,
) -> Destination:
    """`type` -> connectors.<type>.destination.<Class>.from_options(options with ${VAR} expanded).

    With ``sync``, per-sync settings reach the destinations that declare them:
    ``takes_sync_name`` (one file or webhook destination shared by several syncs
    keeps their members apart: one latest file per sync, the sync named in each
    batch), ``takes_sync_mode`` (a destination whose request limits differ by
    endpoint, e.g. SendGrid's Mail Send against its contacts endpoints) and
    ``honours_quiet_hours`` (the sync's quiet-hours policy; a
    destination that cannot honour it refuses to be built rather than send at night).
    """
    spec = (
        dest_config
        if isinstance(dest_config, DestinationSpec)
        else DestinationSpec.model_validate(dest_config)
    )
    cls = _connector_class(spec)
    options = spec.resolved_options(environ)
    if sync is not None and getattr(cls, "takes_sync_name", False):
        options.setdefault("sync", sync.name)
    if sync is not None and getattr(cls, "takes_sync_mode", False):
        options.setdefault("sync_mode", sync.mode)
    quiet_hours = sync.policies.quiet_hours if sync is not None else None
    if quiet_hours is not None:
        if not getattr(cls, "honours_quiet_hours", False):
            raise DestinationUnavailable(
                f"sync {sync.name}: policies.quiet_hours is set but destination type "
                f"{spec.type!r} cannot honour quiet hours"
            )
        options["quiet_hours"] = quiet_hours
    try:
        destination = cls.from_options(options)
    except MissingCredentials as exc:
        # Name the variables destinations.yml reads, which may differ from the connector's defaults.
        variables = {o: spec.referenced_variable(o) or v for o, v in exc.options.items()}
        label = (
            f"{sync.destination_name!r} (type {spec.type})" if sync else f"of type {spec.type!r}"
        )
        raise MissingCredentials(label, variables) from None
    if not isinstance(destination, Destination):
        raise DestinationUnavailable(f"{cls.__name__}.from_options did not return a Destination")
    return destination
