"""Quality of the labelled traffic and the policy's degradation rule. Computed exactly on
every labelled row with scikit-learn (never on Evidently's sample): these figures decide.

Regression: rmse, mae, mape, mean_error, r2. Classification: accuracy, balanced_accuracy,
f1_macro, roc_auc (one-vs-rest macro for several classes), log_loss and brier from the
logged probabilities, and each class's precision, recall, F1 and ROC AUC. The policy's
metric also gets a bootstrap confidence interval (`bounds`): a rollback needs all of it
beyond the limit, an alert only the value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlops_core.contracts.constants import Task
from mlops_core.contracts.monitor import ClassMetrics, Performance
from model_monitoring import bounds
from model_monitoring.policy import NEEDS_PROBABILITIES, PerformanceRule


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    """rmse, mae, mape, mean_error and r2 (None when every label is the same)."""
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    # R2 is undefined when every label is the same (sklearn would say 0 or 1).
    r2 = float(r2_score(y_true, y_pred)) if np.ptp(y_true) > 0 else None
    return {
        "rmse": float(root_mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mape": float(mean_absolute_percentage_error(y_true, y_pred)),
        "mean_error": float(np.mean(y_pred - y_true)),
        "r2": r2,
    }


def positive_class(classes: Sequence[str]) -> str:
    """scikit-learn's positive class of a binary problem: the last in sorted order."""
    return sorted(classes)[-1]


def classification_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    classes: Sequence[str],
    probabilities: pd.DataFrame | None = None,
) -> tuple[dict[str, float | None], dict[str, ClassMetrics]]:
    """Scores over every labelled row and per class. `probabilities`: one column per class
    (the schema's classes), rows aligned with y_true; None when none were logged."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = list(classes)
    seen = [c for c in labels if (y_true == c).any()]
    out: dict[str, float | None] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # Over the classes that were labelled (sklearn's own choice for balanced accuracy).
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0)),
        "roc_auc": None,
        "log_loss": None,
        "brier": None,
    }
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        c: ClassMetrics(
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
            predicted=int((y_pred == c).sum()),
        )
        for i, c in enumerate(labels)
    }
    if probabilities is not None:
        proba = probabilities[labels].to_numpy(float)
        onehot = np.column_stack([(y_true == c).astype(float) for c in labels])
        # Binary: the usual Brier score; several classes: the mean one-vs-rest score.
        out["brier"] = float(np.mean((proba - onehot) ** 2))
        clipped = np.clip(proba, 1e-15, 1)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        # sklearn's log_loss reads the columns in sorted label order, whatever `labels` says.
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        out["log_loss"] = float(
            log_loss(y_true, clipped[:, order], labels=[labels[i] for i in order])
        )
        if len(seen) >= 2:
            if len(labels) == 2:
                pos = positive_class(labels)
                out["roc_auc"] = float(roc_auc_score(y_true == pos, probabilities[pos]))
            else:
                # sklearn wants the labels sorted, with y_score's columns in that order.
                seen = sorted(seen)
                present = [labels.index(c) for c in seen]
                sub = proba[:, present]
                out["roc_auc"] = float(
                    roc_auc_score(y_true, sub / sub.sum(axis=1, keepdims=True), multi_class="ovr",
                                  labels=seen, average="macro")
                )  # fmt: skip
        for i, c in enumerate(labels):
            positives = y_true == c
            if 0 < positives.sum() < len(y_true):
                per_class[c].roc_auc = float(roc_auc_score(positives, proba[:, i]))
    return out, per_class


def judge(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    rule: PerformanceRule,
    baseline_metrics: dict[str, float] | None,
    *,
    metric: str | None = None,
    seed: int = 0,
) -> Performance:
    """Regression: degraded when the rule's metric is beyond the version's test metric by
    more than the allowed change (no baseline: never degraded)."""
    metrics = regression_metrics(y_true, y_pred)
    metric = metric or rule.metric or "rmse"
    interval = bounds.bootstrap(
        bounds.regression_statistic(metric, y_true, y_pred), rule.confidence, seed=seed
    )
    return _verdict(Task.REGRESSION, metrics, len(y_true), metric, rule, baseline_metrics,
                    interval)  # fmt: skip


def judge_classification(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    classes: Sequence[str],
    probabilities: pd.DataFrame | None,
    rule: PerformanceRule,
    baseline_metrics: dict[str, float] | None,
    *,
    metric: str,
    seed: int = 0,
) -> Performance:
    """Classification: the scores, per class, and the rule's verdict on `metric`."""
    metrics, per_class = classification_metrics(y_true, y_pred, classes, probabilities)
    interval = None
    if metrics.get(metric) is not None:
        stat = bounds.classification_statistic(metric, y_true, y_pred, classes, probabilities)
        interval = bounds.bootstrap(stat, rule.confidence, seed=seed)
    performance = _verdict(
        Task.CLASSIFICATION, metrics, len(y_true), metric, rule, baseline_metrics, interval
    )
    performance.per_class = per_class
    if performance.value is None and performance.note is None:
        performance.note = (
            f"{metric} needs the class probabilities, and the labelled rows have none logged"
            if metric in NEEDS_PROBABILITIES and probabilities is None
            else f"{metric} is undefined on these labels (a single class was reported)"
        )
    return performance


def _verdict(
    task: Task,
    metrics: dict[str, float | None],
    rows: int,
    metric: str,
    rule: PerformanceRule,
    baseline_metrics: dict[str, float] | None,
    interval: bounds.Interval | None = None,
) -> Performance:
    baseline = (baseline_metrics or {}).get(f"test_{metric}")
    limit = rule.limit(metric, baseline)
    value = metrics.get(metric)
    note = None
    if value is not None and baseline is None:
        note = f"the model version has no test_{metric} to compare with"
    if value is None:
        interval = None
    span = (interval.lo, interval.hi) if interval else None
    return Performance(
        **metrics,
        task=task,
        labelled_rows=rows,
        metric=metric,
        value=value,
        baseline=baseline,
        limit=limit,
        degraded=rule.beyond(metric, value, limit),
        interval=list(span) if span else None,
        confidence=interval.confidence if interval else None,
        interval_degraded=rule.interval_beyond(metric, span, limit),
        note=note,
    )
