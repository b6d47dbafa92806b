"""The training configuration file (YAML) and the stage's settings (MLOPS_TRAIN_*).

A config lists candidate regressors with small search spaces, the selection and gate
policies. It is validated completely when loaded - unknown regressors, unknown or invalid
parameters - so a bad config fails before anything is fitted, tracked or registered.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from mlops_core.configfile import load_yaml_model
from mlops_core.errors import BadInput
from mlops_core.settings import StageSettings

DEFAULT_CONFIG = "default_config.yaml"

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

Metric = Literal["rmse", "mae", "r2", "mape"]
LOWER_IS_BETTER: dict[str, bool] = {"rmse": True, "mae": True, "mape": True, "r2": False}
MAX_COMBINATIONS = 64
# scikit-learn's refusal of a fit on no rows (sklearn.utils.check_array).
EMPTY_DATA_ERROR = "0 sample(s)"


class TrainSettings(StageSettings):
    """Settings of `mlops train` (environment variables MLOPS_TRAIN_*)."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_TRAIN_")

    config: Path | None = Field(
        default=None, description="Training config file; the packaged default when unset."
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
    regressor: str
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("search")
    @classmethod
    def _non_empty(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"search values of {key!r} are empty")
        return value

    def combinations(self) -> list[dict[str, Any]]:
        """Every parameter set of the search space (params overlaid by one search point)."""
        from sklearn.model_selection import ParameterGrid

        return [{**self.params, **point} for point in ParameterGrid(self.search)]


class Selection(_Strict):
    metric: Metric = "rmse"
    max_rows: int = Field(default=50_000, ge=10)
    max_val_rows: int = Field(default=50_000, ge=10)


class Refit(_Strict):
    max_rows: int | None = Field(default=None, ge=10)


class Bound(_Strict):
    min: float | None = None
    max: float | None = None


class Gate(_Strict):
    metric: Metric = "rmse"
    tolerance: float = Field(default=0.02, ge=0.0, le=1.0)
    thresholds: dict[Metric, Bound] = Field(default_factory=dict)


class Evaluation(_Strict):
    max_train_rows: int | None = Field(default=200_000, ge=10)


class Importance(_Strict):
    max_rows: int = Field(default=2000, ge=10)
    repeats: int = Field(default=3, ge=1, le=20)


class TrainingConfig(_Strict):
    seed: int = 42
    threads: int = Field(default=1, ge=1, le=256)
    target_transform: Literal["log", "none"] = "log"
    selection: Selection = Selection()
    refit: Refit = Refit()
    candidates: list[Candidate] = Field(min_length=1)
    gate: Gate = Gate()
    evaluation: Evaluation = Evaluation()
    importance: Importance = Importance()

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[Candidate]) -> list[Candidate]:
        names = [c.name for c in value]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"candidate names used twice: {', '.join(duplicated)}")
        return value


def regressor_class(name: str) -> type:
    target = REGRESSORS.get(name)
    if target is None:
        raise KeyError(name)
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


TARGET_TRANSFORMS = ("log", "none")
# A pseudo-parameter of every candidate: the target transform may be searched like any other.
TARGET_TRANSFORM_PARAM = "target_transform"


def split_params(params: dict[str, Any], default: str) -> tuple[dict[str, Any], str]:
    """(regressor parameters, target transform) of one parameter set."""
    params = dict(params)
    transform = params.pop(TARGET_TRANSFORM_PARAM, default)
    if transform not in TARGET_TRANSFORMS:
        raise ValueError(
            f"target_transform must be one of {', '.join(TARGET_TRANSFORMS)}, got {transform!r}"
        )
    return params, transform


def make_regressor(name: str, params: dict[str, Any], seed: int) -> Any:
    """Instantiate and validate a regressor; raises ValueError/TypeError on a bad parameter."""
    import numpy as np

    params, _ = split_params(params, "none")
    cls = regressor_class(name)
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


def load_config(path: str | Path | None = None) -> tuple[TrainingConfig, str, str]:
    """Load and fully validate a config; returns (config, source, raw YAML text)."""
    config, source, text = load_yaml_model(
        TrainingConfig,
        path,
        package="model_training",
        default=DEFAULT_CONFIG,
        what="training config",
    )
    check_candidates(config, source)
    return config, source, text


def check_candidates(config: TrainingConfig, source: str) -> None:
    """Instantiate every parameter combination once, so a typo fails before any fit."""
    for i, candidate in enumerate(config.candidates):
        where = f"training config {source}: candidates.{i} ({candidate.name})"
        if candidate.regressor not in REGRESSORS:
            raise BadInput(
                f"{where}: unknown regressor {candidate.regressor!r}; "
                f"known: {', '.join(sorted(REGRESSORS))}"
            )
        combinations = candidate.combinations()
        if len(combinations) > MAX_COMBINATIONS:
            raise BadInput(
                f"{where}: the search space has {len(combinations)} combinations "
                f"(at most {MAX_COMBINATIONS})"
            )
        for params in combinations:
            try:
                make_regressor(candidate.regressor, params, config.seed)
            except (TypeError, ValueError) as exc:
                message = " ".join(str(exc).split())
                raise BadInput(f"{where}: invalid parameters {params}: {message}") from None
