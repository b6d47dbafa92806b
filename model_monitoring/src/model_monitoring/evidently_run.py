"""The Evidently 0.7 run: one Report (drift of every judged feature and of the prediction, a
data summary, regression quality when labels exist) on the compared frames.

Evidently picks the drift method by row count (p-value tests up to 1 000 rows, distances
above) unless the policy names one. The metric objects are kept beside the snapshot, so the
results are read back through them (`readings`), not through metric-id strings.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlops_core.schema import DatasetSchema
from model_monitoring.policy import Policy


@dataclass
class EvidentlyRun:
    snapshot: Any  # evidently Snapshot
    drift: Any  # the DataDriftPreset over the judged feature columns
    prediction_drift: Any  # the ValueDrift metric of the prediction column


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    policy: Policy,
    columns: list[str],
    prediction: str,
    label: str | None,
    *,
    limit: float | None,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    name: str | None = None,
) -> EvidentlyRun:
    """Run the report on `current` against `reference` (both already sampled); `label` is
    None when the window has too few labels for regression quality."""
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset, RegressionPreset
    from evidently.tests import lte

    rule = policy.drift
    numeric = [*schema.numeric_features, prediction] + ([label] if label else [])
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=list(schema.categorical_features),
        regression=[Regression(target=label, prediction=prediction)] if label else None,
    )
    per_method = {c: r.method for c, r in rule.columns.items() if r.method and c in columns}
    per_threshold = {
        c: r.threshold for c, r in rule.columns.items() if r.threshold and c in columns
    }
    drift = DataDriftPreset(
        columns=columns,
        drift_share=rule.share,
        method=rule.method,
        threshold=rule.threshold,
        per_column_method=per_method or None,
        per_column_threshold=per_threshold or None,
    )
    prediction_drift = ValueDrift(column=prediction, method=rule.method, threshold=rule.threshold)
    items: list = [drift, prediction_drift, DataSummaryPreset()]
    if label:
        metric = policy.performance.metric
        tests = [lte(limit)] if limit is not None else []
        items.append(
            RegressionPreset(
                rmse_tests=tests if metric == "rmse" else None,
                mae_tests=tests if metric == "mae" else None,
            )
        )
    report = Report(items, include_tests=True, metadata=metadata or {}, tags=tags or [])
    with warnings.catch_warnings():
        # Evidently's binned regression plots call sklearn's r2 on bins of one row, and
        # pandas/numpy warn about Evidently's internal dtype handling: noise for a report.
        for category in (UserWarning, FutureWarning, RuntimeWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category=category)
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
            name=name,
        )
    return EvidentlyRun(snapshot=snapshot, drift=drift, prediction_drift=prediction_drift)
