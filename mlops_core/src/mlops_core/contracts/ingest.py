"""Results of `mlops ingest`, `mlops data list`, `mlops data pull` (data_ingestion)."""

from __future__ import annotations

from mlops_core.contracts.base import Result  # noqa: F401
