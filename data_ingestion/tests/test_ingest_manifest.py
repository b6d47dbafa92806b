"""The manifest (data_ingestion.manifest): statistics and what it records of a run."""

from __future__ import annotations

import pandas as pd
import pytest

from data_ingestion.manifest import MANIFEST_FORMAT, build_manifest, summarise
from data_ingestion.split import SplitOptions
from mlops_core.synthetic import generate


def test_statistics_of_numeric_and_category_columns(schema):
    numeric = schema.numeric_features[0]
    category = schema.column(schema.categorical_features[0])
    frame = generate(schema, 5, seed=0)
    frame[numeric] = [1.0, 2.0, 3.0, 4.0, 10.0]
    frame[category.name] = [category.categories[0]] * 4 + [category.categories[1]]
    stats = summarise(frame, schema, {numeric: 2})
    assert stats[numeric] == {
        "dtype": schema.column(numeric).dtype,
        "missing_imputed": 2,
        "count": 5,
        "mean": 4.0,
        "std": pytest.approx(3.5355339, rel=1e-6),  # sample std of 1, 2, 3, 4, 10
        "min": 1.0,
        "p25": 2.0,
        "median": 3.0,
        "p75": 4.0,
        "max": 10.0,
    }
    counts = stats[category.name]["categories"]
    assert counts[category.categories[0]] == 4 and counts[category.categories[1]] == 1
    assert sum(counts.values()) == 5 and set(counts) == set(category.categories)
    assert stats[category.name]["missing_imputed"] == 0


def test_one_row_has_no_spread(schema):
    stats = summarise(generate(schema, 1, seed=0), schema, {})
    assert stats[schema.numeric_features[0]]["std"] == 0.0


def test_the_manifest_records_the_run(schema):
    rows = {"in": 12, "duplicates": 1, "missing_label": 1, "quarantined": 2, "out": 8}
    manifest = build_manifest(
        schema=schema,
        source={"uri": "f.csv", "kind": "file"},
        rows=rows,
        dropped_columns=["note"],
        invalid_by_column={"area": 2},
        imputation={"area": 1.0},
        split=SplitOptions(seed=3).as_dict(),
        statistics={},
        split_hashes={"train": "a", "val": "b", "test": "c"},
    )
    assert manifest["format"] == MANIFEST_FORMAT
    assert manifest["dataset"] == schema.name
    assert manifest["quarantine"] == {"rows": 2, "by_column": {"area": 2}}
    assert manifest["split"]["seed"] == 3
    assert manifest["split"]["fractions"] == {"train": 0.7, "val": 0.15, "test": 0.15}
    assert manifest["split"]["stratify"] == f"{schema.label.name} quantiles"
    assert manifest["splits"]["val"] == {"content_hash": "b"}
    assert manifest["schema"]["name"] == schema.name
    assert manifest["producer"]["package"] == "data-ingestion"
    assert pd.Series(manifest["imputation"]["strategy"]).to_dict() == {
        "numeric": "median",
        "category": "mode",
    }
