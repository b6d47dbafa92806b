"""Results of `mlops promote`, `mlops rollback` and of the promote checks' clean process
(deployment_prep)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts.base import Result


class Check(BaseModel):
    """One deployable check of a model version."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="loads, signature, predictions or latency")
    ok: bool = Field(..., description="whether the version passed this check")
    detail: str = Field(..., description="what was found, naming the column, row or budget")


class LatencyStats(BaseModel):
    """Single-record latency of the loaded model in the clean check process."""

    model_config = ConfigDict(extra="forbid")

    p50_ms: float = Field(..., description="median single-record predict time, ms")
    p99_ms: float = Field(..., description="99th percentile single-record predict time, ms")
    budget_ms: float = Field(..., description="the budget p99 must stay within (setting)")
    samples: int = Field(..., description="timed predictions")


class PredictionStats(BaseModel):
    """The model's predictions on its data version's test rows."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(..., description="test rows predicted")
    plausible_range: list[float] | None = Field(
        None,
        description="regression: [low, high], the training labels' range widened by the margin",
    )
    out_of_range_share: float = Field(
        ..., description="share of predictions outside it (classification: not a class)"
    )
    classes: list[str] | None = Field(None, description="classification: the schema's classes")
    predicted_classes: dict[str, int] | None = Field(
        None, description="classification: predictions per class"
    )
    accuracy: float | None = Field(
        None, description="classification: accuracy on those rows, when every one is a class"
    )
    min: float | None = Field(None, description="smallest finite prediction")
    max: float | None = Field(None, description="largest finite prediction")
    rmse: float | None = Field(None, description="RMSE on those rows, when all are finite")


class CheckReport(Result):
    """What the clean check process prints: the result of every deployable check."""

    command: ClassVar[str] = "`python -m deployment_prep.check_worker` (run by `mlops promote`)"

    model_dir: str | None = Field(None, description="where the version's files were downloaded")
    artifact_size_bytes: int | None = Field(None, description="size of the model's files")
    checks: list[Check] = Field(default_factory=list, description="each check, in order")
    predictions: PredictionStats | None = Field(None, description="the predictions check")
    latency: LatencyStats | None = Field(None, description="the latency check")
    error_kind: Literal["download", "unexpected"] | None = Field(
        None, description="set when the checks could not run: `download` or `unexpected`"
    )
    error: str | None = Field(None, description="why the checks could not run")
    preload_s: float | None = Field(None, description="seconds importing MLflow and pandas")
    import_s: float | None = Field(None, description="seconds of the remaining imports")
    download_s: float | None = Field(None, description="seconds downloading the version")
    load_s: float | None = Field(None, description="seconds loading it with mlflow.pyfunc")
    predict_s: float | None = Field(None, description="seconds of the predictions check")
    latency_s: float | None = Field(None, description="seconds of the latency check")


class PullRequest(BaseModel):
    """The pull request a promotion opened (with MLOPS_PROMOTE_GITHUB_TOKEN)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="the pull request's page")
    number: int = Field(..., description="its number in the repository")


class Reload(BaseModel):
    """How the running embedded prediction service came to serve the new champion."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="the prediction service's base URL")
    model: str = Field(..., description="the model URI it should serve (models:/NAME/VERSION)")
    ok: bool = Field(False, description="whether it serves that version now")
    how: Literal["admin reload", "followed the alias"] | None = Field(
        None, description="the admin reload endpoint, or its own poll of the alias"
    )
    seconds: float | None = Field(None, description="time until it served the version")
    status_code: int | None = Field(None, description="HTTP status of the admin reload call")
    response: dict | None = Field(None, description="the admin reload endpoint's answer")
    reload_error: str | None = Field(None, description="why the admin reload call failed")
    serving: str | None = Field(None, description="the version it still serves, on failure")
    error: str | None = Field(None, description="what to do when it was not reloaded")


class BuildContext(BaseModel):
    """The self-contained image build context `mlops promote --build-context` wrote."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="the folder (Dockerfile, model/, requirements.txt)")
    files: int = Field(..., description="files written")
    requirements: list[str] = Field(..., description="the pinned requirements")


