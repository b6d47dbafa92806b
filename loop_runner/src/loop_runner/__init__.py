"""The whole-loop runner: `mlops pipeline run` (what `make demo` runs)."""
