"""Results of `mlops train` (model_training)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result
from mlops_core.contracts.constants import Task


class CandidateScore(BaseModel):
    """One candidate parameter set and its selection scores."""

    model_config = ConfigDict(extra="forbid")

    candidate: str = Field(
        ..., description="the candidate's name in the training config (`baseline_*`: a baseline)"
    )
    estimator: str = Field(..., description="its scikit-learn estimator class")
    params: dict[str, Any] = Field(
        ..., description="its parameter set (estimator parameters, and target_transform)"
    )
    scores: dict[str, float] = Field(
        ...,
        description="every metric of the task on the validation split, or (selection `cv`) "
        "its mean over the cross-validation folds",
    )
    std: float | None = Field(
        None, description="the selection metric's standard deviation over the folds (cv)"
    )


class BaselineScore(BaseModel):
    """A plain scikit-learn estimator with its defaults, fitted on the selected model's
    rows and scored on the same test split."""

    model_config = ConfigDict(extra="forbid")

    estimator: str = Field(..., description="Ridge / LogisticRegression, RandomForest..., ...")
    test: float = Field(..., description="its test primary metric")
    selected_test: float = Field(..., description="the selected model's, on the same rows")
    beaten: bool = Field(..., description="the selected model scored better on the test split")
    margin: float = Field(
        ..., description="selected minus baseline, signed so that > 0 means the selected is better"
    )
    margin_ci: tuple[float, float] | None = Field(
        ..., description="95% paired-bootstrap interval of the margin (the split's noise)"
    )
    verdict: Literal["better", "within noise", "worse"] = Field(
        ..., description="the selected model against this baseline, given the noise"
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
        ..., description="the champion's metrics (the task's) on the same test split"
    )
    alias: Literal["challenger"] | None = Field(
        ..., description="the alias the new version got (null when the gate refused it)"
    )
    task: Task = Field(Task.REGRESSION, description="regression or classification")
    classes: list[str] | None = Field(
        None, description="the classes in the schema's order (classification)"
    )
    primary_metric: str = Field(
        "rmse", description="the metric the model is chosen, reported and gated on"
    )
    candidate: str = Field(..., description="the selected candidate's name")
    estimator: str = Field(..., description="the selected candidate's estimator class")
    params: dict[str, Any] = Field(..., description="the selected parameter set")
    selection: Literal["validation", "cv"] = Field(
        "validation",
        description="how candidates were compared: on the validation split, or by k-fold "
        "cross-validation on train+val (fewer rows than selection.cv_below_rows; the winner "
        "is then refitted on train+val)",
    )
    folds: int | None = Field(None, description="cross-validation folds (selection `cv`)")
    selected_by: Literal["selection", "baseline"] = Field(
        "selection",
        description="`baseline`: the selection's winner lost to a baseline on the test split "
        "beyond its noise, so that baseline is the model",
    )
    overruled: str | None = Field(
        None, description="the candidate a baseline replaced (selected_by `baseline`)"
    )
    metrics: dict[str, float] = Field(
        ...,
        description="`<split>_<metric>` for split train, val, test and the task's metrics "
        "(regression rmse, mae, r2, mape as a fraction; classification accuracy, "
        "balanced_accuracy, f1_macro, roc_auc, log_loss, brier); with selection `cv` the val_ "
        "figures are the out-of-fold means. `test_<primary>_ci_low`/`_ci_high`: 95% "
        "bootstrap interval of the test figure; `cv_<metric>_std`: its spread over folds",
    )
    baselines: dict[str, BaselineScore] = Field(
        default_factory=dict,
        description="name (linear, random_forest, gradient_boosting) -> the baseline's test "
        "primary metric and whether the selected model beat it",
    )
    candidates: list[CandidateScore] = Field(
        ..., description="every candidate parameter set scored during selection"
    )
    tracking_uri: str = Field(..., description="the MLflow tracking server")
    seconds: float = Field(..., description="wall time of training, tracking and registration")
