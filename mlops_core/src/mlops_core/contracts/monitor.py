"""Results of `mlops monitor`, `mlops monitor ui` (model_monitoring)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result
from mlops_core.contracts.constants import Task

MonitorStatus = Literal["no_drift", "drift", "insufficient_data"]


class ColumnDrift(BaseModel):
    """Evidently's drift score and Value Drift test of one column (a feature or the prediction)."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = Field(None, description="the drift score (p-value or distance)")
    method: str | None = Field(None, description="the statistical test or distance Evidently used")
    threshold: float | None = Field(None, description="the score at which the column drifts")
    drifted: bool = Field(False, description="whether Evidently's Value Drift test failed")
    test_status: str | None = Field(None, description="that test's status: SUCCESS, FAIL, ...")
    sampling_error: float | None = Field(
        None,
        description="bound on |sampled score - exact score| when Evidently ran on a sample "
        "(0 when every row was compared; null for a method without a bound)",
    )


class ClassMetrics(BaseModel):
    """One class's quality on the labelled rows (one-vs-rest)."""

    model_config = ConfigDict(extra="forbid")

    precision: float = Field(..., description="of the rows predicted as this class")
    recall: float = Field(..., description="of the rows labelled as this class")
    f1: float = Field(..., description="harmonic mean of precision and recall")
    support: int = Field(..., description="labelled rows of this class")
    predicted: int = Field(..., description="rows predicted as this class")
    roc_auc: float | None = Field(
        None, description="one-vs-rest ROC AUC of its probability (null: none logged)"
    )


class Performance(BaseModel):
    """Quality on the labelled rows of the window, computed on every such row with
    scikit-learn: regression errors, or classification scores (the same names training
    logs as test_<metric>)."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(Task.REGRESSION, description="regression or classification")
    labelled_rows: int = Field(..., description="rows with a feedback label")
    metric: str = Field(..., description="the policy's degradation metric")
    value: float | None = Field(
        None, description="that metric on the labelled rows (null: it cannot be computed)"
    )
    baseline: float | None = Field(
        ..., description="the model version's test_<metric> from its training run"
    )
    limit: float | None = Field(
        ...,
        description="the worst allowed value: baseline x (1 + max_increase) for an error, "
        "baseline x (1 - max_decrease) for a score",
    )
    degraded: bool = Field(..., description="the metric is beyond the limit")
    interval: list[float] | None = Field(
        None,
        description="[lo, hi]: the bootstrap confidence interval of the metric on the "
        "labelled rows (null: the metric was not computed)",
    )
    confidence: float | None = Field(None, description="the interval's level (policy: 0.95)")
    interval_degraded: bool = Field(
        False,
        description="the whole interval is beyond the limit (what a rollback needs; "
        "`degraded` judges the value alone)",
    )
    note: str | None = Field(None, description="why the metric was not judged, when it was not")
    # regression
    rmse: float | None = Field(None, description="root mean squared error")
    mae: float | None = Field(None, description="mean absolute error")
    mape: float | None = Field(None, description="mean absolute percentage error (a fraction)")
    mean_error: float | None = Field(None, description="mean of prediction - label")
    r2: float | None = Field(None, description="coefficient of determination (null: one label)")
    # classification
    accuracy: float | None = Field(None, description="share of rows predicted right")
    balanced_accuracy: float | None = Field(None, description="mean recall over the classes")
    f1_macro: float | None = Field(None, description="unweighted mean F1 over the classes")
    roc_auc: float | None = Field(
        None,
        description="ROC AUC of the probabilities (one-vs-rest macro for several classes; "
        "null: no probabilities logged or a single class labelled)",
    )
    log_loss: float | None = Field(None, description="cross-entropy of the probabilities")
    brier: float | None = Field(None, description="Brier score (several classes: mean one-vs-rest)")
    per_class: dict[str, ClassMetrics] | None = Field(
        None, description="classification: each class's precision, recall, F1 and ROC AUC"
    )


class MonitorWindow(BaseModel):
    """The slice of the prediction log that was judged."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(None, description="start, exclusive (ISO-8601); null: the beginning")
    until: str = Field(..., description="end, inclusive (ISO-8601)")
    last: int | None = Field(None, description="--last N: the newest N predictions")
    since_previous_run: bool = Field(
        False, description="`since` is the end of the previous judged run's window"
    )
    first: str | None = Field(None, description="time of the oldest prediction in the window")
    last_prediction: str | None = Field(
        None, description="time of the newest prediction in the window"
    )


