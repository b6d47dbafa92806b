"""`mlops serve` start-up: fail fast on a missing model, back off on an unreachable registry,
local model folders, migrations, and the `mlops up` hook."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from mlops_core.contracts import ErrorResult, read_result
from mlops_core.contracts.serve import MigrateResult


def test_help_has_an_example(mlops):
    result = mlops("serve", "--help")
    assert result.exit_code == 0
    assert "Example: mlops serve" in result.stdout
    assert "migrate" in result.stdout


def test_up_hook_is_registered():
    from mlops_core import embedded
    from mlops_core.cli import _register_plugins
    from prediction_service.cli import up_hook

    _register_plugins()
    assert up_hook in embedded.UP_HOOKS


def test_unknown_model_fails_fast(mlops, tracking_uri, trained_model, monkeypatch):
    trained_model.use(monkeypatch)
    started = time.monotonic()
    result = mlops("serve", "--model", f"models:/{trained_model.model_name}/999", "--json")
    assert result.exit_code == 2, result.stderr
    assert "999" in result.json["error"]
    assert time.monotonic() - started < 30


def test_missing_alias_says_what_to_do(mlops, tracking_uri, unique_model_name):
    result = mlops("serve", "--json")
    assert result.exit_code == 2
    assert unique_model_name in result.json["error"]
    assert "mlops train" in result.json["error"]


def test_unknown_model_folder_names_the_known_ones(mlops, mlops_home):
    result = mlops("serve", "--model", "models:/anything/1", "--json")
    assert result.exit_code == 2
    assert "unknown model 'anything'" in result.json["error"]
    assert "house-price" in result.json["error"]


def test_bad_reference_is_bad_input(mlops, mlops_home):
    result = mlops("serve", "--model", "models:/only-a-name", "--json")
    assert result.exit_code == 2
    assert "models:/<name>/<version>" in result.json["error"]
    result = mlops("serve", "--model", str(mlops_home / "no-such-folder"), "--json")
    assert result.exit_code == 2
    assert "MLmodel" in result.json["error"]


def test_unreachable_registry_is_retried_then_unavailable(mlops, mlops_home, monkeypatch):
    from mlops_core.services import free_port

    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLOPS_SERVE_REGISTRY_TIMEOUT", "2")
    started = time.monotonic()
    result = mlops("serve", "--model", "models:/house-price/1", "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 5, result.stderr
    assert "unreachable" in result.json["error"]
    assert 1.0 <= elapsed < 30
    assert "retrying" in result.stderr


def test_port_in_use_is_reported(mlops, mlops_home):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        result = mlops("serve", "--port", str(port), "--json")
    assert result.exit_code == 5
    assert str(port) in result.json["error"]


def test_migrate_creates_and_is_idempotent(mlops, mlops_home):
    first = mlops("serve", "migrate", "--json")
    assert first.exit_code == 0, first.stderr
    result = read_result(first.stdout, MigrateResult)
    assert result.before is None and result.after == "0003"
    assert result.url.endswith("predictions.db")
    second = read_result(mlops("serve", "migrate", "--json").stdout, MigrateResult)
    assert second.before == "0003" and second.after == "0003"
    engine = sa.create_engine(f"sqlite:///{mlops_home / 'predictions.db'}")
    assert {"predictions", "feedback"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_migrate_unreachable_database(mlops, mlops_home):
    from mlops_core.services import free_port

    url = f"postgresql+psycopg://nobody:secret@127.0.0.1:{free_port()}/x"
    result = mlops("serve", "migrate", "--url", url, "--json")
    assert result.exit_code == 5
    assert isinstance(read_result(result.stdout, MigrateResult), ErrorResult)
    assert "secret" not in result.stdout + result.stderr


@pytest.mark.postgres
def test_migrate_postgres(mlops, mlops_home, postgres_url):
    result = mlops("serve", "migrate", "--url", postgres_url, "--json")
    assert result.exit_code == 0, result.stderr
    assert read_result(result.stdout, MigrateResult).after == "0003"
    engine = sa.create_engine(postgres_url)
    assert {"predictions", "feedback"} <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


@pytest.mark.slow
def test_serves_a_local_model_folder(start_server, trained_model, tmp_path, records):
    import mlflow

    mlflow.set_tracking_uri(trained_model.tracking_uri)
    folder = mlflow.artifacts.download_artifacts(
        trained_model.model_uri, dst_path=str(tmp_path / "model")
    )
    server = start_server({"MLOPS_MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, ["--model", folder])
    r = httpx.post(server.url + "/v1/predict", json=records[0])
    assert r.status_code == 200
    assert r.json()["model_version"] == "local"


@pytest.mark.slow
def test_up_hook_starts_the_service_or_says_why_not(
    tracking_uri, trained_model, monkeypatch, unique_model_name
):
    from mlops_core.services import ServiceManager, free_port
    from mlops_core.settings import get_settings
    from prediction_service.cli import up_hook

    monkeypatch.setenv("MLOPS_SERVE_PORT", str(free_port()))
    entry = up_hook(get_settings())
    assert entry["started"] is False
    assert unique_model_name in entry["skipped"]

    monkeypatch.setenv("MLOPS_MODEL", trained_model.model_name)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(trained_model.models_dir))
    settings = get_settings()
    try:
        entry = up_hook(settings)
        assert entry["started"] is True, entry
        assert entry["service"] == "prediction-service"
        ready = httpx.get(entry["url"] + "/v1/health/ready").json()
        assert ready["model_version"] == trained_model.version
        assert up_hook(settings)["started"] is False  # already running
    finally:
        assert ServiceManager(settings.run_dir).stop("prediction-service")
