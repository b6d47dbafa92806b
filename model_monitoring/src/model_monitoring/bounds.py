"""Confidence intervals of the degradation metric on the labelled rows: a seeded bootstrap,
vectorised with numpy, of bounded cost.

Every metric is written as a function of weighted column sums of a per-row matrix X (a
squared error, a hit, a class indicator, ...). A bootstrap resample is a row of counts W
(how often each labelled row was drawn), so all resamples of a chunk are one matrix product
W @ X; ROC AUC, a rank statistic, sums the weights of tied score groups in score order
instead. Nothing loops over resamples in Python.

Cost: resamples x max_rows cells at most, whatever the window. Up to `max_rows` labelled
rows it is the plain percentile bootstrap. Above, the bootstrap runs on a uniform random
subsample of m = max_rows rows, and the spread of its resamples around the subsample's own
value is scaled by sqrt(m / n) around the full-sample value: every metric here converges
at that rate (smooth functions of means, or a U-statistic for ROC AUC).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_RESAMPLES = 1000
DEFAULT_MAX_ROWS = 20_000
# Resamples with an undefined metric (a class missing from the draw) beyond this share make
# the interval unknown rather than biased.
MAX_UNDEFINED = 0.05
_CHUNK_CELLS = 2_000_000  # counts matrix cells per chunk (16 MB of float64)


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    confidence: float
    resamples: int
    rows: int  # rows each resample draws: every labelled row, at most max_rows


@dataclass
class _Statistic:
    """A metric as f(S, n): S the (resamples x k) weighted column sums of X, n the rows."""

    x: np.ndarray  # (n, k)
    f: Callable[[np.ndarray, float], np.ndarray]
    auc: list[tuple[np.ndarray, np.ndarray]] | None = None  # (scores, positives) per class

    @property
    def rows(self) -> int:
        return (self.auc[0][0] if self.auc else self.x).shape[0]

    def take(self, rows: np.ndarray) -> _Statistic:
        auc = [(s[rows], p[rows]) for s, p in self.auc] if self.auc else None
        return _Statistic(self.x[rows], self.f, auc)


def _mean(values: np.ndarray, then: Callable[[np.ndarray], np.ndarray] | None = None):
    def f(s: np.ndarray, n: float) -> np.ndarray:
        mean = s[:, 0] / n
        return then(mean) if then else mean

    return _Statistic(values.astype(float)[:, None], f)


def regression_statistic(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> _Statistic:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    error = y_pred - y_true
    if metric == "rmse":
        return _mean(error**2, np.sqrt)
    if metric == "mae":
        return _mean(np.abs(error))
    if metric == "mape":  # scikit-learn's: |error| / max(|y|, eps)
        return _mean(np.abs(error) / np.maximum(np.abs(y_true), np.finfo(float).eps))
    if metric == "r2":

        def r2(s: np.ndarray, n: float) -> np.ndarray:
            total = s[:, 2] - s[:, 1] ** 2 / n
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(total > 0, 1 - s[:, 0] / total, np.nan)

        return _Statistic(np.column_stack([error**2, y_true, y_true**2]), r2)
    raise ValueError(f"no interval for regression metric {metric!r}")


def classification_statistic(
    metric: str,
    y_true: Sequence[str],
    y_pred: Sequence[str],
    classes: Sequence[str],
    probabilities: pd.DataFrame | None,
) -> _Statistic | None:
    """The metric as performance.classification_metrics computes it; None when it needs
    probabilities that were not logged."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = list(classes)
    seen = [c for c in labels if (y_true == c).any()]
    truth = np.column_stack([(y_true == c) for c in labels]).astype(float)
    if metric == "accuracy":
        return _mean(y_true == y_pred)
    if metric in ("balanced_accuracy", "f1_macro"):
        k = len(labels)
        hit = truth * (y_true == y_pred)[:, None]
        predicted = np.column_stack([(y_pred == c) for c in labels]).astype(float)
        keep = np.array([c in seen for c in labels])

        def balanced(s: np.ndarray, n: float) -> np.ndarray:
            support, tp = s[:, :k], s[:, k : 2 * k]
            with np.errstate(divide="ignore", invalid="ignore"):
                recall = np.where(support > 0, tp / support, np.nan)
            return np.nanmean(recall, axis=1)  # over the classes in the draw, as sklearn

        def f1(s: np.ndarray, n: float) -> np.ndarray:
            support, tp, pred = s[:, :k], s[:, k : 2 * k], s[:, 2 * k :]
            denominator = support + pred
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(denominator > 0, 2 * tp / denominator, 0.0)
            return score[:, keep].mean(axis=1)  # over the classes seen in the window

        x = np.column_stack([truth, hit, predicted])
        return _Statistic(x, balanced if metric == "balanced_accuracy" else f1)
    if probabilities is None:
        return None
    proba = probabilities[labels].to_numpy(float)
    if metric == "brier":
        return _mean(np.mean((proba - truth) ** 2, axis=1))
    if metric == "log_loss":
        clipped = np.clip(proba, 1e-15, 1)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        return _mean(-np.log((clipped * truth).sum(axis=1)))
    if metric == "roc_auc":
        if len(labels) == 2:
            pos = sorted(labels)[-1]  # scikit-learn's positive class
            pairs = [(proba[:, labels.index(pos)], y_true == pos)]
        else:  # one-vs-rest macro over the labelled classes, probabilities renormalised
            present = [labels.index(c) for c in sorted(seen)]
            sub = proba[:, present]
            sub = sub / sub.sum(axis=1, keepdims=True)
            pairs = [(sub[:, i], y_true == labels[j]) for i, j in enumerate(present)]
        return _Statistic(np.zeros((len(y_true), 0)), lambda s, n: s, auc=pairs)
    raise ValueError(f"no interval for classification metric {metric!r}")