class RetrainStep(BaseModel):
    """One stage command the retraining path ran."""

    model_config = ConfigDict(extra="allow")  # shaped by model_monitoring.retrain

    command: list[str] = Field(..., description="the command line, e.g. [mlops, train, --json]")
    exit_code: int | None = Field(None, description="its exit code (null: timed out)")
    result: dict[str, Any] | None = Field(None, description="its --json result")
    error: str | None = Field(None, description="why it did not finish")
    stderr_tail: str | None = Field(None, description="the end of its stderr when it failed")


class RetrainOutcome(BaseModel):
    """What `--trigger-retrain` did."""

    model_config = ConfigDict(extra="allow")  # shaped by model_monitoring.retrain

    triggered: bool = Field(..., description="whether the retraining path ran")
    ok: bool | None = Field(None, description="ingest and train ended as expected")
    reason: str | None = Field(None, description="why it did not run")
    steps: list[RetrainStep] = Field(default_factory=list, description="the commands it ran")
    data_version: str | None = Field(None, description="the data version trained on")
    model_version: str | int | None = Field(None, description="the new model version")
    gate: Any = Field(None, description="the quality gate's verdict on the new version")


class RollbackOutcome(BaseModel):
    """The rollback decision on a degraded champion (policy `on_degradation: rollback`),
    and what `mlops rollback` did when it ran."""

    model_config = ConfigDict(extra="forbid")

    advised: bool = Field(..., description="the policy and the confidence bound call for it")
    triggered: bool = Field(False, description="`mlops rollback` ran")
    ok: bool | None = Field(None, description="it ran and moved the champion")
    reason: str = Field(
        ...,
        description="advised: the reason recorded in the GitOps commit and the history; "
        "else why no rollback is due",
    )
    from_version: str | None = Field(None, description="the degraded champion")
    to_version: str | None = Field(None, description="the champion after the rollback")
    commit: str | None = Field(None, description="the GitOps commit of the rollback")
    command: list[str] | None = Field(None, description="the command line that ran")
    exit_code: int | None = Field(None, description="its exit code")
    error: str | None = Field(None, description="why the rollback failed")


