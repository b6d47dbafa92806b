"""`mlops train` end to end: bad input refused before anything is tracked or registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.contracts import ErrorResult, read_result
from mlops_core.contracts.train import TrainResult

CONFIGS = Path(__file__).parent / "configs"


def nothing_tracked(tracking_uri: str, model_name: str) -> bool:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    models = client.search_registered_models(f"name = '{model_name}'")
    experiment = client.get_experiment_by_name(f"{model_name}-training")
    return not models and experiment is None


def one_line_error(result) -> str:
    error = result.json["error"]
    assert "\n" not in error
    assert "Traceback" not in result.stderr
    return error


def test_help_has_an_example(mlops):
    result = mlops("train", "--help")
    assert result.exit_code == 0
    assert "Example: mlops train" in result.stdout


def test_unknown_regressor_is_refused_before_anything_is_registered(
    mlops, tracking_uri, unique_model_name, tmp_path
):
    config = tmp_path / "bad.yaml"
    config.write_text("candidates: [{name: x, regressor: MagicForest}]\n")
    result = mlops("train", "--config", config, "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert str(config) in error and "unknown regressor 'MagicForest'" in error
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_invalid_parameter_from_the_environment_config(
    mlops, tracking_uri, unique_model_name, tmp_path, monkeypatch
):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "candidates: [{name: rf, regressor: RandomForestRegressor,"
        " search: {n_estimators: [10, -1]}}]\n"
    )
    monkeypatch.setenv("MLOPS_TRAIN_CONFIG", str(config))
    result = mlops("train", "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "candidates.0 (rf)" in error and "n_estimators" in error
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_unreachable_tracking_server(mlops, mlops_home, monkeypatch):
    from mlops_core.services import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", uri)
    result = mlops("train", "--config", CONFIGS / "fast.yaml", "--json")
    assert result.exit_code == 5
    error = one_line_error(result)
    assert uri in error and "not reachable" in error


def ingest(mlops, rows: int = 1500, seed: int = 3) -> dict:
    result = mlops("ingest", "--synthetic", rows, "--seed", seed, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def registry_dvc_md5(home: Path, tag: str, split: str) -> str:
    """The DVC hash of a split as the registry's git tag (`<model>/data-vN`) records it."""
    import subprocess

    import yaml

    text = subprocess.run(
        ["git", "-C", str(home / "data-registry.git"), "show", f"{tag}:data/{split}.parquet.dvc"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return yaml.safe_load(text)["outs"][0]["md5"]


@pytest.mark.slow
def test_train_from_the_data_registry_then_gate_against_the_champion(
    mlops, tracking_uri, unique_model_name, mlops_home
):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    ingested = ingest(mlops)
    fast = CONFIGS / "fast.yaml"

    first = mlops("train", "--config", fast, "--seed", 5, "--json")
    assert first.exit_code == 0, first.stderr
    out = first.json
    # The printed result is the contract: the one parser reads it as a TrainResult.
    contract = read_result(first.stdout, TrainResult)
    assert contract.model_version == "1" and contract.alias == "challenger"
    assert {c.candidate for c in contract.candidates} == {
        "ridge",
        "random_forest",
        "hist_gradient_boosting",
        "baseline_linear",
        "baseline_random_forest",
        "baseline_gradient_boosting",
    }
    assert contract.task == "regression" and contract.primary_metric == "rmse"
    assert set(contract.baselines) == {"linear", "random_forest", "gradient_boosting"}
    assert out["ok"] is True
    assert out["gate"] == "passed"
    assert out["model_name"] == unique_model_name
    assert out["model_version"] == "1"
    assert out["data_version"] == ingested["data_version"] == "data-v1"  # the newest
    assert set(out["metrics"]) >= {"test_rmse", "test_mae", "test_r2", "test_mape"}
    # Lineage: the run names the data version, its registry content hash, and each
    # split's DVC md5 exactly as the registry's .dvc metafiles record it.
    run = client.get_run(out["run_id"])
    assert run.data.tags["data_version"] == "data-v1"
    assert run.data.tags["data_hash"] == ingested["content_hash"]
    for item in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in item.tags}
        assert tags["dvc_md5"] == registry_dvc_md5(
            mlops_home, f"{unique_model_name}/data-v1", tags["split"]
        )
        assert item.dataset.digest == tags["dvc_md5"]

    # Version 1 is promoted (as `mlops promote` would). Same data version, config and seed:
    # the same metrics, so it passes the comparison with the champion.
    client.set_registered_model_alias(unique_model_name, "champion", "1")
    second = mlops("train", "--data-version", "data-v1", "--config", fast, "--seed", 5, "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json["metrics"] == out["metrics"]
    assert second.json["model_version"] == "2"
    assert "champion v1" in second.json["reason"]
    assert client.get_model_version_by_alias(unique_model_name, "challenger").version == "2"

    # A deliberately worse model is refused with exit code 3 and never made challenger.
    worse = mlops("train", "--config", CONFIGS / "worse.yaml", "--json")
    assert worse.exit_code == 3
    refused = worse.json
    assert refused["ok"] is False
    assert refused["gate"] == "failed"
    assert refused["model_version"] == "3"
    assert "champion v1" in refused["reason"]
    assert "quality gate refused" in refused["error"]
    # The refusal is an error result that still carries every field of the training.
    error = read_result(worse.stdout, TrainResult)
    assert isinstance(error, ErrorResult) and error.exit_code == 3
    fields = {k: v for k, v in refused.items() if k not in ("error", "ok", "exit_code")}
    assert TrainResult.model_validate(fields).gate == "failed"
    version = client.get_model_version(unique_model_name, "3")
    assert version.tags["validation_status"] == "failed"
    assert version.tags["validation_reason"] == refused["reason"]
    assert client.get_model_version_by_alias(unique_model_name, "challenger").version == "2"


def test_unknown_data_version_is_refused_before_anything_is_registered(
    mlops, tracking_uri, unique_model_name
):
    ingest(mlops, rows=300)
    result = mlops(
        "train", "--data-version", "data-v9", "--config", CONFIGS / "fast.yaml", "--json"
    )
    assert result.exit_code == 2
    assert "data-v9" in one_line_error(result)
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_an_empty_registry_says_to_ingest_first(mlops, tracking_uri, unique_model_name):
    result = mlops("train", "--config", CONFIGS / "fast.yaml", "--json")
    assert result.exit_code == 2
    assert "mlops ingest" in one_line_error(result)
    assert nothing_tracked(tracking_uri, unique_model_name)


def test_the_summary_names_the_challenger_and_links_the_run_and_experiment():
    from rich.console import Console

    from model_training.cli import summary

    metrics = {f"{s}_{m}": 0.5 for s in ("train", "val", "test") for m in ("rmse", "mae", "r2")}
    metrics.update({"train_mape": 0.1, "val_mape": 0.1, "test_mape": 0.125})
    result = TrainResult(
        model_name="house-price",
        model_version="7",
        model_uri="models:/house-price/7",
        run_id="abc123",
        experiment_id="4",
        data_version="data-v3",
        data_hash=None,
        gate="passed",
        reason="no champion to compare with; thresholds met",
        champion_version=None,
        champion_metrics=None,
        alias="challenger",
        candidate="ridge",
        estimator="Ridge",
        params={"alpha": 1.0},
        metrics=metrics,
        candidates=[],
        tracking_uri="http://127.0.0.1:5050",
        seconds=1.0,
    )
    console = Console(record=True, width=40, color_system=None)
    summary(result, console)
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0].startswith("house-price v7 is the new challenger")
    assert "mape" in text and "0.125" in text
    # Links are printed whole on one line, however narrow the terminal.
    assert "  run: http://127.0.0.1:5050/#/experiments/4/runs/abc123" in lines
    assert (
        "  experiment: http://127.0.0.1:5050/#/experiments/4?workflowType=machine_learning" in lines
    )


@pytest.mark.slow
def test_a_classifier_on_real_data_through_ingest_and_train(
    mlops, tracking_uri, mlops_home, tmp_path, monkeypatch
):
    """scikit-learn's breast cancer table as a model folder of its own: ingest, train (the
    classification template), the metrics, the baselines, the gate, the run's plots; then
    a second training gated against the first as champion (scored with probabilities)."""
    import uuid

    from mlflow import MlflowClient
    from train_helpers import (
        breast_cancer_frame,
        breast_cancer_schema,
        classification_template,
        write_model_folder,
    )

    name = f"breast-cancer-{uuid.uuid4().hex[:6]}"
    frame = breast_cancer_frame()
    csv = tmp_path / "breast_cancer.csv"
    frame.to_csv(csv, index=False)
    models = tmp_path / "bc-models"
    write_model_folder(models, breast_cancer_schema(frame, name), classification_template())
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))

    ingested = mlops("ingest", "--source", csv, "--json")
    assert ingested.exit_code == 0, ingested.stderr
    first = mlops("train", "--model", name, "--json")
    assert first.exit_code == 0, first.stderr
    result = read_result(first.stdout, TrainResult)
    print("\n" + first.stdout.strip().splitlines()[-1])
    assert result.model_name == name and result.task == "classification"
    assert result.classes == ["malignant", "benign"]
    assert result.primary_metric == "roc_auc" and result.selection == "cv"
    assert result.gate == "passed" and "thresholds met" in result.reason
    for metric in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "brier"):
        assert f"test_{metric}" in result.metrics
    assert result.metrics["test_roc_auc"] > 0.95
    assert set(result.baselines) == {"linear", "random_forest", "gradient_boosting"}
    assert result.baselines["linear"].estimator == "LogisticRegression"
    assert all(b.verdict != "worse" for b in result.baselines.values())

    client = MlflowClient(tracking_uri)
    artifacts = {
        f.path
        for folder in ("plots", "evaluation", "selection")
        for f in client.list_artifacts(result.run_id, folder)
    }
    assert {
        "plots/calibration.png",
        "plots/confusion_matrix.png",
        "evaluation/confusion_matrix.csv",
        "selection/baselines.csv",
    } <= artifacts
    run = client.get_run(result.run_id)
    assert run.data.tags["task"] == "classification"
    assert run.data.metrics["test_roc_auc"] == pytest.approx(result.metrics["test_roc_auc"])

    client.set_registered_model_alias(name, "champion", result.model_version)
    second = mlops("train", "--model", name, "--json")
    assert second.exit_code == 0, second.stderr
    assert (
        f"test roc_auc {result.metrics['test_roc_auc']:.4g} vs champion v1"
        in (second.json["reason"])
    )
    assert second.json["champion_metrics"]["log_loss"] == pytest.approx(
        result.metrics["test_log_loss"]
    )


def test_a_config_of_the_other_task_is_refused_naming_the_candidate(
    mlops, tracking_uri, mlops_home, tmp_path, monkeypatch
):
    from train_helpers import breast_cancer_frame, breast_cancer_schema, write_model_folder

    models = tmp_path / "bc-models"
    write_model_folder(
        models,
        breast_cancer_schema(breast_cancer_frame(), "bc-wrong"),
        "candidates: [{name: forest, regressor: RandomForestRegressor}]\n",
    )
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    result = mlops("train", "--model", "bc-wrong", "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "candidates.0 (forest): RandomForestRegressor is a regressor" in error
    assert "classification model" in error and "train.yaml" in error
    assert nothing_tracked(tracking_uri, "bc-wrong")


def test_an_unknown_model_names_the_known_ones(mlops, mlops_home):
    result = mlops("train", "--model", "nope", "--json")
    assert result.exit_code == 2
    error = one_line_error(result)
    assert "unknown model 'nope'" in error and "house-price" in error
