"""The monitoring core on a multi-class classifier's frames (a fitted scikit-learn
pipeline's predictions and probabilities): per-class quality, f1_macro by default, and drift
of the predicted class distribution and of each class's probability."""

from __future__ import annotations

import pandas as pd
import pytest
from registered import MULTI, classifier_folder, customers

from mlops_core.errors import DataQualityError
from mlops_core.schema import load_schema
from model_monitoring.analysis import analyse, prediction_column, probability_columns
from model_monitoring.performance import classification_metrics
from model_monitoring.policy import load_policy


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    folder = classifier_folder(tmp_path_factory.mktemp("models"), "tiers", classes=MULTI)
    schema = load_schema(folder / "schema.yaml")
    train = customers(schema, 3000, seed=1)
    pre = ColumnTransformer(
        [("num", StandardScaler(), schema.numeric_features),
         ("cat", OneHotEncoder(), schema.categorical_features)]
    )  # fmt: skip
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))])
    model.fit(train[schema.feature_names], train[schema.label.name])
    return schema, model, load_policy(folder / "monitor.yaml")


def _scored(schema, model, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out[prediction_column(schema)] = model.predict(frame[schema.feature_names])
    proba = model.predict_proba(frame[schema.feature_names])
    for i, cls in enumerate(model.classes_):
        out[probability_columns(schema)[cls]] = proba[:, i]
    return out


def test_multiclass_quality_per_class_and_f1_macro_by_default(setup):
    schema, model, policy = setup
    reference = _scored(schema, model, customers(schema, 3000, seed=2))
    current = _scored(schema, model, customers(schema, 2000, seed=3))
    result = analyse(reference, current, schema, policy, baseline_metrics={"test_f1_macro": 0.6})
    perf = result.performance
    assert result.status == "no_drift", result.message
    assert perf.metric == "f1_macro" and perf.value == perf.f1_macro and perf.degraded is False
    assert perf.limit == pytest.approx(0.54)
    assert set(perf.per_class) == set(MULTI)
    assert sum(c.support for c in perf.per_class.values()) == 2000
    assert perf.roc_auc and 0.5 < perf.roc_auc <= 1 and perf.brier and perf.log_loss
    assert set(result.probability_drift) == set(MULTI)  # several classes: each probability
    assert result.prediction_drift.drifted is False
    # The exact figures are scikit-learn's over every labelled row.
    from sklearn.metrics import f1_score

    assert perf.f1_macro == pytest.approx(
        f1_score(current["churned"], current[prediction_column(schema)], average="macro")
    )


def test_a_moved_class_distribution_is_prediction_drift(setup):
    schema, model, policy = setup
    reference = _scored(schema, model, customers(schema, 3000, seed=2))
    current = _scored(schema, model, customers(schema, 2000, seed=4, shift=25.0))
    current["churned"] = None  # no feedback yet
    result = analyse(reference, current, schema, policy)
    assert result.prediction_drift.drifted and result.performance is None
    assert any(info.drifted for info in result.probability_drift.values())
    assert "tenure" in result.drifted_columns


def test_a_class_the_schema_does_not_list_is_named(setup):
    schema, model, policy = setup
    reference = _scored(schema, model, customers(schema, 300, seed=2))
    current = reference.copy()
    current.loc[5, prediction_column(schema)] = "gold"
    with pytest.raises(DataQualityError, match=r"predicted class\(es\) 'gold'"):
        analyse(reference, current, schema, policy)


def test_binary_metrics_on_a_hand_computed_case():
    truth, predicted = ["no", "yes", "yes", "no"], ["no", "yes", "no", "no"]
    proba = pd.DataFrame({"no": [0.9, 0.2, 0.6, 0.7], "yes": [0.1, 0.8, 0.4, 0.3]})
    scores, per_class = classification_metrics(truth, predicted, ("no", "yes"), proba)
    assert scores["accuracy"] == 0.75 and scores["balanced_accuracy"] == 0.75
    assert scores["roc_auc"] == 1.0  # every "yes" ranks above every "no"
    assert scores["brier"] == pytest.approx((0.01 + 0.04 + 0.36 + 0.09) / 4)
    assert per_class["yes"].recall == 0.5 and per_class["yes"].precision == 1.0
    assert per_class["no"].support == 2 and per_class["no"].predicted == 3
    without, _ = classification_metrics(truth, predicted, ("no", "yes"), None)
    assert without["roc_auc"] is None and without["accuracy"] == 0.75


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    """A binary classifier whose schema lists the positive class first (churn: yes, no)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    folder = classifier_folder(tmp_path_factory.mktemp("models"), "churn", classes=("yes", "no"))
    schema = load_schema(folder / "schema.yaml")
    pre = ColumnTransformer(
        [("num", StandardScaler(), schema.numeric_features),
         ("cat", OneHotEncoder(), schema.categorical_features)]
    )  # fmt: skip
    model = Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))])
    train = customers(schema, 3000, seed=1)
    model.fit(train[schema.feature_names], train[schema.label.name])
    return schema, model, load_policy(folder / "monitor.yaml")


def _metric_names(result) -> set[str]:
    """The types of the metrics the run's Evidently snapshot holds."""
    return {m["config"]["type"].rsplit(":", 1)[-1] for m in result.snapshot.dict()["metrics"]}


def test_a_partly_labelled_window_is_judged_on_its_labelled_rows(binary):
    """Feedback came for the first half of the window only (the unlabelled rows last):
    Evidently's ROC curve would read them as a class of their own and fail, so its
    quality metrics run without probabilities; the run's scores are the labelled rows'."""
    schema, model, policy = binary
    reference = _scored(schema, model, customers(schema, 2000, seed=2))
    current = _scored(schema, model, customers(schema, 1000, seed=3))
    truth = current["churned"].copy()
    current.loc[current.index[500:], "churned"] = None
    result = analyse(reference, current, schema, policy)
    perf = result.performance
    assert result.labelled_rows == perf.labelled_rows == 500
    from sklearn.metrics import roc_auc_score

    head = current.iloc[:500]
    proba = probability_columns(schema)["yes"]
    assert perf.roc_auc == pytest.approx(roc_auc_score(truth.iloc[:500] == "yes", head[proba]))
    names = _metric_names(result)
    assert "Accuracy" in names and "RocAuc" not in names

    current["churned"] = truth  # every label back: Evidently's whole preset, curves too
    assert "RocAuc" in _metric_names(analyse(reference, current, schema, policy))
