"""Results of `mlops train` (model_training)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result


class CandidateScore(BaseModel):
    """One candidate parameter set and its scores on the validation split."""

    model_config = ConfigDict(extra="forbid")

    candidate: str = Field(..., description="the candidate's name in the training config")
    params: dict[str, Any] = Field(
        ..., description="its parameter set (regressor parameters and target_transform)"
    )
    val_rmse: float = Field(..., description="root mean squared error on the validation split")
    val_mae: float = Field(..., description="mean absolute error on the validation split")
    val_r2: float = Field(..., description="coefficient of determination on the validation split")
    val_mape: float = Field(
        ..., description="mean absolute percentage error (a fraction) on the validation split"
    )


class TrainResult(Result):
    """A model version trained, tracked, registered and judged by the quality gate.

    When the gate refuses the version, the command exits with code 3 and prints these
    fields inside the error result (with `ok: false` and `error`).
    """

    command: ClassVar[str] = "`mlops train`"

    model_name: str = Field(..., description="the registered model")
    model_version: str = Field(..., description="the new version of the registered model")
    model_uri: str = Field(..., description="`models:/<model_name>/<model_version>`")
    run_id: str = Field(..., description="the MLflow run of the training")
    experiment_id: str = Field(..., description="the MLflow experiment `<model>-training`")
    data_version: str = Field(..., description="the data version trained on (`data-vN`)")
    data_hash: str | None = Field(
        ..., description="the data registry's content hash of that version"
    )
    gate: Literal["passed", "failed"] = Field(..., description="the quality gate's decision")
    reason: str = Field(..., description="why the gate decided so, with the figures compared")
    champion_version: str | None = Field(
        ..., description="the champion compared with (null: there was none)"
    )
    champion_metrics: dict[str, float] | None = Field(
        ..., description="the champion's rmse, mae, r2, mape on the same test split"
    )
    alias: Literal["challenger"] | None = Field(
        ..., description="the alias the new version got (null when the gate refused it)"
    )
    candidate: str = Field(..., description="the selected candidate's name")
    regressor: str = Field(..., description="the selected candidate's regressor class")
    params: dict[str, Any] = Field(..., description="the selected parameter set")
    metrics: dict[str, float] = Field(
        ...,
        description="`<split>_<metric>` for split train, val, test and metric rmse, mae, r2, "
        "mape (mape as a fraction)",
    )
    candidates: list[CandidateScore] = Field(
        ..., description="every candidate parameter set scored during selection"
    )
    tracking_uri: str = Field(..., description="the MLflow tracking server")
    seconds: float = Field(..., description="wall time of training, tracking and registration")
