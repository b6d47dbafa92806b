"""Imputation (data_ingestion.impute): median and mode, fitted on valid rows."""

from __future__ import annotations

from data_ingestion.impute import fit_imputation
from mlops_core.synthetic import generate


def test_mode_ties_are_broken_alphabetically(schema):
    category = schema.column(schema.categorical_features[-1])
    a, b = sorted(category.categories)[:2]
    frame = generate(schema, 4, seed=0)
    frame[category.name] = [b, a, b, a]
    assert fit_imputation(frame, schema)[category.name] == a
