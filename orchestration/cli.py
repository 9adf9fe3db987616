"""The `ferry` command line.

Each subcommand lives in its own module under ``orchestration/commands`` and
exposes ``register(subparsers)``; adding a command means adding a module, not
editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from orchestration import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferry", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
