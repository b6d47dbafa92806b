"""The training configuration file (YAML) and the stage's settings (MLOPS_TRAIN_*).

A model's config is `models/<name>/train.yaml`. It lists candidate estimators (regressors
for a regression model, classifiers for a classification model) with small search spaces,
the primary metric, the selection, baseline and gate policies. It is validated completely
when loaded - unknown estimators, an estimator of the other task, unknown or invalid
parameters, metrics of the other task - so a bad config fails before anything is fitted,
tracked or registered.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mlops_core.configfile import load_yaml_model
from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput
from mlops_core.settings import StageSettings

# Regressors a config may name: name -> "module:Class". Anything else is refused.
REGRESSORS: dict[str, str] = {
    "LinearRegression": "sklearn.linear_model:LinearRegression",
    "Ridge": "sklearn.linear_model:Ridge",
    "Lasso": "sklearn.linear_model:Lasso",
    "ElasticNet": "sklearn.linear_model:ElasticNet",
    "HuberRegressor": "sklearn.linear_model:HuberRegressor",
    "KNeighborsRegressor": "sklearn.neighbors:KNeighborsRegressor",
    "DecisionTreeRegressor": "sklearn.tree:DecisionTreeRegressor",
    "RandomForestRegressor": "sklearn.ensemble:RandomForestRegressor",
    "ExtraTreesRegressor": "sklearn.ensemble:ExtraTreesRegressor",
    "GradientBoostingRegressor": "sklearn.ensemble:GradientBoostingRegressor",
    "HistGradientBoostingRegressor": "sklearn.ensemble:HistGradientBoostingRegressor",
    "DummyRegressor": "sklearn.dummy:DummyRegressor",
}

# Classifiers a config may name (each has predict_proba: the platform serves probabilities).
CLASSIFIERS: dict[str, str] = {
    "LogisticRegression": "sklearn.linear_model:LogisticRegression",
    "KNeighborsClassifier": "sklearn.neighbors:KNeighborsClassifier",
    "DecisionTreeClassifier": "sklearn.tree:DecisionTreeClassifier",
    "RandomForestClassifier": "sklearn.ensemble:RandomForestClassifier",
    "ExtraTreesClassifier": "sklearn.ensemble:ExtraTreesClassifier",
    "GradientBoostingClassifier": "sklearn.ensemble:GradientBoostingClassifier",
    "HistGradientBoostingClassifier": "sklearn.ensemble:HistGradientBoostingClassifier",
    "DummyClassifier": "sklearn.dummy:DummyClassifier",
}

ESTIMATORS: dict[Task, dict[str, str]] = {
    Task.REGRESSION: REGRESSORS,
    Task.CLASSIFICATION: CLASSIFIERS,
}

REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "brier",
)
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    Task.REGRESSION: REGRESSION_METRICS,
    Task.CLASSIFICATION: CLASSIFICATION_METRICS,
}
Metric = Literal[
    "rmse",
    "mae",
    "r2",
    "mape",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "brier",
]
LOWER_IS_BETTER: dict[str, bool] = {
    "rmse": True,
    "mae": True,
    "mape": True,
    "r2": False,
    "accuracy": False,
    "balanced_accuracy": False,
    "f1_macro": False,
    "roc_auc": False,
    "log_loss": True,
    "brier": True,
}
MAX_COMBINATIONS = 64
# scikit-learn's refusal of a fit on no rows (sklearn.utils.check_array).
EMPTY_DATA_ERROR = "0 sample(s)"


def default_primary_metric(task: Task, n_classes: int | None = None) -> str:
    """rmse for a regressor; for a classifier a metric plain imbalance cannot fool:
    roc_auc with two classes, f1_macro with more."""
    if task is Task.REGRESSION:
        return "rmse"
    return "roc_auc" if (n_classes or 2) <= 2 else "f1_macro"


class TrainSettings(StageSettings):
    """Settings of `mlops train` (environment variables MLOPS_TRAIN_*)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_TRAIN_")

    config: Path | None = Field(
        default=None,
        description="Training config file; the model folder's train.yaml when unset.",
    )
    seed: int | None = Field(default=None, description="Overrides the config's seed.")
    git_commit: str | None = Field(
        default=None,
        description="Code commit recorded on runs when the code is not a git checkout "
        "(container images); else `git rev-parse HEAD`.",
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Candidate(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    # Exactly one of the two: a regressor (regression model) or a classifier.
    regressor: str | None = None
    classifier: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("search")
    @classmethod
    def _non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"search values of {key!r} are empty")
        return value

    @model_validator(mode="after")
    def _one_estimator(self) -> Candidate:
        if (self.regressor is None) == (self.classifier is None):
            raise ValueError(
                f"candidate {self.name!r}: give exactly one of 'regressor' (a regression "
                "model) or 'classifier' (a classification model)"
            )
        return self

    @property
    def estimator(self) -> str:
        return self.regressor or self.classifier or ""

    def combinations(self) -> list[dict[str, Any]]:
        """Every parameter set of the search space (params overlaid by one search point)."""
        from sklearn.model_selection import ParameterGrid

        return [{**self.params, **point} for point in ParameterGrid(self.search)]


class Selection(_Strict):
    # The metric candidates are compared on; null: the primary metric.
    metric: Metric | None = None
    max_rows: int = Field(default=50_000, ge=10)
    max_val_rows: int = Field(default=50_000, ge=10)
    # Below this many train+val rows, candidates are compared by k-fold cross-validation on
    # train+val (stratified on the class for a classifier) and the winner is refitted on
    # train+val: one small validation split is too noisy to choose on. 0: never.
    cv_below_rows: int = Field(default=5000, ge=0)
    cv_folds: int = Field(default=5, ge=2, le=20)


class Refit(_Strict):
    max_rows: int | None = Field(default=None, ge=10)


class Baselines(_Strict):
    """Plain estimators with scikit-learn's defaults, fitted on the winner's rows and scored
    on the same test split: linear (Ridge / LogisticRegression), random forest, histogram
    gradient boosting. They also compete in selection like any candidate, unless `compete`
    is false: then they are only judged against the winner on the test split."""

    enabled: bool = True
    compete: bool = True
    # Cap the rows a baseline is fitted on (a seeded sample; null: the winner's rows).
    max_rows: int | None = Field(default=50_000, ge=10)


class Bound(_Strict):
    min: float | None = None
    max: float | None = None


class Gate(_Strict):
    # The comparison with the champion; null: the primary metric.
    metric: Metric | None = None
    tolerance: float = Field(default=0.02, ge=0.0, le=1.0)
    thresholds: dict[Metric, Bound] = Field(default_factory=dict)


class Evaluation(_Strict):
    max_train_rows: int | None = Field(default=200_000, ge=10)
    # Bootstrap resamples of the test split: the spread of the test metric (95% interval)
    # and the noise a baseline comparison is judged against. 0: no bootstrap.
    bootstrap: int = Field(default=500, ge=0, le=10_000)


class Importance(_Strict):
    max_rows: int = Field(default=2000, ge=10)
    repeats: int = Field(default=3, ge=1, le=20)


class TrainingConfig(_Strict):
    seed: int = 42
    threads: int = Field(default=1, ge=1, le=256)
    # The metric the model is chosen, reported and gated on (selection.metric and
    # gate.metric default to it); null: rmse, roc_auc (two classes) or f1_macro.
    primary_metric: Metric | None = None
    target_transform: Literal["log", "none"] = "log"
    selection: Selection = Selection()
    refit: Refit = Refit()
    baselines: Baselines = Baselines()
    candidates: list[Candidate] = Field(min_length=1)
    gate: Gate = Gate()
    evaluation: Evaluation = Evaluation()
    importance: Importance = Importance()
    # Resolved by load_config from the schema (or the candidates): not written in a file.
    task: Task = Task.REGRESSION

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[Candidate]) -> list[Candidate]:
        names = [c.name for c in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"candidate names used twice: {', '.join(duplicated)}")
        return value

    @property
    def metric(self) -> str:
        """The primary metric (resolved)."""
        return self.primary_metric or default_primary_metric(self.task)

    @property
    def selection_metric(self) -> str:
        return self.selection.metric or self.metric

    @property
    def gate_metric(self) -> str:
        return self.gate.metric or self.metric

    @property
    def is_classification(self) -> bool:
        return self.task is Task.CLASSIFICATION


