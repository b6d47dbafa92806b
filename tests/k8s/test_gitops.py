"""The GitOps tree: each environment's kustomize build, the Argo CD applications (the fields
Argo CD requires, pinned upstream charts, sync waves), the promoted-model values files, and
the pinned bootstrap (Argo CD, kind)."""

from __future__ import annotations

import re

import pytest
from k8s_support import (
    ENVS,
    GITOPS,
    ROOT,
    applications,
    kustomize_build,
    load_all,
    load_yaml,
)

SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")
IN_CLUSTER_REPO = "git://git-server.argocd.svc.cluster.local/mlops-platform.git"


def root_app(env: str) -> dict:
    return load_yaml(GITOPS / "envs" / env / "root-app.yaml")


def sources(app: dict) -> list[dict]:
    spec = app["spec"]
    return spec.get("sources") or [spec["source"]]


def wave(app: dict) -> int:
    return int(app["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


@pytest.mark.parametrize("env", ENVS)
def test_environment_builds_with_kustomize(env):
    objs = kustomize_build(env)
    names = {r.name for r in objs if r.kind == "Application"}
    assert {
        "platform-stores",
        "mlflow",
        "airflow",
        "pipeline-runtime",
        "prediction-service",
        "monitoring-ui",
        "platform-namespaces",
    } <= names
    assert ("host-access" in names) == (env == "kind")
    assert [r.name for r in objs if r.kind == "AppProject"] == ["mlops-platform"]


@pytest.mark.parametrize("env", ENVS)
def test_applications_have_the_fields_argo_cd_requires(env):
    project = next(r.obj for r in kustomize_build(env) if r.kind == "AppProject")
    allowed = {d["namespace"] for d in project["spec"]["destinations"]}
    errors = []
    for app in [*applications(env), root_app(env)]:
        name = app.get("metadata", {}).get("name", "?")
        if app.get("apiVersion") != "argoproj.io/v1alpha1":
            errors.append(f"{name}: apiVersion")
        if app["metadata"].get("namespace") != "argocd":
            errors.append(f"{name}: must live in namespace argocd")
        spec = app.get("spec", {})
        if not spec.get("project"):
            errors.append(f"{name}: spec.project")
        dest = spec.get("destination", {})
        if not (dest.get("server") or dest.get("name")):
            errors.append(f"{name}: spec.destination.server or name")
        ns = dest.get("namespace")
        if not ns:
            errors.append(f"{name}: spec.destination.namespace (the project must permit it)")
        if spec.get("project") == "mlops-platform" and ns not in allowed:
            errors.append(f"{name}: destination {dest['namespace']} not allowed by the project")
        for src in sources(app):
            if not src.get("repoURL") or not src.get("targetRevision"):
                errors.append(f"{name}: source.repoURL and targetRevision")
            if not (src.get("path") or src.get("chart")):
                errors.append(f"{name}: source.path or source.chart")
        if not spec.get("syncPolicy", {}).get("automated"):
            errors.append(f"{name}: not automated")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("env", ENVS)
def test_upstream_charts_are_pinned_versions(env):
    charts = [s for app in applications(env) for s in sources(app) if s.get("chart")]
    assert {s["chart"] for s in charts} == {"airflow", "mlflow"}
    for src in charts:
        assert SEMVER.match(str(src["targetRevision"])), src
        assert src["repoURL"].startswith("https://")


def test_every_environment_pins_the_chart_versions_the_docs_name():
    """The versions were checked against the upstream releases (docs/platform-engineering.md,
    "Versions"): every environment installs those, and the docs name what is installed."""
    docs = (ROOT / "docs" / "platform-engineering.md").read_text()
    pinned: dict[str, set[str]] = {}
    for env in ENVS:
        for app in applications(env):
            for src in sources(app):
                if src.get("chart"):
                    pinned.setdefault(src["chart"], set()).add(str(src["targetRevision"]))
    for chart, versions in pinned.items():
        assert len(versions) == 1, f"{chart}: environments disagree: {sorted(versions)}"
        (version,) = versions
        assert re.search(rf"\b{chart}\b[^\n]*\b{re.escape(version)}\b", docs, re.I), (
            f"docs/platform-engineering.md does not name {chart} {version}"
        )


@pytest.mark.parametrize("env", ENVS)
def test_sync_waves_put_stores_before_their_consumers(env):
    apps = {a["metadata"]["name"]: a for a in applications(env)}
    assert wave(apps["platform-namespaces"]) < wave(apps["platform-stores"])
    for consumer in ("mlflow", "airflow", "pipeline-runtime"):
        assert wave(apps["platform-stores"]) < wave(apps[consumer]), consumer
    for app in ("prediction-service", "monitoring-ui"):
        assert wave(apps["mlflow"]) < wave(apps[app]) and wave(apps["pipeline-runtime"]) < wave(
            apps[app]
        )


@pytest.mark.parametrize("env", ENVS)
def test_value_files_and_paths_exist_for_this_environment(env):
    for app in applications(env):
        for src in sources(app):
            if src.get("path"):
                assert (ROOT / src["path"]).is_dir(), (app["metadata"]["name"], src["path"])
                for vf in src.get("helm", {}).get("valueFiles", []):
                    target = (ROOT / src["path"] / vf).resolve()
                    assert target.is_file(), (app["metadata"]["name"], vf)
                    assert ROOT in target.parents, f"{vf} leaves the repository"
                    if "/envs/" in vf:
                        assert f"/envs/{env}/" in vf, f"{app['metadata']['name']} reads {vf}"
    assert (ROOT / root_app(env)["spec"]["source"]["path"]).is_dir()


def test_prediction_service_reads_the_images_list_and_the_promoted_model():
    app = next(a for a in applications("kind") if a["metadata"]["name"] == "prediction-service")
    files = app["spec"]["source"]["helm"]["valueFiles"]
    assert files[0] == "../../gitops/images.yaml"
    assert files[-1] == "../../gitops/envs/kind/model-values.yaml", "the promoted model wins"


@pytest.mark.parametrize("env", ENVS)
def test_model_values_follow_the_contract(env):
    path = GITOPS / "envs" / env / "model-values.yaml"
    text = path.read_text()
    assert text.startswith("# Written by `mlops promote` / `mlops rollback` only.")
    model = load_yaml(path)["model"]
    assert set(model) == {"name", "version", "dataVersion"}
    assert isinstance(model["version"], str) and re.fullmatch(r"\d*", model["version"])


@pytest.mark.parametrize("env", ENVS)
def test_root_app_points_every_repo_application_at_one_repository(env):
    root = root_app(env)
    url = root["spec"]["source"]["repoURL"]
    patches = root["spec"]["source"]["kustomize"]["patches"]
    values = [op["value"] for p in patches for op in load_all(p["patch"])[0]]
    assert url in values
    if env == "kind":
        assert url == IN_CLUSTER_REPO
    labelled = [
        a for a in applications(env) if a["metadata"].get("labels", {}).get("mlops.platform/source")
    ]
    assert all(a["spec"]["source"]["repoURL"] == IN_CLUSTER_REPO for a in labelled)
    airflow = next(a for a in applications(env) if a["metadata"]["name"] == "airflow")
    git_sync = airflow["spec"]["source"]["helm"]["valuesObject"]["dags"]["gitSync"]
    assert git_sync["enabled"] and git_sync["subPath"] == "dags"


def test_airflow_uses_the_kubernetes_executor_and_pre_created_secrets():
    airflow = next(a for a in applications("kind") if a["metadata"]["name"] == "airflow")
    values = airflow["spec"]["source"]["helm"]["valuesObject"]
    assert values["executor"] == "KubernetesExecutor"
    assert values["postgresql"]["enabled"] is False
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert values[key]
    assert values["data"]["metadataSecretName"]
    assert "defaultUser" not in values.get("createUserJob", {}), "no password in git"
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["MLOPS_TASK_RUNNER"] == "kubernetes"
    assert env["MLOPS_IMAGES_FILE"].endswith("/gitops/images.yaml")
    runtime = load_yaml(ROOT / "charts" / "pipeline-runtime" / "values.yaml")
    assert env["MLOPS_K8S_NAMESPACE"] == "mlops"
    assert env["MLOPS_K8S_SERVICE_ACCOUNT"] == runtime["stageServiceAccount"]
    assert env["MLOPS_K8S_CONFIGMAP"] == "mlops-pipeline-config"


def test_mlflow_uses_postgres_and_the_object_store():
    mlflow = next(a for a in applications("kind") if a["metadata"]["name"] == "mlflow")
    values = mlflow["spec"]["source"]["helm"]["valuesObject"]
    assert values["backendStore"]["postgres"]["enabled"]
    assert values["backendStore"]["existingDatabaseSecret"]["name"]
    assert values["artifactRoot"]["s3"]["enabled"]
    assert "MLFLOW_S3_ENDPOINT_URL" in values["extraEnvVars"]


def test_bootstrap_versions_are_pinned():
    env = dict(
        line.split("=", 1)
        for line in (GITOPS / "bootstrap" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert SEMVER.match(env["ARGOCD_VERSION"])
    assert env["ARGOCD_INSTALL_URL"] == (
        f"https://raw.githubusercontent.com/argoproj/argo-cd/{env['ARGOCD_VERSION']}"
        "/manifests/install.yaml"
    )
    assert SEMVER.match(env["KIND_VERSION"])


def test_kind_cluster_is_pinned_and_maps_every_node_port():
    config = load_yaml(GITOPS / "kind" / "cluster.yaml")
    node = config["nodes"][0]
    assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", node["image"])
    assert node["extraMounts"][0]["hostPath"] == "__GIT_MIRROR_DIR__"
    assert node["extraMounts"][0]["readOnly"] is True
    mapped = {m["containerPort"] for m in node["extraPortMappings"]}
    assert all(m["listenAddress"] == "127.0.0.1" for m in node["extraPortMappings"])
    node_ports = set()
    for doc in load_all((GITOPS / "envs" / "kind" / "host-access" / "services.yaml").read_text()):
        node_ports |= {p["nodePort"] for p in doc["spec"]["ports"]}
    for chart in ("prediction-service", "monitoring-ui"):
        node_ports.add(load_yaml(GITOPS / "envs" / "kind" / f"{chart}.yaml")["service"]["nodePort"])
    assert mapped == node_ports
