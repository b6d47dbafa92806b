"""Results of `mlops train` (model_training)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
