"""MLflow with PostgreSQL as backend store: a second, short-lived `mlflow server` on the
session's PostgreSQL database; train, register, gate and resolve through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.embedded import venv_env
from mlops_core.services import ServiceManager, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONFIGS = Path(__file__).parent / "configs"


@pytest.fixture
def postgres_mlflow(postgres_url: str, tmp_path: Path):
    import shutil

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    manager = ServiceManager(tmp_path / "run")
    argv = [
        shutil.which("mlflow", path=venv_env()["PATH"]),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        postgres_url,
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        "--workers",
        "1",
    ]
    env = {**venv_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    manager.start("mlflow-pg", argv, url=url, health_url=f"{url}/health", env=env, timeout=300)
    try:
        yield url
    finally:
        manager.stop("mlflow-pg")


def test_train_register_and_resolve_with_a_postgres_backend(
    postgres_mlflow, postgres_url, schema, frames, unique_model_name
):
    import sqlalchemy as sa
    from mlflow import MlflowClient

    from mlops_core.mlflow_utils import configure_tracking, resolve_model
    from model_training.config import load_config
    from model_training.data import DataVersion
    from model_training.tracking import train_and_register

    configure_tracking(postgres_mlflow)
    config, source, text = load_config(CONFIGS / "worse.yaml")  # fast: a constant model
    data = DataVersion("data-v1", "pg-hash", "/registry.git", {}, frames)
    result = train_and_register(
        data,
        schema,
        config,
        config_text=text,
        config_source=source,
        model_name=unique_model_name,
        tracking_uri=postgres_mlflow,
    )
    assert result.gate == "passed"
    ref = resolve_model(unique_model_name, "challenger", postgres_mlflow)
    assert ref.data_version == "data-v1"
    assert ref.metrics["test_rmse"] == pytest.approx(result.metrics["test_rmse"])
    version = MlflowClient(postgres_mlflow).get_model_version(unique_model_name, ref.version)
    assert version.tags["validation_status"] == "passed"

    # The rows really are in PostgreSQL.
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            alias = conn.execute(
                sa.text("SELECT version FROM registered_model_aliases WHERE name = :n"),
                {"n": unique_model_name},
            ).scalar_one()
            run_tag = conn.execute(
                sa.text("SELECT value FROM tags WHERE run_uuid = :r AND key = 'data_version'"),
                {"r": result.run_id},
            ).scalar_one()
    finally:
        engine.dispose()
    assert str(alias) == ref.version
    assert run_tag == "data-v1"
