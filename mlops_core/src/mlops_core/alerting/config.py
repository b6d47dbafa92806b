"""The `alerts:` block of a model's monitor.yaml (and its `schedule_seconds`), with defaults.

Both the monitoring stage (its policy accepts these keys) and the rule generator read them
from here, so the thresholds a monitoring run is judged by and the alerts fired on it are
declared once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from mlops_core.configfile import load_yaml_model

AlertName = Literal[
    "MlopsServingLatencyHigh",
    "MlopsServingErrorRate",
    "MlopsNoTraffic",
    "MlopsPredictionLogBacklog",
    "MlopsPredictionLogSpooling",
    "MlopsDriftDetected",
    "MlopsPerformanceDegraded",
    "MlopsModelRolledBack",
    "MlopsRollbackFailed",
    "MlopsMonitoringStale",
    "MlopsChampionTooOld",
]
ALERT_NAMES: tuple[str, ...] = AlertName.__args__  # type: ignore[attr-defined]

# The monitoring DAG (dags/monitoring.py) runs @daily: a run a day is what "on time" means.
DEFAULT_SCHEDULE_SECONDS = 86_400

# A Prometheus duration with one unit: 30s, 5m, 1h, 2d.
Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*(ms|s|m|h|d|w)$")]


class AlertsConfig(BaseModel):
    """Thresholds of one model's alert rules (monitor.yaml `alerts:`); every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_p99_seconds: float = Field(
        default=0.05, gt=0, description="MlopsServingLatencyHigh: p99 of prediction requests"
    )
    latency_for: Duration = Field(default="5m", description="how long p99 stays above it")
    error_rate: float = Field(
        default=0.05, gt=0, le=1, description="MlopsServingErrorRate: share of 5xx answers"
    )
    error_window: Duration = Field(default="5m", description="the window the share is taken over")
    no_traffic_for: Duration = Field(
        default="15m", description="MlopsNoTraffic: a served model with no prediction this long"
    )
    log_queue_depth: int = Field(
        default=10_000, ge=1, description="MlopsPredictionLogBacklog: rows waiting to be written"
    )
    log_backlog_for: Duration = Field(default="5m", description="how long the queue stays above")
    spool_window: Duration = Field(
        default="10m", description="MlopsPredictionLogSpooling: the spool grew within this window"
    )
    stale_factor: float = Field(
        default=2.0,
        ge=1,
        description="MlopsMonitoringStale: no monitoring run for this many schedule_seconds",
    )
    max_age_days: float = Field(
        default=90, gt=0, description="MlopsChampionTooOld: age of the served model version"
    )
    disabled: tuple[AlertName, ...] = Field(
        default=(), description="alert names left out of this model's rule group"
    )


class MonitorAlerting(BaseModel):
    """The keys of monitor.yaml the rule generator reads; the rest is the monitoring
    stage's to validate."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schedule_seconds: int = Field(default=DEFAULT_SCHEDULE_SECONDS, ge=60)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)


def load_monitor_alerting(path: str | Path) -> MonitorAlerting:
    """A monitor.yaml's alerting keys; defaults when the file does not exist. A bad value is
    BadInput naming the file and the field (e.g. `alerts.error_rate`)."""
    if not Path(path).is_file():
        return MonitorAlerting()
    found, _, _ = load_yaml_model(MonitorAlerting, path, what="monitoring policy", empty_ok=True)
    return found
