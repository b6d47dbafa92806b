"""Results of `mlops monitor`, `mlops monitor ui` (model_monitoring)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
