"""`mlops up --airflow` / `mlops airflow up|down`: Airflow standalone under MLOPS_HOME with
this repository's dags/, 2 task slots and the local runner. The hook and its environment are
checked here; starting the real standalone takes minutes on 2 cores (see
docs/orchestration.md for the measured figure), so no test does it."""

from __future__ import annotations

import pytest

from mlops_core import airflow_runtime
from mlops_core.contracts import read_result
from mlops_core.contracts.runtime import ServiceDownResult
from mlops_core.embedded import UP_HOOKS
from mlops_core.errors import Unavailable
from mlops_core.settings import get_settings

from .conftest import DAGS_FOLDER


def test_the_hook_is_registered_and_idle_without_the_flag(mlops, mlops_home):
    assert mlops("--help").exit_code == 0  # loads the entry points
    assert airflow_runtime.up_hook in UP_HOOKS
    assert UP_HOOKS.count(airflow_runtime.up_hook) == 1
    assert airflow_runtime.up_hook(get_settings(), airflow=False) is None


def test_airflow_environment_fits_two_cores_and_runs_stages_locally(mlops_home):
    settings = get_settings()
    env = airflow_runtime.airflow_env(
        settings, airflow_runtime.AirflowSettings(port=18123), DAGS_FOLDER
    )
    assert env["AIRFLOW_HOME"] == str(mlops_home / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS_FOLDER)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "2"  # `standalone` would start 32 workers
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__PORT"] == "18123"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["MLOPS_TASK_RUNNER"] == "local"
    assert env["MLOPS_HOME"] == str(mlops_home)


def test_the_repository_dags_folder_is_found():
    assert airflow_runtime.default_dags_folder() == DAGS_FOLDER


def test_missing_airflow_is_reported_with_how_to_install_it(mlops, mlops_home, monkeypatch):
    monkeypatch.setattr(airflow_runtime, "venv_env", lambda: {"PATH": str(mlops_home)})
    with pytest.raises(Unavailable, match=r"uv sync --group airflow"):
        airflow_runtime.start_airflow(get_settings())
    result = mlops("airflow", "up", "--json")
    assert result.exit_code == 5
    assert "Airflow is not installed" in result.json["error"]


def test_airflow_down_when_nothing_runs(mlops, mlops_home):
    result = mlops("airflow", "down", "--json")
    assert result.exit_code == 0
    down = read_result(result.stdout, ServiceDownResult)
    assert (down.ok, down.service, down.stopped) == (True, "airflow", False)


def test_the_admin_password_is_read_from_standalones_file(tmp_path):
    assert airflow_runtime.admin_password(tmp_path) is None
    (tmp_path / "simple_auth_manager_passwords.json.generated").write_text('{"admin": "s3cret"}')
    assert airflow_runtime.admin_password(tmp_path) == "s3cret"
