"""MLOPS_TASK_RUNNER=docker: `airflow dags test` of the training DAG runs ingest, train and
promote in their images through Airflow's DockerOperator, against the same real services
as the stage pods (tests/containers/stores.py), with the settings the pods get from the
pipeline-runtime chart's ConfigMap as the env file and their Secrets' values as the secrets
file; the `--json` results reach XCom and the gate branches on them. And the runner's
settings contract: the pods' own, refused with a clear error when it is broken."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, training_dag_id
from .stores import REGISTRY_REPO, git_log

DAGS = ROOT / "dags"


def mlops_tasks():
    sys.path.insert(0, str(DAGS))
    try:
        import mlops_tasks as module
    finally:
        sys.path.remove(str(DAGS))
    return module


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def secrets_file(folder: Path, cluster) -> Path:
    """The Secrets' values under the variable names the pods read them as."""
    tasks = mlops_tasks()
    values = {
        ref.env: cluster.secrets[ref.secret][ref.key]
        for ref in tasks.ClusterConfig().secret_env
        if ref.key in cluster.secrets.get(ref.secret, {})
    }
    return write_env_file(folder / "secrets.env", values)


def airflow_exe() -> str:
    exe = shutil.which("airflow", path=str(Path(sys.executable).parent))
    assert exe, "the airflow command is missing: `uv sync` installs the root `airflow` group"
    return exe


@pytest.fixture(scope="module")
def docker_platform(stores, tmp_path_factory) -> dict[str, str]:
    """The environment of an Airflow worker on the Docker host: the docker runner, the
    ConfigMap's settings and the Secrets' values as its two files, host networking."""
    import secrets

    folder = tmp_path_factory.mktemp("docker-runner")
    state = folder / "state"
    state.mkdir()
    state.chmod(0o777)  # a host folder as the state volume, writable by uid 10001
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLOPS_", "AIRFLOW", "MLFLOW_", "AWS_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(folder / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "MLOPS_TASK_RUNNER": "docker",
            "MLOPS_DOCKER_ENV_FILE": str(
                write_env_file(
                    folder / "settings.env", stores.cluster.config_maps["mlops-pipeline-config"]
                )
            ),
            "MLOPS_DOCKER_SECRETS_FILE": str(secrets_file(folder, stores.cluster)),
            "MLOPS_DOCKER_NETWORK": "host",
            "MLOPS_DOCKER_STATE_VOLUME": str(state),
        }
    )
    started = time.monotonic()
    proc = subprocess.run(
        [airflow_exe(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"\nairflow db migrate: {time.monotonic() - started:.1f} s")
    return env


def xcom(db: sqlite3.Connection, dag_id: str, run_id: str, task_id: str):
    row = db.execute(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
        (dag_id, run_id, task_id, "return_value"),
    ).fetchone()
    assert row is not None, f"no XCom of {dag_id}.{task_id}"
    value = json.loads(row[0])
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


@pytest.mark.containers
@pytest.mark.slow
def test_training_dag_runs_every_stage_in_its_image(docker_platform, stores, dag_pods):
    dag_id = training_dag_id(dag_pods)
    started = time.monotonic()
    proc = subprocess.run(
        [
            airflow_exe(),
            "dags",
            "test",
            dag_id,
            "-c",
            json.dumps({"synthetic_rows": 2000, "seed": 11}),
        ],
        env=docker_platform,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    print(f"\nairflow dags test {dag_id} (docker runner): {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    with sqlite3.connect(Path(docker_platform["AIRFLOW_HOME"]) / "airflow.db") as db:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
            (dag_id,),
        ).fetchone()
        states = dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, run_id),
            ).fetchall()
        )
        ingested = xcom(db, dag_id, run_id, "ingest")
        trained = xcom(db, dag_id, run_id, "train")
        promoted = xcom(db, dag_id, run_id, "promote")
        summary = xcom(db, dag_id, run_id, "summary")
    assert state == "success", proc.stdout[-4000:] + proc.stderr[-4000:]
    assert states["ingest"] == states["train"] == states["promote"] == "success", states
    assert states["quality_gate"] == "success" and states["gate_refused"] == "skipped"
    # The --json results, as dicts, with the exit code the wrapper adds (as the pods' XCom).
    assert ingested["exit_code"] == 0 and ingested["data_version"].startswith("data-v")
    assert trained["exit_code"] == 0 and trained["gate"] == "passed"
    assert trained["data_version"] == ingested["data_version"]
    assert promoted["exit_code"] == 0 and promoted["pushed"] is True
    assert summary["promoted"] is True
    assert str(summary["model_version"]) == str(trained["model_version"])

    from mlops_core.mlflow_utils import client as registry_client

    champion = registry_client(stores.mlflow).get_model_version_by_alias(
        trained["model_name"], "champion"
    )
    assert str(champion.version) == str(trained["model_version"])
    tags = git_log(stores.data_registry.repos / REGISTRY_REPO, "tag", "--list")
    assert ingested["data_version"] in tags.replace("/", " ").split(), tags
    # Every stage wrote its state as uid 10001 into the state volume.
    state_dir = Path(docker_platform["MLOPS_DOCKER_STATE_VOLUME"])
    assert {p.stat().st_uid for p in state_dir.rglob("*")} == {10001}


