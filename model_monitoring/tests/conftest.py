"""Fixtures of the monitoring tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.schema import DatasetSchema, load_schema

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="session")
def schema() -> DatasetSchema:
    """The house-price model's schema (the repository's models/house-price/)."""
    return load_schema(REPO_MODELS / "house-price" / "schema.yaml")
