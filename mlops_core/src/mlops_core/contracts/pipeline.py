"""Results of `mlops pipeline run` (the whole-loop runner)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
