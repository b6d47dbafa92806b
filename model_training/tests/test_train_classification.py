"""Classification on real data (scikit-learn's breast cancer table, shipped in its wheel):
the user's classes kept, probabilities in the schema's order, the task's metrics, the
selected model beside a plain LogisticRegression on the same split, the plots, the gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from train_helpers import breast_cancer_frame, breast_cancer_schema, classification_template

from mlops_core.errors import DataQualityError
from mlops_core.schema import DatasetSchema
from model_training.config import CLASSIFICATION_METRICS, Bound, Gate
from model_training.core import (
    build_pipeline,
    class_codes,
    class_probabilities,
    scorer,
    train,
    xy,
)
from model_training.gate import Champion, judge
from model_training.metrics import bootstrap, interval, oriented


def stratified_frames(frame: pd.DataFrame, label: str, seed: int = 42) -> dict:
    """70/15/15, stratified on the class (as ingestion splits a classifier's data)."""
    from sklearn.model_selection import train_test_split

    train_part, rest = train_test_split(
        frame, test_size=0.3, stratify=frame[label], random_state=seed
    )
    val, test = train_test_split(rest, test_size=0.5, stratify=rest[label], random_state=seed)
    return {
        k: v.reset_index(drop=True)
        for k, v in (("train", train_part), ("val", val), ("test", test))
    }


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    from model_training.config import load_config

    frame = breast_cancer_frame()
    schema = DatasetSchema.model_validate(breast_cancer_schema(frame))
    path = tmp_path_factory.mktemp("bc") / "train.yaml"
    path.write_text(classification_template())
    config = load_config(path, schema)[0]
    frames = stratified_frames(frame, "diagnosis")
    return schema, config, frames


@pytest.fixture(scope="module")
def trained(cancer):
    schema, config, frames = cancer
    return train(frames, schema, config)


def test_the_classifier_keeps_the_users_classes_and_reports_every_metric(cancer, trained):
    schema, config, frames = cancer
    assert config.metric == "roc_auc", "two classes: roc_auc, not plain accuracy"
    assert trained.task.value == "classification" and trained.classes == ("malignant", "benign")
    # 484 train+val rows: candidates compared by stratified 5-fold CV, refit on train+val.
    assert trained.selection == "cv" and trained.folds == 5
    assert trained.refit_rows == len(frames["train"]) + len(frames["val"])
    for split in ("train", "val", "test"):
        for metric in CLASSIFICATION_METRICS:
            assert np.isfinite(trained.metrics[f"{split}_{metric}"]), (split, metric)
    m = trained.metrics
    assert m["test_roc_auc_ci_low"] <= m["test_roc_auc"] <= m["test_roc_auc_ci_high"]
    assert m["test_roc_auc"] > 0.95 and m["test_balanced_accuracy"] > 0.9
    assert m["cv_roc_auc_std"] >= 0

    x_test, _y_test = xy(frames["test"], schema)
    predicted = trained.pipeline.predict(x_test)
    assert set(predicted) <= {"malignant", "benign"}, "the pipeline predicts the user's strings"
    # scikit-learn sorts classes_; the platform's probabilities follow the schema's order.
    assert list(trained.pipeline.classes_) == ["benign", "malignant"]
    proba = class_probabilities(trained.pipeline, x_test, schema.classes)
    raw = trained.pipeline.predict_proba(x_test)
    np.testing.assert_allclose(proba[:, 0], raw[:, 1])  # malignant
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (np.asarray(schema.classes)[proba.argmax(axis=1)] == predicted).mean() > 0.99


def test_the_selected_model_against_a_plain_logistic_regression(cancer, trained):
    """The figures the closing note quotes (printed with -s)."""
    from sklearn.linear_model import LogisticRegression

    schema, _config, frames = cancer
    x_train, y_train = xy(frames["train"], schema)
    x_test, y_test = xy(frames["test"], schema)
    plain = build_pipeline(schema, LogisticRegression()).fit(x_train, y_train)
    plain_scores = scorer(plain, x_test, y_test, schema)
    selected_scores = scorer(trained.pipeline, x_test, y_test, schema)
    resampled = bootstrap(
        {"selected": selected_scores, "plain": plain_scores}, "roc_auc", len(y_test), 500, 0
    )
    margin = interval(oriented("roc_auc", resampled["selected"]) - resampled["plain"])
    print(f"\nselected {trained.best.candidate} {trained.best.params}")
    for name, scores in (("selected", selected_scores()), ("plain LR", plain_scores())):
        print(f"  {name:9}", "  ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    print(f"  roc_auc margin selected - plain: 95% [{margin.low:+.4f}, {margin.high:+.4f}]")
    for b in trained.baselines:
        print(f"  baseline {b.name}: {b.test:.4f} ({b.verdict})")
    # Not worse than the plain model beyond the noise of this 85-row test split.
    assert margin.high >= 0
    assert selected_scores()["roc_auc"] > 0.95
    # The result says which baselines it beat, none of them beyond the split's noise.
    assert {b.name for b in trained.baselines} == {"linear", "random_forest", "gradient_boosting"}
    assert all(b.verdict != "worse" for b in trained.baselines)
    linear = next(b for b in trained.baselines if b.name == "linear")
    assert linear.estimator == "LogisticRegression"
    assert linear.beaten == (linear.selected_test > linear.test)


def test_calibration_plot_and_confusion_matrix(cancer, trained, tmp_path):
    from model_training.artifacts import calibration_plot, confusion_plot

    schema, _, frames = cancer
    x_test, y_test = xy(frames["test"], schema)
    y = class_codes(y_test, schema.classes)
    pred = class_codes(trained.pipeline.predict(x_test), schema.classes)
    proba = class_probabilities(trained.pipeline, x_test, schema.classes)
    calibration_plot(y, proba, schema.classes, tmp_path / "calibration.png")
    counts = confusion_plot(y, pred, schema.classes, tmp_path / "confusion.png")
    for name in ("calibration.png", "confusion.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert counts.sum() == len(y_test)
    assert counts[0].sum() == (y_test == "malignant").sum()  # rows: the true class
    assert np.trace(counts) / counts.sum() == pytest.approx(trained.metrics["test_accuracy"])


def test_labels_outside_the_classes_are_refused_naming_the_row(cancer):
    schema, config, frames = cancer
    broken = {k: v.copy() for k, v in frames.items()}
    broken["val"].loc[3, "diagnosis"] = "maybe"
    with pytest.raises(DataQualityError) as excinfo:
        train(broken, schema, config)
    message = excinfo.value.message
    assert "split 'val'" in message and "row 3" in message and "'maybe'" in message
    assert "malignant, benign" in message
    # Spelling is normalised like any category: " Benign" is benign.
    spelled = {k: v.copy() for k, v in frames.items()}
    spelled["train"]["diagnosis"] = spelled["train"]["diagnosis"].str.title().radd(" ")
    _, y = xy(spelled["train"], schema)
    assert set(y) == {"malignant", "benign"}
    one_class = {**frames, "train": frames["train"][frames["train"].diagnosis == "benign"]}
    with pytest.raises(DataQualityError, match="holds one class only"):
        train(one_class, schema, config)


def test_a_majority_class_model_cannot_pass_the_default_gate(cancer, tmp_path):
    """Plain accuracy is fooled by imbalance: roc_auc (the default) is not."""
    from model_training.config import load_config

    schema, _, frames = cancer
    path = tmp_path / "dummy.yaml"
    path.write_text(
        "candidates: [{name: majority, classifier: DummyClassifier,"
        " params: {strategy: prior}}]\n"
        "baselines: {enabled: false}\n"
        "gate: {thresholds: {roc_auc: {min: 0.6}}}\n"
    )
    config = load_config(path, schema)[0]
    result = train(frames, schema, config)
    m = result.metrics
    assert m["test_accuracy"] == pytest.approx((frames["test"].diagnosis == "benign").mean())
    assert m["test_accuracy"] > 0.6 and m["test_roc_auc"] == 0.5
    decision = judge(m, config.gate, None, "data-v1", task=schema.task, metric=config.gate_metric)
    assert not decision.passed and "test roc_auc 0.5 is below the minimum 0.6" in decision.reason


def test_the_classification_gate_compares_with_the_champion_on_its_metric():
    gate = Gate(tolerance=0.01, thresholds={"balanced_accuracy": Bound(min=0.8)})
    new = {m: 0.9 for m in CLASSIFICATION_METRICS} | {"log_loss": 0.30, "brier": 0.1}
    champion = Champion("3", new | {"log_loss": 0.25})
    scores = {f"test_{k}": v for k, v in new.items()}
    from mlops_core.contracts.constants import Task

    worse = judge(scores, gate, champion, "data-v2", task=Task.CLASSIFICATION, metric="log_loss")
    assert not worse.passed and "test log_loss 0.3 vs champion v3 0.25" in worse.reason
    same = judge(scores, gate, champion, "data-v2", task=Task.CLASSIFICATION, metric="roc_auc")
    assert same.passed and "champion v3" in same.reason
