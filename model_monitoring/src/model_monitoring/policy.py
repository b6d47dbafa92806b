"""The monitoring policy: when traffic counts as drifted, degraded, or too small to judge."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_core.configfile import load_yaml_model
from mlops_core.errors import BadInput
from mlops_core.schema import DatasetSchema


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
    metric: Literal["rmse", "mae"] = "rmse"
    max_increase: float = Field(default=0.25, ge=0)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(default=200, ge=1)
    drift: DriftRule = Field(default_factory=DriftRule)
    performance: PerformanceRule = Field(default_factory=PerformanceRule)
    retrain_on: tuple[Literal["drift", "degradation"], ...] = ("drift", "degradation")
    source: str = "default"

    @model_validator(mode="after")
    def _distinct(self) -> Policy:
        if len(set(self.retrain_on)) != len(self.retrain_on):
            raise ValueError("retrain_on lists a reason twice")
        return self

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
    """Load a policy file; without a path, the packaged default."""
    source = "model_monitoring/policy.yaml (packaged default)" if path is None else str(path)
    policy, _, _ = load_yaml_model(
        Policy,
        path,
        package="model_monitoring",
        default="policy.yaml",
        what="policy file",
        empty_ok=True,
        extra={"source": source},
    )
    return policy
