"""A serving pod mounts no model folder: a models:/ reference is served with the schema its
training run logged (real MLflow server, the session's trained model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.errors import BadInput
from mlops_core.settings import PlatformSettings
from prediction_service.runtime import resolve_models
from prediction_service.settings import ServeSettings


def _platform(trained_model, models_dir):
    return PlatformSettings(
        home=models_dir.parent / "home",
        models_dir=models_dir,
        model=None,
        mlflow_tracking_uri=trained_model.tracking_uri,
    )


@pytest.mark.slow
def test_without_a_model_folder_the_run_logged_schema_is_served(
    trained_model, house_price_schema, tmp_path, monkeypatch
):
    monkeypatch.delenv("MLOPS_SERVE_MODEL", raising=False)
    platform = _platform(trained_model, tmp_path / "no-models-here")  # no such folder
    [(folder, spec)] = resolve_models(platform, ServeSettings(), [trained_model.model_uri])
    assert folder.name == spec.name == trained_model.model_name
    assert folder.schema.name == trained_model.model_name
    assert folder.schema.feature_names == house_price_schema.feature_names
    assert folder.schema.label == house_price_schema.label


@pytest.mark.slow
def test_an_unknown_version_without_a_folder_is_named(trained_model, tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_SERVE_MODEL", raising=False)
    platform = _platform(trained_model, tmp_path / "no-models-here")
    with pytest.raises(BadInput, match=rf"{trained_model.model_name}.* has no version 999"):
        resolve_models(platform, ServeSettings(), [f"models:/{trained_model.model_name}/999"])


@pytest.mark.slow
def test_a_copied_model_folder_is_served_with_the_schema_it_carries(
    trained_model, house_price_schema, tmp_path, monkeypatch
):
    """A local copy of a trained model (MLflow's folder, as an image or a volume holds it)
    needs no models folder and no tracking server: its MLmodel metadata holds the schema."""
    import mlflow.artifacts
    import yaml

    monkeypatch.delenv("MLOPS_SERVE_MODEL", raising=False)
    local = Path(
        mlflow.artifacts.download_artifacts(
            trained_model.model_uri,
            dst_path=str(tmp_path / "copy"),
            tracking_uri=trained_model.tracking_uri,
        )
    )
    platform = _platform(trained_model, tmp_path / "no-models-here")
    platform = platform.model_copy(update={"mlflow_tracking_uri": "http://127.0.0.1:9"})
    [(folder, spec)] = resolve_models(platform, ServeSettings(), [str(local)])
    assert folder.name == spec.name == trained_model.model_name
    assert folder.schema.feature_names == house_price_schema.feature_names
    assert folder.schema.label == house_price_schema.label

    meta = yaml.safe_load((local / "MLmodel").read_text())
    meta["metadata"]["mlops_schema"] = {"name": "x"}  # not a schema
    (local / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(BadInput, match=r"MLmodel: metadata mlops_schema is not a schema"):
        resolve_models(platform, ServeSettings(), [str(local)])
    del meta["metadata"]
    (local / "MLmodel").write_text(yaml.safe_dump(meta))
    with pytest.raises(BadInput, match=r"which model\?"):
        resolve_models(platform, ServeSettings(), [str(local)])
