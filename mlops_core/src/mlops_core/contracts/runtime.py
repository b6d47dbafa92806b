"""Results of the embedded runtime: `mlops up`, `down`, `status`, `mlops mlflow ...`,
`mlops airflow ...`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result


class ServiceStarted(BaseModel):
    """One background service in the result of `mlops up`.

    A stage's `mlops up` hook may add fields of its own (the served model, the Evidently
    workspace, Airflow's login), so this object accepts fields it does not name.
    """

    model_config = ConfigDict(extra="allow")

    service: str = Field(..., description="the service's name (pid file and log under run/)")
    url: str | None = Field(None, description="where it answers; null when it was not started")
    started: bool = Field(False, description="false when it already ran or was skipped")
    skipped: str | None = Field(None, description="why it was not started (e.g. no model yet)")
    note: str | None = Field(
        None, description="why it listens on another port than configured (a held port)"
    )


class UpResult(Result):
    command: ClassVar[str] = "`mlops up`"

    home: str = Field(..., description="the MLOPS_HOME whose services these are")
    services: list[ServiceStarted] = Field(..., description="each service, in start order")


class DownResult(Result):
    command: ClassVar[str] = "`mlops down`"

    stopped: list[str] = Field(..., description="the services that ran and were stopped")


class ServiceStatus(BaseModel):
    """One background service recorded under MLOPS_HOME/run."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(..., description="the service's name")
    running: bool = Field(..., description="whether its process is alive")
    pid: int = Field(..., description="the process id of its process group's leader")
    url: str | None = Field(..., description="where it answers")
    log: str = Field(..., description="its log file")


class AlertStatus(BaseModel):
    """One alert of the embedded Prometheus (GET /api/v1/alerts)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="the alert rule's name (e.g. MlopsDriftDetected)")
    model: str | None = Field(..., description="its `model` label")
    severity: str | None = Field(..., description="its `severity` label")
    state: Literal["firing", "pending"] = Field(
        ..., description="pending: the condition holds, not yet for the rule's `for`"
    )
    since: str | None = Field(..., description="when the condition began to hold (RFC 3339)")
    summary: str | None = Field(..., description="its `summary` annotation")


class StatusResult(Result):
    command: ClassVar[str] = "`mlops status`, `mlops mlflow status`"

    home: str = Field(..., description="the MLOPS_HOME whose services these are")
    services: list[ServiceStatus] = Field(..., description="every recorded service")
    prometheus: str | None = Field(
        None, description="this home's Prometheus (`mlops up --observability`); null when none runs"
    )
    alerts: list[AlertStatus] | None = Field(
        None,
        description="its firing and pending alerts, firing first; null when no Prometheus "
        "runs or it did not answer (see alerts_error)",
    )
    alerts_error: str | None = Field(None, description="why the alerts could not be read")


class MlflowUpResult(Result):
    command: ClassVar[str] = "`mlops mlflow up`"

    service: str = Field("mlflow", description="always `mlflow`")
    url: str = Field(..., description="the tracking server of this MLOPS_HOME")
    started: bool = Field(..., description="false when it already ran")
    note: str | None = Field(
        None, description="why the server is not on the configured port (another owns it)"
    )


class ServiceDownResult(Result):
    command: ClassVar[str] = "`mlops mlflow down`, `mlops airflow down`"

    service: str = Field(..., description="the service's name")
    stopped: bool = Field(..., description="false when it was not running")


class AirflowUpResult(Result):
    command: ClassVar[str] = "`mlops airflow up`"

    service: str = Field("airflow", description="always `airflow`")
    url: str = Field(..., description="Airflow's UI and API")
    started: bool = Field(..., description="false when it already ran")
    user: str = Field(..., description="the UI's user name")
    password: str = Field(..., description="its password (or where to read it)")
    dags_folder: str = Field(..., description="the DAG folder Airflow reads")
    log: str = Field(..., description="Airflow's log file")