def estimator_class(name: str) -> type:
    target = REGRESSORS.get(name) or CLASSIFIERS.get(name)
    if target is None:
        raise KeyError(name)
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


regressor_class = estimator_class  # the name before classifiers joined


TARGET_TRANSFORMS = ("log", "none")
# A pseudo-parameter of every regression candidate: the target transform may be searched.
TARGET_TRANSFORM_PARAM = "target_transform"


def split_params(params: dict[str, Any], default: str) -> tuple[dict[str, Any], str]:
    """(estimator parameters, target transform) of one parameter set."""
    params = dict(params)
    transform = params.pop(TARGET_TRANSFORM_PARAM, default)
    if transform not in TARGET_TRANSFORMS:
        raise ValueError(
            f"target_transform must be one of {', '.join(TARGET_TRANSFORMS)}, got {transform!r}"
        )
    return params, transform


def make_estimator(name: str, params: dict[str, Any], seed: int) -> Any:
    """Instantiate and validate an estimator; raises ValueError/TypeError on a bad parameter."""
    import numpy as np

    params, _ = split_params(params, "none")
    cls = estimator_class(name)
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise TypeError(f"unknown parameter(s) {', '.join(map(repr, unknown))} of {name}")
    params = dict(params)
    if "random_state" in valid and "random_state" not in params:
        params["random_state"] = seed
    estimator = cls(**params)
    # scikit-learn checks parameters when fit starts, before it looks at the data: a fit on
    # no rows reports a bad parameter, or else the empty data (the parameters are valid).
    try:
        estimator.fit(np.empty((0, 1)), np.empty(0))
    except (TypeError, ValueError) as exc:
        if EMPTY_DATA_ERROR not in str(exc):
            raise
    return cls(**params)


