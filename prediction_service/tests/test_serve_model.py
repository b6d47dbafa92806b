"""prediction_service.model: which model a reference names, and loading it (through
mlops_core.mlflow_utils) from the session's real MLflow server."""

from __future__ import annotations

import time

import pytest

from mlops_core.errors import BadInput, Unavailable
from mlops_core.services import free_port
from prediction_service.model import ModelSpec, load_model, parse_ref, resolve_ref


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (None, ModelSpec("", name="m")),
        ("  ", ModelSpec("", name="m")),
        ("3", ModelSpec("3", name="m", version="3")),
        ("champion", ModelSpec("champion", name="m", alias="champion")),
        ("@canary", ModelSpec("@canary", name="m", alias="canary")),
        ("models:/x/4", ModelSpec("models:/x/4", name="x", version="4")),
        ("models:/x@canary", ModelSpec("models:/x@canary", name="x", alias="canary")),
        ("models:/x/canary", ModelSpec("models:/x/canary", name="x", alias="canary")),
    ],
)
def test_reference_forms(ref, expected):
    assert parse_ref(ref, "m") == expected


def test_local_folder_and_bad_references(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert parse_ref(str(tmp_path), "m").path == tmp_path.resolve()
    assert parse_ref(f"file://{tmp_path}", "m").path == tmp_path.resolve()
    with pytest.raises(BadInput, match="no MLmodel file"):
        parse_ref(str(tmp_path / "nowhere"), "m")
    with pytest.raises(BadInput, match=r"'models:/only-a-name': expected models:/<name>/"):
        parse_ref("models:/only-a-name", "m")
    with pytest.raises(BadInput, match="'two words': not a models:/ URI, a version, an alias"):
        parse_ref("two words", "m")


def test_no_reference_follows_the_champion(trained_model):
    ref, alias = resolve_ref(parse_ref(None, trained_model.model_name), trained_model.tracking_uri)
    assert (ref.version, alias) == (trained_model.version, "champion")


def test_no_alias_at_all_says_what_to_do(mlflow_server):
    with pytest.raises(BadInput, match="'no-model-s5' has no champion or challenger alias"):
        resolve_ref(parse_ref(None, "no-model-s5"), mlflow_server)


def test_loads_the_pinned_version_with_its_lineage(trained_model):
    spec = parse_ref(f"models:/{trained_model.model_name}@champion", "unused")
    loaded = load_model(spec, trained_model.tracking_uri, registry_timeout=10)
    assert (loaded.version, loaded.alias, loaded.flavor) == (
        trained_model.version,
        "champion",
        "sklearn",
    )
    assert loaded.uri == trained_model.model_uri and loaded.run_id == trained_model.run_id
    assert loaded.data_version == trained_model.data_version and loaded.metrics
    assert hasattr(loaded.estimator, "predict")


def test_unknown_version_fails_fast_naming_it(trained_model):
    spec = parse_ref("999", trained_model.model_name)
    started = time.monotonic()
    with pytest.raises(BadInput, match=f"'{trained_model.model_name}' has no version 999"):
        load_model(spec, trained_model.tracking_uri, registry_timeout=60)
    assert time.monotonic() - started < 10  # not retried for the 60 s budget


def test_unreachable_registry_is_retried_then_unavailable(caplog):
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="mlops.mlflow"), pytest.raises(Unavailable) as caught:
        load_model(parse_ref("1", "m"), uri, registry_timeout=2)
    assert 1.0 <= time.monotonic() - started < 10
    assert f"model registry at {uri} is unreachable (gave up after 2s)" in caught.value.message
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retries  # at least a second attempt (a third one too, on an idle machine)
