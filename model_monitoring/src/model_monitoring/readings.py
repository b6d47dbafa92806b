"""Drift read back from an Evidently run through its own objects: the metric objects the
report ran (the preset's, as it generated them), `Snapshot.metric_results` by each metric's
id for their typed results (`SingleValue`, `CountValue`), each result's resolved
`MetricConfig` and its `MetricTestResult` statuses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlops_core.contracts.monitor import ColumnDrift
from model_monitoring.evidently_run import EvidentlyRun


@dataclass
class DriftReading:
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    prediction: ColumnDrift | None = None
    probabilities: dict[str, ColumnDrift] = field(default_factory=dict)
    drift_share: float | None = None
    share_threshold: float | None = None
    share_test_failed: bool = False

    @property
    def drifted_columns(self) -> list[str]:
        return sorted(name for name, c in self.columns.items() if c.drifted)


def read_drift(run: EvidentlyRun) -> DriftReading:
    """Per-column drift, the drifted share and its test, from the run's typed results."""
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    results = run.snapshot.metric_results
    reading = DriftReading()
    for metric in run.drift.list_metrics(run.snapshot.context):
        result = results[metric.metric_id]
        if isinstance(metric, ValueDrift):
            reading.columns[metric.column] = _column(result)
        elif isinstance(metric, DriftedColumnsCount):
            reading.drift_share = _number(result.share.value)
            reading.share_threshold = metric.drift_share
            reading.share_test_failed = any(_failed(t) for t in result.tests)
    reading.prediction = _column(results[run.prediction_drift.metric_id])
    for cls, metric in run.probability_drift.items():
        reading.probabilities[cls] = _column(results[metric.metric_id])
    return reading


def _column(result) -> ColumnDrift:
    """One ValueDrift result (a SingleValue) and its Value Drift test."""
    # The resolved config holds the method and threshold Evidently chose by row count.
    config = result.get_metric_value_location().metric.params
    status = result.tests[0].status.value if result.tests else None
    return ColumnDrift(
        score=_number(result.value),
        method=config.get("method"),
        threshold=config.get("threshold"),
        drifted=any(_failed(t) for t in result.tests),
        test_status=status,
    )


def _failed(test) -> bool:
    from evidently.legacy.tests.base_test import TestStatus

    return test.status == TestStatus.FAIL


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out
