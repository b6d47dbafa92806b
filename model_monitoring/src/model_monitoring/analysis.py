"""The monitoring core on DataFrames: reference vs current through Evidently, judged by the
policy. No store, registry or MLflow here, so it is tested on synthetic frames directly.

The steps each live in their own module: `performance` (exact regression quality on every
labelled row), `sampling` (the row sample Evidently runs on and the error bound of each
sampled score), `evidently_run` (the Evidently report), `readings` (its drift results,
through Evidently's typed objects) and `verdict` (the policy's decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts.monitor import ColumnDrift, MonitorStatus, Performance
from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema
from model_monitoring import performance as perf
from model_monitoring import sampling, verdict
from model_monitoring.evidently_run import run_report
from model_monitoring.policy import Policy
from model_monitoring.readings import read_drift

PREDICTION = "prediction"


def prediction_column(schema: DatasetSchema) -> str:
    """Name of the prediction column in the compared frames (never a schema column)."""
    name = PREDICTION
    while name in {c.name for c in schema.columns}:
        name = f"model_{name}"
    return name


@dataclass
class Analysis:
    status: MonitorStatus
    rows: int
    reference_rows: int
    labelled_rows: int = 0
    rows_compared: int = 0
    reference_rows_compared: int = 0
    sampled: bool = False
    drift_share: float | None = None
    share_threshold: float | None = None
    data_drift: bool = False
    drifted_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    columns: dict[str, ColumnDrift] = field(default_factory=dict)
    prediction_drift: ColumnDrift | None = None
    performance: Performance | None = None
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    retrain_advised: bool = False
    message: str = ""
    snapshot: Any = None  # evidently Snapshot (None when insufficient data)

    def fields(self) -> dict[str, Any]:
        """The analysis' fields of a MonitorResult."""
        out = {k: v for k, v in self.__dict__.items() if k != "snapshot"}
        out["rmse"] = self.performance.rmse if self.performance else None
        out["mae"] = self.performance.mae if self.performance else None
        return out


def _coerce(frame: pd.DataFrame, schema: DatasetSchema, side: str) -> pd.DataFrame:
    missing = [c for c in schema.feature_names if c not in frame.columns]
    if missing:
        raise BadInput(f"{side} data: missing feature column(s) {', '.join(missing)}")
    out = frame.copy()
    for name in schema.numeric_features:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    for name in schema.categorical_features:
        out[name] = out[name].astype(object)
    return out


def analyse(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    policy: Policy,
    *,
    baseline_metrics: dict[str, float] | None = None,
    sample_rows: int = 100_000,
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    name: str | None = None,
) -> Analysis:
    """Compare current traffic with the reference under the policy.

    Both frames hold the schema's feature columns and the prediction column
    (`prediction_column(schema)`); the reference holds the label, the current frame may
    (NaN where no feedback came).
    """
    policy.check_columns(schema)
    pred = prediction_column(schema)
    label = schema.label.name
    for side, frame in (("reference", reference), ("current", current)):
        if pred not in frame.columns:
            raise BadInput(f"{side} data: missing the prediction column {pred!r}")
    result = Analysis(
        status="insufficient_data",
        rows=len(current),
        reference_rows=len(reference),
        ignored_columns=policy.ignored_columns(),
    )
    for side, frame in (("current", current), ("reference", reference)):
        if len(frame) < policy.min_rows:
            result.message = (
                f"{len(frame)} {side} row(s), the policy needs at least {policy.min_rows}"
            )
            return result

    reference = _coerce(reference, schema, "reference")
    current = _coerce(current, schema, "current")
    if label not in current.columns:
        current[label] = np.nan
    current[label] = pd.to_numeric(current[label], errors="coerce")
    labelled = current[label].notna()
    result.labelled_rows = int(labelled.sum())
    rule = policy.performance
    with_labels = result.labelled_rows >= rule.min_labelled_rows and label in reference
    if with_labels:
        result.performance = perf.judge(
            current.loc[labelled, label].to_numpy(float),
            current.loc[labelled, pred].to_numpy(float),
            rule,
            baseline_metrics,
        )

    columns = [c for c in schema.feature_names if c not in result.ignored_columns]
    keep = [*schema.feature_names, pred] + ([label] if with_labels else [])
    ref_s = sampling.sample(reference[keep], sample_rows, seed)
    cur_s = sampling.sample(current[keep], sample_rows, seed + 1)
    result.rows_compared, result.reference_rows_compared = len(cur_s), len(ref_s)
    result.sampled = len(ref_s) < len(reference) or len(cur_s) < len(current)

    run = run_report(
        ref_s,
        cur_s,
        schema,
        policy,
        columns,
        pred,
        label if with_labels else None,
        limit=result.performance.limit if result.performance else None,
        metadata=metadata,
        tags=tags,
        name=name,
    )
    result.snapshot = run.snapshot
    drift = read_drift(run)

    norm = {c: float(np.std(ref_s[c])) for c in [*schema.numeric_features, pred]}
    judged = [*drift.columns.items()] + ([(pred, drift.prediction)] if drift.prediction else [])
    for column, info in judged:
        info.sampling_error = sampling.column_error(
            info.method or "",
            reference[column],
            current[column],
            len(ref_s),
            len(cur_s),
            norm.get(column, 1.0),
        )

    decided = verdict.judge(drift, result.performance, policy, len(columns))
    result.columns, result.prediction_drift = drift.columns, drift.prediction
    result.drift_share, result.share_threshold = drift.drift_share, drift.share_threshold
    result.drifted_columns = drift.drifted_columns
    result.status, result.data_drift = decided.status, decided.data_drift
    result.degraded, result.retrain_advised = decided.degraded, decided.retrain_advised
    result.reasons, result.message = decided.reasons, decided.message
    return result