class MonitorResult(Result):
    """One monitoring run: the verdict on a window of served traffic, and where it is stored."""

    command: ClassVar[str] = "`mlops monitor`"

    status: MonitorStatus = Field(
        ...,
        description="no_drift (exit 0), drift (exit 6) or insufficient_data (exit 7); exit 9 "
        "when a rollback the policy called for failed (rollback.error)",
    )
    message: str = Field("", description="the verdict in one sentence, with its reasons")
    model_name: str = Field(..., description="the model (its folder and registered model)")
    task: Task = Field(Task.REGRESSION, description="the model's task")
    model_version: str | None = Field(
        None, description="the model version whose traffic was judged (null: none logged)"
    )
    data_version: str | None = Field(None, description="that version's training data version")
    policy: str = Field(
        ..., description="the policy file (the model folder's monitor.yaml unless overridden)"
    )
    window: MonitorWindow | None = Field(None, description="the judged slice of the log")
    rows: int = Field(0, description="current rows (predictions) in the window")
    reference_rows: int | None = Field(None, description="rows of the training split")
    labelled_rows: int = Field(0, description="current rows with a feedback label")
    rows_compared: int = Field(0, description="current rows Evidently compared (sampled)")
    reference_rows_compared: int = Field(0, description="reference rows Evidently compared")
    sampled: bool = Field(False, description="Evidently ran on a sample of a side")
    drift_share: float | None = Field(None, description="share of feature columns drifted")
    share_threshold: float | None = Field(None, description="the policy's drift share")
    data_drift: bool = Field(False, description="data drift found (share, critical, prediction)")
    drifted_columns: list[str] = Field(default_factory=list, description="drifted features")
    ignored_columns: list[str] = Field(default_factory=list, description="features not judged")
    columns: dict[str, ColumnDrift] = Field(
        default_factory=dict, description="per feature column: score, method, test"
    )
    prediction_drift: ColumnDrift | None = Field(
        None,
        description="drift of the prediction: the predicted value (regression) or the "
        "predicted class distribution (classification)",
    )
    probability_drift: dict[str, ColumnDrift] | None = Field(
        None,
        description="classification with logged probabilities: drift of each class's "
        "probability (binary: the positive class only, scikit-learn's: last in sorted order)",
    )
    performance: Performance | None = Field(
        None, description="quality on the labelled rows (null: too few labels)"
    )
    degraded: bool = Field(False, description="the policy metric is beyond its limit")
    rmse: float | None = Field(None, description="performance.rmse, for dashboards")
    mae: float | None = Field(None, description="performance.mae")
    metric: str | None = Field(None, description="performance.metric, for dashboards")
    metric_value: float | None = Field(None, description="performance.value")
    reasons: list[str] = Field(default_factory=list, description="why the status is drift")
    retrain_advised: bool = Field(False, description="the reasons found are in retrain_on")
    report_html: str | None = Field(None, description="the Evidently HTML report (store URI)")
    report_json: str | None = Field(None, description="this result, as stored")
    created: str | None = Field(None, description="when the run was judged (ISO-8601)")
    seconds: float | None = Field(None, description="wall time of the run")
    evidently_snapshot: str | None = Field(None, description="snapshot id in the workspace")
    mlflow_run_id: str | None = Field(None, description="the run in <model>-monitoring")
    evidently_project: str | None = Field(
        None, description="the model's project in the Evidently workspace (named after it)"
    )
    retrain: RetrainOutcome | None = Field(None, description="with --trigger-retrain")
    rollback_advised: bool = Field(
        False,
        description="roll back now: the policy says on_degradation: rollback, the metric's "
        "whole confidence interval is beyond the limit on enough labelled rows, and the "
        "judged version is the champion (the monitoring DAG branches on it)",
    )
    rollback: RollbackOutcome | None = Field(
        None,
        description="the rollback decision (policy on_degradation: rollback, performance "
        "judged) and, with --rollback-on-degradation, its outcome",
    )
    pushgateway: str | None = Field(
        None,
        description="the Pushgateway this run's series were pushed to (null: none set, or "
        "the push failed: see warnings)",
    )
    warnings: list[str] | None = Field(
        None, description="secondary records that failed (workspace, MLflow, Pushgateway)"
    )


class MonitorUiResult(Result):
    """The Evidently UI started in the background, or stopped."""

    command: ClassVar[str] = "`mlops monitor ui --background` / `--stop`"

    service: str = Field(..., description="the service name of the embedded runtime")
    url: str | None = Field(None, description="where the UI listens (when started)")
    started: bool | None = Field(None, description="false: it was already running")
    workspace: str | None = Field(None, description="the Evidently workspace it serves")
    model_name: str | None = Field(None, description="--model: the model whose project")
    project_url: str | None = Field(None, description="--model: that model's project page")
    stopped: bool | None = Field(None, description="--stop: false when it was not running")


LiveVerdict = Literal["pass", "fail", "insufficient_data"]


