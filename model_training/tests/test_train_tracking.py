"""Quality gate edge cases against the session's real MLflow server, on synthetic splits
handed over directly (the CLI tests go through the data registry; the run contents are
checked on the session's `trained_model`)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
