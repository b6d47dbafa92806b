"""The training core on DataFrames: pipeline, selection, metrics, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.errors import DataQualityError
from model_training.core import SPLITS, build_pipeline, feature_importance, train


def test_pipeline_columns_come_from_the_schema(schema):
    from sklearn.linear_model import Ridge

    pipeline = build_pipeline(schema, Ridge())
    columns = {name: cols for name, _, cols in pipeline.named_steps["preprocess"].transformers}
    assert columns["numeric"] == schema.numeric_features
    assert columns["categorical"] == schema.categorical_features


def test_train_selects_on_validation_and_reports_every_candidate(schema, frames, fast_config):
    result = train(frames, schema, fast_config)
    combos = sum(len(c.combinations()) for c in fast_config.candidates)
    assert len(result.candidates) == combos
    assert {s.candidate for s in result.candidates} == {c.name for c in fast_config.candidates}
    best_val = min(s.val["rmse"] for s in result.candidates)
    assert result.best.val["rmse"] == best_val
    names = {f"{s}_{m}" for s in SPLITS for m in ("rmse", "mae", "r2", "mape")}
    assert set(result.metrics) == names
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert result.metrics["test_r2"] > 0.3
    # Refitted on the whole training split (the selection sample may be smaller).
    assert result.refit_rows == len(frames["train"])


def test_same_data_config_and_seed_give_the_same_metrics(schema, frames, fast_config):
    first = train(frames, schema, fast_config, seed=3)
    second = train(frames, schema, fast_config, seed=3)
    assert first.metrics == second.metrics
    assert [s.val for s in first.candidates] == [s.val for s in second.candidates]


def test_selection_samples_large_training_data(schema, frames, fast_config):
    config = fast_config.model_copy(
        update={"selection": fast_config.selection.model_copy(update={"max_rows": 300})}
    )
    result = train(frames, schema, config)
    assert result.selection_rows == 300
    assert result.refit_rows == len(frames["train"])


def test_log_target_needs_positive_labels(schema, frames, fast_config):
    broken = {k: v.copy() for k, v in frames.items()}
    broken["val"].loc[4, schema.label.name] = 0.0
    with pytest.raises(DataQualityError, match=r"split 'val'.*must be positive.*row 4"):
        train(broken, schema, fast_config)


def test_missing_column_is_named(schema, frames, fast_config):
    column = schema.categorical_features[0]
    broken = {**frames, "test": frames["test"].drop(columns=[column])}
    with pytest.raises(DataQualityError, match=f"split 'test': missing column.*{column}"):
        train(broken, schema, fast_config)


def test_feature_importance_covers_every_feature(schema, frames, fast_config):
    result = train(frames, schema, fast_config)
    table = feature_importance(result.pipeline, frames["val"], schema, 300, 2, 0)
    assert sorted(table["feature"]) == sorted(schema.feature_names)
    assert table["importance_mean"].iloc[0] > 0


def test_target_transform_is_searched_like_a_parameter(schema, frames, tmp_path):
    from sklearn.compose import TransformedTargetRegressor

    from model_training.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(
        "candidates: [{name: ridge, regressor: Ridge,"
        " search: {alpha: [1.0], target_transform: [log, none]}}]\n"
    )
    config, _, _ = load_config(path)
    result = train(frames, schema, config)
    assert sorted(s.params["target_transform"] for s in result.candidates) == ["log", "none"]
    assert result.candidates[0].val != result.candidates[1].val
    final = result.pipeline.named_steps["regressor"]
    is_log = isinstance(final, TransformedTargetRegressor)
    assert is_log == (result.best.params["target_transform"] == "log")
