"""The GitOps tree: each environment's kustomize build, the Argo CD applications (the fields
Argo CD requires, pinned upstream charts, sync waves), the promoted-model values files, and
the pinned bootstrap (Argo CD, kind)."""

from __future__ import annotations

import re

import pytest
from k8s_support import (
    CHARTS,
    ENVS,
    GITOPS,
    KUBE_VERSION,
    ROOT,
    TemplateError,
    all_applications,
    application_sets,
    applications,
    deep_merge,
    generate_applications,
    generated_applications,
    kustomize_build,
    load_all,
    load_yaml,
)

from mlops_core import gitops_layout

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
        "monitoring-ui",
        "platform-namespaces",
    } <= names
    # The prediction service: an ApplicationSet, one application per model file.
    assert "prediction-service" not in names
    assert [a["metadata"]["name"] for a in application_sets(env)] == ["prediction-service"]
    generated = {a["metadata"]["name"] for a in generated_applications(env)}
    assert generated == {f"prediction-service-{m}" for m in gitops_layout.models_in_env(ROOT, env)}
    assert ("host-access" in names) == (env == "kind")
    assert [r.name for r in objs if r.kind == "AppProject"] == ["mlops-platform"]


@pytest.mark.parametrize("env", ENVS)
def test_applications_have_the_fields_argo_cd_requires(env):
    project = next(r.obj for r in kustomize_build(env) if r.kind == "AppProject")
    allowed = {d["namespace"] for d in project["spec"]["destinations"]}
    errors = []
    for app in [*all_applications(env), root_app(env)]:
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
    assert {s["chart"] for s in charts} == {
        "airflow",
        "mlflow",
        "kube-prometheus-stack",
        "prometheus-pushgateway",
    }
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
    apps = {a["metadata"]["name"]: a for a in applications(env) + application_sets(env)}
    assert wave(apps["platform-namespaces"]) < wave(apps["platform-stores"])
    for consumer in ("mlflow", "airflow", "pipeline-runtime"):
        assert wave(apps["platform-stores"]) < wave(apps[consumer]), consumer
    for app in ("prediction-service", "monitoring-ui"):
        assert wave(apps["mlflow"]) < wave(apps[app]) and wave(apps["pipeline-runtime"]) < wave(
            apps[app]
        )


@pytest.mark.parametrize("env", ENVS)
def test_value_files_and_paths_exist_for_this_environment(env):
    for app in all_applications(env):
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
    app = next(
        a
        for a in generated_applications("kind")
        if a["metadata"]["name"] == "prediction-service-house-price"
    )
    helm = app["spec"]["source"]["helm"]
    assert helm["releaseName"] == "prediction-service-house-price"
    files = helm["valueFiles"]
    assert files[0] == "../../gitops/images.yaml"
    assert files[1] == "../../gitops/envs/kind/prediction-service.yaml"
    assert files[-1] == "../../gitops/envs/kind/models/house-price.yaml", "the model file wins"


@pytest.mark.parametrize("env", ENVS)
def test_model_values_follow_the_contract(env):
    names = gitops_layout.models_in_env(ROOT, env)
    assert names, f"gitops/envs/{env}/models/ holds no model file"
    assert not (GITOPS / "envs" / env / gitops_layout.LEGACY_VALUES_FILE).exists()
    for name in names:
        path = ROOT / gitops_layout.model_values_path(env, name)
        text = path.read_text()
        assert text.startswith("# Written by `mlops promote` / `mlops rollback` only.")
        model = load_yaml(path)["model"]
        assert set(model) == {"name", "version", "dataVersion"}
        assert model["name"] == name, f"{path}: the file is named for its model"
        assert isinstance(model["version"], str) and re.fullmatch(r"\d*", model["version"])
        assert text == gitops_layout.render_model_values(
            name, model["version"], model["dataVersion"]
        ), "the file is exactly what `mlops promote` writes"


# The ApplicationSet fields this repository uses, checked against the upstream spec
# (argo-cd docs/operator-manual/applicationset: ApplicationSet specification, Git generator
# files, Go template): the repository has no ApplicationSet CRD schema to validate with.
APPSET_SPEC_KEYS = {
    "generators",
    "template",
    "goTemplate",
    "goTemplateOptions",
    "syncPolicy",
    "strategy",
    "preservedFields",
    "ignoreApplicationDifferences",
    "templatePatch",
    "applyNestedSelectors",
}
GIT_GENERATOR_KEYS = {
    "repoURL",
    "revision",
    "files",
    "directories",
    "pathParamPrefix",
    "requeueAfterSeconds",
    "template",
    "values",
}


