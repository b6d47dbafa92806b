"""Fixtures shared by every stage's tests: a temporary platform, one real MLflow server per
session, a PostgreSQL database when one is reachable, and an in-process `mlops` runner."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_PLATFORM_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLOPS_HOME; no platform variable from the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("MLOPS_") or name in _PLATFORM_VARIABLES:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "mlops-home"
    home.mkdir()
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("MLOPS_LOG_FORMAT", "json")
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no JSON on stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(lines[-1])


@pytest.fixture
def mlops(capfd: pytest.CaptureFixture[str]):
    """Run `mlops ARGS...` in-process; returns exit code, stdout and stderr."""
    from mlops_core.cli import main

    def run(*args: str) -> CliResult:
        capfd.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `mlflow server` (SQLite store) for the whole test session; yields its URI."""
    from mlops_core.embedded import start_mlflow
    from mlops_core.services import ServiceManager, free_port
    from mlops_core.settings import PlatformSettings

    home = tmp_path_factory.mktemp("mlflow-home")
    settings = PlatformSettings(home=home, mlflow_port=free_port(), mlflow_tracking_uri=None)
    url, _ = start_mlflow(settings, timeout=240)
    try:
        yield url
    finally:
        ServiceManager(settings.run_dir).stop("mlflow")


@pytest.fixture
def tracking_uri(mlflow_server: str, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary platform pointed at the session's MLflow server."""
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


@pytest.fixture
def unique_model_name(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered-model name of its own, so tests sharing one MLflow server stay apart."""
    name = f"test-model-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLOPS_MODEL_NAME", name)
    return name


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, or a skip that says why."""
    base = os.environ.get("MLOPS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("PostgreSQL tests need MLOPS_TEST_POSTGRES_URL (.ci/run sets it)")
    import sqlalchemy as sa

    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"mlops_test_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL at MLOPS_TEST_POSTGRES_URL is not reachable: {exc}")
    url = sa.engine.make_url(base).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
