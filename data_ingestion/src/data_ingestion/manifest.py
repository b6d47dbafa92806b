"""The manifest of a data version: where the rows came from, what cleaning did, the split,
the schema and summary statistics (the registry adds tag, time and per-split hashes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlops_core.schema import DatasetSchema

MANIFEST_FORMAT = 1


def build_manifest(
    *,
    schema: DatasetSchema,
    source: dict[str, Any],
    rows: dict[str, int],
    dropped_columns: list[str],
    invalid_by_column: dict[str, int],
    imputation: dict[str, Any],
    split: dict[str, Any],
    statistics: dict[str, Any],
    split_hashes: dict[str, str],
    class_distribution: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    from data_ingestion import __version__

    stratify = (
        f"{schema.label.name} classes"
        if schema.is_classification
        else f"{schema.label.name} quantiles"
    )
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "dataset": schema.name,
        "task": str(schema.task),
        "source": source,
        "rows": rows,
        "dropped_columns": dropped_columns,
        "quarantine": {"rows": rows["quarantined"], "by_column": invalid_by_column},
        "imputation": {
            "strategy": {"numeric": "median", "category": "mode"},
            "values": imputation,
        },
        "split": {**split, "stratify": stratify},
        "schema": schema.as_dict(),
        "statistics": statistics,
        "splits": {name: {"content_hash": h} for name, h in split_hashes.items()},
        "producer": {"package": "data-ingestion", "version": __version__},
    }
    if class_distribution is not None:
        manifest["class_distribution"] = class_distribution
        for name, counts in class_distribution.items():
            manifest["splits"][name]["classes"] = counts
    return manifest


def class_distribution(
    splits: dict[str, pd.DataFrame], schema: DatasetSchema
) -> dict[str, dict[str, int]]:
    """Rows per class (in the schema's order) in each split."""
    out: dict[str, dict[str, int]] = {}
    for name, frame in splits.items():
        counts = frame[schema.label.name].astype(object).value_counts()
        out[name] = {c: int(counts.get(c, 0)) for c in schema.classes}
    return out


def summarise(frame: pd.DataFrame, schema: DatasetSchema, missing: dict[str, int]) -> dict:
    """Per column: count, mean, std and quantiles (numeric) or counts per category, and how
    many values were imputed."""
    stats: dict[str, Any] = {}
    for column in schema.columns:
        series = frame[column.name]
        entry: dict[str, Any] = {
            "dtype": column.dtype,
            "missing_imputed": missing.get(column.name, 0),
        }
        if column.is_numeric:
            values = series.to_numpy(dtype="float64")
            q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
            entry.update(
                count=int(values.size),
                mean=float(values.mean()),
                std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                min=float(q[0]),
                p25=float(q[1]),
                median=float(q[2]),
                p75=float(q[3]),
                max=float(q[4]),
            )
        else:
            counts = series.value_counts()
            entry.update(
                count=len(series),
                categories={str(c): int(counts.get(c, 0)) for c in column.categories or ()},
            )
        stats[column.name] = entry
    return stats
