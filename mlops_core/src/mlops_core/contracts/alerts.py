"""Results of `mlops alerts rules` (mlops_core.alerting)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from mlops_core.contracts.base import Result


class AlertRulesResult(Result):
    """The alert rules generated from the models' monitor.yaml files."""

    command: ClassVar[str] = "`mlops alerts rules`"

    format: Literal["rules", "prometheus_rule"] = Field(
        ..., description="a Prometheus rules file, or PrometheusRule resources (Operator)"
    )
    models: list[str] = Field(..., description="the models, one rule group each")
    alerts: dict[str, list[str]] = Field(
        ..., description="per model: the alert names of its group (disabled ones left out)"
    )
    path: str | None = Field(None, description="--out: the file written")
    files: list[str] = Field(
        default_factory=list, description="--gitops-dir: every environment's file written"
    )
    document: dict[str, Any] | None = Field(
        None, description="the rules document or resource, when no file was written"
    )
