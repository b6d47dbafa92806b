"""Synthetic reference/current frames for the monitoring tests (all derived from the schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_core.schema import DatasetSchema
from mlops_core.synthetic import Drift, generate
from model_monitoring.analysis import prediction_column
from model_monitoring.performance import regression_metrics


def with_predictions(schema: DatasetSchema, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A stand-in model: the true label with 10 % multiplicative noise, so RMSE is stable."""
    out = frame.copy()
    noise = np.random.default_rng(seed).normal(1.0, 0.1, len(out))
    out[prediction_column(schema)] = out[schema.label.name].to_numpy(float) * noise
    return out


def make_frames(schema, rows_ref=3000, rows_cur=2000, drift: Drift | None = None, seed=2):
    reference = with_predictions(schema, generate(schema, rows_ref, seed=1), seed=11)
    current = with_predictions(schema, generate(schema, rows_cur, seed=seed, drift=drift), seed=12)
    return reference, current


def baseline(schema, reference: pd.DataFrame) -> dict[str, float]:
    """The 'test metrics' of the stand-in model, as training logs them (test_rmse, ...)."""
    m = regression_metrics(
        reference[schema.label.name].to_numpy(float),
        reference[prediction_column(schema)].to_numpy(float),
    )
    return {f"test_{k}": v for k, v in m.items()}


def reversed_mix(schema: DatasetSchema, column: str) -> dict[str, float]:
    """The schema's category weights of a column, reversed (a changed category mix)."""
    col = schema.column(column)
    weights = (col.synthetic or {}).get("weights") or [1.0] * len(col.categories)
    return dict(zip(col.categories, reversed(weights), strict=True))
