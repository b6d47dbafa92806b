"""Fixtures of the monitoring tests."""

from __future__ import annotations

import pytest

from mlops_core.schema import DatasetSchema, load_schema


@pytest.fixture(scope="session")
def schema() -> DatasetSchema:
    return load_schema()
