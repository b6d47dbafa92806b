"""The monitoring core on DataFrames: reference vs current through Evidently, judged by the
policy. No store, registry or MLflow here, so it is tested on synthetic frames directly.

Evidently (0.7 Report API) computes the drift of every feature column and of the prediction,
a data summary, and regression quality when labels exist. The drift verdicts are the
statuses of Evidently's own tests: one "Value Drift" test per column and the "Share of
Drifted Columns" test (Evidently has no dataset-drift boolean in this API). Evidently picks
the method by row count (p-value tests up to 1 000 rows, distances above).

Large windows: Evidently runs on a uniform random sample (without replacement, seeded) of at
most `sample_rows` rows per side. Row counts and the regression metrics that decide
degradation are computed exactly on every row; each sampled drift score carries an error
bound (see `sampling_error`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema
from model_monitoring.policy import Policy

Status = Literal["no_drift", "drift", "insufficient_data"]

PREDICTION = "prediction"
VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"


def prediction_column(schema: DatasetSchema) -> str:
    """Name of the prediction column in the compared frames (never a schema column)."""
    name = PREDICTION
    while name in {c.name for c in schema.columns}:
        name = f"model_{name}"
    return name


@dataclass
class Analysis:
    status: Status
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
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    prediction_drift: dict[str, Any] | None = None
    performance: dict[str, Any] | None = None
    degraded: bool = False
    reasons: list[str] = field(default_factory=list)
    retrain_advised: bool = False
    message: str = ""
    snapshot: Any = None  # evidently Snapshot (None when insufficient data)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "snapshot"}
        perf = self.performance or {}
        out["rmse"] = perf.get("rmse")
        out["mae"] = perf.get("mae")
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


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if limit and len(frame) > limit:
        return frame.sample(n=limit, random_state=seed).reset_index(drop=True)
    return frame.reset_index(drop=True)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    err = y_pred - y_true
    out = {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mean_error": float(np.mean(err)),
    }
    denom = float(np.sum((y_true - y_true.mean()) ** 2))
    out["r2"] = float(1 - np.sum(err**2) / denom) if denom > 0 else float("nan")
    return out


def wasserstein_error(values: np.ndarray, n: int) -> float:
    """Expected W1 distance between a uniform n-sample and the full column (population):
    E W1(F_n, F) <= n^-1/2 * integral sqrt(F(1-F)) dx (Bobkov & Ledoux 2019, thm 3.5),
    times the finite-population correction sqrt(1 - n/N). 0 when nothing was sampled."""
    values = np.sort(values[~np.isnan(values)])
    total = len(values)
    if n >= total or total < 2:
        return 0.0
    cdf = np.arange(1, total) / total
    integral = float(np.sum(np.sqrt(cdf * (1 - cdf)) * np.diff(values)))
    return integral / math.sqrt(n) * math.sqrt(1 - n / total)


def js_error(categories: int, n: int, total: int) -> float:
    """Approximate expected Jensen-Shannon distance (natural log) between a uniform n-sample's
    frequencies over k categories and the population's: 8 n JSD ~ chi2(k-1), so
    E JS distance <= sqrt((k-1) / (8 n)) (Jensen), times sqrt(1 - n/N)."""
    if n >= total or categories < 2:
        return 0.0
    return math.sqrt((categories - 1) / (8 * n)) * math.sqrt(1 - n / total)


def _column_error(
    method: str, ref_full: pd.Series, cur_full: pd.Series, n_ref: int, n_cur: int, norm: float
) -> float | None:
    """Bound on |sampled score - exact score| by the triangle inequality (both metrics)."""
    if len(ref_full) <= n_ref and len(cur_full) <= n_cur:
        return 0.0
    lowered = method.lower()
    if "wasserstein" in lowered:
        ref_v = pd.to_numeric(ref_full, errors="coerce").to_numpy(float)
        cur_v = pd.to_numeric(cur_full, errors="coerce").to_numpy(float)
        return (wasserstein_error(ref_v, n_ref) + wasserstein_error(cur_v, n_cur)) / max(
            norm, 0.001
        )
    if "jensen" in lowered:
        k = int(pd.concat([ref_full, cur_full]).nunique())
        if k > 20 and pd.api.types.is_numeric_dtype(ref_full):
            k = int(math.ceil(math.log2(len(ref_full) + len(cur_full))) + 1)  # sturges bins
        return js_error(k, n_ref, len(ref_full)) + js_error(k, n_cur, len(cur_full))
    return None


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
    if len(current) < policy.min_rows:
        result.message = (
            f"{len(current)} current row(s), the policy needs at least {policy.min_rows}"
        )
        return result
    if len(reference) < policy.min_rows:
        result.message = (
            f"{len(reference)} reference row(s), the policy needs at least {policy.min_rows}"
        )
        return result

    reference = _coerce(reference, schema, "reference")
    current = _coerce(current, schema, "current")
    if label not in current.columns:
        current[label] = np.nan
    current[label] = pd.to_numeric(current[label], errors="coerce")
    labelled = current[label].notna()
    result.labelled_rows = int(labelled.sum())
    perf_rule = policy.performance
    with_labels = result.labelled_rows >= perf_rule.min_labelled_rows and label in reference

    # Exact regression metrics on every labelled row (they decide degradation).
    if with_labels:
        metrics = regression_metrics(
            current.loc[labelled, label].to_numpy(float),
            current.loc[labelled, pred].to_numpy(float),
        )
        baseline = (baseline_metrics or {}).get(f"test_{perf_rule.metric}")
        limit = baseline * (1 + perf_rule.max_increase) if baseline is not None else None
        value = metrics[perf_rule.metric]
        result.degraded = bool(limit is not None and value > limit)
        result.performance = {
            **metrics,
            "labelled_rows": result.labelled_rows,
            "metric": perf_rule.metric,
            "baseline": baseline,
            "limit": limit,
            "degraded": result.degraded,
        }
    else:
        result.performance = None

    columns = [c for c in schema.feature_names if c not in result.ignored_columns]
    keep = [*schema.feature_names, pred] + ([label] if with_labels else [])
    ref_s = _sample(reference[keep], sample_rows, seed)
    cur_s = _sample(current[keep], sample_rows, seed + 1)
    result.rows_compared, result.reference_rows_compared = len(cur_s), len(ref_s)
    result.sampled = len(ref_s) < len(reference) or len(cur_s) < len(current)

    snapshot = _run_evidently(
        ref_s,
        cur_s,
        schema,
        policy,
        columns,
        pred,
        label if with_labels else None,
        limit=(result.performance or {}).get("limit"),
        metadata=metadata,
        tags=tags,
    )
    result.snapshot = snapshot
    _read_tests(result, snapshot, pred)

    # Error bounds of sampled scores, and the scores themselves.
    norm = {c: float(np.std(ref_s[c])) for c in [*schema.numeric_features, pred]}
    for name, info in [*result.columns.items(), (pred, result.prediction_drift or {})]:
        if not info:
            continue
        info["sampling_error"] = _column_error(
            info.get("method") or "",
            reference[name],
            current[name],
            len(ref_s),
            len(cur_s),
            norm.get(name, 1.0),
        )

    rule_share = policy.drift.share
    critical = [c for c in policy.drift.critical_columns if c in result.drifted_columns]
    if result.data_drift:
        result.reasons.append(
            f"data drift: {len(result.drifted_columns)} of {len(columns)} feature columns "
            f"drifted (share {result.drift_share:.2f} >= {result.share_threshold:.2f})"
        )
    if critical:
        result.data_drift = True
        result.reasons.append(f"critical column(s) drifted: {', '.join(critical)}")
    pdrift = result.prediction_drift or {}
    if pdrift.get("drifted") and policy.drift.prediction_drift_flags:
        result.data_drift = True
        result.reasons.append(f"prediction drift (score {pdrift['score']:.3f})")
    if result.degraded:
        perf = result.performance or {}
        result.reasons.append(
            f"degradation: {perf['metric']} {perf[perf['metric']]:.4g} > limit {perf['limit']:.4g} "
            f"(test {perf['baseline']:.4g} + {perf_rule.max_increase:.0%})"
        )
    result.status = "drift" if (result.data_drift or result.degraded) else "no_drift"
    result.retrain_advised = ("drift" in policy.retrain_on and result.data_drift) or (
        "degradation" in policy.retrain_on and result.degraded
    )
    result.message = "; ".join(result.reasons) or (
        f"no drift: {len(result.drifted_columns)} of {len(columns)} feature columns drifted "
        f"(share {result.drift_share or 0:.2f} < {result.share_threshold or rule_share:.2f})"
    )
    return result


def _run_evidently(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    schema: DatasetSchema,
    policy: Policy,
    columns: list[str],
    pred: str,
    label: str | None,
    *,
    limit: float | None,
    metadata: dict[str, Any] | None,
    tags: list[str] | None,
):
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset, RegressionPreset
    from evidently.tests import lte

    rule = policy.drift
    numeric = [*schema.numeric_features, pred] + ([label] if label else [])
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=list(schema.categorical_features),
        regression=[Regression(target=label, prediction=pred)] if label else None,
    )
    per_method = {c: r.method for c, r in rule.columns.items() if r.method and c in columns}
    per_threshold = {
        c: r.threshold for c, r in rule.columns.items() if r.threshold and c in columns
    }
    items: list = [
        DataDriftPreset(
            columns=columns,
            drift_share=rule.share,
            method=rule.method,
            threshold=rule.threshold,
            per_column_method=per_method or None,
            per_column_threshold=per_threshold or None,
        ),
        ValueDrift(column=pred, method=rule.method, threshold=rule.threshold),
        DataSummaryPreset(),
    ]
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
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return report.run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )


def _read_tests(result: Analysis, snapshot, pred: str) -> None:
    """Per-column drift and the drifted share, from Evidently's test statuses and metrics."""
    data = snapshot.dict()
    scores: dict[str, dict[str, Any]] = {}
    for metric in data["metrics"]:
        config = metric.get("config") or {}
        if config.get("type") == VALUE_DRIFT:
            scores[config["column"]] = {
                "score": _num(metric.get("value")),
                "method": config.get("method"),
                "threshold": config.get("threshold"),
            }
        elif config.get("type") == DRIFTED_COUNT:
            value = metric.get("value") or {}
            result.drift_share = _num(value.get("share"))
            result.share_threshold = config.get("drift_share")
    for test in data["tests"]:
        params = (test.get("metric_config") or {}).get("params") or {}
        status = str(test.get("status", "")).rsplit(".", 1)[-1].upper()
        if params.get("type") == VALUE_DRIFT:
            column = params.get("column")
            scores.setdefault(column, {})
            scores[column]["drifted"] = status == "FAIL"
            scores[column]["test_status"] = status
        elif params.get("type") == DRIFTED_COUNT:
            result.data_drift = status == "FAIL"
    result.prediction_drift = scores.pop(pred, None)
    result.columns = scores
    result.drifted_columns = sorted(c for c, s in scores.items() if s.get("drifted"))


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out
