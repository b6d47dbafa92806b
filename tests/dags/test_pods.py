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
    # No models repository, whatever remote this checkout has (a CI clone has an origin).
    mp.setenv("MLOPS_MODELS_REPO", "")
    try:
        bag = load_dagbag("kubernetes", mp)
        assert bag.import_errors == {}
        built = {}
        for dag_id, task_id, _ in STAGE_TASKS:
            task = bag.dags[f"{dag_id}.house-price"].get_task(task_id)
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


# ------------------------------------------------- the model folders, from the DAG's revision

MODELS_REPO = "git://git-server.argocd.svc.cluster.local/mlops-platform.git"


def head_commit() -> str:
    import subprocess

    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def synced_pods(airflow_home) -> dict[str, dict]:
    """The stage pods when the model folders come from git (MLOPS_MODELS_REPO, as the
    airflow application sets it in the cluster)."""
    from kubernetes.client import ApiClient

    from .conftest import load_dagbag

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("MLOPS_MODELS_REPO", MODELS_REPO)
        mp.delenv("MLOPS_MODELS_REVISION", raising=False)
        bag = load_dagbag("kubernetes", mp)
        assert bag.import_errors == {}
        return {
            task_id: ApiClient().sanitize_for_serialization(
                bag.dags[f"{dag_id}.house-price"]
                .get_task(task_id)
                .build_pod_request_obj(None, dry_run=True)
            )
            for dag_id, task_id, _ in STAGE_TASKS
        }
    finally:
        mp.undo()


@pytest.mark.parametrize("task_id", [t for _, t, _ in STAGE_TASKS])
def test_pod_reads_the_model_folders_from_the_dags_revision(synced_pods, task_id):
    """A git-sync init container checks this repository out once, at the commit of the DAG
    files, into an emptyDir that the stage container mounts read-only; MLOPS_MODELS_DIR
    points at its models/ folder."""
    import kubernetes_validate

    pod = synced_pods[task_id]
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    spec = pod["spec"]
    (init,) = spec["initContainers"]
    assert init["name"] == "git-sync"
    _, data = declared_images()
    assert init["image"] == data["upstream"]["gitSync"]  # one list of images
    assert not init["image"].endswith(":latest")
    args = init["args"]
    assert f"--repo={MODELS_REPO}" in args and "--one-time" in args
    assert f"--ref={head_commit()}" in args  # the revision the DAG files were parsed at
    root = next(a.split("=", 1)[1] for a in args if a.startswith("--root="))
    link = next(a.split("=", 1)[1] for a in args if a.startswith("--link="))
    volumes = {v["name"]: v for v in spec["volumes"]}
    init_mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    assert "emptyDir" in volumes[init_mounts[root]["name"]]
    assert not init_mounts[root].get("readOnly")
    container = base(pod)
    stage_mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert stage_mounts[root]["name"] == init_mounts[root]["name"]
    assert stage_mounts[root]["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_MODELS_DIR"] == f"{root}/{link}/models"
    security = init["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    assert set(init["resources"]["limits"]) == {"cpu", "memory"}


def test_without_a_models_repository_the_pod_has_no_init_container(pods):
    assert all(not pod["spec"].get("initContainers") for pod in pods.values())
    assert all(
        "MLOPS_MODELS_DIR" not in {e["name"] for e in base(pod)["env"]} for pod in pods.values()
    )


def test_the_revision_comes_from_git_syncs_worktree_or_the_setting(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(REPO / "dags"))
    try:
        import mlops_tasks
    finally:
        sys.path.remove(str(REPO / "dags"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    worktree = tmp_path / "dags" / ".worktrees" / commit
    (worktree / "dags").mkdir(parents=True)
    (tmp_path / "dags" / "repo").symlink_to(worktree)  # git-sync's link to its worktree
    assert mlops_tasks.checkout_revision(tmp_path / "dags" / "repo") == commit
    monkeypatch.setenv("MLOPS_MODELS_REPO", MODELS_REPO)
    monkeypatch.delenv("MLOPS_MODELS_REVISION", raising=False)
    found = mlops_tasks.ModelsSource.from_environment(tmp_path / "dags" / "repo")
    assert found == mlops_tasks.ModelsSource(MODELS_REPO, commit)
    monkeypatch.setenv("MLOPS_MODELS_REVISION", "v1.2.0")
    assert mlops_tasks.ModelsSource.from_environment(worktree).revision == "v1.2.0"
    monkeypatch.delenv("MLOPS_MODELS_REVISION")
    plain = tmp_path / "not-a-checkout"
    plain.mkdir()
    with pytest.raises(ValueError, match="revision of the DAG files is unknown"):
        mlops_tasks.ModelsSource.from_environment(plain)


def test_the_repository_is_the_checkouts_origin_unless_set_empty(tmp_path, monkeypatch):
    import subprocess
    import sys

    sys.path.insert(0, str(REPO / "dags"))
    try:
        import mlops_tasks
    finally:
        sys.path.remove(str(REPO / "dags"))
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "dags"], check=True)
    subprocess.run([*git, "remote", "add", "origin", MODELS_REPO], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    monkeypatch.delenv("MLOPS_MODELS_REPO", raising=False)
    monkeypatch.delenv("MLOPS_MODELS_REVISION", raising=False)
    found = mlops_tasks.ModelsSource.from_environment(tmp_path)
    assert found == mlops_tasks.ModelsSource(MODELS_REPO, head.strip())
    monkeypatch.setenv("MLOPS_MODELS_REPO", "")  # set empty: the image's own model folders
    assert mlops_tasks.ModelsSource.from_environment(tmp_path) is None
