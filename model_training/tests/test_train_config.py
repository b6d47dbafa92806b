"""The training config: the model folders' train.yaml, the templates `mlops models new`
copies, and bad configs refused before any fit (per task)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema, load_schema
from model_training.config import (
    CLASSIFIERS,
    REGRESSORS,
    TrainSettings,
    default_primary_metric,
    load_config,
    make_estimator,
)

MODELS = Path(__file__).resolve().parents[2] / "models"
TEMPLATES = ("train-regression.yaml", "train-classification.yaml")


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def classifier_schema(classes=("yes", "no")) -> DatasetSchema:
    return DatasetSchema.model_validate(
        {
            "name": "churn-like",
            "task": "classification",
            "label": {"name": "churned", "dtype": "category", "categories": list(classes)},
            "features": [
                {"name": "tenure", "dtype": "float"},
                {"name": "plan", "dtype": "category", "categories": ["a", "b"]},
            ],
        }
    )


def test_house_price_config_has_the_required_candidates():
    schema = load_schema(MODELS / "house-price" / "schema.yaml")
    config, source, text = load_config(MODELS / "house-price" / "train.yaml", schema)
    regressors = {c.regressor for c in config.candidates}
    assert {"Ridge", "RandomForestRegressor", "HistGradientBoostingRegressor"} <= regressors
    assert all(c.search for c in config.candidates), "every candidate has a search space"
    assert source.endswith("models/house-price/train.yaml")
    assert yaml.safe_load(text)["seed"] == config.seed
    assert config.task is Task.REGRESSION and config.metric == "rmse"
    assert config.gate_metric == config.selection_metric == "rmse"


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_load_with_the_training_config_loader(name, tmp_path):
    text = resources.files("mlops_core").joinpath("templates", name).read_text()
    path = write(tmp_path, text)
    config, _, _ = load_config(path)  # task from the candidates, as `models new` reads it
    expected = Task.CLASSIFICATION if "classification" in name else Task.REGRESSION
    assert config.task is expected
    # The line `mlops models new` may rewrite (binary vs multi-class) is marked.
    marked = [line for line in text.splitlines() if line.rstrip().endswith("# primary metric")]
    assert len(marked) == 1 and marked[0].startswith("primary_metric: ")
    assert marked[0].split()[1] == config.metric
    # Column-free: a template fits any model of its task.
    for column in ("price", "area", "churn", "tenure"):
        assert column not in text.lower().split("#")[0]
    if expected is Task.CLASSIFICATION:
        assert {c.classifier for c in config.candidates} >= {
            "LogisticRegression",
            "RandomForestClassifier",
            "HistGradientBoostingClassifier",
        }
        assert any("class_weight" in c.search for c in config.candidates)
        multi = load_config(
            write(tmp_path, text.replace("primary_metric: roc_auc", "primary_metric: f1_macro")),
            classifier_schema(("a", "b", "c")),
        )[0]
        assert multi.metric == "f1_macro"


def test_the_regression_template_is_house_price_without_columns():
    template = resources.files("mlops_core").joinpath("templates", "train-regression.yaml")
    schema = load_schema(MODELS / "house-price" / "schema.yaml")
    mine = load_config(MODELS / "house-price" / "train.yaml", schema)[0]
    path = Path(str(template))
    theirs = load_config(path, schema)[0]
    assert theirs.model_dump() == mine.model_dump()


def test_churn_config_loads_against_its_schema():
    config_path = MODELS / "churn" / "train.yaml"
    schema_path = MODELS / "churn" / "schema.yaml"
    # The ingest helper writes the schema; until then a schema of the same shape.
    schema = load_schema(schema_path) if schema_path.exists() else classifier_schema()
    config = load_config(config_path, schema)[0]
    assert config.task is Task.CLASSIFICATION
    assert config.metric == "roc_auc"


def test_default_primary_metrics_are_not_fooled_by_imbalance(tmp_path):
    assert default_primary_metric(Task.REGRESSION) == "rmse"
    assert default_primary_metric(Task.CLASSIFICATION, 2) == "roc_auc"
    assert default_primary_metric(Task.CLASSIFICATION, 5) == "f1_macro"
    body = "candidates: [{name: lr, classifier: LogisticRegression}]"
    path = write(tmp_path, body)
    assert load_config(path, classifier_schema())[0].metric == "roc_auc"
    assert load_config(path, classifier_schema(("a", "b", "c")))[0].metric == "f1_macro"


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


@pytest.mark.parametrize("name", sorted(REGRESSORS) + sorted(CLASSIFIERS))
def test_every_known_estimator_is_accepted_with_its_defaults(name):
    estimator = make_estimator(name, {}, seed=3)
    assert type(estimator).__name__ == name
    if "random_state" in estimator.get_params():
        assert estimator.get_params()["random_state"] == 3
    if name in CLASSIFIERS:
        assert hasattr(estimator, "predict_proba"), "the platform serves probabilities"


REGRESSION_BAD = [
    ("candidates: [{name: x, regressor: MagicForest}]", "unknown regressor 'MagicForest'"),
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
    ("candidates: [{name: r, regressor: Ridge}]\ngate: {metric: auc}", "gate.metric"),
    (
        "candidates: [{name: r, regressor: Ridge}]\ngate: {metric: accuracy}",
        "gate.metric: 'accuracy' is not a regression metric",
    ),
    (
        "candidates: [{name: r, regressor: Ridge}]\nprimary_metric: roc_auc",
        "primary_metric: 'roc_auc' is not a regression metric",
    ),
    (
        "candidates: [{name: r, regressor: Ridge}]\ngate: {thresholds: {f1_macro: {min: 1}}}",
        "gate.thresholds.f1_macro: 'f1_macro' is not a regression metric",
    ),
    ("candidates: [{name: r, regressor: Ridge", "not valid YAML"),
    ("- just\n- a list", "expected a mapping"),
    (
        "candidates: [{name: r, regressor: Ridge, search: {target_transform: [sqrt]}}]",
        "target_transform must be one of log, none",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression}]",
        "candidates.0 (lr): LogisticRegression is a classifier, and this is a regression model",
    ),
    (
        "candidates: [{name: r, regressor: Ridge, classifier: LogisticRegression}]",
        "give exactly one of 'regressor'",
    ),
    ("candidates: [{name: r}]", "give exactly one of 'regressor'"),
    ("candidates: [{name: r, regressor: Ridge}]\ntask: regression", "task: the task is the"),
    ("candidates: [{name: r, regressor: Ridge}]\nselection: {cv_folds: 1}", "cv_folds"),
    ("candidates: [{name: r, regressor: Ridge}]\nevaluation: {bootstrap: -1}", "bootstrap"),
    ("candidates: [{name: r, regressor: Ridge}]\nbaselines: {max_rows: 2}", "baselines.max_rows"),
]

CLASSIFICATION_BAD = [
    (
        "candidates: [{name: forest, regressor: RandomForestRegressor}]",
        "candidates.0 (forest): RandomForestRegressor is a regressor, and this is a "
        "classification model; use 'classifier:'",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression},"
        " {name: ridge, classifier: Ridge}]",
        "candidates.1 (ridge): Ridge is a regressor",
    ),
    (
        "candidates: [{name: x, classifier: MagicForest}]",
        "unknown classifier 'MagicForest'; known: DecisionTreeClassifier",
    ),
    (
        "candidates: [{name: lr, regressor: LogisticRegression}]",
        "LogisticRegression is a classifier, and this is a classification model; use 'classifier:'",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression,"
        " search: {class_weight: [balanced, heavy]}}]",
        "class_weight",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression}]\nprimary_metric: rmse",
        "primary_metric: 'rmse' is not a classification metric",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression}]\n"
        "gate: {thresholds: {r2: {min: 0.5}}}",
        "gate.thresholds.r2: 'r2' is not a classification metric",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression}]\ntarget_transform: log",
        "target_transform: a classifier's label is not transformed",
    ),
    (
        "candidates: [{name: lr, classifier: LogisticRegression,"
        " search: {target_transform: [log]}}]",
        "target_transform: a classifier's label is not transformed",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REGRESSION_BAD)
def test_bad_regression_config_is_refused_with_a_clear_message(tmp_path, body, expected):
    path = write(tmp_path, body)
    schema = load_schema(MODELS / "house-price" / "schema.yaml")
    with pytest.raises(BadInput) as excinfo:
        load_config(path, schema)
    message = excinfo.value.message
    assert str(path) in message
    assert expected in message
    assert "\n" not in message, "one-line error"


@pytest.mark.parametrize(("body", "expected"), CLASSIFICATION_BAD)
def test_bad_classification_config_is_refused_with_a_clear_message(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(BadInput) as excinfo:
        load_config(path, classifier_schema())
    message = excinfo.value.message
    assert str(path) in message
    assert expected in message
    assert "\n" not in message, "one-line error"


def test_a_config_read_without_its_schema_takes_the_candidates_task(tmp_path):
    classifier = write(tmp_path, "candidates: [{name: lr, classifier: LogisticRegression}]")
    assert load_config(classifier)[0].task is Task.CLASSIFICATION
    mixed = write(
        tmp_path,
        "candidates: [{name: lr, classifier: LogisticRegression}, {name: r, regressor: Ridge}]",
    )
    with pytest.raises(BadInput, match=r"mix regressors \(r\) and classifiers \(lr\)"):
        load_config(mixed)


def test_class_weight_is_a_search_option(tmp_path):
    path = write(
        tmp_path,
        "candidates: [{name: lr, classifier: LogisticRegression,"
        " search: {class_weight: [null, balanced], C: [0.1, 1.0]}}]",
    )
    (candidate,) = load_config(path, classifier_schema())[0].candidates
    assert {c["class_weight"] for c in candidate.combinations()} == {None, "balanced"}


def test_missing_config_file(tmp_path):
    with pytest.raises(BadInput, match="cannot be read"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(BadInput, match="no file given"):
        load_config(None)


def test_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_TRAIN_CONFIG", str(tmp_path / "c.yaml"))
    monkeypatch.setenv("MLOPS_TRAIN_SEED", "5")
    settings = TrainSettings()
    assert settings.config == tmp_path / "c.yaml"
    assert settings.seed == 5
