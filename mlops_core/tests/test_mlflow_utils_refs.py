"""mlops_core.mlflow_utils.refs against the session's real MLflow server and trained model."""

from __future__ import annotations

import pytest

from mlops_core.errors import BadInput
from mlops_core.mlflow_utils import (
    alias_version,
    client,
    find_alias,
    registered_model,
    resolve,
    resolve_model,
)


def _forms(name: str, version: str) -> list:
    return [
        int(version),
        version,
        "champion",
        "@champion",
        "challenger",
        f"models:/{name}/{version}",
        f"models:/{name}@champion",
        f"models:/{name}/champion",
    ]


def test_every_form_resolves_to_the_version_with_its_lineage(trained_model):
    tm = trained_model
    for ref in _forms(tm.model_name, tm.version):
        found = resolve_model(tm.model_name, ref, tm.tracking_uri)
        assert (found.name, found.version) == (tm.model_name, tm.version), ref
    assert found.run_id == tm.run_id and found.data_version == tm.data_version
    assert found.metrics and set(found.aliases) >= {"champion", "challenger"}
    assert found.tracking_uri == tm.tracking_uri


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("99", "has no version 99"),
        ("nope", "has no alias 'nope'"),
        ("@nope", "has no alias 'nope'"),
        ("{name}@nope", "has no alias 'nope'"),
        ("{name}/99", "has no version 99"),
    ],
)
def test_unknown_version_or_alias_is_bad_input_naming_it(trained_model, ref, says):
    name = trained_model.model_name
    ref = f"models:/{ref.format(name=name)}" if "{name}" in ref else ref
    with pytest.raises(BadInput) as caught:
        resolve_model(name, ref, trained_model.tracking_uri)
    assert f"registered model {name!r} {says}" == caught.value.message


def test_unknown_model_is_bad_input_naming_it(mlflow_server):
    for ref in ("1", "@champion", "models:/no-such-model-y2@champion"):
        with pytest.raises(BadInput, match="'no-such-model-y2' does not exist in MLflow"):
            resolve_model("no-such-model-y2", ref, mlflow_server)
    with pytest.raises(BadInput, match="does not exist"):
        registered_model(client(mlflow_server), "no-such-model-y2")


def test_malformed_reference_is_refused(trained_model):
    with pytest.raises(BadInput, match="model 'models:/x@': expected"):
        resolve(client(trained_model.tracking_uri), "models:/x@")


def test_find_alias_and_alias_version(trained_model, mlflow_server):
    tm = trained_model
    assert find_alias(tm.model_name, "champion", tm.tracking_uri).version == tm.version
    assert find_alias(tm.model_name, "nope", tm.tracking_uri) is None
    assert find_alias("no-such-model-y3", "champion", mlflow_server) is None
    c = client(tm.tracking_uri)
    assert alias_version(c, tm.model_name, "champion") == tm.version
    assert alias_version(c, tm.model_name, "nope") is None


def test_a_version_whose_run_logged_no_schema_is_named(mlflow_server):
    """A version registered by hand (its run holds no config/schema.json) cannot be served
    without its model folder: the error names the run and the artifact."""
    import uuid

    from mlops_core.mlflow_utils import logged_schema

    mlflow_client = client(mlflow_server)
    name = f"no-schema-{uuid.uuid4().hex[:8]}"
    experiment = mlflow_client.create_experiment(name)
    run = mlflow_client.create_run(experiment)
    mlflow_client.create_registered_model(name)
    mlflow_client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    with pytest.raises(BadInput) as caught:
        logged_schema(f"models:/{name}/1", mlflow_server)
    assert run.info.run_id in caught.value.message
    assert "config/schema.json" in caught.value.message