class CandidateInfo(BaseModel):
    """A version served beside the champion: alias `shadow` or `canary` and the
    `candidate:` block of the model's GitOps files."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(..., description="the candidate's registered version")
    mode: Literal["shadow", "canary"] = Field(
        ...,
        description="shadow: predicts on every request, never answers; canary: answers "
        "`weight` percent of requests",
    )
    weight: float | None = Field(
        None, description="canary: percent of requests it answers (0 < w < 100); shadow: none"
    )
    data_version: str | None = Field(None, description="the data version it was trained on")
    uri: str | None = Field(None, description="models:/NAME/VERSION (MLOPS_SERVE_CANDIDATE)")


class ChampionChange(Result):
    """What moving alias `champion` did (the fields promotion and rollback share)."""

    action: Literal["promote", "rollback", "abort"] = Field(
        ..., description="which command ran (abort: `mlops rollback --candidate`)"
    )
    model_name: str = Field(..., description="the registered model")
    model_version: str = Field(
        ...,
        description="the version that is champion now (promote --shadow/--canary: the "
        "candidate's version; the champion is `previous_version`, unchanged)",
    )
    previous_version: str | None = Field(None, description="the champion before, if any")
    data_version: str | None = Field(None, description="the data version it was trained on")
    run_id: str | None = Field(None, description="its MLflow training run")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="its headline metrics (test_*, val_*)"
    )
    envs: list[str] = Field(..., description="the environments whose files were written")
    values_files: list[str] = Field(
        ...,
        description="gitops/envs/<env>/models/<model>.yaml of each, relative to the repo "
        "(the only files the commit touches)",
    )
    migrated_files: list[str] = Field(
        default_factory=list,
        description="files a commit of its own moved from the single-model layout "
        "(envs/<env>/model-values.yaml) before this change; empty when none",
    )
    gitops_repo: str = Field(..., description="the GitOps checkout")
    remote: str | None = Field(None, description="its remote's URL (none: a local repository)")
    branch: str = Field(..., description="the branch committed to")
    changed: bool = Field(..., description="false when it was already the champion everywhere")
    commit: str | None = Field(None, description="the GitOps commit (HEAD when unchanged)")
    pushed: bool = Field(False, description="whether the commit was pushed to the remote")
    pull_request: PullRequest | None = Field(None, description="the pull request opened")
    pr_branch: str | None = Field(None, description="the pull request's branch")
    checks: list[Check] | None = Field(
        None, description="the deployable checks (a rollback checks only a never-champion)"
    )
    reason: str | None = Field(
        None,
        description="why, as recorded in the commit's `Reason:` trailer (--reason, else a "
        "default saying who decided); none when nothing changed",
    )
    reload: Reload | None = Field(
        None, description="the embedded prediction service's reload (none: not running)"
    )
    removed_candidate: CandidateInfo | None = Field(
        None,
        description="the shadow/canary this change removed (completed by a promotion, "
        "aborted, replaced, or taken along by a rollback); none when there was none",
    )


class PromoteResult(ChampionChange):
    """The challenger (or --version N), checked as a deployable, made the champion."""

    command: ClassVar[str] = "`mlops promote`"

    action: Literal["promote"] = Field("promote", description="`promote`")
    mode: Literal["champion", "shadow", "canary"] = Field(
        "champion",
        description="champion: the version became the champion; shadow / canary "
        "(--shadow, --canary PERCENT): it was put beside the champion as the candidate",
    )
    weight: float | None = Field(None, description="--canary: percent of requests it answers")
    candidate: CandidateInfo | None = Field(
        None, description="the live candidate after the command (none: no candidate)"
    )
    latency_ms: LatencyStats | None = Field(None, description="the latency check's figures")
    predictions: PredictionStats | None = Field(None, description="the predictions check's")
    artifact_size_bytes: int | None = Field(None, description="size of the model's files")
    check_seconds: float | None = Field(None, description="seconds the checks took in all")
    timings_s: dict[str, float] = Field(
        default_factory=dict, description="seconds of each phase of the check process"
    )
    build_context: BuildContext | None = Field(None, description="with --build-context")


class RollbackResult(ChampionChange):
    """Alias `champion` moved back (or to --to N), committed as a new GitOps commit; or,
    with --candidate, the shadow/canary candidate removed (action `abort`)."""

    command: ClassVar[str] = "`mlops rollback`"

    action: Literal["rollback", "abort"] = Field(
        "rollback", description="`rollback`, or `abort` (--candidate: the champion stays)"
    )


class ModelPin(BaseModel):
    """What one environment's GitOps file pins for a model."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, description="the pinned version (none: not promoted)")
    data_version: str | None = Field(None, description="the data version the file names")
    file: str = Field(..., description="gitops/envs/<env>/models/<model>.yaml")
    candidate: CandidateInfo | None = Field(
        None, description="its `candidate:` block (a shadow or canary), if any"
    )


