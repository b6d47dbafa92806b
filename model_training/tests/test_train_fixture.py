"""The `trained_model` session fixture other stages rely on keeps its promises."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_trained_model_has_lineage_aliases_and_loads(trained_model, mlops_home, monkeypatch):
    from mlops_core.mlflow_utils import load_model, resolve_model
    from mlops_core.registry import DataRegistry
    from mlops_core.settings import get_settings

    trained_model.use(monkeypatch)
    for alias in ("champion", "challenger", trained_model.version):
        ref = resolve_model(trained_model.model_name, alias)
        assert ref.version == trained_model.version
        assert ref.run_id == trained_model.run_id
        assert ref.data_version == trained_model.data_version
        assert {"champion", "challenger"} <= set(ref.aliases)
    settings = get_settings()
    assert settings.home == mlops_home  # the test's own home, the shared stores
    registry = DataRegistry.from_settings(settings)
    assert registry.latest() == trained_model.data_version
    paths = registry.pull(trained_model.data_version, mlops_home / "pulled")

    import pandas as pd

    schema = settings.load_schema()
    rows = pd.read_parquet(paths["test"])[schema.feature_names].head(10)
    model = load_model(resolve_model(trained_model.model_name, "champion"))
    assert np.isfinite(np.asarray(model.predict(rows), dtype=float)).all()
    assert trained_model.model_uri == f"models:/{trained_model.model_name}/1"


def test_resolve_model_names_what_is_missing(trained_model, mlops_home, monkeypatch):
    from mlops_core.errors import BadInput
    from mlops_core.mlflow_utils import find_alias, resolve_model

    trained_model.use(monkeypatch)
    with pytest.raises(BadInput, match="has no version 99"):
        resolve_model(trained_model.model_name, 99)
    with pytest.raises(BadInput, match="has no alias 'nope'"):
        resolve_model(trained_model.model_name, "nope")
    with pytest.raises(BadInput, match="'no-such-model'"):
        resolve_model("no-such-model", "champion")
    assert find_alias(trained_model.model_name, "nope") is None


def test_the_training_run_records_lineage_metrics_and_artifacts(trained_model):
    from importlib.metadata import version

    from mlflow import MlflowClient

    from mlops_core.schema import load_schema
    from model_training.config import load_config
    from model_training.core import candidates_of

    folder = trained_model.models_dir / trained_model.model_name
    schema = load_schema(folder / "schema.yaml")
    client = MlflowClient(trained_model.tracking_uri)
    run = client.get_run(trained_model.run_id)
    tags = run.data.tags
    assert tags["data_version"] == trained_model.data_version
    assert len(tags["data_hash"]) == 64
    assert tags["package_version"] == version("model-training")
    assert len(tags["git_commit"].removesuffix("-dirty")) == 40
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"{trained_model.model_name}-training"

    for split in ("train", "val", "test"):
        for metric in ("rmse", "mae", "r2", "mape"):
            assert np.isfinite(run.data.metrics[f"{split}_{metric}"])
    params = run.data.params
    assert params["data_version"] == trained_model.data_version
    assert params["config.gate.tolerance"] == "0.02"
    assert params["candidate"] == trained_model.result["candidate"]

    artifacts = {
        f.path
        for folder in ("", "plots", "config", "importance", "selection")
        for f in client.list_artifacts(trained_model.run_id, folder)
    }
    assert {
        "plots/residuals.png",
        "selection/baselines.csv",
        "plots/feature_importance.png",
        "importance/feature_importance.csv",
        "selection/selection.csv",
        "config/training_config.yaml",
    } <= artifacts

    inputs = run.inputs.dataset_inputs
    dv = trained_model.data_version
    assert sorted(i.dataset.name for i in inputs) == [f"{dv}-test", f"{dv}-train", f"{dv}-val"]
    for item in inputs:
        input_tags = {t.key: t.value for t in item.tags}
        assert input_tags["data_version"] == dv
        assert input_tags["data_hash"] == tags["data_hash"]
        assert item.dataset.source_type == "dvc"

    # Every candidate parameter set of the model's config and every baseline: a nested run
    # with its score (cross-validated: the fixture's data is small).
    config, _, _ = load_config(folder / "train.yaml", schema)
    nested = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{trained_model.run_id}'"
    )
    assert len(nested) == sum(len(c.combinations()) for c in candidates_of(config, schema))
    assert all("cv_rmse" in r.data.metrics for r in nested)
    assert sum(r.data.tags["selected"] == "true" for r in nested) == 1

    version = client.get_model_version(trained_model.model_name, trained_model.version)
    assert version.tags["validation_status"] == "passed"
    assert version.tags["data_version"] == dv
    assert version.run_id == trained_model.run_id

    # The artifact alone predicts from raw feature rows (pyfunc, schema-enforced).
    import mlflow.artifacts
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(trained_model.model_uri)
    assert model.metadata.get_input_schema().input_names() == schema.feature_names
    # Its requirements are the explicit pins, and no uv project of the cwd is copied in.
    files = {a.path for a in mlflow.artifacts.list_artifacts(trained_model.model_uri)}
    assert {"MLmodel", "requirements.txt"} <= files
    assert not files & {"uv.lock", "pyproject.toml"}
