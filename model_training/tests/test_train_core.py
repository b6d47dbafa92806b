"""The training core on DataFrames: pipeline, selection, metrics, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.errors import DataQualityError
from model_training.config import load_config
from model_training.core import (
    BASELINES,
    SPLITS,
    build_pipeline,
    feature_importance,
    metrics,
    train,
)


def test_metrics_on_known_arrays():
    # Errors 0, 0, 0, 4: mean squared error 16/4, total sum of squares 5 (mean 2.5).
    scores = metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 8.0]))
    assert scores == pytest.approx({"rmse": 2.0, "mae": 1.0, "r2": 1 - 16 / 5, "mape": 0.25})
    perfect = metrics(np.array([5.0, 7.0]), np.array([5.0, 7.0]))
    assert perfect == {"rmse": 0.0, "mae": 0.0, "r2": 1.0, "mape": 0.0}


def test_pipeline_columns_come_from_the_schema(schema):
    from sklearn.linear_model import Ridge

    pipeline = build_pipeline(schema, Ridge())
    columns = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert columns["numeric"] == schema.numeric_features
    assert columns["categorical"] == schema.categorical_features


def test_train_selects_on_validation_and_reports_every_candidate(schema, frames, fast_config):
    result = train(frames, schema, fast_config)
    combos = sum(len(c.combinations()) for c in fast_config.candidates)
    baselines = {f"baseline_{name}" for name in BASELINES[schema.task]}
    assert len(result.candidates) == combos + len(baselines)
    assert {s.candidate for s in result.candidates} == {
        c.name for c in fast_config.candidates
    } | baselines
    assert result.selection == "validation" and result.folds is None
    best_val = min(s.val["rmse"] for s in result.candidates)
    assert result.best.val["rmse"] == best_val
    names = {f"{s}_{m}" for s in SPLITS for m in ("rmse", "mae", "r2", "mape")}
    assert set(result.metrics) == names | {"test_rmse_ci_low", "test_rmse_ci_high"}
    low, high = result.metrics["test_rmse_ci_low"], result.metrics["test_rmse_ci_high"]
    assert low < result.metrics["test_rmse"] < high
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert result.metrics["test_r2"] > 0.3
    # Refitted on the whole training split (the selection sample may be smaller).
    assert result.refit_rows == len(frames["train"])


def test_same_data_config_and_seed_give_the_same_metrics(schema, frames, fast_config):
    first = train(frames, schema, fast_config, seed=3)
    second = train(frames, schema, fast_config, seed=3)
    assert first.metrics == second.metrics
    assert [s.val for s in first.candidates] == [s.val for s in second.candidates]
    # The seed is used: the random forest's bootstrap differs under another one.
    other = train(frames, schema, fast_config, seed=4)
    forest = [i for i, s in enumerate(first.candidates) if s.regressor == "RandomForestRegressor"]
    assert forest and all(first.candidates[i].val != other.candidates[i].val for i in forest)


def test_selection_samples_large_training_data(schema, frames, fast_config):
    config = fast_config.model_copy(
        update={"selection": fast_config.selection.model_copy(update={"max_rows": 300})}
    )
    result = train(frames, schema, config)
    assert result.selection_rows == 300
    assert result.refit_rows == len(frames["train"])


def config_of(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, schema=None)[0]


@pytest.mark.parametrize(("split", "row", "value"), [("val", 4, 0.0), ("test", 7, -120.0)])
def test_log_target_refuses_a_label_that_is_not_positive(
    schema, frames, fast_config, split, row, value
):
    label = schema.label.name
    assert all((f[label] > 0).all() for f in frames.values()), "the fixture is positive"
    assert train(frames, schema, fast_config).metrics["test_r2"] > 0.3
    broken = {k: v.copy() for k, v in frames.items()}
    broken[split].loc[row, label] = value
    with pytest.raises(DataQualityError) as excinfo:
        train(broken, schema, fast_config)
    message = excinfo.value.message
    assert f"split {split!r}" in message and f"label {label!r}" in message
    assert "must be positive for target_transform=log" in message and f"row {row}" in message


def test_a_searched_log_target_needs_positive_labels_too(schema, frames, tmp_path):
    label = schema.label.name
    broken = {k: v.copy() for k, v in frames.items()}
    broken["train"].loc[0, label] = 0.0
    searched = config_of(
        tmp_path,
        "target_transform: none\n"
        "candidates: [{name: r, regressor: Ridge, search: {target_transform: [none, log]}}]\n",
    )
    with pytest.raises(DataQualityError, match=f"label '{label}' must be positive"):
        train(broken, schema, searched)
    plain = config_of(
        tmp_path, "target_transform: none\ncandidates: [{name: r, regressor: Ridge}]\n"
    )
    assert np.isfinite(train(broken, schema, plain).metrics["test_rmse"])


def test_missing_column_is_named(schema, frames, fast_config):
    column = schema.categorical_features[0]
    broken = {**frames, "test": frames["test"].drop(columns=[column])}
    with pytest.raises(DataQualityError, match=f"split 'test': missing column.*{column}"):
        train(broken, schema, fast_config)


def test_feature_importance_is_zero_for_a_column_the_model_cannot_use(schema, frames, fast_config):
    blind = schema.numeric_features[0]
    constant = {k: v.assign(**{blind: v[blind].median()}) for k, v in frames.items()}
    result = train(constant, schema, fast_config)
    table = feature_importance(result.pipeline, frames["val"], schema, 300, 2, 0)
    assert sorted(table["feature"]) == sorted(schema.feature_names)
    importance = dict(zip(table["feature"], table["importance_mean"], strict=True))
    # Shuffling a column the model saw as a constant changes no prediction.
    assert importance[blind] == 0.0
    assert table["importance_mean"].iloc[0] > 0
    assert table["feature"].iloc[0] != blind


def test_target_transform_is_searched_like_a_parameter(schema, frames, tmp_path):
    from sklearn.compose import TransformedTargetRegressor

    path = tmp_path / "c.yaml"
    path.write_text(
        "candidates: [{name: ridge, regressor: Ridge,"
        " search: {alpha: [1.0], target_transform: [log, none]}}]\n"
        "baselines: {enabled: false}\n"
    )
    config, _, _ = load_config(path, schema)
    result = train(frames, schema, config)
    searched = [s for s in result.candidates if not s.baseline]
    assert sorted(s.params["target_transform"] for s in searched) == ["log", "none"]
    assert searched[0].val != searched[1].val
    final = result.pipeline.named_steps["regressor"]
    is_log = isinstance(final, TransformedTargetRegressor)
    assert is_log == (result.best.params["target_transform"] == "log")
