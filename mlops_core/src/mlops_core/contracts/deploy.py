"""Results of `mlops promote`, `mlops rollback` (deployment_prep)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