make_regressor = make_estimator  # the name before classifiers joined


def load_config(
    path: str | Path, schema: Any = None, *, task: Task | None = None
) -> tuple[TrainingConfig, str, str]:
    """Load and fully validate a config; returns (config, source, raw YAML text).

    The task comes from the model's schema (or `task`); without either it is the one all
    candidates agree on. The config's metrics default for that task and the schema's
    number of classes.
    """
    if path is None:
        raise BadInput(
            "training config: no file given (a model's config is models/<name>/train.yaml)"
        )
    config, source, text = load_yaml_model(TrainingConfig, path, what="training config")
    if "task" in config.model_fields_set:
        raise BadInput(
            f"training config {source}: task: the task is the schema's (schema.yaml), "
            "not the training config's"
        )
    n_classes = None
    if schema is not None:
        task = schema.task
        if schema.is_classification:
            n_classes = len(schema.classes)
    if task is None:
        task = infer_task(config, source)
    config = resolve(config, Task(task), n_classes, source)
    check_candidates(config, source)
    return config, source, text


def infer_task(config: TrainingConfig, source: str) -> Task:
    """The task every candidate's estimator belongs to (a config read without its schema)."""
    kinds = {c.name: "classifier" if c.classifier else "regressor" for c in config.candidates}
    if len(set(kinds.values())) > 1:
        regressors = [n for n, k in kinds.items() if k == "regressor"]
        classifiers = [n for n, k in kinds.items() if k == "classifier"]
        raise BadInput(
            f"training config {source}: candidates mix regressors ({', '.join(regressors)}) "
            f"and classifiers ({', '.join(classifiers)}); a model is one or the other"
        )
    return Task.CLASSIFICATION if "classifier" in kinds.values() else Task.REGRESSION


def resolve(config: TrainingConfig, task: Task, n_classes: int | None, source: str):
    """The config for `task`: metrics of that task only, primary metric filled in."""
    allowed = TASK_METRICS[task]
    where = f"training config {source}"
    checked = [
        ("primary_metric", config.primary_metric),
        ("selection.metric", config.selection.metric),
        ("gate.metric", config.gate.metric),
        *((f"gate.thresholds.{m}", m) for m in config.gate.thresholds),
    ]
    for field, metric in checked:
        if metric is not None and metric not in allowed:
            raise BadInput(
                f"{where}: {field}: {metric!r} is not a {task.value} metric "
                f"(one of {', '.join(allowed)})"
            )
    if task is Task.CLASSIFICATION and "target_transform" in config.model_fields_set:
        raise BadInput(f"{where}: target_transform: a classifier's label is not transformed")
    primary = config.primary_metric or default_primary_metric(task, n_classes)
    return config.model_copy(update={"task": task, "primary_metric": primary})


def check_candidates(config: TrainingConfig, source: str) -> None:
    """Instantiate every parameter combination once, so a typo fails before any fit."""
    task = config.task
    known = ESTIMATORS[task]
    other = ESTIMATORS[Task.CLASSIFICATION if task is Task.REGRESSION else Task.REGRESSION]
    wanted = "classifier" if task is Task.CLASSIFICATION else "regressor"
    for i, candidate in enumerate(config.candidates):
        where = f"training config {source}: candidates.{i} ({candidate.name})"
        name = candidate.estimator
        if name in other or (name in known and getattr(candidate, wanted) is None):
            kind = "a classifier" if name in CLASSIFIERS else "a regressor"
            raise BadInput(
                f"{where}: {name} is {kind}, and this is a {task.value} model; "
                f"use '{wanted}:' with one of {', '.join(sorted(known))}"
            )
        if name not in known:
            raise BadInput(f"{where}: unknown {wanted} {name!r}; known: {', '.join(sorted(known))}")
        combinations = candidate.combinations()
        if len(combinations) > MAX_COMBINATIONS:
            raise BadInput(
                f"{where}: the search space has {len(combinations)} combinations "
                f"(at most {MAX_COMBINATIONS})"
            )
        for params in combinations:
            if task is Task.CLASSIFICATION and TARGET_TRANSFORM_PARAM in params:
                raise BadInput(
                    f"{where}: target_transform: a classifier's label is not transformed"
                )
            try:
                make_estimator(name, params, config.seed)
            except (TypeError, ValueError) as exc:
                message = " ".join(str(exc).split())
                raise BadInput(f"{where}: invalid parameters {params}: {message}") from None