class ModelSummary(BaseModel):
    """One model folder, its data, its registered versions and where they are promoted."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="the model (folder and registered model name)")
    task: str = Field(..., description="regression or classification")
    folder: str = Field(..., description="the model folder")
    latest_data_version: str | None = Field(None, description="its newest data-vN, if any")
    registered: bool = Field(..., description="whether MLflow has a registered model of it")
    champion: str | None = Field(None, description="version holding alias champion")
    challenger: str | None = Field(None, description="version holding alias challenger")
    promoted: dict[str, str] = Field(
        default_factory=dict, description="env -> version its GitOps file pins"
    )
    champion_envs: list[str] = Field(
        default_factory=list, description="the environments pinning the champion"
    )
    challenger_envs: list[str] = Field(
        default_factory=list, description="the environments pinning the challenger"
    )
    candidate: CandidateInfo | None = Field(
        None, description="the live shadow/canary (alias shadow or canary), if any"
    )
    candidate_envs: list[str] = Field(
        default_factory=list, description="the environments whose file names the candidate"
    )
    pins: dict[str, ModelPin] = Field(
        default_factory=dict, description="env -> its GitOps file, pinned or not"
    )
    error: str | None = Field(None, description="why part of it could not be read")


class ModelsListResult(Result):
    """Every model folder with its task, data, champion, challenger and promotions."""

    command: ClassVar[str] = "`mlops models list`"

    models_dir: str = Field(..., description="the folder of the model folders")
    tracking_uri: str = Field(..., description="the MLflow server asked")
    gitops_repo: str | None = Field(
        None, description="the GitOps checkout read (none: nothing promoted from this home)"
    )
    models: list[ModelSummary] = Field(default_factory=list, description="by name")


class HistoryCheck(BaseModel):
    """One check a commit's trailers say the version passed (or failed)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="gate, loads, signature, predictions or latency")
    ok: bool = Field(..., description="whether it passed")
    detail: str = Field("", description="what was found, as the commit recorded it")


class HistoryFileChange(BaseModel):
    """One of the model's GitOps files a commit changed: its diff summary."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="gitops/envs/<env>/models/<model>.yaml (or a legacy file)")
    env: str | None = Field(None, description="the environment of the file")
    added: int | None = Field(None, description="lines added (git --numstat)")
    deleted: int | None = Field(None, description="lines deleted")
    version_before: str | None = Field(None, description="the version it pinned before")
    version_after: str | None = Field(
        None, description="the version it pins after (none: deleted or not pinned)"
    )


class MonitoringReportLink(BaseModel):
    """A monitoring run of the version in the report store (read-only)."""

    model_config = ConfigDict(extra="forbid")

    created: str | None = Field(None, description="when it was judged (ISO-8601)")
    status: str | None = Field(None, description="no_drift, drift or insufficient_data")
    drift_share: float | None = Field(None, description="share of feature columns drifted")
    degraded: bool | None = Field(None, description="the policy metric beyond its limit")
    html: str | None = Field(None, description="the Evidently HTML report (store URI)")
    json_uri: str = Field(..., description="the stored monitoring result (store URI)")


class DataVersionLink(BaseModel):
    """The data version a model version was trained on, in the data registry."""

    model_config = ConfigDict(extra="forbid")

    data_version: str = Field(..., description="data-vN of the model")
    registry: str | None = Field(None, description="the data registry (git URL)")
    git_tag: str | None = Field(None, description="its git tag there (<model>/data-vN)")
    exists: bool | None = Field(
        None, description="found in the registry (none: the registry could not be read)"
    )
    created: str | None = Field(None, description="when it was ingested")
    rows: dict[str, int] = Field(default_factory=dict, description="rows per split")
    content_hash: str | None = Field(None, description="hash of its content (manifest)")


class RegistryVersion(BaseModel):
    """What the MLflow registry holds now about a model version a commit names."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(..., description="the model version")
    in_registry: bool = Field(..., description="false: deleted from the registry since")
    run_id: str | None = Field(None, description="its training run")
    created: str | None = Field(None, description="when the version was registered (ISO-8601)")
    aliases: list[str] = Field(default_factory=list, description="the aliases it holds now")
    data_version: str | None = Field(None, description="its run's data version tag")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="its training run's headline metrics (test_*, val_*)"
    )
    run_url: str | None = Field(None, description="the training run's MLflow page")
    version_url: str | None = Field(None, description="the model version's MLflow page")
    note: str | None = Field(None, description="why something is missing")


