"""What a training run records in MLflow: its experiment, tags, parameters, config, data
lineage, and every candidate's validation score (nested runs and a table).

Functions here log to the active run (`mlflow.start_run`); they import mlflow lazily.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_core.contracts import SPLITS, Tag
from mlops_core.mlflow_utils.experiments import ensure_experiment
from mlops_core.schema import DatasetSchema
from model_training.config import TrainingConfig
from model_training.core import TrainingResult, best_per_candidate
from model_training.data import DataVersion


def experiment_name(model_name: str) -> str:
    return f"{model_name}-training"


def training_experiment(client: Any, model_name: str) -> Any:
    """The model's training experiment (a classic ML experiment, created when missing)."""
    return ensure_experiment(client, experiment_name(model_name))


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def lineage_tags(data: DataVersion, commit: str) -> dict[str, str]:
    """The tags a run and its registered version share: which data and code made it."""
    return {
        Tag.DATA_VERSION.value: data.tag,
        Tag.DATA_HASH.value: data.content_hash or "unknown",
        Tag.GIT_COMMIT.value: commit,
    }


def run_tags(
    data: DataVersion, result: TrainingResult, gate_status: str, commit: str, package: str
) -> dict[str, str]:
    tags = {
        **lineage_tags(data, commit),
        "package_version": package,
        "selected_candidate": result.best.candidate,
        "selected_estimator": result.best.estimator,
        "selected_by": result.selected_by,
        "selection": result.selection,
        "task": result.task.value,
        "primary_metric": result.primary_metric,
        "gate": gate_status,
        "mlops.stage": "train",
    }
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    return tags


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def run_params(
    data: DataVersion, result: TrainingResult, config: TrainingConfig, seed: int, source: str
) -> dict[str, str]:
    """The run's parameters: the selected candidate, row counts, and the flattened config."""
    params: dict[str, Any] = {
        "data_version": data.tag,
        "seed": seed,
        "config_source": source,
        "candidate": result.best.candidate,
        "estimator": result.best.estimator,
        "selection_rows": result.selection_rows,
        "selection_val_rows": result.selection_val_rows,
        "refit_rows": result.refit_rows,
    }
    for split in SPLITS:
        params[f"{split}_rows"] = len(data.frames[split])
    for key, value in result.best.params.items():
        params[f"estimator.{key}"] = value
    _flatten("config", config.model_dump(mode="json", exclude={"candidates"}), params)
    return {k: str(v) for k, v in params.items()}


def log_config(config: TrainingConfig, config_text: str, schema: DatasetSchema) -> None:
    """The config as written and as resolved (defaults filled in), and the dataset schema."""
    import mlflow

    mlflow.log_text(config_text, "config/training_config.yaml")
    mlflow.log_dict(config.model_dump(mode="json"), "config/training_config.resolved.json")
    mlflow.log_dict(schema.as_dict(), "config/schema.json")


def log_datasets(data: DataVersion, schema: DatasetSchema) -> None:
    """Lineage: the three splits of the data version, each with its DVC md5."""
    import mlflow

    from model_training.lineage import DVCDatasetSource

    for split in SPLITS:
        md5 = data.split_hashes.get(split)
        dataset = mlflow.data.from_pandas(
            data.frames[split],
            source=DVCDatasetSource(
                data.source, data.tag, f"data/{split}.parquet", data.content_hash
            ),
            targets=schema.label.name,
            name=f"{data.tag}-{split}",
            digest=(md5 or data.content_hash or data.tag)[:36],
        )
        mlflow.log_input(
            dataset,
            context="training" if split == "train" else split,
            tags={
                Tag.DATA_VERSION.value: data.tag,
                Tag.DATA_HASH.value: data.content_hash or "unknown",
                "dvc_md5": md5 or "unknown",
                "split": split,
            },
        )


def log_candidates(
    client: Any,
    experiment_id: str,
    run_id: str,
    data: DataVersion,
    result: TrainingResult,
    metric: str,
    out: Path,
) -> None:
    """Every candidate's selection scores (`val_*` on the validation split, `cv_*` the mean
    over the folds): a nested run each, and selection/selection.csv.

    One create, one batch and one update per nested run: cheap on a busy server.
    """
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    prefix = "cv" if result.selection == "cv" else "val"
    for i, score in enumerate(result.candidates):
        child = client.create_run(
            experiment_id,
            run_name=f"{score.candidate}-{i}",
            tags={
                "mlflow.parentRunId": run_id,
                "candidate": score.candidate,
                Tag.DATA_VERSION.value: data.tag,
            },
        )
        child_params = {
            "candidate": score.candidate,
            "estimator": score.estimator,
            **{f"estimator.{k}": str(v) for k, v in score.params.items()},
        }
        child_metrics = {
            **{f"{prefix}_{k}": v for k, v in score.val.items() if v == v},
            "fit_seconds": score.fit_seconds,
        }
        if score.std is not None:
            child_metrics[f"cv_{metric}_std"] = score.std
        client.log_batch(
            child.info.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in child_metrics.items()],
            params=[Param(k, str(v)) for k, v in child_params.items()],
            tags=[RunTag("selected", str(score is result.best).lower())],
        )
        client.set_terminated(child.info.run_id)
    for name, score in best_per_candidate(result.candidates, metric).items():
        mlflow.log_metric(f"selection_{name}_{prefix}_{metric}", score.val[metric])
    selection = pd.DataFrame(
        [
            {
                "candidate": s.candidate,
                "estimator": s.estimator,
                "params": json.dumps(s.params, sort_keys=True),
                **{f"{prefix}_{k}": v for k, v in s.val.items()},
                f"cv_{metric}_std": s.std,
                "fit_seconds": s.fit_seconds,
                "selected": s is result.best,
            }
            for s in result.candidates
        ]
    )
    selection.to_csv(out / "selection.csv", index=False)
    mlflow.log_artifact(str(out / "selection.csv"), "selection")


def log_baselines(result: TrainingResult, out: Path) -> None:
    """Each baseline's test primary metric (`baseline_<name>_test_<metric>`) and the
    comparison with the selected model (selection/baselines.csv)."""
    import mlflow

    metric = result.primary_metric
    mlflow.log_metrics(
        {f"baseline_{b.name}_test_{metric}": b.test for b in result.baselines if b.test == b.test}
    )
    table = pd.DataFrame(
        [
            {
                "baseline": b.name,
                "estimator": b.estimator,
                f"test_{metric}": b.test,
                f"selected_test_{metric}": b.selected_test,
                "margin": b.margin,
                "margin_ci_low": b.margin_low,
                "margin_ci_high": b.margin_high,
                "verdict": b.verdict,
            }
            for b in result.baselines
        ]
    )
    if len(table):
        table.to_csv(out / "baselines.csv", index=False)
        mlflow.log_artifact(str(out / "baselines.csv"), "selection")
