"""The monitoring policy: when traffic counts as drifted, degraded, or too small to judge.

Each model's policy is its folder's `monitor.yaml` (models/<name>/monitor.yaml); `--policy`
or MLOPS_MONITOR_POLICY name another file. A policy names no column unless it is written
for one model (drift.columns / critical_columns), and its degradation metric is one of the
model's task: scikit-learn's names, the same names training logs as `test_<metric>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_core.alerting.config import DEFAULT_SCHEDULE_SECONDS, AlertsConfig
from mlops_core.configfile import load_yaml_model
from mlops_core.contracts.constants import Task
from mlops_core.errors import BadInput
from mlops_core.live_verdict import LiveConfig
from mlops_core.schema import DatasetSchema

# Degradation metrics per task, and which way is better.
REGRESSION_METRICS = ("rmse", "mae", "mape", "r2")
CLASSIFICATION_METRICS = (
    "roc_auc",
    "f1_macro",
    "balanced_accuracy",
    "accuracy",
    "log_loss",
    "brier",
)
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "log_loss", "brier"})
# Metrics computed from the logged class probabilities (not from the predicted class).
NEEDS_PROBABILITIES = frozenset({"roc_auc", "log_loss", "brier"})


def metrics_for(task: Task) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task is Task.CLASSIFICATION else REGRESSION_METRICS


def default_metric(schema: DatasetSchema) -> str:
    """The training stage's default primary metric: rmse for a regression, roc_auc for a
    binary classifier, f1_macro for several classes (neither is fooled by imbalance)."""
    if not schema.is_classification:
        return "rmse"
    return "roc_auc" if len(schema.classes) == 2 else "f1_macro"


class ColumnRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ignore: bool = False
    method: str | None = None
    threshold: float | None = Field(default=None, gt=0)


class DriftRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(default=0.15, gt=0, le=1)
    critical_columns: tuple[str, ...] = ()
    columns: dict[str, ColumnRule] = Field(default_factory=dict)
    method: str | None = None
    threshold: float | None = Field(default=None, gt=0)
    prediction_drift_flags: bool = False


class PerformanceRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_labelled_rows: int = Field(default=30, ge=1)
    metric: str | None = None  # None: the task's default (default_metric)
    max_increase: float = Field(default=0.25, ge=0)
    max_decrease: float = Field(default=0.10, ge=0, lt=1)
    # What a degraded champion leads to: an alert only, or a rollback to the previous
    # champion - and only when the metric's whole confidence interval on at least
    # rollback_min_labelled_rows labelled rows is beyond the limit (noise cannot trigger it).
    on_degradation: Literal["alert", "rollback"] = "alert"
    rollback_min_labelled_rows: int = Field(default=200, ge=1)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)

    def metric_for(self, schema: DatasetSchema) -> str:
        return self.metric or default_metric(schema)

    def limit(self, metric: str, baseline: float | None) -> float | None:
        """The worst value the metric may reach: baseline x (1 + max_increase) for an
        error (lower is better), baseline x (1 - max_decrease) for a score."""
        if baseline is None:
            return None
        if metric in LOWER_IS_BETTER:
            return baseline * (1 + self.max_increase)
        return baseline * (1 - self.max_decrease)

    @staticmethod
    def beyond(metric: str, value: float | None, limit: float | None) -> bool:
        if value is None or limit is None:
            return False
        return value > limit if metric in LOWER_IS_BETTER else value < limit

    @staticmethod
    def interval_beyond(
        metric: str, interval: tuple[float, float] | None, limit: float | None
    ) -> bool:
        """The whole interval is on the worse side of the limit (a bound exactly at the
        limit is not beyond it): lo > limit for an error, hi < limit for a score."""
        if interval is None or limit is None:
            return False
        lo, hi = interval
        return lo > limit if metric in LOWER_IS_BETTER else hi < limit


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(default=200, ge=1)
    drift: DriftRule = Field(default_factory=DriftRule)
    performance: PerformanceRule = Field(default_factory=PerformanceRule)
    retrain_on: tuple[Literal["drift", "degradation"], ...] = ("drift", "degradation")
    # How often monitoring is expected to run, and the alert rules' thresholds: read by
    # mlops_core.alerting as well (the series pushed, the rules generated).
    schedule_seconds: int = Field(default=DEFAULT_SCHEDULE_SECONDS, ge=60)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    # When a live candidate passes its comparison with the champion (`mlops monitor
    # compare`); in mlops_core because `mlops promote --require-live` reads it too.
    live: LiveConfig = Field(default_factory=LiveConfig)
    source: str = "built-in defaults"

    @model_validator(mode="after")
    def _distinct(self) -> Policy:
        if len(set(self.retrain_on)) != len(self.retrain_on):
            raise ValueError("retrain_on lists a reason twice")
        return self

    def check(self, schema: DatasetSchema) -> None:
        """The policy fits the model: its columns are features, its metric is of the task."""
        self.check_columns(schema)
        self.check_metric(schema)

    def check_metric(self, schema: DatasetSchema) -> None:
        valid = metrics_for(schema.task)
        for field_name, metric in (
            ("performance.metric", self.performance.metric),
            ("live.metric", self.live.metric),
        ):
            self._check_one_metric(schema, valid, field_name, metric)

    def _check_one_metric(self, schema, valid, field_name: str, metric: str | None) -> None:
        if metric is not None and metric not in valid:
            raise BadInput(
                f"policy {self.source}: {field_name} {metric!r} is not a "
                f"{schema.task.value} metric (model {schema.name!r} is a {schema.task.value} "
                f"model; use one of {', '.join(valid)}, or leave it out for "
                f"{default_metric(schema)})"
            )

    def check_columns(self, schema: DatasetSchema) -> None:
        """Every column the policy names must be a feature of the schema."""
        named = [*self.drift.columns, *self.drift.critical_columns]
        unknown = sorted(set(named) - set(schema.feature_names))
        if unknown:
            raise BadInput(
                f"policy {self.source}: drift.columns/critical_columns name "
                f"{', '.join(map(repr, unknown))}, not features of schema {schema.name!r}"
            )
        ignored = {c for c, r in self.drift.columns.items() if r.ignore}
        if ignored >= set(schema.feature_names):
            raise BadInput(f"policy {self.source}: every feature column is ignored")

    def ignored_columns(self) -> list[str]:
        return sorted(c for c, r in self.drift.columns.items() if r.ignore)


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file; without a path, the built-in defaults (those the template
    monitor.yaml spells out)."""
    if path is None:
        return Policy()
    policy, _, _ = load_yaml_model(
        Policy, path, what="policy file", empty_ok=True, extra={"source": str(path)}
    )
    return policy


def policy_for(folder, override: str | Path | None = None) -> Policy:
    """A model's policy: `override` (--policy / MLOPS_MONITOR_POLICY) when given, else the
    model folder's monitor.yaml; checked against the model's schema."""
    if override is not None:
        policy = load_policy(override)
    else:
        path = Path(folder.monitor_path)
        if not path.is_file():
            raise BadInput(
                f"model {folder.name!r} has no monitoring policy: {path} is missing "
                "(copy mlops_core's templates/monitor.yaml there, or pass --policy FILE)"
            )
        policy = load_policy(path)
    policy.check(folder.schema)
    return policy
