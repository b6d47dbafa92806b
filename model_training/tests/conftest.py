"""Fixtures of the training stage's tests (the shared ones are in the root conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from train_helpers import split_frame

CONFIGS = Path(__file__).parent / "configs"
REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def schema():
    """The house-price model's schema (models/house-price/schema.yaml)."""
    from mlops_core.schema import load_schema

    return load_schema(MODELS / "house-price" / "schema.yaml")


@pytest.fixture(scope="session")
def frames(schema) -> dict[str, pd.DataFrame]:
    """Synthetic train/val/test splits (2 000 rows), like a data version's."""
    from mlops_core.synthetic import generate

    return split_frame(generate(schema, 2000, seed=11))


@pytest.fixture(scope="session")
def fast_config(schema):
    from model_training.config import load_config

    return load_config(CONFIGS / "fast.yaml", schema)[0]