def _auc(weights: np.ndarray, scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC of each row of `weights` (resamples x n): ties count one half."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    w = weights[:, order]
    pos = positive[order].astype(float)
    pos_w = np.add.reduceat(w * pos, starts, axis=1)
    neg_w = np.add.reduceat(w * (1 - pos), starts, axis=1)
    below = np.cumsum(neg_w, axis=1) - neg_w  # negatives scored strictly lower
    total = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos_w * (below + 0.5 * neg_w)).sum(axis=1) / total, np.nan)


def _evaluate(stat: _Statistic, weights: np.ndarray, n: float) -> np.ndarray:
    if stat.auc is not None:
        per_class = np.column_stack([_auc(weights, s, p) for s, p in stat.auc])
        return per_class.mean(axis=1)  # nan when a class has no positive in the draw
    return stat.f(weights @ stat.x, n)


def bootstrap(
    stat: _Statistic | None,
    confidence: float,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    max_rows: int = DEFAULT_MAX_ROWS,
    seed: int = 0,
) -> Interval | None:
    """The percentile interval of the statistic at `confidence`; None when it cannot be
    computed (no statistic, fewer than two rows, or too many undefined resamples)."""
    if stat is None or stat.rows < 2:
        return None
    n = stat.rows
    point = float(_evaluate(stat, np.ones((1, n)), n)[0])
    if not np.isfinite(point):
        return None
    rng = np.random.default_rng(seed)
    sub, center, m = stat, point, n
    if n > max_rows:
        m = max_rows
        sub = stat.take(np.sort(rng.choice(n, size=m, replace=False)))
        center = float(_evaluate(sub, np.ones((1, m)), m)[0])
        if not np.isfinite(center):
            return None
    chunk = max(1, min(resamples, _CHUNK_CELLS // m))
    values = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        drawn = rng.integers(0, m, size=(b, m)) + np.arange(b)[:, None] * m
        weights = np.bincount(drawn.ravel(), minlength=b * m).reshape(b, m).astype(float)
        values.append(_evaluate(sub, weights, m))
    found = np.concatenate(values)
    defined = found[np.isfinite(found)]
    if len(defined) < (1 - MAX_UNDEFINED) * resamples:
        return None
    alpha = 1 - confidence
    lo, hi = np.quantile(defined, [alpha / 2, 1 - alpha / 2])
    scale = np.sqrt(m / n)
    return Interval(
        lo=float(point + (lo - center) * scale),
        hi=float(point + (hi - center) * scale),
        confidence=confidence,
        resamples=resamples,
        rows=m,
    )
