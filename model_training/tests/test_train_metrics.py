"""The weighted metrics equal scikit-learn's (unweighted and with bootstrap row counts)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from model_training.metrics import (
    bootstrap,
    bootstrap_weights,
    classification_scorer,
    interval,
    regression_scorer,
)


def sklearn_classification(y, proba, pred, w=None) -> dict[str, float]:
    k = proba.shape[1]
    onehot = np.eye(k)[y]
    if k == 2:
        auc = skm.roc_auc_score(y, proba[:, 1], sample_weight=w)
        brier = skm.brier_score_loss(y, proba[:, 1], sample_weight=w)
    else:
        auc = skm.roc_auc_score(y, proba, multi_class="ovr", sample_weight=w)
        brier = np.mean(
            [skm.brier_score_loss(onehot[:, j], proba[:, j], sample_weight=w) for j in range(k)]
        )
    return {
        "accuracy": skm.accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred, sample_weight=w),
        "f1_macro": skm.f1_score(y, pred, average="macro", sample_weight=w),
        "roc_auc": auc,
        "log_loss": skm.log_loss(y, proba, labels=list(range(k)), sample_weight=w),
        "brier": brier,
    }


@pytest.mark.parametrize("k", [2, 3, 5])
def test_classification_metrics_equal_scikit_learns(k):
    rng = np.random.default_rng(k)
    n = 400
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    logits[:40] = np.round(logits[:40])  # ties in the scores
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    pred[:25] = rng.integers(0, k, 25)  # a predict that is not always the argmax
    ours = classification_scorer(y, proba, pred)
    assert ours() == pytest.approx(sklearn_classification(y, proba, pred), rel=1e-9, abs=1e-12)
    (w,) = list(bootstrap_weights(n, 1, seed=3))
    assert ours(w) == pytest.approx(sklearn_classification(y, proba, pred, w), rel=1e-9)


def test_binary_brier_is_the_mean_one_vs_rest_brier():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    scores = classification_scorer(y, proba, proba.argmax(axis=1))()
    assert scores["brier"] == pytest.approx(skm.brier_score_loss(y, proba[:, 1]))


def test_regression_metrics_equal_scikit_learns():
    rng = np.random.default_rng(0)
    y = rng.lognormal(3, 1, 300)
    pred = y * rng.normal(1, 0.2, 300)
    (w,) = list(bootstrap_weights(300, 1, seed=1))
    for weights in (None, w):
        expected = {
            "rmse": skm.root_mean_squared_error(y, pred, sample_weight=weights),
            "mae": skm.mean_absolute_error(y, pred, sample_weight=weights),
            "r2": skm.r2_score(y, pred, sample_weight=weights),
            "mape": skm.mean_absolute_percentage_error(y, pred, sample_weight=weights),
        }
        assert regression_scorer(y, pred)(weights) == pytest.approx(expected, rel=1e-9)


def test_the_bootstrap_is_paired_and_seeded():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    good, bad = regression_scorer(y, y + rng.normal(0, 0.5, 500)), regression_scorer(y, 0 * y)
    first = bootstrap({"good": good, "bad": bad}, "rmse", 500, 200, seed=4)
    again = bootstrap({"good": good, "bad": bad}, "rmse", 500, 200, seed=4)
    np.testing.assert_array_equal(first["good"], again["good"])
    spread = interval(first["good"])
    assert spread.low < good()["rmse"] < spread.high
    # Paired: every resample scores both on the same rows, so the good one wins each.
    assert (first["good"] < first["bad"]).all()
