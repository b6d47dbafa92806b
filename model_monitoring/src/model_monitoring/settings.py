"""Settings of the monitoring stage (MLOPS_MONITOR_*), read when a command starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mlops_core.settings import PlatformSettings, StageSettings


class MonitorSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_MONITOR_")

    policy: Path | None = Field(
        default=None, description="Monitoring policy YAML; the packaged default when unset."
    )
    sample_rows: int = Field(
        default=100_000,
        ge=0,
        description="Evidently runs on a uniform random sample of at most this many rows per "
        "side (reference and current); 0 compares every row.",
    )
    seed: int = Field(default=0, description="Seed of the row sample (reproducible reports).")
    workspace: Path | None = Field(
        default=None,
        description="Evidently workspace folder; $MLOPS_HOME/monitoring/workspace when unset.",
    )
    ui_port: int = Field(default=8085, ge=1, le=65535, description="Port of `mlops monitor ui`.")
    experiment: str | None = Field(
        default=None, description="MLflow experiment of monitoring runs; '<model>-monitoring'."
    )
    pushgateway_url: str | None = Field(
        default=None,
        description="Pushgateway every run pushes its results to (model_monitoring.push); "
        "unset: the Pushgateway `mlops up --observability` runs for MLOPS_HOME, else no push.",
    )
    pushgateway_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a push may take, retries included, before the run goes on "
        "with a warning.",
    )

    def workspace_path(self, platform: PlatformSettings) -> Path:
        return (self.workspace or platform.home / "monitoring" / "workspace").resolve()

    def experiment_name(self, model_name: str) -> str:
        return self.experiment or f"{model_name}-monitoring"


def get_monitor_settings() -> MonitorSettings:
    return MonitorSettings()
