"""What the loop sends and ingests: generated client records, and a visible drift named
from the dataset schema (so it works for any model's schema, not only house prices)."""

from __future__ import annotations

import json
from typing import Any


def drift_for(schema, factor: float) -> dict[str, Any]:
    """The first two numeric columns scaled by `factor` and the first category column's mix
    turned around (most rows in its last category)."""
    shift = {name: factor for name in schema.numeric_features[:2]}
    weights: dict[str, dict[str, float]] = {}
    if schema.categorical_features:
        column = schema.column(schema.categorical_features[0])
        cats = list(column.categories or ())
        weights[column.name] = {
            c: (0.8 if i == len(cats) - 1 else 0.2 / max(len(cats) - 1, 1))
            for i, c in enumerate(cats)
        }
    return {"shift": shift, "category_weights": weights}


def ingest_drift_args(drift: dict[str, Any]) -> list[str]:
    """The same drift as `mlops ingest --synthetic` options."""
    args: list[str] = []
    for name, factor in drift["shift"].items():
        args += ["--shift", f"{name}={factor}"]
    for name, mix in drift["category_weights"].items():
        args += ["--category-weights", f"{name}=" + ",".join(f"{c}:{w}" for c, w in mix.items())]
    return args


def client_records(
    schema, rows: int, *, seed: int, drift: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[Any]]:
    """`rows` generated records as a client sends them (JSON types), and their true labels."""
    from mlops_core.synthetic import Drift, generate

    frame = generate(schema, rows, seed=seed, drift=Drift(**drift) if drift else None)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    return records, frame[schema.label.name].tolist()