class LiveSide(BaseModel):
    """One side of a live comparison (the champion, or the candidate) in the window."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(..., description="the model version")
    role: str = Field(..., description="champion, shadow or canary")
    rows: int = Field(..., description="its logged predictions in the window")
    labelled_rows: int = Field(
        0,
        description="of them with a feedback label (a shadow row: its champion request's label)",
    )
    latency_p50_ms: float | None = Field(
        None, description="median of the logged latency_ms (null: no rows)"
    )
    latency_p95_ms: float | None = Field(None, description="95th percentile of latency_ms")
    metric: str | None = Field(None, description="the compared metric (live.metric)")
    value: float | None = Field(
        None, description="that metric on its labelled rows (null: too few labels)"
    )
    interval: list[float] | None = Field(
        None, description="[lo, hi]: the bootstrap confidence interval of the value"
    )
    metrics: dict[str, float | None] | None = Field(
        None, description="every metric of the task on the labelled rows (scikit-learn)"
    )


class LiveAgreement(BaseModel):
    """Shadow mode: the two answers to the same requests (paired by request id)."""

    model_config = ConfigDict(extra="forbid")

    pairs: int = Field(..., description="requests answered by both (<rid> and <rid>:shadow)")
    agreement: float | None = Field(
        None,
        description="share of pairs that agree: the same class, or (regression) a relative "
        "difference within live.tolerance",
    )
    tolerance: float | None = Field(None, description="regression: that relative tolerance")
    mean_abs_diff: float | None = Field(None, description="regression: mean |candidate - champion|")
    median_abs_diff: float | None = Field(
        None, description="regression: median |candidate - champion|"
    )


class LiveDegradation(BaseModel):
    """How much worse the candidate's metric is than the champion's, as a fraction of the
    champion's (negative: better), with its bootstrap interval (paired over the same
    requests in shadow mode, independent per side in canary mode)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(..., description="the compared metric")
    value: float = Field(..., description="the candidate's degradation on the labelled rows")
    interval: list[float] | None = Field(
        None, description="[lo, hi] at `confidence` (null: it could not be computed)"
    )
    confidence: float = Field(..., description="the interval's level (live.confidence)")
    max_degradation: float = Field(..., description="the policy's limit (live.max_degradation)")
    paired: bool = Field(..., description="the interval resampled the same requests on both sides")


class CompareResult(Result):
    """`mlops monitor compare`: the champion against the live candidate (shadow or canary)
    on the same window of the prediction log, and the policy's verdict."""

    command: ClassVar[str] = "`mlops monitor compare`"

    model_name: str = Field(..., description="the model (folder) compared")
    task: Task = Field(..., description="regression or classification")
    mode: Literal["shadow", "canary"] = Field(..., description="the candidate's alias")
    verdict: LiveVerdict = Field(..., description="pass, fail or insufficient_data")
    reasons: list[str] = Field(
        default_factory=list, description="every finding that decided the verdict"
    )
    message: str = Field(..., description="one line: the verdict and why")
    policy: str = Field(..., description="the policy file (monitor.yaml) judged by")
    window: MonitorWindow = Field(..., description="the slice of the log compared")
    champion: LiveSide = Field(..., description="the champion's side")
    candidate: LiveSide = Field(..., description="the candidate's side")
    agreement: LiveAgreement | None = Field(
        None, description="shadow: the paired answers (null in canary mode: disjoint requests)"
    )
    prediction_drift: ColumnDrift | None = Field(
        None,
        description="Evidently's drift test of the candidate's predictions (or predicted "
        "classes) against the champion's (null: too few rows)",
    )
    degradation: LiveDegradation | None = Field(
        None, description="the metric comparison (null: too few labels on either side)"
    )
    latency_increase: float | None = Field(
        None, description="candidate p95 / champion p95 - 1 (from the log's latency_ms)"
    )
    error_rate: float | None = Field(
        None,
        description="always null: the log holds answered predictions only; failed requests "
        "are counted by the service's Prometheus series (mlops_http_requests by status)",
    )
    measured: list[str] = Field(
        default_factory=list, description="what was measured and where it came from"
    )
    report_html: str | None = Field(None, description="the Evidently report (report store)")
    report_json: str | None = Field(None, description="this result (report store)")
    mlflow_run_id: str | None = Field(None, description="the run in <model>-monitoring")
    tags: dict[str, str] | None = Field(
        None, description="the live_verdict* tags written on the candidate version"
    )
    created: str | None = Field(None, description="when it was judged (ISO-8601)")
    seconds: float | None = Field(None, description="wall time")
    warnings: list[str] | None = Field(None, description="secondary records that failed")
