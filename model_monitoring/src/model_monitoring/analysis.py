"""The monitoring core on DataFrames: reference vs current through Evidently, judged by the
policy. No store, registry or MLflow here, so it is tested on synthetic frames directly.

The steps each live in their own module: `performance` (exact quality on every labelled
row: regression errors or classification scores), `sampling` (the row sample Evidently
runs on and the error bound of each sampled score), `evidently_run` (the Evidently
report), `readings` (its drift results, through Evidently's typed objects) and `verdict`
(the policy's decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.contracts.monitor import ColumnDrift, MonitorStatus, Performance
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.schema import DatasetSchema
from model_monitoring import performance as perf
from model_monitoring import sampling, verdict
from model_monitoring.evidently_run import run_report
from model_monitoring.policy import Policy
from model_monitoring.readings import read_drift

PREDICTION = "prediction"


def prediction_column(schema: DatasetSchema) -> str:
    """Name of the prediction column in the compared frames (never a schema column); a
    classifier's holds the predicted class."""
    name = PREDICTION
    while name in {c.name for c in schema.columns}:
        name = f"model_{name}"
    return name


def probability_columns(schema: DatasetSchema) -> dict[str, str]:
    """A classifier's probability columns in the compared frames: class -> column (never a
    schema column); {} for a regression."""
    if not schema.is_classification:
        return {}
    taken = {c.name for c in schema.columns} | {prediction_column(schema)}
    out = {}
    for cls in schema.classes:
        name = f"probability_{cls}"
        while name in taken:
            name = f"model_{name}"
        out[cls] = name
    return out


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
    probability_drift: dict[str, ColumnDrift] | None = None
    performance: Performance | None = None
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    retrain_advised: bool = False
    message: str = ""
    snapshot: Any = None  # evidently Snapshot (None when insufficient data)

    def fields(self) -> dict[str, Any]:
        """The analysis' fields of a MonitorResult."""
        out = {k: v for k, v in self.__dict__.items() if k != "snapshot"}
        perf = self.performance
        out["rmse"] = perf.rmse if perf else None
        out["mae"] = perf.mae if perf else None
        out["metric"] = perf.metric if perf else None
        out["metric_value"] = perf.value if perf else None
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
    label = schema.label.name
    if schema.is_classification:
        pred = prediction_column(schema)
        for name in (pred, label):
            if name in out.columns:
                out[name] = out[name].astype(object).where(out[name].notna(), None)
        for name, what in ((pred, "predicted class"), (label, "label class")):
            unknown = sorted(set(out[name].dropna()) - set(schema.classes)) if name in out else []
            if unknown:
                raise DataQualityError(
                    f"{side} data: {what}(es) {', '.join(map(repr, unknown))} are not "
                    f"classes of schema {schema.name!r} ({', '.join(schema.classes)})"
                )
        for column in probability_columns(schema).values():
            if column in out.columns:
                out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    elif label in out.columns:
        out[label] = pd.to_numeric(out[label], errors="coerce")
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
    policy.check(schema)
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
        current[label] = None if schema.is_classification else np.nan
    labelled = current[label].notna()
    result.labelled_rows = int(labelled.sum())
    rule = policy.performance
    metric = rule.metric_for(schema)
    probas = _probabilities_logged(reference, current, schema)
    with_labels = result.labelled_rows >= rule.min_labelled_rows and label in reference
    if with_labels and schema.is_classification:
        rows = current.loc[labelled]
        result.performance = perf.judge_classification(
            rows[label].tolist(),
            rows[pred].tolist(),
            schema.classes,
            rows[list(probas.values())].set_axis(list(probas), axis=1) if probas else None,
            rule,
            baseline_metrics,
            metric=metric,
            seed=seed,
        )
    elif with_labels:
        result.performance = perf.judge(
            current.loc[labelled, label].to_numpy(float),
            current.loc[labelled, pred].to_numpy(float),
            rule,
            baseline_metrics,
            metric=metric,
            seed=seed,
        )

    columns = [c for c in schema.feature_names if c not in result.ignored_columns]
    keep = [*schema.feature_names, pred, *probas.values()] + ([label] if with_labels else [])
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
        metric=metric,
        probability_columns=probas or None,
        metadata=metadata,
        tags=tags,
        name=name,
    )
    result.snapshot = run.snapshot
    drift = read_drift(run)

    numeric = [*schema.numeric_features, *probas.values()]
    if not schema.is_classification:
        numeric.append(pred)
    norm = {c: float(np.std(ref_s[c])) for c in numeric}
    judged = [*drift.columns.items()] + ([(pred, drift.prediction)] if drift.prediction else [])
    judged += [(probas[cls], info) for cls, info in drift.probabilities.items()]
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
    result.probability_drift = drift.probabilities or None
    result.drift_share, result.share_threshold = drift.drift_share, drift.share_threshold
    result.drifted_columns = drift.drifted_columns
    result.status, result.data_drift = decided.status, decided.data_drift
    result.degraded, result.retrain_advised = decided.degraded, decided.retrain_advised
    result.reasons, result.message = decided.reasons, decided.message
    return result


def _probabilities_logged(
    reference: pd.DataFrame, current: pd.DataFrame, schema: DatasetSchema
) -> dict[str, str]:
    """A classifier's probability columns when both sides hold them for every row (the
    reference from the model's predict_proba, the current from the log); else {}."""
    columns = probability_columns(schema)
    for frame in (reference, current):
        if not columns or any(c not in frame.columns or frame[c].isna().any()
                              for c in columns.values()):  # fmt: skip
            return {}
    return columns