@pytest.mark.parametrize("env", ENVS)
def test_the_application_set_follows_the_upstream_spec(env):
    (appset,) = application_sets(env)
    assert appset["apiVersion"] == "argoproj.io/v1alpha1"
    assert appset["metadata"]["namespace"] == "argocd"
    spec = appset["spec"]
    assert set(spec) <= APPSET_SPEC_KEYS, set(spec) - APPSET_SPEC_KEYS
    assert {"generators", "template"} <= set(spec), "both are required"
    assert spec["goTemplate"] is True and spec["goTemplateOptions"] == ["missingkey=error"]
    assert set(spec.get("syncPolicy", {})) <= {"preserveResourcesOnDeletion", "applicationsSync"}
    (generator,) = spec["generators"]
    assert set(generator) == {"git"}
    git = generator["git"]
    assert set(git) <= GIT_GENERATOR_KEYS and {"repoURL", "revision", "files"} <= set(git)
    assert git["files"] == [{"path": f"gitops/envs/{env}/models/*.yaml"}]
    template = spec["template"]
    assert set(template) == {"metadata", "spec"}
    assert set(template["metadata"]) <= {"name", "namespace", "labels", "annotations", "finalizers"}
    assert {"project", "destination"} <= set(template["spec"])
    src = template["spec"]["source"]
    # The generated application reads the same repository and revision as the generator.
    assert (src["repoURL"], src["targetRevision"]) == (git["repoURL"], git["revision"])
    assert src["path"] == "charts/prediction-service"


def _tree_with_models(tmp_path, models: dict[str, str]):
    """A copy of the repository's gitops/ and charts/ with extra model files per env."""
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(GITOPS, root / "gitops")
    shutil.copytree(CHARTS, root / "charts")
    for env in ENVS:
        for name, version in models.items():
            target = root / gitops_layout.model_values_path(env, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(gitops_layout.render_model_values(name, version, "data-v1"))
    return root


@pytest.mark.parametrize("env", ENVS)
def test_two_model_files_generate_two_applications_that_render_side_by_side(env, tmp_path):
    import helm_python
    import kubernetes_validate

    root = _tree_with_models(tmp_path, {"house-price": "7", "churn": "2"})
    (appset,) = application_sets(env)
    apps = generate_applications(appset, root)
    assert [a["metadata"]["name"] for a in apps] == [
        "prediction-service-churn",
        "prediction-service-house-price",
    ]
    rendered: dict[str, set] = {}
    for app in apps:
        src = app["spec"]["source"]
        model = app["metadata"]["labels"]["mlops.platform/model"]
        assert src["helm"]["releaseName"] == f"prediction-service-{model}"
        values: dict = {}
        for vf in src["helm"]["valueFiles"]:
            path = (root / src["path"] / vf).resolve()
            assert path.is_file() and root in path.parents, vf
            values = deep_merge(values, load_yaml(path))
        assert values["model"]["name"] == model
        out = helm_python.Chart.load(str(root / src["path"])).render(
            values,
            name=src["helm"]["releaseName"],
            namespace=app["spec"]["destination"]["namespace"],
            is_install=True,
        )
        docs = [d for text in out.values() for d in load_all(text)]
        deploy = next(d for d in docs if d["kind"] == "Deployment")
        env_vars = {
            e["name"]: e.get("value")
            for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env_vars["MLOPS_SERVE_MODEL"] == f"models:/{model}/{values['model']['version']}"
        for doc in docs:
            if doc["kind"] != "ServiceMonitor":
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        rendered[model] = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not rendered["churn"] & rendered["house-price"]


def test_a_model_file_without_a_model_name_fails_the_generation(tmp_path):
    root = _tree_with_models(tmp_path, {})
    bad = root / "gitops/envs/kind/models/broken.yaml"
    bad.write_text("model:\n  version: '3'\n")
    (appset,) = application_sets("kind")
    with pytest.raises(TemplateError, match=r"model\.name"):
        generate_applications(appset, root)


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
    # The ApplicationSet's generator and template follow the root application's repository.
    (appset_patch,) = [p for p in patches if p["target"].get("kind") == "ApplicationSet"]
    assert appset_patch["target"]["labelSelector"] == "mlops.platform/source=this-repo"
    ops = {op["path"]: op["value"] for op in load_all(appset_patch["patch"])[0]}
    assert ops == {
        "/spec/generators/0/git/repoURL": url,
        "/spec/generators/0/git/revision": "main",
        "/spec/template/spec/source/repoURL": url,
        "/spec/template/spec/source/targetRevision": "main",
    }
    for appset in application_sets(env):
        assert appset["metadata"]["labels"]["mlops.platform/source"] == "this-repo"
        for pointer in ops:  # every patched field exists (a JSON patch replace needs it)
            node = appset
            for key in pointer.strip("/").split("/"):
                node = node[int(key)] if isinstance(node, list) else node[key]
            assert node == IN_CLUSTER_REPO or node == "main", pointer
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
    node_ports.add(
        load_yaml(GITOPS / "envs" / "kind" / "monitoring-ui.yaml")["service"]["nodePort"]
    )
    service = load_yaml(GITOPS / "envs" / "kind" / "prediction-service.yaml")["service"]
    node_ports |= set(service["nodePorts"].values())
    assert mapped == node_ports
