"""The retraining trigger goes through the runner contract: taskrun where the stage commands
are installed, Airflow (or a clear refusal) where they are not. The path that trains for
real (`mlops monitor --trigger-retrain`) is in test_monitor_e2e.py."""

from __future__ import annotations

import pytest

from mlops_core.errors import BadInput
from model_monitoring import retrain


def test_this_installation_holds_the_commands_retraining_runs():
    installed = retrain.installed_commands()
    assert {"ingest", "train", "monitor"} <= installed, installed


def test_a_failed_ingest_stops_before_training(mlops_home, tmp_path):
    missing = tmp_path / "no-such-file.csv"
    out = retrain.retrain("house-price", source=str(missing))
    assert out["triggered"] and out["how"] == "local" and not out["ok"]
    [step] = out["steps"]  # train never ran
    assert step["command"][:4] == ["mlops", "ingest", "--model", "house-price"]
    assert step["exit_code"] == 2
    assert "no-such-file.csv" in step["error"]
    assert step["result"]["ok"] is False  # the command's own --json error, read by taskrun


def test_a_monitoring_only_image_refuses_with_what_to_set(mlops_home, monkeypatch):
    # What a monitoring-only image holds (it cannot be built here: the workspace installs
    # every stage), as the entry points of that image register it.
    monkeypatch.setattr(retrain, "installed_commands", lambda: {"monitor"})
    with pytest.raises(BadInput) as info:
        retrain.retrain("house-price", synthetic=500)
    message = info.value.message
    assert "`mlops ingest`, `mlops train` are not installed" in message
    assert "MLOPS_RETRAIN_AIRFLOW_URL" in message
    assert "mlops_training_pipeline.house-price" in message  # the model's own DAG


def test_the_kubernetes_runner_never_trains_in_the_monitoring_pod(mlops_home, monkeypatch):
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "kubernetes")
    with pytest.raises(BadInput) as info:
        retrain.retrain("house-price", synthetic=500)
    assert "MLOPS_TASK_RUNNER=kubernetes" in info.value.message
    assert "MLOPS_RETRAIN_AIRFLOW_URL" in info.value.message


def test_an_unreachable_airflow_is_unavailable(mlops_home, monkeypatch):
    from mlops_core.errors import Unavailable
    from mlops_core.services import free_port

    monkeypatch.setenv("MLOPS_TASK_RUNNER", "kubernetes")
    monkeypatch.setenv("MLOPS_RETRAIN_AIRFLOW_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable) as info:
        retrain.retrain("house-price", synthetic=500)
    assert "cannot be reached" in info.value.message


@pytest.fixture
def airflow_api(tmp_path, mlops_home):
    """A real Airflow API server (no scheduler: a triggered run stays queued) with this
    repository's DAGs serialized into its metadata database; yields its URL."""
    import os
    import secrets
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from mlops_core.services import ServiceManager, free_port

    bin_dir = Path(sys.executable).parent
    exe = shutil.which("airflow", path=str(bin_dir))
    assert exe, "the airflow dependency group ships the airflow command"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = tmp_path / "airflow-home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[2] / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__WORKERS": "1",
        "MLOPS_TASK_RUNNER": "local",
    }
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([exe, *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    manager = ServiceManager(tmp_path / "run")
    manager.start(
        "airflow-api",
        [exe, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        url=url,
        health_url=f"{url}/api/v2/monitor/health",
        env=env,
        timeout=300,
    )
    yield url
    manager.stop("airflow-api")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_the_commands_it_triggers_the_training_dag_in_airflow(
    airflow_api, mlops_home, monkeypatch
):
    import httpx

    monkeypatch.setattr(retrain, "installed_commands", lambda: {"monitor"})
    monkeypatch.setenv("MLOPS_RETRAIN_AIRFLOW_URL", airflow_api)
    out = retrain.retrain("house-price", synthetic=800, seed=3, reason="drift share 0.6")
    assert out["triggered"] and out["ok"] and out["how"] == "airflow", out
    assert out["dag_id"] == "mlops_training_pipeline.house-price"

    token = httpx.get(f"{airflow_api}/auth/token").json()["access_token"]
    run = httpx.get(
        f"{airflow_api}/api/v2/dags/{out['dag_id']}/dagRuns/{out['dag_run_id']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert run.status_code == 200, run.text
    assert run.json()["conf"] == {"reason": "drift share 0.6", "synthetic_rows": 800, "seed": 3}
