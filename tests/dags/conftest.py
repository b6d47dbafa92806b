"""Fixtures of the DAG tests: one Airflow home (and one `airflow db migrate`) per session,
DagBags parsed with either task runner, and the environment of `airflow dags test`."""

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
DAG_IDS = {"mlops_training_pipeline", "mlops_monitoring", "mlops_rollback"}

# Airflow reads its configuration when first imported: these must be set before any test
# imports airflow. AIRFLOW_HOME is fixed per session by the autouse fixture below.
_AIRFLOW_ENV = {
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
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


def load_dagbag(runner: str, monkeypatch: pytest.MonkeyPatch):
    """Parse dags/ the way Airflow's DAG processor does, with the given task runner."""
    from airflow.dag_processing.dagbag import BundleDagBag

    monkeypatch.setenv("MLOPS_TASK_RUNNER", runner)
    return BundleDagBag(str(DAGS_FOLDER), bundle_path=DAGS_FOLDER)


@pytest.fixture
def local_dagbag(monkeypatch: pytest.MonkeyPatch):
    return load_dagbag("local", monkeypatch)


@pytest.fixture
def k8s_dagbag(monkeypatch: pytest.MonkeyPatch):
    return load_dagbag("kubernetes", monkeypatch)
