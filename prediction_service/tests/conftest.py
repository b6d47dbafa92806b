"""Fixtures of the prediction service's tests: a real model registered in the session's
MLflow server, and real `mlops serve` processes (uvicorn) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serve_helpers import API_KEY


@dataclass
class SwapModel:
    """Two versions of the trained model under a name of their own (aliases free to move)."""

    name: str
    versions: list[str]
    tracking_uri: str
    models_dir: Path  # holds its model folder (a house-price copy under its name)


@pytest.fixture(scope="session")
def swap_model(trained_model, tmp_path_factory, make_model_folder) -> SwapModel:
    """The shared trained model copied twice to a new registered name (versions 1 and 2),
    so tests can move aliases without touching the session's shared model."""
    from mlflow import MlflowClient

    client = MlflowClient(trained_model.tracking_uri, trained_model.tracking_uri)
    name = f"serve-swap-{uuid.uuid4().hex[:8]}"
    versions = [
        str(client.copy_model_version(trained_model.model_uri, name).version) for _ in range(2)
    ]
    for version in versions:
        client.set_model_version_tag(name, version, "data_version", trained_model.data_version)
    models_dir = tmp_path_factory.mktemp("swap-models")
    make_model_folder(models_dir, name)
    return SwapModel(name, versions, trained_model.tracking_uri, models_dir)


def mlops_exe() -> list[str]:
    exe = Path(sys.executable).parent / "mlops"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mlops_core.cli"]


class Server:
    """A real `mlops serve` process; stopped with SIGTERM (graceful shutdown)."""

    def __init__(self, home: Path, env: dict[str, str], args: list[str]) -> None:
        from mlops_core.services import free_port

        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"serve-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")},
            "MLOPS_HOME": str(home),
            "MLOPS_LOG_FORMAT": "json",
            **env,
        }
        self.args = args
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> Server:
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [*mlops_exe(), "serve", "--port", str(self.port), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlops serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/v1/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlops serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 40.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


@pytest.fixture(scope="session")
def start_server(tmp_path_factory, trained_model) -> Iterator:
    """Start `mlops serve` processes; every one is stopped at the end of the session."""
    started: list[Server] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None, home=None):
        home = home or tmp_path_factory.mktemp("serve-home")
        server = Server(
            home,
            {
                "MLOPS_MLFLOW_TRACKING_URI": trained_model.tracking_uri,
                "MLOPS_MODEL": trained_model.model_name,
                "MLOPS_MODELS_DIR": str(trained_model.models_dir),
                **(env or {}),
            },
            args or [],
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(start_server) -> Server:
    """The shared server: the champion of the session's trained model, SQLite log, an admin
    API key (predictions need none)."""
    return start_server(
        {
            "MLOPS_SERVE_API_KEYS": API_KEY,
            "MLOPS_SERVE_REQUIRE_KEY": "false",
            "MLOPS_SERVE_MAX_BATCH": "2000",
        }
    )


REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="session")
def schema():
    """house-price's schema (the trained model's folder is a copy of it, renamed)."""
    from mlops_core.schema import load_schema

    return load_schema(REPO_MODELS / "house-price" / "schema.yaml")


@pytest.fixture(scope="session")
def records(schema) -> list[dict]:
    from mlops_core.synthetic import generate

    frame = generate(schema, 3000, seed=7)[schema.feature_names]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


@pytest.fixture
def sqlite_log(tmp_path) -> str:
    """A migrated SQLite prediction log of the test's own."""
    from prediction_service.db import migrate

    url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def log_db(request, sqlite_log) -> str:
    """A migrated prediction log on SQLite, then on the session's PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_log
    from prediction_service.db import migrate

    url = request.getfixturevalue("postgres_url")
    migrate(url)
    return url
