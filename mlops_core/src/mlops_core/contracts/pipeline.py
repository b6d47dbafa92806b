"""Results of `mlops pipeline run` (the whole-loop runner, loop_runner)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_Part):
    """One step of the loop: a stage command, or client traffic."""

    step: str = Field(..., description="what the step does")
    model: str | None = Field(None, description="the model it worked on (none: the platform)")
    command: str | None = Field(None, description="the `mlops ... --json` command it ran")
    exit_code: int | None = Field(None, description="that command's exit code")
    seconds: float = Field(..., description="wall time of the step")
    summary: str | None = Field(None, description="one line on what came out of it")


class Traffic(_Part):
    """A burst of client traffic sent to the prediction service."""

    predictions: int = Field(..., description="records answered with a prediction")
    failed_requests: int = Field(..., description="records whose request failed")
    feedback: int = Field(..., description="true labels reported (POST /v1/feedback)")
    model_versions: list[str] = Field(..., description="the versions that answered")
    seconds: float = Field(..., description="wall time of the burst")


class SwapTraffic(_Part):
    """Single requests sent while the new champion was promoted and reloaded."""

    requests: int = Field(..., description="requests sent during the swap")
    failed: int = Field(..., description="of which failed (should be 0)")
    by_version: dict[str, int] = Field(..., description="answers per model version")
    errors: list[str] = Field(..., description="the first errors seen, if any")


class LoopTraffic(_Part):
    """The three traffic phases of the loop."""

    normal: Traffic = Field(..., description="realistic traffic, before drift")
    drifted: Traffic = Field(..., description="drifted traffic")
    during_swap: SwapTraffic = Field(..., description="traffic while the champion changed")


class LoopModel(_Part):
    """A model version the loop trained."""

    version: str | None = Field(None, description="the registered version")
    data_version: str | None = Field(None, description="the data version it was trained on")
    gate: str | None = Field(None, description="the quality gate's verdict")
    metrics: dict[str, float] = Field(default_factory=dict, description="its test_* metrics")
    promoted: bool = Field(..., description="whether the loop made it the champion")


class LoopMonitoring(_Part):
    """What one `mlops monitor` of the loop found."""

    status: str | None = Field(None, description="no_drift, drift or insufficient_data")
    drift_share: float | None = Field(None, description="share of drifted feature columns")
    drifted_columns: list[str] | None = Field(None, description="the drifted columns")
    rows: int | None = Field(None, description="predictions judged")
    rmse: float | None = Field(None, description="RMSE on the labelled predictions (regression)")
    metric: str | None = Field(
        None, description="the policy's performance metric (rmse, roc_auc, f1_macro, ...)"
    )
    metric_value: float | None = Field(None, description="its value on the labelled predictions")
    report_html: str | None = Field(None, description="the Evidently HTML report")
    report_json: str | None = Field(None, description="the Evidently JSON report")
    model_version: str | None = Field(None, description="the model version judged")


class GitOpsCommit(_Part):
    """Where the last promotion was committed."""

    repo: str = Field(..., description="the GitOps checkout")
    commit: str | None = Field(None, description="the commit pinning the champion")
    values_files: list[str] = Field(
        default_factory=list,
        description="the model's files it wrote (gitops/envs/<env>/models/<name>.yaml)",
    )


class LoopUrls(_Part):
    """Pages to open after the loop (the services keep running)."""

    mlflow_ui: str | None = Field(None, description="the MLflow UI")
    swagger: str | None = Field(None, description="the prediction API's Swagger UI")
    prediction_service: str | None = Field(None, description="the prediction API")
    evidently_ui: str | None = Field(None, description="the Evidently UI")


class ModelLoop(_Part):
    """The loop of one model: two data versions, two trained versions, its traffic and
    monitoring, its champion and its GitOps file."""

    model: str = Field(..., description="the model (its folder's and registered model's name)")
    task: str | None = Field(None, description="regression or classification")
    log: str = Field(..., description="the log of its stage commands")
    seconds: float = Field(..., description="wall time of its steps")
    data_versions: list[str] = Field(..., description="the two data versions ingested")
    versions: list[LoopModel] = Field(..., description="the two model versions trained")
    traffic: LoopTraffic = Field(..., description="the client traffic sent")
    monitoring: list[LoopMonitoring] = Field(
        ..., description="monitoring of the normal, then the drifted traffic"
    )
    champion: str = Field(..., description="the champion version at the end")
    gitops: GitOpsCommit = Field(..., description="its last promotion's commit")
    prediction_service: str = Field(..., description="the service that answered for it")
    predict_url: str = Field(..., description="where a client sends its records")
    steps: list[Step] = Field(..., description="its steps, in order, with their times")


class PipelineResult(Result):
    """The whole loop on the embedded runtime for one or several models, from ingestion to
    each model's retrained champion."""

    command: ClassVar[str] = "`mlops pipeline run`"

    home: str = Field(..., description="the MLOPS_HOME the loop ran in")
    log: str = Field(..., description="the log of the platform's steps (each model: its own)")
    seconds: float = Field(..., description="wall time of the loop")
    serving: str = Field(
        ...,
        description="`one service` (every model in one prediction service) or "
        "`one service per model`",
    )
    side_by_side: bool = Field(..., description="whether the models' loops ran concurrently")
    models: list[ModelLoop] = Field(..., description="each model's loop, by name")
    urls: LoopUrls = Field(..., description="where to look")
    steps: list[Step] = Field(..., description="the platform's steps (up, serve, status)")


class TrafficResult(Result):
    """A burst of generated client traffic for one model, sent to the home's service."""

    command: ClassVar[str] = "`mlops pipeline traffic`"

    model_name: str = Field(..., description="the model whose routes were called")
    url: str = Field(..., description="the prediction service it was sent to")
    drift: dict | None = Field(
        None, description="the drift applied to the generated records (null: none)"
    )
    wrong_labels: float = Field(
        0.0, description="share of the feedback labels made wrong on purpose"
    )
    predictions: int = Field(..., description="records answered with a prediction")
    failed_requests: int = Field(..., description="records whose request failed")
    feedback: int = Field(..., description="labels reported (POST .../feedback)")
    model_versions: list[str] = Field(..., description="the versions that answered")
    seconds: float = Field(..., description="wall time of the burst")
