"""Imputation of missing feature values, fitted on the valid rows, and the final dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_core.errors import DataQualityError
from mlops_core.schema import Column, DatasetSchema


def fit_imputation(
    frame: pd.DataFrame, schema: DatasetSchema, *, shown: str | None = None
) -> dict[str, Any]:
    """Median of each numeric feature (rounded for int columns), mode of each category."""
    values: dict[str, Any] = {}
    where = f"source {shown}: " if shown else ""
    for column in schema.features:
        series = frame[column.name].dropna()
        if series.empty:
            raise DataQualityError(
                f"{where}column {column.name!r} has no valid value to impute missing ones "
                f"from (empty in all {len(frame):,} valid rows)",
                details={"column": column.name},
            )
        if column.is_numeric:
            median = float(series.median())
            values[column.name] = int(np.rint(median)) if column.dtype == "int" else median
        else:
            counts = series.value_counts()
            top = counts[counts == counts.max()].index
            values[column.name] = str(sorted(top)[0])  # ties broken alphabetically
    return values


def finalise(
    frame: pd.DataFrame, schema: DatasetSchema, imputation: dict[str, Any]
) -> pd.DataFrame:
    """Impute and cast: int -> int64, float -> float64, category -> Categorical of the
    schema's categories (clean.to_output turns them into str values)."""
    out = {}
    for column in schema.columns:
        series = frame[column.name]
        if column.name in imputation and series.isna().any():
            series = series.fillna(imputation[column.name])
        out[column.name] = _cast(series, column)
    return pd.DataFrame(out, index=frame.index)


def _cast(series: pd.Series, column: Column) -> pd.Series:
    if column.dtype == "int":
        return series.astype("int64")
    if column.dtype == "float":
        return series.astype("float64")
    if isinstance(series.dtype, pd.CategoricalDtype):
        # Only the allowed categories remain (invalid rows are gone), in the schema's order.
        return series.cat.set_categories(list(column.categories or ()))
    return series.astype(object)
