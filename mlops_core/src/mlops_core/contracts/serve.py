"""Results of `mlops serve migrate` (prediction_service)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
