"""Ferry benchmarks: `make bench` runs them all and writes benchmarks/results/*.json."""
