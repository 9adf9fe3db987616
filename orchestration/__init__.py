"""Ferry orchestration: Dagster definitions, the `ferry` CLI and the main job."""
