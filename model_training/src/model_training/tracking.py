"""Track a training in MLflow, register the model version and apply the quality gate.

Conventions (CONTRACTS.md section 2): experiment "<model>-training"; run tags data_version,
data_hash, git_commit, package_version; metrics {train,val,test}_{rmse,mae,r2,mape}; one
nested run per candidate parameter set with its validation scores; the model logged in the
sklearn flavour as "model" with signature, input example and explicit pip requirements;
model version tags data_version, data_hash, validation_status, validation_reason; alias
`challenger` when the gate passes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.errors import Unavailable
from mlops_core.mlflow_utils import (
    CHALLENGER,
    CHAMPION,
    TAG_DATA_HASH,
    TAG_DATA_VERSION,
    TAG_VALIDATION_REASON,
    TAG_VALIDATION_STATUS,
    find_alias,
)
from mlops_core.schema import DatasetSchema
from model_training.config import TrainingConfig
from model_training.core import (
    SPLITS,
    TrainingResult,
    best_per_candidate,
    feature_importance,
    metrics,
    sample,
    train,
    xy,
)
from model_training.data import DataVersion
from model_training.gate import GateDecision, decide

log = logging.getLogger("mlops.train")

RESIDUAL_PLOT_ROWS = 5000


@contextmanager
def quiet_warnings():
    """MLflow's advice (integer columns in signatures, ...) is noise for a CLI user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", message=r".*[Ii]nteger column", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        yield


def package_version() -> str:
    try:
        return version("model-training")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0"


def git_commit(override: str | None = None) -> str:
    """The commit of the code that trains: an explicit value (images), else git, else unknown."""
    if override:
        return override
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def pip_requirements() -> list[str]:
    """Explicit requirements: inferring them costs ~15 s per logged model."""
    import mlflow
    import scipy
    import sklearn
    import skops

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"scipy=={scipy.__version__}",
        f"skops=={skops.__version__}",
    ]


def skops_trusted_types(model: Any) -> list[str]:
    """Types skops must trust to load our own pipeline back (scikit-learn and numpy only).

    MLflow saves sklearn models with skops (no pickle) and records this list in the MLmodel
    file, so loading the model needs no extra argument.
    """
    import skops.io as sio

    untrusted = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    foreign = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if foreign:
        raise RuntimeError(f"the pipeline holds types outside scikit-learn/numpy: {foreign}")
    return untrusted


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def residual_plot(y_true: np.ndarray, y_pred: np.ndarray, path: Path, label: str) -> None:
    from matplotlib.figure import Figure

    residuals = y_true - y_pred
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(y_pred, residuals, s=6, alpha=0.4)
    ax1.axhline(0.0, color="black", linewidth=1)
    ax1.set_xlabel(f"predicted {label}")
    ax1.set_ylabel("residual (actual - predicted)")
    ax1.set_title("Residuals on the test split")
    ax2.hist(residuals, bins=50)
    ax2.set_xlabel("residual")
    ax2.set_ylabel("rows")
    ax2.set_title("Residual distribution")
    fig.savefig(path, dpi=100)


def importance_plot(table: pd.DataFrame, path: Path) -> None:
    from matplotlib.figure import Figure

    ordered = table.iloc[::-1]
    fig = Figure(figsize=(7, 0.35 * len(table) + 1.2), layout="constrained")
    ax = fig.subplots()
    ax.barh(ordered["feature"], ordered["importance_mean"], xerr=ordered["importance_std"])
    ax.set_xlabel("RMSE increase when the column is shuffled (validation split)")
    ax.set_title("Permutation feature importance")
    fig.savefig(path, dpi=100)


@dataclass
class Champion:
    version: str
    metrics: dict[str, float] | None
    error: str | None = None


