"""Names the stages share: splits, aliases, tags, roles, services and exit codes."""

from __future__ import annotations

from enum import StrEnum

from mlops_core.errors import ExitCode

__all__ = [
    "DATA_VERSION_PREFIX",
    "SPLITS",
    "Alias",
    "ExitCode",
    "Role",
    "Service",
    "Split",
    "Tag",
    "Task",
]


class Task(StrEnum):
    """What a model predicts: a number (regression) or one of its classes (classification)."""

    REGRESSION = "regression"
    CLASSIFICATION = "classification"


class Split(StrEnum):
    """The splits every data version holds, as Parquet files of these names."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


SPLITS: tuple[str, ...] = tuple(s.value for s in Split)

# Data versions are git tags `data-vN` in the data registry.
DATA_VERSION_PREFIX = "data-v"


class Alias(StrEnum):
    """Aliases of registered model versions in the MLflow model registry."""

    CHAMPION = "champion"  # the version promoted and served
    CHALLENGER = "challenger"  # the newest version that passed the quality gate


class Role(StrEnum):
    """Which served model answered a prediction (recorded on each prediction-log row)."""

    CHAMPION = "champion"
    SHADOW = "shadow"
    CANARY = "canary"


class Tag(StrEnum):
    """Tag names on training runs and registered model versions."""

    DATA_VERSION = "data_version"
    DATA_HASH = "data_hash"
    VALIDATION_STATUS = "validation_status"
    VALIDATION_REASON = "validation_reason"
    GIT_COMMIT = "git_commit"
    CHAMPION_HISTORY = "mlops.champion_history"
    EXPERIMENT_KIND = "mlflow.experimentKind"  # experiments: what the MLflow UI shows first


class Service(StrEnum):
    """Background services of the embedded runtime (pid files and logs under run/)."""

    MLFLOW = "mlflow"
    SERVE = "serve"
    AIRFLOW = "airflow"
    MONITOR_UI = "monitor-ui"
    PROMETHEUS = "prometheus"
    PUSHGATEWAY = "pushgateway"
