"""Regression quality of labelled traffic and the degradation rule, on hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_monitoring.performance import judge, regression_metrics
from model_monitoring.policy import PerformanceRule

TRUE = np.array([1.0, 2.0, 3.0])
PRED = np.array([1.0, 2.0, 5.0])  # errors 0, 0, 2


def test_metrics_of_a_known_case():
    m = regression_metrics(TRUE, PRED)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["mean_error"] == pytest.approx(2 / 3)  # over-predicting is positive
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_r2_is_none_when_every_label_is_the_same():
    assert regression_metrics(np.array([2.0, 2.0]), np.array([1.0, 3.0]))["r2"] is None


def test_degraded_only_above_the_baseline_plus_the_allowed_increase():
    rule = PerformanceRule(metric="mae", max_increase=0.25)
    at_limit = judge(TRUE, PRED, rule, {"test_mae": (2 / 3) / 1.25})
    assert at_limit.limit == pytest.approx(2 / 3) and at_limit.degraded is False
    above = judge(TRUE, PRED, rule, {"test_mae": 0.5})
    assert above.degraded is True and above.labelled_rows == 3 and above.baseline == 0.5
    assert judge(TRUE, PRED, rule, {}).degraded is False  # no baseline: nothing to exceed


@pytest.mark.parametrize("classes", [["yes", "no"], ["no", "yes"]])
def test_log_loss_reads_each_class_column_whatever_the_schema_order(classes):
    """The schema lists a binary label's classes in its own order (churn: yes, no); the log
    loss is the mean of -log(probability of the true class) either way."""
    import pandas as pd

    from model_monitoring.performance import classification_metrics

    y_true = ["yes", "no", "no", "yes"]
    p_yes = [0.9, 0.2, 0.4, 0.6]
    probabilities = pd.DataFrame({"yes": p_yes, "no": [1 - p for p in p_yes]})
    metrics, _ = classification_metrics(y_true, y_true, classes, probabilities)
    expected = -np.mean([math.log(0.9), math.log(0.8), math.log(0.6), math.log(0.6)])
    assert metrics["log_loss"] == pytest.approx(expected)


def test_several_classes_in_the_schemas_own_order_are_scored():
    """A multi-class schema lists its classes as the data scientist wrote them (penguins:
    adelie, gentoo, chinstrap); ROC AUC is the one-vs-rest macro average either way."""
    import pandas as pd

    from model_monitoring.performance import classification_metrics

    classes = ["adelie", "gentoo", "chinstrap"]
    y_true = ["adelie", "gentoo", "chinstrap", "adelie", "gentoo", "chinstrap"]
    probabilities = pd.DataFrame(
        {
            "adelie": [0.8, 0.1, 0.1, 0.3, 0.2, 0.2],
            "gentoo": [0.1, 0.7, 0.2, 0.4, 0.6, 0.1],
            "chinstrap": [0.1, 0.2, 0.7, 0.3, 0.2, 0.7],
        }
    )
    metrics, _ = classification_metrics(y_true, y_true, classes, probabilities)
    from sklearn.metrics import roc_auc_score

    per_class = [roc_auc_score([t == c for t in y_true], probabilities[c]) for c in classes]
    assert metrics["roc_auc"] == pytest.approx(np.mean(per_class))
