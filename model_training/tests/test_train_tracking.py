"""Training against the session's real MLflow server, on synthetic splits handed over
directly (the CLI tests go through the data registry; the run contents are checked on the
session's `trained_model`): the gate's edge cases and the training experiment itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_core.contracts import Tag
from mlops_core.contracts.train import TrainResult
from mlops_core.mlflow_utils.experiments import CLASSIC_ML, experiment_url
from model_training.config import load_config
from model_training.data import DataVersion
from model_training.runlog import experiment_name
from model_training.tracking import train_and_register

CONFIGS = Path(__file__).parent / "configs"

pytestmark = pytest.mark.slow


def run_config(path, frames, schema, model_name, tracking_uri) -> TrainResult:
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
    assert result.gate == "failed" and result.ok is False and result.alias is None
    assert "test r2" in result.reason and "below the minimum 0.3" in result.reason
    client = MlflowClient(tracking_uri)
    version = client.get_model_version(unique_model_name, result.model_version)
    assert version.aliases == []
    assert version.tags["validation_status"] == "failed"


def test_a_champion_that_cannot_score_the_new_split_refuses_the_new_version(
    tracking_uri, unique_model_name, schema, frames
):
    from mlflow import MlflowClient

    first = run_config(CONFIGS / "worse.yaml", frames, schema, unique_model_name, tracking_uri)
    assert first.gate == "passed"
    MlflowClient(tracking_uri).set_registered_model_alias(
        unique_model_name, "champion", first.model_version
    )
    # The new data version lacks nothing the new model needs, but the champion's signature
    # requires a column whose values are now of another type.
    column = schema.categorical_features[0]
    changed = {k: v.assign(**{column: 1.5}) for k, v in frames.items()}
    second = run_config(CONFIGS / "worse.yaml", changed, schema, unique_model_name, tracking_uri)
    assert second.gate == "failed"
    assert f"champion v{first.model_version} could not be scored" in second.reason


def test_a_new_training_experiment_opens_on_its_runs(
    tracking_uri, unique_model_name, schema, frames
):
    from mlflow import MlflowClient

    result = run_config(CONFIGS / "worse.yaml", frames, schema, unique_model_name, tracking_uri)
    experiment = MlflowClient(tracking_uri).get_experiment(result.experiment_id)
    assert experiment.name == experiment_name(unique_model_name)
    assert experiment.tags[Tag.EXPERIMENT_KIND] == "custom_model_development" == CLASSIC_ML


def test_an_existing_experiment_gets_the_kind_and_a_chosen_kind_stays(
    tracking_uri, unique_model_name, schema, frames
):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    untagged = client.create_experiment(experiment_name(unique_model_name))
    result = run_config(CONFIGS / "worse.yaml", frames, schema, unique_model_name, tracking_uri)
    assert result.experiment_id == untagged
    assert client.get_experiment(untagged).tags[Tag.EXPERIMENT_KIND] == CLASSIC_ML

    other = f"{unique_model_name}-b"
    chosen = client.create_experiment(
        experiment_name(other), tags={Tag.EXPERIMENT_KIND: "genai_development"}
    )
    run_config(CONFIGS / "worse.yaml", frames, schema, other, tracking_uri)
    assert client.get_experiment(chosen).tags[Tag.EXPERIMENT_KIND] == "genai_development"


def test_the_experiment_link_opens_the_runs_page_in_a_browser(
    tracking_uri, unique_model_name, schema, frames, tmp_path
):
    """The link `mlops train` prints, rendered by the MLflow UI in headless Chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    result = run_config(CONFIGS / "worse.yaml", frames, schema, unique_model_name, tracking_uri)

    def rendered(url: str) -> str:
        dom = subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert dom.returncode == 0, dom.stderr[-2000:]
        return re.sub(r"<script.*?</script>", "", dom.stdout, flags=re.S)

    run_name = f"data-v1-{result.candidate}"
    page = rendered(experiment_url(tracking_uri, result.experiment_id))
    assert run_name in page, "the runs table lists the training run"
    assert "No data available" not in page


def test_a_deleted_training_experiment_is_named_and_nothing_is_registered(
    tracking_uri, unique_model_name, schema, frames
):
    from mlflow import MlflowClient

    from mlops_core.errors import BadInput

    client = MlflowClient(tracking_uri)
    deleted = client.create_experiment(experiment_name(unique_model_name))
    client.delete_experiment(deleted)
    with pytest.raises(BadInput) as excinfo:
        run_config(CONFIGS / "worse.yaml", frames, schema, unique_model_name, tracking_uri)
    message = excinfo.value.message
    assert f"{experiment_name(unique_model_name)!r} is deleted" in message
    assert f"restore --experiment-id {deleted}" in message
    assert client.search_registered_models(f"name = '{unique_model_name}'") == []
