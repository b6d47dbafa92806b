"""Platform settings shared by every stage, read from MLOPS_* variables when a command starts.

Each stage has its own settings class with its own prefix (MLOPS_INGEST_, MLOPS_TRAIN_, ...)
built on `StageSettings`. Nothing here is read at import time: call `get_settings()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_core.errors import Conflict
from mlops_core.modelspec import ModelFolder, default_models_dir, discover_models, select_model
from mlops_core.schema import DatasetSchema


class StageSettings(BaseSettings):
    """Base of every settings class: environment variables, then an optional .env file."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", validate_default=True)


class PlatformSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_")

    home: Path = Field(
        default=Path(".mlops"),
        description="State folder of the embedded runtime (data registry, MLflow, logs, ...).",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Folder of the model folders (models/<name>/schema.yaml, train.yaml, "
        "monitor.yaml); the repository's models/ when unset.",
    )
    model: str | None = Field(
        default=None,
        description="The model a stage command works on when --model is not given; "
        "unset with one model folder: that one.",
    )
    log_format: Literal["auto", "rich", "json"] = Field(
        default="auto", description="rich in a terminal, json otherwise (auto)."
    )
    log_level: str = "INFO"
    mlflow_port: int = Field(
        default=5050,
        ge=1,
        le=65535,
        description="Port of the embedded MLflow server; when another process holds it, "
        "`mlops mlflow up` picks a free port and records it under MLOPS_HOME.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOPS_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking server; the embedded server on mlflow_port when unset.",
    )
    data_registry: str | None = Field(
        default=None,
        description="Git repository of the data registry (path or URL); "
        "a bare repository under MLOPS_HOME when unset.",
    )
    dvc_remote: str | None = Field(
        default=None,
        description="DVC remote (a folder or s3://bucket/prefix); a folder under MLOPS_HOME "
        "when unset.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "MLOPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"
        ),
        description="S3 endpoint for MinIO or another S3-compatible store.",
    )
    prediction_log_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the prediction log; SQLite under MLOPS_HOME when unset.",
    )
    report_store: str | None = Field(
        default=None,
        description="Folder or s3:// prefix for monitoring reports; under MLOPS_HOME when unset.",
    )
    serve_port: int = Field(default=8000, ge=1, le=65535)

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def tracking_uri(self) -> str:
        """The external server when one is named, else this home's embedded server: on the
        port it was started on (run/ports.json; another home may hold mlflow_port)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"http://127.0.0.1:{self.embedded_mlflow_port}"

    @property
    def embedded_mlflow_port(self) -> int:
        """This home's recorded MLflow port, else the configured one - refused (exit 8)
        when a server of another MLOPS_HOME listens there, so no command of this home
        ever writes into another home's registry."""
        from mlops_core.services import ServiceManager, port_holder

        recorded = ServiceManager(self.run_dir).recorded_port("mlflow")
        if recorded:
            return recorded
        holder = port_holder(self.mlflow_port)
        if holder is not None and holder.home and Path(holder.home) != self.home:
            raise Conflict(
                f"port {self.mlflow_port} is held by {holder.describe()}, not by this "
                f"home ({self.home}); start this home's own server with `mlops mlflow up` "
                "(it picks a free port) or set MLOPS_MLFLOW_TRACKING_URI"
            )
        return self.mlflow_port

    @property
    def data_registry_url(self) -> str:
        return self.data_registry or str(self.home / "data-registry.git")

    @property
    def dvc_remote_url(self) -> str:
        return self.dvc_remote or str(self.home / "dvc-remote")

    @property
    def prediction_log(self) -> str:
        return self.prediction_log_url or f"sqlite:///{self.home / 'predictions.db'}"

    @property
    def reports(self) -> str:
        return self.report_store or str(self.home / "reports")

    @property
    def run_dir(self) -> Path:
        """Pid files and logs of background services."""
        return self.home / "run"

    @property
    def models_root(self) -> Path:
        return (self.models_dir or default_models_dir()).expanduser().resolve()

    def models(self) -> list[ModelFolder]:
        """Every model folder, by name."""
        return discover_models(self.models_root)

    def model_folder(self, name: str | None = None) -> ModelFolder:
        """The model a command works on: `name` (--model), else MLOPS_MODEL, else the only
        model folder; BadInput names the known models when that is ambiguous or unknown."""
        return select_model(self.models(), name or self.model, self.models_root)

    def load_schema(self, model: str | None = None) -> DatasetSchema:
        return self.model_folder(model).schema

    def registered_model_for(self, model: str | None = None) -> str:
        """The registered model's name: the model folder's name."""
        return self.model_folder(model).name

    @property
    def registered_model(self) -> str:
        """The registered model of the default model (MLOPS_MODEL, or the only folder)."""
        return self.registered_model_for(None)


def get_settings() -> PlatformSettings:
    return PlatformSettings()
