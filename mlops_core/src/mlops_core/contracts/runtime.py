"""Results of `mlops up`, `down`, `status`, `mlops mlflow ...`, `mlops airflow ...` (the embedded runtime)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
