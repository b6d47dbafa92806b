"""Fixtures of the DAG tests: one Airflow home (and one `airflow db migrate`) per session,
DagBags parsed with either task runner from a models folder of two models, and the
environment of `airflow dags test`."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
# The DAG files generate one DAG of each kind per model folder: `<kind>.<model>`.
KINDS = ("mlops_training_pipeline", "mlops_monitoring", "mlops_rollback", "mlops_rollout")
# The models folder the DagBag tests parse with: house-price and a second model.
MODELS = ("churn", "house-price")
DAG_IDS = {f"{kind}.{model}" for kind in KINDS for model in MODELS}


def dag_id(kind: str, model: str = "house-price") -> str:
    return f"{kind}.{model}"


def models_folder(dest: Path, make_model_folder, names=MODELS) -> Path:
    """A models folder holding `names`: copies of the repository's model folder of that
    name, else of house-price renamed (a folder is all a model needs)."""
    for name in names:
        own = (REPO / "models" / name / "schema.yaml").is_file()
        make_model_folder(dest, name, name if own else "house-price")
    return dest


# Airflow reads its configuration when first imported: these must be set before any test
# imports airflow. AIRFLOW_HOME is fixed per session by the autouse fixture below.
_AIRFLOW_ENV = {
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    # Parsing a DAG file takes well under a second, but 2 cores shared with other test runs
    # (load average 10+) measured 30+ s for the imports alone: Airflow's 30 s parse timeout
    # would report that as an import error. The parse cost is not what these tests judge.
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
    # `airflow dags test` runs the execution API in-process; it signs task tokens with this
    # (without it the API's start-up fails and every task ends with 'svcs_registry' errors).
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
}


def _clean_airflow_environ() -> None:
    """No Airflow variable or connection from the caller's shell may help a DAG parse."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW__")) or name in (
            "MLOPS_TASK_RUNNER",
            "MLOPS_IMAGE_REGISTRY",
            "MLOPS_IMAGE_TAG",
            "MLOPS_IMAGES_FILE",
        ):
            del os.environ[name]


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """AIRFLOW_HOME in a session temp dir; the caller's environment is restored after."""
    saved = dict(os.environ)
    _clean_airflow_environ()
    home = tmp_path_factory.mktemp("airflow-home")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.update(_AIRFLOW_ENV)
    try:
        yield home
    finally:
        os.environ.clear()
        os.environ.update(saved)


def airflow_exe() -> str:
    exe = shutil.which("airflow", path=str(Path(sys.executable).parent))
    assert exe, "the airflow command is missing: `uv sync` installs the root `airflow` group"
    return exe


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """`airflow db migrate` once per session (SQLite under the session's AIRFLOW_HOME)."""
    started = time.monotonic()
    proc = subprocess.run(
        [airflow_exe(), "db", "migrate"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"airflow db migrate: {time.monotonic() - started:.1f} s")
    return airflow_home


@pytest.fixture(scope="session")
def dag_models_dir(tmp_path_factory: pytest.TempPathFactory, make_model_folder) -> Path:
    """The models folder of the DagBag tests (MODELS)."""
    return models_folder(tmp_path_factory.mktemp("dag-models"), make_model_folder)


def load_dagbag(runner: str, monkeypatch: pytest.MonkeyPatch, models_dir: Path | None = None):
    """Parse dags/ the way Airflow's DAG processor does, with the given task runner, over
    `models_dir` (MLOPS_MODELS_DIR; default: the repository's models/)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    monkeypatch.setenv("MLOPS_TASK_RUNNER", runner)
    if models_dir is None:
        monkeypatch.delenv("MLOPS_MODELS_DIR", raising=False)
    else:
        monkeypatch.setenv("MLOPS_MODELS_DIR", str(models_dir))
    return BundleDagBag(str(DAGS_FOLDER), bundle_path=DAGS_FOLDER)


@pytest.fixture
def local_dagbag(monkeypatch: pytest.MonkeyPatch, dag_models_dir: Path):
    return load_dagbag("local", monkeypatch, dag_models_dir)


@pytest.fixture
def k8s_dagbag(monkeypatch: pytest.MonkeyPatch, dag_models_dir: Path):
    return load_dagbag("kubernetes", monkeypatch, dag_models_dir)
