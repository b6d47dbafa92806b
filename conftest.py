"""Fixtures shared by every stage's tests: a temporary platform, one real MLflow server per
session, a PostgreSQL database when one is reachable, and an in-process `mlops` runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

# mlflow.set_tracking_uri/set_registry_uri export these into os.environ, so one test's
# in-process MLflow use would otherwise point the next test's subprocesses elsewhere.
_PLATFORM_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


REPO_MODELS = Path(__file__).resolve().parent / "models"


def copy_model_folder(dest_root: Path, name: str, source: str = "house-price") -> Path:
    """A copy of the repository's models/<source>/ as dest_root/<name>/ (the schema renamed
    to match): a model of its own for a test, its columns still declared in one place."""
    import yaml

    dest = dest_root / name
    dest.mkdir(parents=True)
    for src in (REPO_MODELS / source).iterdir():
        if src.is_file():
            (dest / src.name).write_bytes(src.read_bytes())
    schema_file = dest / "schema.yaml"
    schema = yaml.safe_load(schema_file.read_text())
    schema["name"] = name
    schema_file.write_text(yaml.safe_dump(schema, sort_keys=False))
    return dest


@pytest.fixture(scope="session")
def house_price_schema():
    """The reference model's schema (models/house-price/schema.yaml), for any fixture scope."""
    from mlops_core.schema import load_schema

    return load_schema(REPO_MODELS / "house-price" / "schema.yaml")


@pytest.fixture(scope="session")
def make_model_folder():
    """`copy_model_folder(dest_root, name, source="house-price")` for any fixture scope."""
    return copy_model_folder


def _quick_training(folder: Path) -> None:
    import yaml

    path = folder / "train.yaml"
    config = yaml.safe_load(path.read_text())
    config["candidates"] = config["candidates"][:1]
    config["baselines"] = {**config.get("baselines", {}), "enabled": False}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="session")
def quick_training():
    """`quick_training(model_folder)`: its train.yaml cut to the first candidate, baselines
    off. For tests of what happens around a training run (retraining, DAGs, the loop),
    whose subject is not model selection: a run of seconds instead of a minute."""
    return _quick_training


def _git_refs(git_dir: Path) -> dict[str, str]:
    if not git_dir.exists():
        return {}
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines())


@pytest.fixture(scope="session")
def git_refs():
    """`git_refs(git_dir)` -> {ref: commit} ({} with no repository): equal before and after
    means nothing was written."""
    return _git_refs


def _registry_splits(folder: Path, offset: int = 0) -> dict[str, Path]:
    import pandas as pd

    from mlops_core.registry import SPLITS

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate(SPLITS):
        frame = pd.DataFrame({"x": [offset + i, offset + i + 1.5], "c": ["a", "b"]})
        out[name] = folder / f"{name}.parquet"
        frame.to_parquet(out[name], index=False)
    return out


@pytest.fixture(scope="session")
def registry_splits():
    """`registry_splits(folder, offset=0)` -> {split: parquet file}: a tiny data version for
    DataRegistry.publish, different for each offset."""
    return _registry_splits


@pytest.fixture
def mlops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MLOPS_HOME with a models folder holding house-price only; no platform
    variable from the caller's shell leaks in."""
    for name in list(os.environ):
        if name.startswith("MLOPS_"):
            monkeypatch.delenv(name)
    for name in _PLATFORM_VARIABLES:
        # Set, then delete: monkeypatch then also removes a value the test itself exports
        # (mlflow.set_tracking_uri does) instead of letting it leak into later tests.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    home = tmp_path / "mlops-home"
    home.mkdir()
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("MLOPS_LOG_FORMAT", "json")
    models = tmp_path / "models"
    copy_model_folder(models, "house-price")
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    return home


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        from mlops_core.contracts import read_result

        found = read_result(self.stdout)
        assert found, f"no JSON on stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return found


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


