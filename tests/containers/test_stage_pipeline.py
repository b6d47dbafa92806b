"""The stage images run their stage commands against real services, exactly as the cluster
wires them: ingest -> train -> promote, each container being the pod the training DAG's
KubernetesPodOperator task creates (built by the provider, turned into `docker run` by
podrun), with the pipeline-runtime chart's ConfigMap and the Secrets as its environment,
the state claim shared by the three pods, and the `--json` result read where the XCom
sidecar reads it. The services: PostgreSQL (MLflow's backend store), moto's S3 server (the
data registry's DVC remote and MLflow's artifacts), an MLflow server with proxied
artifacts, and the data registry's git daemon from the pipeline-runtime chart."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import jinja2
import pytest

from .conftest import ROOT, training_dag_id
from .podrun import docker_run_args
from .stores import REGISTRY_REPO, git_log

pytestmark = [pytest.mark.containers, pytest.mark.slow]

ROWS = 2000
SEED = 5
TIMINGS: dict[str, float] = {}


class _TaskInstance:
    """What the DAG's templates read from `ti`: earlier tasks' XComs."""

    def __init__(self, xcoms: dict[str, dict]):
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str):
        return self.xcoms[task_ids]


def rendered_pod(pod: dict, params: dict, xcoms: dict[str, dict]) -> dict:
    """The pod spec with its templated arguments rendered as Airflow renders them."""
    spec = json.loads(json.dumps(pod["spec"]))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for container in spec["containers"]:
        container["args"] = [
            env.from_string(a).render(params=params, ti=_TaskInstance(xcoms))
            for a in container.get("args", [])
        ]
    return spec


def git_sync_checkout(spec: dict, folder: Path) -> Path:
    """What the pod's git-sync init container leaves in its emptyDir: the repository at the
    init container's --ref under --root, linked as --link (git-sync's layout), made here
    with git from the same --repo (the git-sync image is not on this machine)."""
    (init,) = spec["initContainers"]
    args = dict(a.lstrip("-").split("=", 1) for a in init["args"] if "=" in a)
    assert "--one-time" in init["args"]
    worktree = folder / ".worktrees" / args["ref"]
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", args["repo"], str(worktree)], check=True
    )
    subprocess.run(["git", "-C", str(worktree), "checkout", "--quiet", args["ref"]], check=True)
    (folder / args["link"]).symlink_to(worktree.relative_to(folder))
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    return folder


def run_pod(docker: str, spec: dict, stores, folder: Path) -> tuple[int, dict | None, str]:
    """Run the pod's stage container to its end; (exit code, the XCom file's JSON, logs)."""
    folder.mkdir(parents=True)
    models = git_sync_checkout(spec, folder / "git-sync")
    args = docker_run_args(
        spec,
        "base",
        stores.cluster,
        folder,
        network="host",
        claim_root=stores.claims,
        volume_folders={"models": models},
    )
    started = time.monotonic()
    proc = subprocess.run(
        [docker, "run", "--rm", *args], capture_output=True, text=True, timeout=1200
    )
    TIMINGS[folder.name] = time.monotonic() - started
    xcom = folder / "xcom" / "return.json"
    result = json.loads(xcom.read_text()) if xcom.exists() else None
    return proc.returncode, result, proc.stdout[-4000:] + proc.stderr[-8000:]


@pytest.fixture(scope="module")
def pipeline(docker, stores, dag_pods, tmp_path_factory) -> dict[str, dict]:
    """ingest, train and promote of the training DAG, one pod after the other."""
    dag_id = training_dag_id(dag_pods)
    pods = dag_pods[dag_id]["pods"]
    params = {**dag_pods[dag_id]["params"], "synthetic_rows": ROWS, "seed": SEED}
    root = tmp_path_factory.mktemp("stage-pods")
    root.chmod(0o755)
    xcoms: dict[str, dict] = {}
    for task_id in ("ingest", "train", "promote"):
        spec = rendered_pod(pods[task_id], params, xcoms)
        code, result, logs = run_pod(docker, spec, stores, root / task_id)
        assert code == 0 and result is not None, f"{task_id}: exit {code}\n{logs}"
        xcoms[task_id] = result
        print(f"\n{task_id} pod: {TIMINGS[task_id]:.1f} s from container start to exit")
    return xcoms


def test_ingest_pod_writes_a_data_version_to_the_registry_and_s3(pipeline, stores):
    import boto3

    result = pipeline["ingest"]
    assert result["exit_code"] == 0 and result["data_version"] == "data-v1"
    tags = git_log(stores.data_registry.repos / REGISTRY_REPO, "tag", "--list")
    assert "data-v1" in tags.replace("/", " ").split(), tags
    s3 = boto3.client(
        "s3",
        endpoint_url=stores.s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="dvc").get("Contents", [])]
    assert any(k.startswith("registry/") for k in keys), keys  # MLOPS_DVC_REMOTE s3://dvc/registry


def test_train_pod_registers_a_challenger_with_artifacts_in_s3(pipeline, stores):
    import boto3

    from mlops_core.mlflow_utils import client as registry_client

    result = pipeline["train"]
    assert result["exit_code"] == 0 and result["gate"] == "passed", result
    client = registry_client(stores.mlflow)
    version = client.get_model_version_by_alias(result["model_name"], "challenger")
    assert str(version.version) == str(result["model_version"])
    assert version.tags.get("data_version") == "data-v1"
    s3 = boto3.client(
        "s3",
        endpoint_url=stores.s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow").get("Contents", [])]
    assert any(k.startswith("artifacts/") and k.endswith("MLmodel") for k in keys), keys


def test_promote_pod_sets_the_champion_and_pushes_a_gitops_commit(pipeline, stores):
    from mlops_core.mlflow_utils import client as registry_client

    trained, promoted = pipeline["train"], pipeline["promote"]
    assert promoted["exit_code"] == 0 and promoted["pushed"] is True, promoted
    client = registry_client(stores.mlflow)
    champion = client.get_model_version_by_alias(trained["model_name"], "champion")
    assert str(champion.version) == str(trained["model_version"])
    log = git_log(stores.gitops_repo, "log", "--format=%an %s", "--name-only", "main")
    assert log.splitlines()[0].startswith("mlops-promote"), log
    changed = git_log(stores.gitops_repo, "show", "main:" + promoted["values_files"][0])
    assert f'version: "{trained["model_version"]}"' in changed, changed


def test_the_state_claim_is_written_by_the_pods_user_only(pipeline, stores):
    """MLOPS_HOME is the mlops-state claim of every stage pod: what the pods wrote there
    belongs to uid 10001 (the pods' securityContext), nothing to root."""
    state = stores.claims / "mlops-state"
    owners = {p.stat().st_uid for p in state.rglob("*")}
    assert owners == {10001}, owners


def test_stage_pods_read_the_model_folders_of_the_dags_revision(docker, stores, dag_pods, tmp_path):
    """The stage container sees the git-sync checkout, read-only, around MLOPS_MODELS_DIR:
    this repository at the commit the DAG files were parsed at."""
    pod = dag_pods[training_dag_id(dag_pods)]["pods"]["train"]
    spec = rendered_pod(pod, {}, {"ingest": {"data_version": "data-v1"}})
    (container,) = [c for c in spec["containers"] if c["name"] == "base"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_MODELS_DIR"].endswith("/checkout/models")
    models = git_sync_checkout(spec, tmp_path / "git-sync")
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert f"--ref={head}" in spec["initContainers"][0]["args"]
    script = (
        'cd "$MLOPS_MODELS_DIR/.." && git rev-parse HEAD 2>/dev/null; ls; '
        "touch written 2>/dev/null && echo WRITABLE || echo READ-ONLY"
    )
    probe = {**container, "command": ["sh"], "args": ["-c", script]}
    args = docker_run_args(
        {**spec, "containers": [probe]},
        "base",
        stores.cluster,
        tmp_path / "volumes",
        network="none",
        claim_root=tmp_path / "claims",
        volume_folders={"models": models},
    )
    proc = subprocess.run(
        [docker, "run", "--rm", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    listing = proc.stdout.split()
    assert "dags" in listing and "gitops" in listing, proc.stdout
    assert listing[-1] == "READ-ONLY"
