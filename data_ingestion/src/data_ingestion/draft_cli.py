"""`mlops models new`: draft a model folder from a CSV (see data_ingestion.draft)."""

from __future__ import annotations


def models_new() -> None:
    """Draft a model folder from a CSV."""
    raise NotImplementedError
