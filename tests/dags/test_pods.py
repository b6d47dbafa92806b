"""The pod each KubernetesPodOperator task would create, built by the provider's own
`build_pod_request_obj`: valid against the Kubernetes schema (kubernetes-validate, pinned
version, strict), credentials only through Secret references, the pipeline's service account,
resources, the XCom sidecar, and an image named in gitops/images.yaml."""

from __future__ import annotations

import re

import pytest

from .conftest import REPO

KUBERNETES_VERSION = "1.33.0"  # the version the charts are validated against
STAGE_TASKS = [
    ("mlops_training_pipeline", "ingest", "mlops-data-ingestion"),
    ("mlops_training_pipeline", "train", "mlops-model-training"),
    ("mlops_training_pipeline", "promote", "mlops-deployment-prep"),
    ("mlops_monitoring", "monitor", "mlops-model-monitoring"),
    ("mlops_rollback", "rollback", "mlops-deployment-prep"),
]
CREDENTIAL = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL|PREDICTION_LOG_URL", re.I)


@pytest.fixture(scope="module")
def pods(airflow_home) -> dict[str, dict]:
    """{task id: the pod as the API server would receive it (a plain dict)}."""
    import os

    from kubernetes.client import ApiClient

    from .conftest import load_dagbag

    mp = pytest.MonkeyPatch()
    try:
        bag = load_dagbag("kubernetes", mp)
        assert bag.import_errors == {}
        built = {}
        for dag_id, task_id, _ in STAGE_TASKS:
            task = bag.dags[dag_id].get_task(task_id)
            pod = task.build_pod_request_obj(context=None, dry_run=True)
            built[task_id] = ApiClient().sanitize_for_serialization(pod)
        assert os.environ["MLOPS_TASK_RUNNER"] == "kubernetes"
    finally:
        mp.undo()
    return built


def base(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_pod_validates_against_the_kubernetes_schema(pods, task_id):
    import kubernetes_validate

    kubernetes_validate.validate(pods[task_id], KUBERNETES_VERSION, strict=True)


def test_a_broken_pod_does_not_validate(pods):
    """The validation above can fail: a misspelt field is rejected in strict mode."""
    import kubernetes_validate

    broken = {**pods["train"], "spec": {**pods["train"]["spec"], "serviceAcountName": "x"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


SECRET_ENV = {
    "AWS_ACCESS_KEY_ID": "mlops-s3-credentials",
    "AWS_SECRET_ACCESS_KEY": "mlops-s3-credentials",
}
STAGE_SECRET_ENV = {
    "monitor": {"MLOPS_PREDICTION_LOG_URL": "mlops-prediction-log"},
    "promote": {"MLOPS_PROMOTE_GITHUB_TOKEN": "mlops-gitops-credentials"},
    "rollback": {"MLOPS_PROMOTE_GITHUB_TOKEN": "mlops-gitops-credentials"},
}


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_credentials_come_only_from_secret_references(pods, task_id):
    container = base(pods[task_id])
    env = {e["name"]: e for e in container.get("env", [])}
    expected = {**SECRET_ENV, **STAGE_SECRET_ENV.get(task_id, {})}
    from_secrets = {
        name: e["valueFrom"]["secretKeyRef"]["name"]
        for name, e in env.items()
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert from_secrets == expected  # and nothing more: least privilege per stage
    for name, item in env.items():
        if CREDENTIAL.search(name):
            assert "value" not in item, f"{name} has a plain value"
    assert container["envFrom"] == [{"configMapRef": {"name": "mlops-pipeline-config"}}]
    assert not any(CREDENTIAL.search(a) for a in container["args"] + container["command"])


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_pod_mounts_the_platform_state_and_stage_configs(pods, task_id):
    spec = pods[task_id]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in base(pods[task_id])["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/var/lib/mlops"]]["persistentVolumeClaim"] == {
        "claimName": "mlops-state"
    }
    assert volumes[mounts["/etc/mlops/config"]]["configMap"] == {"name": "mlops-stage-configs"}
    if task_id == "monitor":
        workspace = volumes[mounts["/workspace"]]["persistentVolumeClaim"]
        assert workspace == {"claimName": "mlops-evidently-workspace"}
        env = {e["name"]: e.get("value") for e in base(pods[task_id])["env"]}
        assert env["MLOPS_MONITOR_WORKSPACE"] == "/workspace"
    else:
        assert "/workspace" not in mounts


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_pod_runs_the_stage_command_with_its_result_as_xcom(pods, task_id):
    pod = pods[task_id]
    container = base(pod)
    assert container["name"] == "base"
    assert container["command"][:3] == ["python", "-m", "mlops_core.taskrun"]
    assert container["command"][3:5] == ["--xcom-file", "/airflow/xcom/return.json"]
    assert container["command"][-1] == "--"
    assert container["args"][:2] == ["mlops", task_id]
    assert container["args"][-1] == "--json"
    # the provider's XCom sidecar reads the file the command writes
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert "airflow-xcom-sidecar" in names
    assert {"name": "xcom", "mountPath": "/airflow/xcom"} in container["volumeMounts"]


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_pod_security_resources_and_service_account(pods, task_id):
    pod = pods[task_id]
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "mlops-pipeline"
    assert spec["automountServiceAccountToken"] is False
    assert pod["metadata"]["namespace"] == "mlops"
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
    resources = base(pod)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}
    labels = pod["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "mlops-platform"


def declared_images() -> tuple[set[str], dict]:
    import sys

    sys.path.insert(0, str(REPO / "dags"))
    try:
        import mlops_tasks
    finally:
        sys.path.remove(str(REPO / "dags"))
    data = mlops_tasks.read_images_file(REPO / "gitops" / "images.yaml")
    return mlops_tasks.image_names(data), data


@pytest.mark.parametrize(("task_id", "image_name"), [(t, i) for _, t, i in STAGE_TASKS])
def test_pod_image_is_one_the_images_list_names(pods, task_id, image_name):
    image = base(pods[task_id])["image"]
    repository, _, tag = image.rpartition(":")
    assert repository.rsplit("/", 1)[-1] == image_name
    assert tag and tag != "latest"
    names, data = declared_images()
    assert data, "gitops/images.yaml, the list of record of the images, is missing or empty"
    assert image_name in names, f"{image_name} not in gitops/images.yaml: {sorted(names)}"
    if data.get("registry"):
        assert image.startswith(f"{data['registry'].rstrip('/')}/")
    if data.get("tag"):
        assert tag == str(data["tag"])


def test_pod_images_helper_agrees_with_the_built_pods(pods):
    import sys

    sys.path.insert(0, str(REPO / "dags"))
    try:
        import mlops_tasks
    finally:
        sys.path.remove(str(REPO / "dags"))
    assert mlops_tasks.pod_images() == {t: base(pods[t])["image"] for _, t, _ in STAGE_TASKS}
