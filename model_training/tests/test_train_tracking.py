"""Tracking, registry and quality gate against the session's real MLflow server, on
synthetic splits handed over directly (the CLI tests go through the data registry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlops_core.mlflow_utils import model_uri, resolve_model
from model_training.config import load_config
from model_training.data import DataVersion
from model_training.tracking import train_and_register

CONFIGS = Path(__file__).parent / "configs"

pytestmark = pytest.mark.slow


def run(frames, schema, config_name, model_name, tracking_uri, tag="data-v1", seed=None):
    config, source, text = load_config(CONFIGS / config_name)
    data = DataVersion(tag, f"hash-of-{tag}", "/registry.git", {}, frames, {"train": "md5x"})
    return train_and_register(
        data,
        schema,
        config,
        config_text=text,
        config_source=source,
        model_name=model_name,
        tracking_uri=tracking_uri,
        seed=seed,
    )


def test_run_records_lineage_metrics_artifacts_and_a_challenger(
    tracking_uri, unique_model_name, schema, frames, fast_config
):
    from mlflow import MlflowClient

    result = run(frames, schema, "fast.yaml", unique_model_name, tracking_uri)
    assert result["gate"] == "passed"
    assert result["alias"] == "challenger"
    client = MlflowClient(tracking_uri)
    run_ = client.get_run(result["run_id"])
    tags = run_.data.tags
    assert tags["data_version"] == "data-v1"
    assert tags["data_hash"] == "hash-of-data-v1"
    assert tags["package_version"]
    assert len(tags["git_commit"].removesuffix("-dirty")) == 40
    experiment = client.get_experiment(run_.info.experiment_id)
    assert experiment.name == f"{unique_model_name}-training"

    for split in ("train", "val", "test"):
        for metric in ("rmse", "mae", "r2", "mape"):
            assert np.isfinite(run_.data.metrics[f"{split}_{metric}"])
    params = run_.data.params
    assert params["data_version"] == "data-v1"
    assert params["config.gate.tolerance"] == "0.02"
    assert params["candidate"] == result["candidate"]

    artifacts = {
        f.path
        for d in ("", "plots", "config", "importance", "selection")
        for f in client.list_artifacts(result["run_id"], d)
    }
    assert {
        "plots/residuals.png",
        "plots/feature_importance.png",
        "importance/feature_importance.csv",
        "selection/selection.csv",
        "config/training_config.yaml",
    } <= artifacts

    inputs = run_.inputs.dataset_inputs
    assert sorted(i.dataset.name for i in inputs) == [
        "data-v1-test",
        "data-v1-train",
        "data-v1-val",
    ]
    for item in inputs:
        input_tags = {t.key: t.value for t in item.tags}
        assert input_tags["data_version"] == "data-v1"
        assert input_tags["data_hash"] == "hash-of-data-v1"
        assert item.dataset.source_type == "dvc"

    # Every candidate parameter set is a nested run with its validation score.
    nested = client.search_runs(
        [run_.info.experiment_id], f"tags.mlflow.parentRunId = '{result['run_id']}'"
    )
    assert len(nested) == sum(len(c.combinations()) for c in fast_config.candidates)
    assert all("val_rmse" in r.data.metrics for r in nested)

    version = client.get_model_version(unique_model_name, result["model_version"])
    assert version.tags["validation_status"] == "passed"
    assert version.tags["data_version"] == "data-v1"
    assert version.run_id == result["run_id"]

    ref = resolve_model(unique_model_name, "challenger")
    assert ref.version == result["model_version"]
    assert ref.data_version == "data-v1"
    assert ref.metrics["test_rmse"] == pytest.approx(result["metrics"]["test_rmse"])
    assert model_uri(unique_model_name, ref.version) == ref.uri

    # The artifact alone predicts from raw feature rows (pyfunc, schema-enforced).
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(ref.uri)
    inputs_schema = model.metadata.get_input_schema()
    assert inputs_schema.input_names() == schema.feature_names
    rows = frames["test"][schema.feature_names].head(5)
    assert np.isfinite(np.asarray(model.predict(rows), dtype=float)).all()


def test_a_worse_model_is_never_made_challenger(tracking_uri, unique_model_name, schema, frames):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    good = run(frames, schema, "fast.yaml", unique_model_name, tracking_uri)
    assert good["gate"] == "passed"
    # As `mlops promote` would: the good version becomes champion.
    client.set_registered_model_alias(unique_model_name, "champion", good["model_version"])

    worse = run(frames, schema, "worse.yaml", unique_model_name, tracking_uri)
    assert worse["gate"] == "failed"
    assert f"champion v{good['model_version']}" in worse["reason"]
    version = client.get_model_version(unique_model_name, worse["model_version"])
    assert version.tags["validation_status"] == "failed"
    assert "worse" in version.tags["validation_reason"]
    assert "challenger" not in version.aliases
    challenger = client.get_model_version_by_alias(unique_model_name, "challenger")
    assert challenger.version == good["model_version"]
    assert worse["champion_metrics"]["rmse"] == pytest.approx(good["metrics"]["test_rmse"])

    # Same data, config and seed again: the same metrics, so within tolerance -> challenger.
    again = run(frames, schema, "fast.yaml", unique_model_name, tracking_uri)
    assert again["metrics"] == good["metrics"]
    assert again["gate"] == "passed"
    assert (
        client.get_model_version_by_alias(unique_model_name, "challenger").version
        == (again["model_version"])
    )


def test_absolute_thresholds_refuse_a_first_model(
    tracking_uri, unique_model_name, schema, frames, tmp_path
):
    from mlflow import MlflowClient

    config = (
        (CONFIGS / "worse.yaml")
        .read_text()
        .replace("thresholds: {}", "thresholds: {r2: {min: 0.3}}")
    )
    (tmp_path / "strict.yaml").write_text(config)
    result = run_config(tmp_path / "strict.yaml", frames, schema, unique_model_name, tracking_uri)
    assert result["gate"] == "failed"
    assert "test r2" in result["reason"] and "below the minimum 0.3" in result["reason"]
    client = MlflowClient(tracking_uri)
    assert client.get_model_version(unique_model_name, result["model_version"]).aliases == []


def run_config(path, frames, schema, model_name, tracking_uri):
    config, source, text = load_config(path)
    data = DataVersion("data-v1", "h", "/registry.git", {}, frames)
    return train_and_register(
        data,
        schema,
        config,
        config_text=text,
        config_source=source,
        model_name=model_name,
        tracking_uri=tracking_uri,
    )