def score_champion(
    model_name: str, frames: dict[str, pd.DataFrame], schema: DatasetSchema, tracking_uri: str
) -> Champion | None:
    """The current champion scored on the new data version's test split (None: no champion)."""
    ref = find_alias(model_name, CHAMPION, tracking_uri)
    if ref is None:
        return None
    import mlflow.pyfunc

    x, y = xy(frames["test"], schema)
    try:
        with quiet_warnings():
            model = mlflow.pyfunc.load_model(ref.uri)
            predicted = np.asarray(model.predict(x), dtype=float).ravel()
        return Champion(ref.version, metrics(y, predicted))
    except Exception as exc:  # a champion that cannot score the new data must not pass
        message = " ".join(str(exc).split())[:300]
        return Champion(ref.version, None, f"{type(exc).__name__}: {message}")


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
) -> dict[str, Any]:
    """Fit, track, register and gate. Returns the command's result (see CONTRACTS.md)."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from threadpoolctl import threadpool_limits

    seed = config.seed if seed is None else seed
    started = time.perf_counter()
    result: TrainingResult = train(data.frames, schema, config, seed=seed, log=log)
    log.info(
        "selected %s %s (val %s %.4g)",
        result.best.candidate,
        result.best.params,
        config.selection.metric,
        result.best.val[config.selection.metric],
    )

    # Gate decision first: the champion is scored before the new version exists, so the
    # version is created with its final validation tags in one go.
    champion = score_champion(model_name, data.frames, schema, tracking_uri)
    new_test = {m: result.metrics[f"test_{m}"] for m in ("rmse", "mae", "r2", "mape")}
    if champion is not None and champion.metrics is None:
        decision = GateDecision(
            False,
            f"champion v{champion.version} could not be scored on the test split of "
            f"{data.tag}: {champion.error}",
            champion.version,
        )
    else:
        decision = decide(
            new_test,
            config.gate,
            champion.metrics if champion else None,
            champion.version if champion else None,
        )
    log.info("quality gate %s: %s", decision.status, decision.reason)

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    experiment = mlflow.set_experiment(f"{model_name}-training")
    commit = git_commit(commit_override)
    tags = {
        TAG_DATA_VERSION: data.tag,
        TAG_DATA_HASH: data.content_hash or "unknown",
        "git_commit": commit,
        "package_version": package_version(),
        "selected_candidate": result.best.candidate,
        "selected_regressor": result.best.regressor,
        "gate": decision.status,
        "mlops.stage": "train",
    }
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    metric = config.selection.metric
    x_train, _ = xy(data.frames["train"], schema)
    input_example = x_train.head(5).reset_index(drop=True)

    # The model's requirements are explicit: no uv.lock/pyproject copied from the cwd.
    os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
    if not log.isEnabledFor(logging.DEBUG):
        # MLflow's chatter (uv detection, "pip version unknown" in a uv venv) is no news.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    mlflow_prints = io.StringIO()
    with (
        # MLflow prints run URLs on stdout, which is reserved for the command's result;
        # they go to the debug log (the result carries the run's id).
        contextlib.redirect_stdout(mlflow_prints),
        quiet_warnings(),
        threadpool_limits(limits=config.threads),
        tempfile.TemporaryDirectory(prefix="mlops-train-") as tmp,
        mlflow.start_run(
            experiment_id=experiment.experiment_id,
            run_name=f"{data.tag}-{result.best.candidate}",
            tags=tags,
        ) as run,
    ):
        out = Path(tmp)
        run_id = run.info.run_id
        params: dict[str, Any] = {
            "data_version": data.tag,
            "seed": seed,
            "config_source": config_source,
            "candidate": result.best.candidate,
            "regressor": result.best.regressor,
            "selection_rows": result.selection_rows,
            "selection_val_rows": result.selection_val_rows,
            "refit_rows": result.refit_rows,
        }
        for split in SPLITS:
            params[f"{split}_rows"] = len(data.frames[split])
        for key, value in result.best.params.items():
            params[f"regressor.{key}"] = value
        config_params: dict[str, Any] = {}
        _flatten("config", config.model_dump(mode="json", exclude={"candidates"}), config_params)
        params.update(config_params)
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_text(config_text, "config/training_config.yaml")
        mlflow.log_dict(config.model_dump(mode="json"), "config/training_config.resolved.json")
        mlflow.log_dict(schema.as_dict(), "config/schema.json")

        # Lineage: the three splits of the data version, with its DVC content hash.
        from model_training.lineage import DVCDatasetSource

        for split in SPLITS:
            frame = data.frames[split]
            dataset = mlflow.data.from_pandas(
                frame,
                source=DVCDatasetSource(
                    data.source, data.tag, f"data/{split}.parquet", data.content_hash
                ),
                targets=schema.label.name,
                name=f"{data.tag}-{split}",
                digest=(data.split_hashes.get(split) or data.content_hash or data.tag)[:36],
            )
            mlflow.log_input(
                dataset,
                context="training" if split == "train" else split,
                tags={
                    TAG_DATA_VERSION: data.tag,
                    TAG_DATA_HASH: data.content_hash or "unknown",
                    "dvc_md5": data.split_hashes.get(split, "unknown"),
                    "split": split,
                },
            )

        # Every candidate's validation score: a nested run each, and a table.
        # (one create + one batch + one update per nested run: cheap on a busy server)
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        for i, score in enumerate(result.candidates):
            child = client.create_run(
                experiment.experiment_id,
                run_name=f"{score.candidate}-{i}",
                tags={
                    "mlflow.parentRunId": run_id,
                    "candidate": score.candidate,
                    TAG_DATA_VERSION: data.tag,
                },
            )
            child_params = {
                "candidate": score.candidate,
                "regressor": score.regressor,
                **{f"regressor.{k}": str(v) for k, v in score.params.items()},
            }
            child_metrics = {
                **{f"val_{k}": v for k, v in score.val.items()},
                "fit_seconds": score.fit_seconds,
            }
            client.log_batch(
                child.info.run_id,
                metrics=[Metric(k, float(v), now, 0) for k, v in child_metrics.items()],
                params=[Param(k, str(v)) for k, v in child_params.items()],
                tags=[RunTag("selected", str(score is result.best).lower())],
            )
            client.set_terminated(child.info.run_id)
        for name, score in best_per_candidate(result.candidates, metric).items():
            mlflow.log_metric(f"selection_{name}_val_{metric}", score.val[metric])
        selection = pd.DataFrame(
            [
                {
                    "candidate": s.candidate,
                    "regressor": s.regressor,
                    "params": json.dumps(s.params, sort_keys=True),
                    **{f"val_{k}": v for k, v in s.val.items()},
                    "fit_seconds": s.fit_seconds,
                    "selected": s is result.best,
                }
                for s in result.candidates
            ]
        )
        selection.to_csv(out / "selection.csv", index=False)
        mlflow.log_artifact(str(out / "selection.csv"), "selection")

        mlflow.log_metrics(result.metrics)
        mlflow.log_metrics({k: v for k, v in result.timings.items()})
        if champion is not None and champion.metrics:
            mlflow.log_metrics({f"champion_test_{k}": v for k, v in champion.metrics.items()})

        # Artifacts: residuals on the test split, permutation importance on validation.
        x_test, y_test = xy(sample(data.frames["test"], RESIDUAL_PLOT_ROWS, seed), schema)
        residual_plot(
            y_test, result.pipeline.predict(x_test), out / "residuals.png", schema.label.name
        )
        mlflow.log_artifact(str(out / "residuals.png"), "plots")
        importance = feature_importance(
            result.pipeline,
            data.frames["val"],
            schema,
            config.importance.max_rows,
            config.importance.repeats,
            seed,
        )
        importance.to_csv(out / "feature_importance.csv", index=False)
        importance_plot(importance, out / "feature_importance.png")
        mlflow.log_artifact(str(out / "feature_importance.csv"), "importance")
        mlflow.log_artifact(str(out / "feature_importance.png"), "plots")

        signature = infer_signature(input_example, result.pipeline.predict(input_example))
        info = mlflow.sklearn.log_model(
            result.pipeline,
            name="model",
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(),
            serialization_format="skops",
            skops_trusted_types=skops_trusted_types(result.pipeline),
            registered_model_name=model_name,
        )
        model_version = str(info.registered_model_version)
        if model_version in ("", "None"):
            raise Unavailable(f"MLflow did not register a version of {model_name!r}")
        for key, value in {
            TAG_DATA_VERSION: data.tag,
            TAG_DATA_HASH: data.content_hash or "unknown",
            TAG_VALIDATION_STATUS: decision.status,
            TAG_VALIDATION_REASON: decision.reason[:5000],
            "git_commit": commit,
            "candidate": result.best.candidate,
        }.items():
            client.set_model_version_tag(model_name, model_version, key, value)
        if decision.passed:
            client.set_registered_model_alias(model_name, CHALLENGER, model_version)
        mlflow.set_tag(TAG_VALIDATION_REASON, decision.reason[:5000])
        mlflow.log_metric("total_seconds", time.perf_counter() - started)

    log.debug("mlflow: %s", mlflow_prints.getvalue().strip())
    return {
        "ok": decision.passed,
        "model_name": model_name,
        "model_version": model_version,
        "model_uri": f"models:/{model_name}/{model_version}",
        "run_id": run_id,
        "experiment_id": experiment.experiment_id,
        "data_version": data.tag,
        "data_hash": data.content_hash,
        "gate": decision.status,
        "reason": decision.reason,
        "champion_version": decision.champion_version,
        "champion_metrics": decision.champion_metrics,
        "alias": CHALLENGER if decision.passed else None,
        "candidate": result.best.candidate,
        "regressor": result.best.regressor,
        "params": result.best.params,
        "metrics": result.metrics,
        "candidates": [
            {"candidate": s.candidate, "params": s.params, f"val_{metric}": s.val[metric]}
            for s in result.candidates
        ],
        "tracking_uri": tracking_uri,
        "seconds": round(time.perf_counter() - started, 2),
    }
