"""The training config: the packaged default, and bad configs refused before any fit."""

from __future__ import annotations

import pytest
import yaml

from mlops_core.errors import BadInput
from model_training.config import REGRESSORS, TrainSettings, load_config, make_regressor


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_packaged_default_has_the_required_candidates():
    config, source, text = load_config()
    regressors = {c.regressor for c in config.candidates}
    assert {"Ridge", "RandomForestRegressor", "HistGradientBoostingRegressor"} <= regressors
    assert all(c.search for c in config.candidates), "every candidate has a search space"
    assert "packaged default" in source
    assert yaml.safe_load(text)["seed"] == config.seed


def test_search_space_expands_to_combinations(tmp_path):
    path = write(
        tmp_path,
        "candidates: [{name: h, regressor: HistGradientBoostingRegressor,"
        " params: {max_iter: 20, learning_rate: 0.3},"
        " search: {max_leaf_nodes: [15, 31], learning_rate: [0.05, 0.1]}}]",
    )
    (candidate,) = load_config(path)[0].candidates
    # A searched value overrides the fixed one; the order is sorted by parameter name.
    assert candidate.combinations() == [
        {"max_iter": 20, "learning_rate": 0.05, "max_leaf_nodes": 15},
        {"max_iter": 20, "learning_rate": 0.05, "max_leaf_nodes": 31},
        {"max_iter": 20, "learning_rate": 0.1, "max_leaf_nodes": 15},
        {"max_iter": 20, "learning_rate": 0.1, "max_leaf_nodes": 31},
    ]
    fixed = load_config(write(tmp_path, "candidates: [{name: r, regressor: Ridge}]"))[0]
    assert fixed.candidates[0].combinations() == [{}]


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_every_known_regressor_is_accepted_with_its_defaults(name):
    estimator = make_regressor(name, {}, seed=3)
    assert type(estimator).__name__ == name
    if "random_state" in estimator.get_params():
        assert estimator.get_params()["random_state"] == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "candidates: [{name: x, regressor: MagicForest}]",
            "unknown regressor 'MagicForest'",
        ),
        (
            "candidates: [{name: r, regressor: Ridge, search: {alpha: [1.0, -3.0]}}]",
            "'alpha' parameter of Ridge must be",
        ),
        (
            "candidates: [{name: r, regressor: Ridge, params: {alphaa: 1}}]",
            "unknown parameter(s) 'alphaa' of Ridge",
        ),
        (
            "candidates: [{name: h, regressor: HistGradientBoostingRegressor,"
            " params: {max_iter: zero}}]",
            "max_iter",
        ),
        ("candidates: []", "candidates: List should have at least 1 item"),
        ("candidates: [{name: r, regressor: Ridge}]\nsead: 3", "sead: Extra inputs"),
        (
            "candidates: [{name: r, regressor: Ridge}, {name: r, regressor: Lasso}]",
            "candidate names used twice: r",
        ),
        ("candidates: [{name: r, regressor: Ridge, search: {alpha: []}}]", "are empty"),
        ("candidates: [{name: r, regressor: Ridge}]\ngate: {metric: accuracy}", "gate.metric"),
        ("candidates: [{name: r, regressor: Ridge", "not valid YAML"),
        ("- just\n- a list", "expected a mapping"),
        (
            "candidates: [{name: r, regressor: Ridge, search: {target_transform: [sqrt]}}]",
            "target_transform must be one of log, none",
        ),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(BadInput) as excinfo:
        load_config(path)
    message = excinfo.value.message
    assert str(path) in message
    assert expected in message
    assert "\n" not in message, "one-line error"


def test_missing_config_file(tmp_path):
    with pytest.raises(BadInput, match="cannot be read"):
        load_config(tmp_path / "nope.yaml")


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_TRAIN_CONFIG", str(tmp_path / "c.yaml"))
    monkeypatch.setenv("MLOPS_TRAIN_SEED", "5")
    settings = TrainSettings()
    assert settings.config == tmp_path / "c.yaml"
    assert settings.seed == 5
