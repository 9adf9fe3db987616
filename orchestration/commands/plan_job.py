"""`ferry plan-job <sync>`: run the Dagster dry-run plan job headless (see orchestration/plan_job.py)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plan-job", help="run the Dagster dry-run plan job for one sync")
    parser.add_argument("sync", help="sync name, e.g. aud_win_back__sendgrid_marketing")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    result = defs.resolve_job_def("plan_sync").execute_in_process(
        run_config={"ops": {"plan_one_sync": {"config": {"sync": args.sync}}}},
        instance=DagsterInstance.get(), raise_on_error=False,
    )
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT":
            for key, value in event.event_specific_data.metadata.items():
                print(f"{key}: {getattr(value, 'value', value)}")
    return 0 if result.success else 1
