"""Regression quality of the labelled traffic and the policy's degradation rule. Computed
exactly on every labelled row (never on Evidently's sample): these figures decide."""

from __future__ import annotations

import numpy as np

from mlops_core.contracts.monitor import Performance
from model_monitoring.policy import PerformanceRule


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """rmse, mae, mean_error and r2 (None when every label is the same)."""
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    # R2 is undefined when every label is the same (sklearn would say 0 or 1).
    r2 = float(r2_score(y_true, y_pred)) if np.ptp(y_true) > 0 else None
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mean_error": float(np.mean(y_pred - y_true)),
        "r2": r2,
    }


def judge(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    rule: PerformanceRule,
    baseline_metrics: dict[str, float] | None,
) -> Performance:
    """Degraded when the rule's metric exceeds the version's test metric by more than the
    allowed increase (no baseline: never degraded)."""
    metrics = regression_metrics(y_true, y_pred)
    baseline = (baseline_metrics or {}).get(f"test_{rule.metric}")
    limit = baseline * (1 + rule.max_increase) if baseline is not None else None
    value = metrics[rule.metric]
    return Performance(
        **metrics,
        labelled_rows=len(y_true),
        metric=rule.metric,
        baseline=baseline,
        limit=limit,
        degraded=bool(limit is not None and value is not None and value > limit),
    )
