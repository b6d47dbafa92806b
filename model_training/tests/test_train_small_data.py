"""Selection that holds on small data: scikit-learn's diabetes table (442 rows, shipped in
its wheel) against a plain Ridge on a log target, on the same split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from train_helpers import split_frame

from mlops_core.schema import DatasetSchema
from model_training.config import load_config
from model_training.core import build_pipeline, scorer, train, xy
from model_training.metrics import bootstrap, interval

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    data = load_diabetes(scaled=False, as_frame=True)
    frame = data.frame.rename(columns={"target": "progression"})
    # Shuffled once (seeded), then 70/15/15 like a data version's splits.
    frame = frame.sample(frac=1.0, random_state=42).reset_index(drop=True)
    schema = DatasetSchema.model_validate(
        {
            "name": "diabetes",
            "label": {"name": "progression", "dtype": "float", "min": 1},
            "features": [{"name": c, "dtype": "float"} for c in data.feature_names],
        }
    )
    return schema, split_frame(frame)


def test_small_data_selection_does_not_lose_to_ridge_on_a_log_target(diabetes):
    from sklearn.linear_model import Ridge

    schema, frames = diabetes
    # The regression template (house-price's config): CV below 5 000 rows, baselines.
    config = load_config(MODELS / "house-price" / "train.yaml", schema)[0]
    result = train(frames, schema, config)
    assert result.selection == "cv" and result.folds == 5
    assert result.refit_rows == len(frames["train"]) + len(frames["val"])

    pool = pd.concat([frames["train"], frames["val"]], ignore_index=True)
    ridge = build_pipeline(schema, Ridge(), "log").fit(*xy(pool, schema))
    x_test, y_test = xy(frames["test"], schema)
    scorers = {"selected": scorer(result.pipeline, x_test, y_test, schema)}
    scorers["ridge_log"] = scorer(ridge, x_test, y_test, schema)
    resampled = bootstrap(scorers, "r2", len(y_test), 500, 0)
    margin = interval(resampled["selected"] - resampled["ridge_log"])
    selected, plain = scorers["selected"](), scorers["ridge_log"]()
    print(
        f"\nselected {result.best.candidate} {result.best.params} ({result.selected_by}): "
        f"test r2 {selected['r2']:.4f} rmse {selected['rmse']:.2f} "
        f"[{result.metrics['test_rmse_ci_low']:.2f}, {result.metrics['test_rmse_ci_high']:.2f}]"
        f"\nridge on log target (train+val): test r2 {plain['r2']:.4f} rmse {plain['rmse']:.2f}"
        f"\nr2 margin 95% [{margin.low:+.4f}, {margin.high:+.4f}]"
    )
    # Not worse than the plain ridge on a log target beyond the noise of a 67-row split.
    assert margin.high >= 0
    assert all(b.verdict != "worse" for b in result.baselines)
    # The spread is reported: the test RMSE's 95% bootstrap interval holds the figure.
    low, high = result.metrics["test_rmse_ci_low"], result.metrics["test_rmse_ci_high"]
    assert low < result.metrics["test_rmse"] < high and high - low > 5
    assert result.metrics["cv_rmse_std"] > 0
    assert np.isfinite(result.metrics["test_r2"]) and result.metrics["test_r2"] > 0.2


def test_a_winner_that_loses_to_a_baseline_beyond_noise_is_replaced(diabetes, tmp_path):
    schema, frames = diabetes
    path = tmp_path / "constant.yaml"
    path.write_text(
        "target_transform: none\n"
        "selection: {cv_below_rows: 0}\n"
        "baselines: {compete: false}\n"
        "candidates: [{name: constant, regressor: DummyRegressor}]\n"
    )
    config = load_config(path, schema)[0]
    # Competing baselines would beat a constant in selection; here they are judged on the
    # test split only.
    result = train(frames, schema, config)
    assert result.selected_by == "baseline" and result.overruled == "constant"
    assert result.best.candidate.startswith("baseline_")
    assert result.metrics["test_r2"] > 0.2
