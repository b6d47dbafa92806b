"""`mlops train`: train on a data version, track in MLflow, register, gate.

Import-light on purpose: mlflow, scikit-learn and pandas are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_core.cli_options import ModelOption
from mlops_core.output import JsonOption, emit


def train(
    data_version: Annotated[
        str | None,
        typer.Option(
            "--data-version",
            "-d",
            help="Data version tag of the registry (data-vN); default: the newest.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Training config (YAML); default MLOPS_TRAIN_CONFIG, else the model "
            "folder's train.yaml.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed; overrides the config's.")
    ] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train candidate models on a data version, register the best, apply the quality gate.

    The model folder (models/<name>/) gives the schema and train.yaml. The best candidate
    (chosen on the validation split, or by cross-validation on small data) is refitted,
    compared with plain baselines on the test split, tracked in MLflow (experiment
    "<model>-training") and registered as a new version of the model <name>. It gets alias
    `challenger` when it passes the quality gate against the current `champion`; otherwise
    it is tagged validation_status=failed and the command exits with code 3.

    Example: mlops train --model house-price --data-version data-v1 --json
    """
    import logging
    import tempfile

    from mlops_core.errors import GateRefused
    from mlops_core.mlflow_utils import configure_tracking
    from mlops_core.settings import get_settings
    from model_training.config import TrainSettings, load_config
    from model_training.data import load_data_version
    from model_training.tracking import train_and_register

    log = logging.getLogger("mlops.train")
    settings = get_settings()
    stage = TrainSettings()
    folder = settings.model_folder(model)
    schema = folder.schema
    # Everything that can be refused is checked before anything is tracked or registered.
    cfg, source, text = load_config(config or stage.config or folder.train_path, schema)
    tracking_uri = settings.tracking_uri
    configure_tracking(tracking_uri)
    model_name = folder.name
    with tempfile.TemporaryDirectory(prefix="mlops-train-data-") as tmp:
        data = load_data_version(settings, data_version, Path(tmp), model=model_name)
        log.info(
            "training on %s (%s rows)",
            data.tag,
            ", ".join(f"{k} {len(v):,}" for k, v in data.frames.items()),
        )
        result = train_and_register(
            data,
            schema,
            cfg,
            config_text=text,
            config_source=source,
            model_name=model_name,
            tracking_uri=tracking_uri,
            seed=seed if seed is not None else stage.seed,
            commit_override=stage.git_commit,
        )
    if result.gate != "passed":
        raise GateRefused(
            f"quality gate refused {model_name} v{result.model_version}: {result.reason}",
            details=result.model_dump(mode="json", exclude={"ok", "exit_code"}),
        )

    emit(result, as_json, lambda console: summary(result, console))


def summary(result, console) -> None:
    """The result for a person: the new challenger, its test metrics, the gate, the links."""
    from mlops_core.mlflow_utils.experiments import experiment_url
    from model_training.runlog import run_url

    m = result.metrics
    console.print(
        f"[bold green]{result.model_name} v{result.model_version}[/] is the new challenger "
        f"({result.candidate}, trained on {result.data_version})"
    )
    if result.task == "classification":
        names = ("roc_auc", "f1_macro", "balanced_accuracy", "accuracy", "log_loss", "brier")
    else:
        names = ("rmse", "mae", "r2", "mape")
    console.print(
        "  test " + "  ".join(f"{n} {m[f'test_{n}']:.4g}" for n in names if f"test_{n}" in m),
        highlight=False,
    )
    primary = result.primary_metric
    low, high = m.get(f"test_{primary}_ci_low"), m.get(f"test_{primary}_ci_high")
    if low is not None and high is not None:
        console.print(f"  test {primary} 95% interval {low:.4g} .. {high:.4g}", highlight=False)
    if result.baselines:
        verdicts = ", ".join(
            f"{name} {b.test:.4g} ({b.verdict})" for name, b in result.baselines.items()
        )
        console.print(f"  baselines (test {primary}): {verdicts}", highlight=False)
    if result.overruled:
        console.print(f"  {result.overruled} lost to {result.candidate} on test beyond noise")
    console.print(f"  gate: {result.reason}")
    run = run_url(result.tracking_uri, result.experiment_id, result.run_id)
    console.print(f"  run: {run}", soft_wrap=True, highlight=False)
    experiment = experiment_url(result.tracking_uri, result.experiment_id)
    console.print(f"  experiment: {experiment}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