class HistoryEntry(BaseModel):
    """One commit of the model's audit trail, joined with the registry and its reports."""

    model_config = ConfigDict(extra="forbid")

    commit: str = Field(..., description="the GitOps commit")
    time: str = Field(..., description="when it landed on the branch (committer date, ISO-8601)")
    author: str = Field(..., description="its author's name")
    author_email: str = Field(..., description="its author's email")
    title: str = Field(..., description="the commit's first line")
    action: str = Field(
        ...,
        description="promote, rollback, shadow, canary, abort (a candidate removed), migrate "
        "(the layout commit) or manual (a commit made by hand, without trailers)",
    )
    legacy: bool = Field(
        False,
        description="made before the trailer block: read from its title and its `Key: value` lines",
    )
    model_version: str | None = Field(
        None,
        description="the version it made champion / pins (shadow, canary, abort: the candidate)",
    )
    candidate_version: str | None = Field(
        None,
        description="the shadow/canary it put in place, changed or removed (`Candidate-version`)",
    )
    weight: float | None = Field(None, description="the canary's weight, percent (`Weight`)")
    previous_version: str | None = Field(None, description="the champion before it")
    data_version: str | None = Field(None, description="the data version the commit names")
    envs: list[str] = Field(default_factory=list, description="the environments it changed")
    reason: str | None = Field(None, description="its `Reason:` trailer")
    run_id: str | None = Field(None, description="the training run the commit names")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="the metrics the commit recorded (`Metrics:`)"
    )
    checks: list[HistoryCheck] = Field(
        default_factory=list, description="the gate and deployable checks the commit recorded"
    )
    trailers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="every trailer (or legacy `Key: value` line), by key in lower case with "
        "dashes (`data-version`), values in order",
    )
    changes: list[HistoryFileChange] = Field(
        default_factory=list, description="the model's GitOps files it changed (diff summary)"
    )
    registry: RegistryVersion | None = Field(
        None, description="the version in MLflow now (none: the commit names no version)"
    )
    data: DataVersionLink | None = Field(None, description="its data version in the registry")
    reports: list[MonitoringReportLink] = Field(
        default_factory=list, description="the version's newest monitoring runs, newest first"
    )
    reports_total: int = Field(0, description="monitoring runs of the version in the store")
    notes: list[str] = Field(
        default_factory=list,
        description="what does not line up (a deleted version, a data version the registry "
        "disagrees on, a change made by hand)",
    )


class HistoryResult(Result):
    """A model's audit trail: its GitOps commits, newest first, joined with MLflow."""

    command: ClassVar[str] = "`mlops history`"

    model_name: str = Field(..., description="the model")
    gitops_repo: str | None = Field(
        None, description="the GitOps checkout read (none: nothing promoted from this home)"
    )
    ref: str | None = Field(None, description="the branch read (the remote's, when it has one)")
    paths: list[str] = Field(
        default_factory=list, description="the pathspecs the log was limited to"
    )
    tracking_uri: str = Field(..., description="the MLflow server joined")
    envs: list[str] = Field(default_factory=list, description="--env filter (empty: all)")
    limit: int | None = Field(None, description="--limit")
    total: int = Field(0, description="matching commits before --limit")
    entries: list[HistoryEntry] = Field(default_factory=list, description="newest first")
    report_store: str = Field(..., description="where the monitoring reports are read")
    monitoring_experiment_url: str | None = Field(
        None, description="the model's <model>-monitoring experiment in MLflow, if any"
    )
    html: str | None = Field(None, description="the HTML page written beside the reports")
    warnings: list[str] = Field(
        default_factory=list, description="secondary sources that could not be read"
    )