@dataclass(frozen=True)
class MlflowService:
    """The session's MLflow server as the embedded runtime started it."""

    url: str
    settings: Any  # the PlatformSettings of its home (ServiceManager(settings.run_dir))
    up: Any  # what start_mlflow returned (an MlflowUpResult)


@pytest.fixture(scope="session")
def mlflow_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowService]:
    """One real `mlflow server` (SQLite store) for the whole test session, started by
    `mlops_core.embedded.start_mlflow` for a home of its own: tests of the embedded runtime
    look at its process and home instead of starting servers of their own. Read-only: never
    stop it."""
    from mlops_core.embedded import start_mlflow
    from mlops_core.services import ServiceManager, free_port
    from mlops_core.settings import PlatformSettings

    home = tmp_path_factory.mktemp("mlflow-home")
    settings = PlatformSettings(home=home, mlflow_port=free_port(), mlflow_tracking_uri=None)
    up = start_mlflow(settings, timeout=240)
    try:
        yield MlflowService(up.url, settings, up)
    finally:
        ServiceManager(settings.run_dir).stop("mlflow")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_service: MlflowService) -> str:
    """The URI of the session's one real `mlflow server` (see `mlflow_service`)."""
    return mlflow_service.url


@pytest.fixture
def tracking_uri(mlflow_server: str, mlops_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A temporary platform pointed at the session's MLflow server."""
    monkeypatch.setenv("MLOPS_MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return mlflow_server


@pytest.fixture
def unique_model_name(mlops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A model of its own (a house-price copy in its own models folder, MLOPS_MODEL naming
    it), so tests sharing one MLflow server stay apart."""
    name = f"test-model-{uuid.uuid4().hex[:8]}"
    models = tmp_path / "unique-models"
    copy_model_folder(models, name)
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    monkeypatch.setenv("MLOPS_MODEL", name)
    return name


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true"}:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, or a skip that says why (a failure
    under CI=true, where .ci/run starts PostgreSQL: a missing server is a broken run)."""
    base = os.environ.get("MLOPS_TEST_POSTGRES_URL")
    if not base:
        _unavailable("PostgreSQL tests need MLOPS_TEST_POSTGRES_URL (.ci/run sets it)")
    import sqlalchemy as sa

    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"mlops_test_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        _unavailable(f"PostgreSQL at MLOPS_TEST_POSTGRES_URL is not reachable: {exc}")
    url = sa.engine.make_url(base).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@dataclass(frozen=True)
class TrainedModel:
    """A platform with one trained, registered model (see the `trained_model` fixture)."""

    home: Path  # the platform's MLOPS_HOME (shared by the session: treat it as read-only)
    tracking_uri: str  # the session's MLflow server
    model_name: str  # model (folder and registered model) name, unique to this session
    models_dir: Path  # the models folder holding it
    version: str  # the registered version: aliases `challenger` and `champion`
    run_id: str  # its training run
    data_version: str  # the data version it was trained on ("data-v1")
    data_registry: str  # git URL of the data registry holding data_version
    dvc_remote: str  # the DVC remote of that registry
    result: dict  # the JSON result of `mlops train`

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    @property
    def env(self) -> dict[str, str]:
        """Variables that point a command at this platform's stores (not at its home)."""
        return {
            "MLOPS_MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLOPS_MODEL": self.model_name,
            "MLOPS_MODELS_DIR": str(self.models_dir),
            "MLOPS_DATA_REGISTRY": self.data_registry,
            "MLOPS_DVC_REMOTE": self.dvc_remote,
        }

    def use(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the current test at this platform's MLflow server, model and data registry.

        Combine with the `mlops_home` fixture so whatever the test writes (prediction log,
        reports, gitops checkouts) goes to the test's own MLOPS_HOME."""
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)


_TRAINED_MODEL_ROWS = 2000


@pytest.fixture(scope="session")
def trained_model(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A small platform built once per session: a data version and one trained model.

    What it does (about a minute on a busy 2-core machine, once per session):
    - MLOPS_HOME in a session temp dir, pointed at the session's `mlflow_server`;
    - `mlops ingest --synthetic 2000 --seed 1` -> data version data-v1 in the home's data
      registry (bare git repo + local DVC remote);
    - `mlops train --data-version data-v1` with the packaged training config -> version 1
      of a registered model named `trained-<hex>` (unique per session), alias `challenger`;
    - then alias `champion` is set on that version too, as `mlops promote` would, so serve,
      monitor and deploy tests find a champion with full lineage (run tags, data_version
      tag, metrics, logged inputs).

    Yields a TrainedModel: .home, .tracking_uri, .model_name, .version, .model_uri
    (models:/NAME/VERSION), .run_id, .data_version, .data_registry, .dvc_remote, .result
    (the `mlops train --json` result), .env and .use(monkeypatch).

    Usage:

        def test_something(trained_model, mlops_home, monkeypatch, mlops):
            trained_model.use(monkeypatch)   # MLflow + model name + data registry
            result = mlops("serve", "--model", trained_model.model_uri, ...)

    The environment is restored after set-up, so using the fixture changes nothing until
    .use() is called. Everything is shared by the session: do not move its aliases, add
    versions or write into .home; train your own model (with `unique_model_name`) for that.
    """
    import contextlib
    import io
    import logging

    from mlops_core.cli import main
    from mlops_core.contracts import read_result

    home = tmp_path_factory.mktemp("trained-model-home")
    name = f"trained-{uuid.uuid4().hex[:8]}"
    models_dir = tmp_path_factory.mktemp("trained-model-models")
    copy_model_folder(models_dir, name)

    def run(*args: str) -> dict:
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([*args, "--json"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        found = read_result(out.getvalue())
        if code != 0 or not found:
            pytest.fail(
                f"trained_model set-up: `mlops {' '.join(args)}` exited {code}\n"
                f"stdout:\n{out.getvalue()}\nstderr:\n{err.getvalue()[-4000:]}"
            )
        return found

    root = logging.getLogger()
    saved_logging = (list(root.handlers), root.level)
    with pytest.MonkeyPatch.context() as mp:
        for variable in list(os.environ):
            if variable.startswith("MLOPS_") or variable in _PLATFORM_VARIABLES:
                mp.delenv(variable, raising=False)
        mp.setenv("MLOPS_HOME", str(home))
        mp.setenv("MLOPS_LOG_FORMAT", "json")
        mp.setenv("MLOPS_MLFLOW_TRACKING_URI", mlflow_server)
        mp.setenv("MLOPS_MODEL", name)
        mp.setenv("MLOPS_MODELS_DIR", str(models_dir))
        from mlops_core.settings import get_settings

        settings = get_settings()
        ingested = run("ingest", "--synthetic", str(_TRAINED_MODEL_ROWS), "--seed", "1")
        data_version = ingested["data_version"]
        trained = run("train", "--data-version", data_version)
    root.handlers[:] = saved_logging[0]  # the commands logged to their captured stderr
    root.setLevel(saved_logging[1])

    from mlflow import MlflowClient

    MlflowClient(mlflow_server).set_registered_model_alias(
        name, "champion", trained["model_version"]
    )
    return TrainedModel(
        home=home,
        tracking_uri=mlflow_server,
        model_name=name,
        models_dir=models_dir,
        version=str(trained["model_version"]),
        run_id=trained["run_id"],
        data_version=data_version,
        data_registry=settings.data_registry_url,
        dvc_remote=settings.dvc_remote_url,
        result=trained,
    )


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One local moto S3 server for the session: yields its endpoint URL."""
    from mlops_core.services import free_port

    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        # A dev dependency: missing means a broken environment, never a skipped S3 test.
        raise RuntimeError(f"{exe} is missing: run `make install` (dev dependency moto[server])")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session's moto S3 server, with dummy AWS credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint
