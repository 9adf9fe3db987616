"""Great Expectations suites run as Dagster asset checks (profiles, consent, audiences)."""
