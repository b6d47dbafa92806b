"""One training, end to end: fit, gate, track in MLflow, register.

Conventions (docs/model_training.md): experiment "<model>-training"; run tags data_version,
data_hash, git_commit, package_version; metrics {train,val,test}_{rmse,mae,r2,mape}; one
nested run per candidate parameter set with its validation scores; the model logged in the
sklearn flavour as "model" with signature, input example and explicit pip requirements;
model version tags data_version, data_hash, validation_status, validation_reason; alias
`challenger` when the gate passes. Each step lives in its own module: core (fitting), gate
(the decision), runlog (the run's records), artifacts (plots and the model), registration.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path

from mlops_core import mlflow_utils
from mlops_core.contracts import Alias, Tag
from mlops_core.contracts.train import BaselineScore, CandidateScore, TrainResult
from mlops_core.mlflow_utils.quiet import quiet_mlflow
from mlops_core.schema import DatasetSchema
from model_training import artifacts, runlog
from model_training.config import TrainingConfig
from model_training.core import TrainingResult, train
from model_training.data import DataVersion
from model_training.gate import GateDecision, judge
from model_training.provenance import git_commit, package_version
from model_training.registration import MAX_REASON, record_decision, score_champion

log = logging.getLogger("mlops.train")


def train_and_register(
    data: DataVersion,
    schema: DatasetSchema,
    config: TrainingConfig,
    *,
    config_text: str,
    config_source: str,
    model_name: str,
    tracking_uri: str,
    seed: int | None = None,
    commit_override: str | None = None,
) -> TrainResult:
    """Fit, gate, track and register. Returns the command's result."""
    import mlflow
    from threadpoolctl import threadpool_limits

    seed = config.seed if seed is None else seed
    started = time.perf_counter()
    result = train(data.frames, schema, config, seed=seed, log=log)
    metric = config.selection_metric
    log.info(
        "selected %s %s (%s %s %.4g)%s",
        result.best.candidate,
        result.best.params,
        "cv" if result.selection == "cv" else "val",
        metric,
        result.best.val[metric],
        f", replacing {result.overruled}" if result.overruled else "",
    )

    # The champion is scored before the new version exists, so the version is created
    # with its final validation tags in one go.
    champion = score_champion(model_name, data.frames["test"], schema, tracking_uri)
    decision = judge(
        result.metrics,
        config.gate,
        champion,
        data.tag,
        task=config.task,
        metric=config.gate_metric,
    )
    log.info("quality gate %s: %s", decision.status, decision.reason)

    client = mlflow_utils.client(tracking_uri)
    # The fluent API (start_run, log_*, log_model) logs to the global URIs.
    mlflow_utils.configure_tracking(tracking_uri, check=False)
    experiment = runlog.training_experiment(client, model_name)
    commit = git_commit(commit_override)
    with (
        quiet_mlflow(),
        threadpool_limits(limits=config.threads),
        tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp,
        mlflow.start_run(
            experiment_id=experiment.experiment_id,
            run_name=f"{data.tag}-{result.best.candidate}",
            tags=runlog.run_tags(data, result, decision.status, commit, package_version()),
        ) as run,
    ):
        out = Path(tmp)
        run_id = run.info.run_id
        mlflow.log_params(runlog.run_params(data, result, config, seed, config_source))
        runlog.log_config(config, config_text, schema)
        runlog.log_datasets(data, schema)
        runlog.log_candidates(client, experiment.experiment_id, run_id, data, result, metric, out)
        mlflow.log_metrics(result.metrics)
        mlflow.log_metrics(result.timings)
        runlog.log_baselines(result, out)
        if champion is not None and champion.metrics:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in champion.metrics.items()})
        artifacts.log_diagnostics(result.pipeline, data.frames, schema, config, seed, out)
        version = artifacts.log_model(result.pipeline, data.frames["train"], schema, model_name)
        record_decision(
            client,
            model_name,
            version,
            decision,
            {**runlog.lineage_tags(data, commit), "candidate": result.best.candidate},
        )
        mlflow.set_tag(Tag.VALIDATION_REASON.value, decision.reason[:MAX_REASON])
        mlflow.log_metric("total_seconds", time.perf_counter() - started)

    return training_result(
        result,
        decision,
        data,
        model_name=model_name,
        model_version=version,
        run_id=run_id,
        experiment_id=experiment.experiment_id,
        tracking_uri=tracking_uri,
        seconds=round(time.perf_counter() - started, 2),
    )


def training_result(
    result: TrainingResult,
    decision: GateDecision,
    data: DataVersion,
    *,
    model_name: str,
    model_version: str,
    run_id: str,
    experiment_id: str,
    tracking_uri: str,
    seconds: float,
) -> TrainResult:
    """The `mlops train --json` result of a training."""
    return TrainResult(
        ok=decision.passed,
        model_name=model_name,
        model_version=model_version,
        model_uri=f"models:/{model_name}/{model_version}",
        run_id=run_id,
        experiment_id=experiment_id,
        data_version=data.tag,
        data_hash=data.content_hash,
        gate=decision.status,
        reason=decision.reason,
        champion_version=decision.champion_version,
        champion_metrics=decision.champion_metrics,
        alias=Alias.CHALLENGER.value if decision.passed else None,
        candidate=result.best.candidate,
        task=result.task,
        classes=list(result.classes) if result.classes else None,
        primary_metric=result.primary_metric,
        estimator=result.best.estimator,
        params=result.best.params,
        selection=result.selection,
        folds=result.folds,
        selected_by=result.selected_by,
        overruled=result.overruled,
        # A metric that could not be computed (roc_auc on one class) is left out of JSON.
        metrics={k: v for k, v in result.metrics.items() if math.isfinite(v)},
        baselines={b.name: baseline_score(b) for b in result.baselines},
        candidates=[
            CandidateScore(
                candidate=s.candidate,
                estimator=s.estimator,
                params=s.params,
                scores=s.val,
                std=s.std,
            )
            for s in result.candidates
        ],
        tracking_uri=tracking_uri,
        seconds=seconds,
    )


def baseline_score(b) -> BaselineScore:
    ci = (b.margin_low, b.margin_high)
    return BaselineScore(
        estimator=b.estimator,
        test=b.test,
        selected_test=b.selected_test,
        beaten=b.beaten,
        margin=b.margin,
        margin_ci=ci if all(math.isfinite(v) for v in ci) else None,
        verdict=b.verdict,
    )