# ------------------------------------------------------------------ the settings contract


def test_exit_codes_that_are_never_retried_match_the_task_wrapper():
    from mlops_core import taskrun

    assert mlops_tasks().NOT_RETRYABLE == taskrun.NOT_RETRYABLE


def test_each_stage_gets_the_pods_settings_and_only_its_own_credentials(tmp_path):
    tasks = mlops_tasks()
    settings = write_env_file(tmp_path / "s.env", {"MLOPS_DVC_REMOTE": "s3://dvc/registry"})
    secrets = write_env_file(
        tmp_path / "c.env",
        {
            "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b",
            "MLOPS_PREDICTION_LOG_URL": "postgresql+psycopg://u:p@db/predictions",
        },
    )
    host = tasks.DockerHost(env_file=str(settings), secrets_file=str(secrets), models_dir="/m")
    cluster = tasks.ClusterConfig()
    env, credentials = host.environment("train", cluster)
    assert env == {
        "MLOPS_DVC_REMOTE": "s3://dvc/registry",
        "MLOPS_LOG_FORMAT": "json",
        "MLOPS_MODELS_DIR": tasks.MODELS_MOUNT,
    }
    assert credentials == {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    env, credentials = host.environment("monitor", cluster)
    assert env["MLOPS_MONITOR_WORKSPACE"] == "/workspace"
    assert credentials["MLOPS_PREDICTION_LOG_URL"].endswith("/predictions")
    mounts = {m["target"]: m for m in host.mounts("monitor", cluster)}
    assert mounts[tasks.MODELS_MOUNT] == {
        "target": tasks.MODELS_MOUNT,
        "source": "/m",
        "type": "bind",
        "read_only": True,
    }
    assert mounts["/var/lib/mlops"]["source"] == "mlops-state"
    assert mounts["/workspace"]["source"] == "mlops-evidently-workspace"
    assert "/workspace" not in {m["target"] for m in host.mounts("train", cluster)}


def test_broken_settings_are_refused_with_the_reason(tmp_path):
    tasks = mlops_tasks()
    cluster = tasks.ClusterConfig()
    leaked = write_env_file(tmp_path / "s.env", {"AWS_SECRET_ACCESS_KEY": "x"})
    with pytest.raises(ValueError, match="credentials go in MLOPS_DOCKER_SECRETS_FILE"):
        tasks.DockerHost(env_file=str(leaked)).environment("train", cluster)
    with pytest.raises(ValueError, match=r"needs AWS_ACCESS_KEY_ID .*Secret mlops-s3-credentials"):
        tasks.DockerHost().environment("train", cluster)
    bad = tmp_path / "bad.env"
    bad.write_text("# settings\nMLOPS_HOME=/var/lib/mlops\nnot a setting\n")
    with pytest.raises(ValueError, match="line 3: expected NAME=VALUE"):
        tasks.read_env_file(str(bad), "MLOPS_DOCKER_ENV_FILE")
    with pytest.raises(ValueError, match="no such file"):
        tasks.read_env_file(str(tmp_path / "missing.env"), "MLOPS_DOCKER_ENV_FILE")
    with pytest.raises(ValueError, match="not an absolute path"):
        tasks.DockerHost(models_dir="models").mounts("train", cluster)


def test_the_dags_parse_with_the_docker_runner_into_docker_tasks(tmp_path):
    """Every stage task of every DAG becomes the stage's DockerOperator with its image."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_"))},
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "MLOPS_TASK_RUNNER": "docker",
    }
    code = (
        "import json, sys; from pathlib import Path\n"
        "from airflow.dag_processing.dagbag import BundleDagBag\n"
        f"bag = BundleDagBag({str(DAGS)!r}, bundle_path=Path({str(DAGS)!r}))\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(json.dumps({f'{d}.{t.task_id}': [type(t).__name__, t.image, t.entrypoint,"
        " t.command] for d, dag in bag.dags.items() for t in dag.tasks"
        " if hasattr(t, 'image')}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = json.loads(proc.stdout.strip().splitlines()[-1])
    images = mlops_tasks().pod_images()
    stages = {t.rsplit(".", 1)[-1] for t in tasks}
    assert {"ingest", "train", "promote", "monitor", "rollback"} <= stages, sorted(tasks)
    for task, (kind, image, entrypoint, command) in tasks.items():
        stage = task.rsplit(".", 1)[-1]
        assert kind == "StageDockerOperator"
        if stage not in images:  # a stage's command under another task id (rollout DAG)
            assert image in set(images.values()), (task, image)
            assert command[0] == "mlops" and command[-1] == "--json", (task, command)
            continue
        assert image == images[stage]
        assert entrypoint[:5] == [
            "python",
            "-m",
            "mlops_core.taskrun",
            "--xcom-file",
            "/tmp/mlops-xcom/return.json",
        ]
        assert command[:2] == ["mlops", stage] and command[-1] == "--json"
