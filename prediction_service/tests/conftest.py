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
class RegisteredModel:
    name: str
    versions: list[str]
    tracking_uri: str


def _fit(schema, seed: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops_core.synthetic import generate

    frame = generate(schema, 1500, seed=seed)
    prep = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                schema.numeric_features,
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), schema.categorical_features),
        ]
    )
    model = Pipeline(
        [
            ("prep", prep),
            ("model", GradientBoostingRegressor(n_estimators=50 + seed, random_state=seed)),
        ]
    )
    X = frame[schema.feature_names]
    model.fit(X, frame[schema.label.name])
    return model, X


@pytest.fixture(scope="session")
def registered_model(mlflow_server: str) -> RegisteredModel:
    """Two versions of a small sklearn Pipeline registered under a name of their own;
    version 1 holds alias `champion`, version 2 `challenger`."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from mlops_core.schema import load_schema

    schema = load_schema()
    name = f"serve-test-{uuid.uuid4().hex[:8]}"
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    mlflow.set_experiment(f"{name}-training")
    client = MlflowClient()
    versions = []
    for seed in (1, 2):
        pipe, X = _fit(schema, seed)
        with mlflow.start_run() as run:
            mlflow.set_tags({"data_version": f"data-v{seed}", "data_hash": "test"})
            mlflow.log_metrics({"val_rmse": 1000.0 * seed, "val_r2": 0.8})
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                signature=infer_signature(X.head(20), pipe.predict(X.head(20))),
                input_example=X.head(2),
                pip_requirements=["scikit-learn", "pandas"],
                skops_trusted_types=["numpy.dtype", "sklearn.tree._tree.Tree"],
                registered_model_name=name,
            )
        version = str(info.registered_model_version)
        client.set_model_version_tag(name, version, "data_version", f"data-v{seed}")
        client.set_model_version_tag(name, version, "validation_status", "passed")
        client.set_model_version_tag(name, version, "validation_reason", "test fixture")
        assert run.info.run_id
        versions.append(version)
    client.set_registered_model_alias(name, "champion", versions[0])
    client.set_registered_model_alias(name, "challenger", versions[1])
    return RegisteredModel(name, versions, mlflow_server)


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
def start_server(tmp_path_factory, registered_model) -> Iterator:
    """Start `mlops serve` processes; every one is stopped at the end of the session."""
    started: list[Server] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None, home=None):
        home = home or tmp_path_factory.mktemp("serve-home")
        server = Server(
            home,
            {
                "MLOPS_MLFLOW_TRACKING_URI": registered_model.tracking_uri,
                "MLOPS_MODEL_NAME": registered_model.name,
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
    """The shared server: champion of the test model, SQLite log, an admin API key
    (predictions need none)."""
    return start_server(
        {
            "MLOPS_SERVE_API_KEYS": API_KEY,
            "MLOPS_SERVE_REQUIRE_KEY": "false",
            "MLOPS_SERVE_MAX_BATCH": "2000",
        }
    )


@pytest.fixture(scope="session")
def schema():
    from mlops_core.schema import load_schema

    return load_schema()


@pytest.fixture(scope="session")
def records(schema) -> list[dict]:
    from mlops_core.synthetic import generate

    frame = generate(schema, 3000, seed=7)[schema.feature_names]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
