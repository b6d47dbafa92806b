"""Metrics by scikit-learn's names, weighted so the bootstrap is cheap.

Regression: rmse, mae, r2, mape (a fraction). Classification: accuracy, balanced_accuracy,
f1_macro, roc_auc (one-vs-rest macro average with several classes), log_loss and brier
(the mean one-vs-rest Brier score; with two classes it equals the binary Brier score).
Unweighted they equal scikit-learn's functions (tested against them). A bootstrap
resample is a vector of row counts (weights), so one sort of the scores serves every
resample of roc_auc.

Classification inputs: `y` the class indices in the schema's order, `proba` the
probabilities with one column per schema class (schema order), `pred` the predicted class
indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model_training.config import LOWER_IS_BETTER

_EPS = np.finfo(np.float64).eps


def regression_scorer(y: np.ndarray, y_pred: np.ndarray) -> Callable[..., dict[str, float]]:
    y = np.asarray(y, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    err = y - y_pred
    sq, ab = err**2, np.abs(err)
    ape = ab / np.maximum(np.abs(y), _EPS)

    def score(w: np.ndarray | None = None) -> dict[str, float]:
        if w is None:
            w = np.ones(len(y))
        total = w.sum()
        mean_y = (w * y).sum() / total
        ss_res = (w * sq).sum()
        ss_tot = (w * (y - mean_y) ** 2).sum()
        # scikit-learn's convention for a constant label: 1 when perfect, else 0.
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float(ss_res == 0)
        return {
            "rmse": float(np.sqrt(ss_res / total)),
            "mae": float((w * ab).sum() / total),
            "r2": float(r2),
            "mape": float((w * ape).sum() / total),
        }

    return score


def _auc_parts(score: np.ndarray, positive: np.ndarray):
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts, positive[order]


def _auc(parts, w: np.ndarray) -> float:
    order, starts, positive = parts
    ww = w[order]
    wp = np.add.reduceat(ww * positive, starts)
    wn = np.add.reduceat(ww * ~positive, starts)
    p, n = wp.sum(), wn.sum()
    if p == 0 or n == 0:
        return float("nan")
    below = np.cumsum(wn) - wn
    return float((wp * (below + 0.5 * wn)).sum() / (p * n))


def classification_scorer(
    y: np.ndarray, proba: np.ndarray, pred: np.ndarray
) -> Callable[..., dict[str, float]]:
    y = np.asarray(y, dtype=int)
    pred = np.asarray(pred, dtype=int)
    proba = np.asarray(proba, dtype=float)
    k = proba.shape[1]
    onehot = np.eye(k, dtype=bool)[y]
    pred_onehot = np.eye(k, dtype=bool)[pred]
    correct = y == pred
    clipped = np.clip(proba, _EPS, 1 - _EPS)
    row_loss = -np.log(clipped[np.arange(len(y)), y] / clipped.sum(axis=1))
    brier = ((proba - onehot) ** 2).mean(axis=1)  # mean over classes of one-vs-rest
    auc_parts = (
        [_auc_parts(proba[:, 1], y == 1)]
        if k == 2
        else [_auc_parts(proba[:, j], y == j) for j in range(k)]
    )

    def score(w: np.ndarray | None = None) -> dict[str, float]:
        if w is None:
            w = np.ones(len(y))
        total = w.sum()
        support = (w[:, None] * onehot).sum(axis=0)
        predicted = (w[:, None] * pred_onehot).sum(axis=0)
        tp = (w[:, None] * (onehot & pred_onehot)).sum(axis=0)
        in_true = support > 0
        in_either = in_true | (predicted > 0)
        recall = np.divide(tp, support, out=np.zeros(k), where=in_true)
        denominator = support + predicted
        f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
        aucs = [_auc(parts, w) for parts in auc_parts]
        aucs = [a for a in aucs if np.isfinite(a)]
        return {
            "accuracy": float((w * correct).sum() / total),
            "balanced_accuracy": float(recall[in_true].mean()),
            "f1_macro": float(f1[in_either].mean()),
            "roc_auc": float(np.mean(aucs)) if aucs else float("nan"),
            "log_loss": float((w * row_loss).sum() / total),
            "brier": float((w * brier).sum() / total),
        }

    return score


def oriented(metric: str, value: float) -> float:
    """A score where higher is better (the negative of an error)."""
    return -value if LOWER_IS_BETTER[metric] else value


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def bootstrap_weights(n: int, resamples: int, seed: int):
    """`resamples` vectors of row counts of a resample with replacement (seeded)."""
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.bincount(rng.integers(0, n, n), minlength=n).astype(float)


def bootstrap(
    scorers: dict[str, Callable[..., dict[str, float]]],
    metric: str,
    n: int,
    resamples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """`metric` of every scorer on the same resamples of the n rows (paired)."""
    out: dict[str, list[float]] = {name: [] for name in scorers}
    for w in bootstrap_weights(n, resamples, seed):
        for name, scorer in scorers.items():
            out[name].append(scorer(w)[metric])
    return {name: np.asarray(values) for name, values in out.items()}


def interval(values: np.ndarray, level: float = 0.95) -> Interval:
    values = values[np.isfinite(values)]
    if not len(values):
        return Interval(float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high))
