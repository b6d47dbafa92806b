"""Results of the embedded runtime: `mlops up`, `down`, `status`, `mlops mlflow ...`,
`mlops airflow ...`."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
