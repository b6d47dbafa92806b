"""Cleaning: one spelling per category, no exact duplicate rows, no row without a label.

Category columns (a classifier's label too: its classes are categories) become pandas
Categoricals while the table is cleaned and validated (fast isna/isin/duplicated on
millions of rows) and go back to str values on output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_core.schema import DatasetSchema, normalise_category


def category_columns(schema: DatasetSchema) -> list[str]:
    """The category columns: categorical features, and the label of a classifier."""
    return [c.name for c in schema.columns if c.dtype == "category"]


def spell(value: object) -> str:
    """The normal spelling of a value read in a category column: trimmed, lower case
    (" Yes" -> "yes"); numbers as written without a useless ".0" (a column of 0/1 classes
    with a missing value is read as floats: 1.0 -> "1"); booleans as "true"/"false"."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return normalise_category(value)


def normalise_categories(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Category columns as pandas Categoricals in normal spelling (" Yes" -> "yes"); blank
    values become missing. Normalising the distinct values only, then remapping the codes,
    keeps this (and every later isna/isin/duplicated) fast on millions of rows."""
    out = frame.copy(deep=False)
    for name in category_columns(schema):
        column = out[name]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype("category")
        spelled = [spell(v) or None for v in column.cat.categories]
        categories = pd.Index(sorted({v for v in spelled if v is not None}), dtype=object)
        position = {v: i for i, v in enumerate(categories)}
        # The extra last entry maps code -1 (missing) to itself.
        lookup = np.array([position[v] if v is not None else -1 for v in spelled] + [-1])
        codes = lookup[column.cat.codes.to_numpy()]
        out[name] = pd.Categorical.from_codes(codes, categories=categories)
    return out


def drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame without exact duplicate rows (the first one stays) and how many went."""
    duplicated = frame.duplicated(keep="first").to_numpy()
    count = int(duplicated.sum())
    return (frame[~duplicated] if count else frame), count


def drop_missing_label(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, int]:
    """The frame without the rows whose label is missing, and how many went."""
    missing = frame[schema.label.name].isna().to_numpy()
    count = int(missing.sum())
    return (frame[~missing] if count else frame), count


def to_output(frame: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """The contract's dtypes: category columns back to str (object) values."""
    out = frame.copy(deep=False)
    for name in category_columns(schema):
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype(object)
    return out
