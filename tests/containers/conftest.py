"""Fixtures of the container tests: a docker engine, the stage images built once per session
through the one build path (scripts/build-images.sh, as `make images` and `make up`), and the
charts rendered by tests/k8s's helpers.

Without an engine these tests fail under CI=true (.ci/run starts one with
scripts/docker-engine.sh) and skip with the reason elsewhere. PYTHON_IMAGE names the base
image (a registry-free one from scripts/build-base-image.sh, e.g. in .ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "k8s"))

from k8s_support import render  # noqa: E402

from .podrun import Cluster  # noqa: E402
from .stores import (  # noqa: E402
    GITOPS_REPO,
    REGISTRY_REPO,
    S3_CREDENTIALS,
    GitServer,
    make_buckets,
    start_data_registry,
    start_mlflow,
)


def _docker_client() -> str | None:
    # Debian's docker.io (20.10) has BuildKit built in; a newer client first on PATH may not.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def docker() -> str:
    """The docker client of a reachable engine."""
    client = _docker_client()
    reason = "no docker client (apt-get install docker.io; scripts/docker-engine.sh start)"
    if client:
        proc = subprocess.run([client, "info"], capture_output=True, text=True, timeout=60)
        reason = (
            "" if proc.returncode == 0 else f"docker engine not reachable: {proc.stderr[-300:]}"
        )
    if reason:
        if os.environ.get("CI", "").lower() in {"1", "true"}:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return client


@pytest.fixture(scope="session")
def stage_images(docker: str) -> dict[str, dict]:
    """Build every image of gitops/images.yaml once; stage -> {ref, size_mb}.

    MLOPS_TEST_PREBUILT=1 uses the images `make images` built instead (a quicker rerun)."""
    env = {**os.environ, "DOCKER": docker}
    start = time.monotonic()
    if os.environ.get("MLOPS_TEST_PREBUILT") != "1":
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-images.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    refs = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-images.sh"), "--refs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    images = {}
    for stage, ref in zip(refs[::2], refs[1::2], strict=True):
        size = subprocess.run(
            [docker, "image", "inspect", "--format", "{{.Size}}", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        images[stage] = {"ref": ref, "size_mb": int(size) / 1e6}
    print(f"\nstage images built in {time.monotonic() - start:.0f} s: {images}")
    return images


@pytest.fixture(scope="session")
def rendered():
    """render(chart, values label) from tests/k8s: the chart objects as Argo CD applies them."""
    return render


@pytest.fixture
def containers(docker: str):
    """Start containers (`docker run -d ARGS`) and remove every one at the end of the test."""
    started: list[str] = []

    def run(args: list[str]) -> str:
        proc = subprocess.run(
            [docker, "run", "--detach", *args], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        started.append(proc.stdout.strip())
        return started[-1]

    yield run
    for cid in started:
        subprocess.run([docker, "rm", "--force", cid], capture_output=True, timeout=60)


def render_with(chart: str, env: str, overlay: dict):
    """The chart rendered as Argo CD renders it for `env` (gitops/images.yaml, then the
    environment's values file), with `overlay` as one more values file on top: what an
    environment of this machine's own would set (its service endpoints)."""
    import helm_python
    from k8s_support import (
        CHART_NAMESPACE,
        CHARTS,
        Rendered,
        deep_merge,
        env_value_files,
        load_all,
        load_yaml,
    )

    values: dict = {}
    for path in env_value_files(chart, env):
        values = deep_merge(values, load_yaml(path))
    values = deep_merge(values, overlay)
    out = helm_python.Chart.load(str(CHARTS / chart)).render(
        values, name=chart, namespace=CHART_NAMESPACE[chart], is_install=True
    )
    return tuple(
        Rendered(f"{template} [{env}+overlay]", doc)
        for template, text in sorted(out.items())
        if template.endswith((".yaml", ".yml"))
        for doc in load_all(text)
    )


@dataclass
class Stores:
    """The platform's stores on this machine (tests/containers/stores.py) and the cluster
    objects a stage pod reads: the pipeline-runtime chart's ConfigMaps rendered with these
    endpoints, and the Secrets `make up` would create."""

    mlflow: str
    s3: str
    data_registry: GitServer
    postgres: str  # the prediction log's database (monitoring), SQLAlchemy URL
    stage_env: dict[str, str]  # the environment's stageEnv overlay
    cluster: Cluster
    claims: Path  # host folders of the PersistentVolumeClaims, shared by every stage pod
    objects: tuple  # the pipeline-runtime chart as rendered with those endpoints

    @property
    def gitops_repo(self) -> Path:
        return self.data_registry.repos / GITOPS_REPO


@pytest.fixture(scope="module")
def stores(docker, stage_images, moto_endpoint, postgres_url, tmp_path_factory) -> Stores:
    """PostgreSQL, moto's S3 server, an MLflow server wired as in the cluster, and the
    chart's data registry git server, for one test module: each module's platform starts
    empty (its own MLflow database, registry and buckets), so one module's champion never
    meets another's challenger."""
    import uuid

    import sqlalchemy as sa

    root = tmp_path_factory.mktemp("stores")
    run = uuid.uuid4().hex[:6]
    root.chmod(0o755)
    # The buckets are shared with the session's other modules, as content-addressed DVC
    # objects and MLflow's run-unique artifact paths allow.
    make_buckets(moto_endpoint)
    base = sa.engine.make_url(postgres_url)
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in ("mlflow_backend", "predictions"):
            conn.execute(sa.text(f'CREATE DATABASE "{base.database}_{run}_{name}"'))
    engine.dispose()

    def database(name: str) -> str:
        url = base.set(database=f"{base.database}_{run}_{name}")
        return url.render_as_string(hide_password=False)

    mlflow = start_mlflow(database("mlflow_backend"), moto_endpoint, root)
    secrets = {
        "mlops-s3-credentials": dict(S3_CREDENTIALS),
        "mlops-prediction-log": {"url": database("predictions")},
    }
    # The data registry is served before the stage settings exist: its pod reads none.
    bare = Cluster(config_maps={}, secrets=secrets)
    (statefulset,) = [
        r.obj
        for r in render_with("pipeline-runtime", "kind", {})
        if r.kind == "StatefulSet" and r.name == "data-registry"
    ]
    registry = start_data_registry(docker, statefulset, bare, root, ROOT / "gitops")
    stage_env = {
        "MLOPS_MLFLOW_TRACKING_URI": mlflow.url,
        "MLFLOW_TRACKING_URI": mlflow.url,
        "MLOPS_S3_ENDPOINT_URL": moto_endpoint,
        "MLFLOW_S3_ENDPOINT_URL": moto_endpoint,
        "MLOPS_DATA_REGISTRY": registry.url(REGISTRY_REPO),
        # Promotion from inside the platform pushes to a GitOps remote (docs: "What a stage
        # pod needs"); the embedded prediction service it would reload does not exist.
        "MLOPS_PROMOTE_GITOPS_REPO": registry.url(GITOPS_REPO),
        "MLOPS_PROMOTE_RELOAD": "false",
        # The deployable check's latency budget is deployment_prep's own test; a busy
        # 2-core machine running containers beside it measured p99s far above 200 ms.
        "MLOPS_PROMOTE_LATENCY_BUDGET_MS": "5000",
        # No Pushgateway on this machine: the chart's in-cluster one would only cost each
        # monitoring run its push retries (empty: no push).
        "MLOPS_MONITOR_PUSHGATEWAY_URL": "",
    }
    objects = render_with("pipeline-runtime", "kind", {"stageEnv": stage_env})
    cluster = Cluster(
        config_maps={r.name: r.obj.get("data", {}) for r in objects if r.kind == "ConfigMap"},
        secrets=secrets,
    )
    try:
        yield Stores(
            mlflow=mlflow.url,
            s3=moto_endpoint,
            data_registry=registry,
            postgres=database("predictions"),
            stage_env=stage_env,
            cluster=cluster,
            claims=root / "claims",
            objects=objects,
        )
    finally:
        registry.stop()
        mlflow.stop()
        engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in ("mlflow_backend", "predictions"):
                conn.execute(
                    sa.text(f'DROP DATABASE IF EXISTS "{base.database}_{run}_{name}" WITH (FORCE)')
                )
        engine.dispose()


TRAINING_DAG_IDS = ("mlops_training_pipeline", "mlops_training_pipeline.house-price")


@pytest.fixture(scope="session")
def dag_pods(tmp_path_factory) -> dict[str, dict]:
    """{dag_id: {"params": ..., "pods": {task_id: pod}}}: the pods the DAGs' stage tasks
    create with the kubernetes runner (tests/containers/dag_pods.py, in its own process)."""
    folder = tmp_path_factory.mktemp("dag-pods")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_"))},
        "AIRFLOW_HOME": str(folder / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # The model folders come from git, as in the cluster: the pods get the git-sync
        # init container (this repository, at its HEAD commit).
        "MLOPS_MODELS_REPO": str(ROOT),
    }
    out = folder / "pods.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("dag_pods.py")),
            str(ROOT / "dags"),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import json

    return json.loads(out.read_text())


def training_dag_id(dag_ids) -> str:
    """The training DAG of model house-price, whichever way dags/ names it (one DAG, or one
    generated per model folder)."""
    found = [d for d in TRAINING_DAG_IDS if d in dag_ids]
    assert found, f"no training DAG for house-price among {sorted(dag_ids)}"
    return found[-1]
