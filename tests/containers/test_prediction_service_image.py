"""The prediction-service image run as its chart runs it: the migration Job, then the
Deployment's server container, both from the rendered chart (kind values with a promoted
model), serving a real registered model's MLflow folder."""

from __future__ import annotations

import itertools
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from .podrun import Cluster, docker_run_args, published_port

pytestmark = [pytest.mark.containers, pytest.mark.slow]

API_KEY = "container-test-" + "0123456789abcdef"
MODEL_MOUNT = "/models/served"


def pod_spec(objs, kind: str) -> dict:
    (obj,) = [r.obj for r in objs if r.kind == kind]
    return obj["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def model_folder(trained_model, tmp_path_factory) -> str:
    """The registered model's MLflow folder, as `mlflow artifacts download` gives it."""
    import mlflow

    mlflow.set_tracking_uri(trained_model.tracking_uri)
    folder = tmp_path_factory.mktemp("served-model") / "model"
    local = mlflow.artifacts.download_artifacts(trained_model.model_uri, dst_path=str(folder))
    for p in [Path(local), *Path(local).rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)  # readable by uid 10001
    return local


@pytest.fixture(scope="module")
def cluster(rendered) -> Cluster:
    """The ConfigMaps the pipeline-runtime chart renders; the Secrets `make up` would make,
    with a prediction log that the migration Job and the server share."""
    config_maps = {
        r.name: r.obj.get("data", {})
        for r in rendered("pipeline-runtime", "kind")
        if r.kind == "ConfigMap"
    }
    return Cluster(
        config_maps=config_maps,
        secrets={
            "mlops-prediction-log": {"url": "sqlite:////var/lib/mlops/predictions.db"},
            "mlops-s3-credentials": {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
            "prediction-service-api-keys": {"api-keys": API_KEY},
        },
    )


@pytest.fixture(scope="module")
def records(house_price_schema) -> list[dict]:
    """Requests for the session's trained model (house-price's schema)."""
    from mlops_core.synthetic import generate

    schema = house_price_schema
    frame = generate(schema, 200, seed=3)[schema.feature_names]
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def wait_ready(url: str, cid: str, docker: str, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if httpx.get(url + "/v1/health/ready", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        state = subprocess.run(
            [docker, "inspect", "--format", "{{.State.Running}}", cid],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if state != "true":
            break
        time.sleep(0.1)
    logs = subprocess.run([docker, "logs", cid], capture_output=True, text=True)
    pytest.fail(f"not ready in {timeout:.0f} s:\n{logs.stdout[-3000:]}\n{logs.stderr[-5000:]}")


def test_serves_a_registered_model_as_the_chart_runs_it(
    docker, stage_images, rendered, cluster, model_folder, containers, tmp_path, records
):
    objs = rendered("prediction-service", "kind+model")
    image = stage_images["prediction_service"]["ref"]
    volumes = tmp_path / "node"  # one node folder: the Job and the server share the log

    # The PreSync hook first: `mlops serve migrate` creates the prediction log's tables.
    job = pod_spec(objs, "Job")
    assert job["containers"][0]["image"] == image
    migrate = subprocess.run(
        [docker, "run", "--rm", *docker_run_args(job, "migrate", cluster, volumes)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-4000:]

    spec = pod_spec(objs, "Deployment")
    (server,) = spec["containers"]
    assert server["image"] == image
    args = docker_run_args(
        spec,
        "server",
        cluster,
        volumes,
        # The chart pins models:/<name>/<version> in a registry; here the same registered
        # version's folder is mounted instead (the one setting changed on purpose).
        env_overrides={"MLOPS_SERVE_MODEL": MODEL_MOUNT},
        extra_mounts={model_folder: MODEL_MOUNT},
    )
    assert "--read-only" in args and "10001:10001" in args
    started = time.monotonic()
    cid = containers(args)
    port = published_port(docker, cid, server["ports"][0]["containerPort"])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, cid, docker)
    ready_s = time.monotonic() - started
    print(
        f"\nprediction-service image: {stage_images['prediction_service']['size_mb']:.0f} MB, "
        f"container start to ready {ready_s:.1f} s"
    )

    # Every probe the chart declares answers on its path.
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = server[probe]["httpGet"]["path"]
        assert httpx.get(url + path, timeout=5).status_code == 200, (probe, path)

    request_id = f"container-{uuid.uuid4().hex[:8]}"
    headers = {"X-API-Key": API_KEY, "X-Request-ID": request_id}
    assert httpx.post(url + "/v1/predict", json=records[0], timeout=10).status_code == 401
    r = httpx.post(url + "/v1/predict", json=records[0], headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["prediction"], float) and body["model_version"] == "local"

    metrics = httpx.get(url + "/metrics", timeout=5)
    assert metrics.status_code == 200 and "# TYPE" in metrics.text

    # The answered prediction is a row of the log, written by uid 10001 into the volume.
    db = volumes / "state" / "predictions.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    row = None
    deadline = time.monotonic() + 30
    while row is None and time.monotonic() < deadline:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT model_version, prediction FROM predictions WHERE request_id = :i"),
                {"i": request_id},
            ).first()
        time.sleep(0.2)
    engine.dispose()
    assert row is not None, "no prediction-log row for the answered request"
    assert row.prediction == pytest.approx(body["prediction"])
    assert db.stat().st_uid == 10001

    # Read-only root: the container changed nothing but the mount points docker made.
    diff = subprocess.run([docker, "diff", cid], capture_output=True, text=True, check=True)
    mount_points = {v.split(":")[1] for flag, v in itertools.pairwise(args) if flag == "--volume"}
    allowed = {str(p) for m in mount_points for p in [Path(m), *Path(m).parents]}
    changed = {line.split(maxsplit=1)[1] for line in diff.stdout.splitlines()}
    assert changed <= allowed, changed - allowed
