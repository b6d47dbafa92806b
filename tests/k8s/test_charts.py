"""Every chart: `helm lint`, its values schema, and its rendering with the defaults and with
each environment's values, validated against the Kubernetes schemas (strict)."""

from __future__ import annotations

import json

import pytest
from k8s_support import (
    CHART_NAMESPACE,
    CHARTS,
    CUSTOM_KINDS,
    ENVS,
    KUBE_VERSION,
    SAMPLE_MODEL,
    SECOND_MODEL,
    chart_names,
    deep_merge,
    load_all,
    load_yaml,
    release_name,
    render,
    values_cases,
)

CASES = [pytest.param(c, label, id=f"{c}-{label}") for c, label, _ in values_cases()]


def test_the_expected_charts_exist():
    assert set(chart_names()) == set(CHART_NAMESPACE), "a chart without a namespace mapping"
    assert {"prediction-service", "monitoring-ui", "pipeline-runtime"} <= set(chart_names())


@pytest.mark.parametrize("chart", chart_names())
def test_chart_lints_clean(chart):
    import helm_python

    report = helm_python.lint(str(CHARTS / chart), strict=True, kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("chart", chart_names())
def test_chart_has_a_values_schema_that_accepts_its_defaults(chart):
    import jsonschema

    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_yaml(CHARTS / chart / "values.yaml"), schema)
    meta = load_yaml(CHARTS / chart / "Chart.yaml")
    assert meta["apiVersion"] == "v2" and meta["version"] and meta.get("kubeVersion")


@pytest.mark.parametrize(("chart", "label"), CASES)
def test_rendered_objects_are_valid_kubernetes(chart, label):
    import kubernetes_validate

    objs = render(chart, label)
    # The prediction service's defaults name no model: nothing to render (tested below).
    assert objs or (chart, label) == ("prediction-service", "defaults"), "rendered nothing"
    errors = []
    for r in objs:
        if r.kind in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(r.obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{r}: {str(exc).splitlines()[0]}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("chart", chart_names())
def test_schema_refuses_a_latest_image_tag(chart):
    import helm_python

    bad = {"tag": "latest"}
    with pytest.raises(helm_python.HelmError):
        helm_python.Chart.load(str(CHARTS / chart)).render(
            bad, name=chart, namespace=CHART_NAMESPACE[chart], is_install=True
        )


def _kinds(objs):
    return {r.kind for r in objs}


def test_prediction_service_serves_the_promoted_model_version():
    objs = render("prediction-service", "kind+model")
    deploy = next(r.obj for r in objs if r.kind == "Deployment")
    env = {
        e["name"]: e.get("value")
        for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    model = SAMPLE_MODEL["model"]
    assert env["MLOPS_SERVE_MODEL"] == f"models:/{model['name']}/{model['version']}"
    assert env["MLOPS_SERVE_HOST"] == "0.0.0.0"
    assert env["MLOPS_SERVE_MIGRATE"] == "false"
    assert deploy["metadata"]["annotations"]["mlops.platform/data-version"] == model["dataVersion"]
    assert deploy["metadata"]["name"] == f"prediction-service-{model['name']}"
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert labels["mlops.platform/model"] == model["name"]
    assert labels["mlops.platform/model-version"] == model["version"]


def _names(objs) -> set[tuple[str, str]]:
    return {(r.kind, r.name) for r in objs}


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("env", ENVS)
def test_two_models_render_as_two_releases_side_by_side_in_one_namespace(env):
    first = render("prediction-service", f"{env}+model")
    second = render("prediction-service", f"{env}+second-model")
    assert not _names(first) & _names(second), "two models' objects would collide"
    for objs, values in ((first, SAMPLE_MODEL), (second, SECOND_MODEL)):
        model = values["model"]
        full = f"prediction-service-{model['name']}"
        assert {r.name.removesuffix("-migrate") for r in objs} == {full}
        deploy = next(r.obj for r in objs if r.kind == "Deployment")
        server = deploy["spec"]["template"]["spec"]["containers"][0]
        env_vars = {e["name"]: e.get("value") for e in server["env"]}
        assert env_vars["MLOPS_SERVE_MODEL"] == f"models:/{model['name']}/{model['version']}"
        assert {r.obj["metadata"]["namespace"] for r in objs} == {"mlops"}
    # Every selector of one release selects only its own pods.
    for mine, theirs in ((first, second), (second, first)):
        their_pods = [
            r.obj["spec"]["template"]["metadata"]["labels"]
            for r in theirs
            if r.kind in ("Deployment", "Job")
        ]
        for r in mine:
            if "spec" not in r.obj:
                continue  # the dashboard's ConfigMap selects nothing
            selector = (
                r.obj["spec"].get("selector", {}).get("matchLabels")
                or r.obj["spec"].get("selector")
                or r.obj["spec"].get("podSelector", {}).get("matchLabels")
            )
            if r.kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"):
                assert selector, r
                assert not any(_selects(selector, pod) for pod in their_pods), r
    hpa = [r.obj for r in first + second if r.kind == "HorizontalPodAutoscaler"]
    deployments = {r.name for r in first + second if r.kind == "Deployment"}
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpa} == (
        deployments if env == "prod" else set()
    )


def test_only_the_mapped_model_takes_the_kind_node_port():
    services = {
        label: next(r.obj for r in render("prediction-service", label) if r.kind == "Service")
        for label in ("kind+model", "kind+second-model")
    }
    assert services["kind+model"]["spec"]["ports"][0]["nodePort"] == 30085
    assert "nodePort" not in services["kind+second-model"]["spec"]["ports"][0]
    assert services["kind+second-model"]["spec"]["type"] == "NodePort"


def test_prod_spreads_each_model_over_nodes_on_its_own_pods():
    deploy = next(
        r.obj for r in render("prediction-service", "prod+model") if r.kind == "Deployment"
    )
    term = deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ][0]["podAffinityTerm"]
    assert term["labelSelector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    assert term["labelSelector"]["matchLabels"]["mlops.platform/model"] == "house-price"


def _render_prediction_service(values: dict) -> list[dict]:
    import helm_python

    out = helm_python.Chart.load(str(CHARTS / "prediction-service")).render(
        values,
        name=release_name("prediction-service", values),
        namespace="mlops",
        is_install=True,
    )
    return [d for text in out.values() for d in load_all(text)]


def test_long_model_names_are_cut_with_a_hash_and_stay_apart():
    import kubernetes_validate

    base = next(v for c, lab, v in values_cases() if (c, lab) == ("prediction-service", "prod"))
    stem = "a" * 55
    names = {}
    for suffix in ("-one", "-two"):
        model = {"model": {"name": stem + suffix, "version": "1", "dataVersion": "data-v1"}}
        docs = _render_prediction_service(deep_merge(base, model))
        for doc in docs:
            assert len(doc["metadata"]["name"]) <= 63, doc["metadata"]["name"]
            if doc["kind"] != "ServiceMonitor":
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        names[suffix] = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not names["-one"] & names["-two"]


def test_a_bad_model_name_or_version_is_refused_by_the_values_schema():
    import helm_python

    base = next(v for c, lab, v in values_cases() if (c, lab) == ("prediction-service", "kind"))
    for model in ({"name": "House_Price", "version": "1"}, {"name": "churn", "version": "v1"}):
        with pytest.raises(helm_python.HelmError, match="model"):
            _render_prediction_service(deep_merge(base, {"model": model}))


def test_prediction_service_has_its_production_objects():
    objs = render("prediction-service", "prod+model")
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Job",
        "ServiceMonitor",  # the cluster's Prometheus (kube-prometheus-stack) scrapes it
    } <= _kinds(objs)
    monitor = next(r.obj for r in objs if r.kind == "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    job = next(r.obj for r in objs if r.kind == "Job")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["serve", "migrate"]
    hpa = next(r.obj for r in objs if r.kind == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == next(
        r.name for r in objs if r.kind == "Deployment"
    )


def test_prediction_service_without_a_promoted_model_renders_no_workload():
    assert render("prediction-service", "defaults") == (), "no model named: nothing at all"
    for label in ("kind", "prod"):  # the repository's unpinned house-price file
        kinds = _kinds(render("prediction-service", label))
        assert "Deployment" not in kinds and "Job" not in kinds, label
        assert "Service" in kinds


def test_kind_exposes_the_apis_on_the_mapped_node_ports():
    svc = next(r.obj for r in render("prediction-service", "kind+model") if r.kind == "Service")
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] == 30085
    svc = next(r.obj for r in render("monitoring-ui", "kind") if r.kind == "Service")
    assert svc["spec"]["ports"][0]["nodePort"] == 30086


def test_monitoring_ui_runs_evidently_on_the_shared_workspace():
    objs = render("monitoring-ui", "kind")
    pod = next(r.obj for r in objs if r.kind == "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The same module `mlops monitor ui` runs: Evidently's server under the platform's title.
    assert container["command"] == ["python", "-m", "model_monitoring.evidently_ui"]
    assert container["args"][:2] == ["--workspace", "/workspace"]
    assert "0.0.0.0" in container["args"]
    claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    claims = {
        r.name for r in render("pipeline-runtime", "kind") if r.kind == "PersistentVolumeClaim"
    }
    assert claim in claims, "the UI mounts a claim the pipeline-runtime chart does not create"


def test_pipeline_runtime_lets_airflow_launch_stage_pods_and_nothing_more():
    objs = render("pipeline-runtime", "kind")
    role = next(r.obj for r in objs if r.kind == "Role")
    resources = {res for rule in role["rules"] for res in rule["resources"]}
    assert resources == {"pods", "pods/log", "pods/exec", "events"}
    binding = next(r.obj for r in objs if r.kind == "RoleBinding")
    assert {s["namespace"] for s in binding["subjects"]} == {"airflow"}
    sa = next(r.obj for r in objs if r.kind == "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    env = next(r.obj for r in objs if r.name == "mlops-pipeline-config")["data"]
    assert env["MLOPS_DVC_REMOTE"].startswith("s3://")
    assert env["MLOPS_MLFLOW_TRACKING_URI"].startswith("http://mlflow.mlflow.svc")


def test_platform_stores_creates_one_database_per_consumer():
    objs = render("platform-stores", "kind")
    init = next(r.obj for r in objs if r.name == "postgres-init")["data"]["10-databases.sh"]
    for db in load_yaml(CHARTS / "platform-stores" / "values.yaml")["postgres"]["databases"]:
        assert f'-v name="{db}"' in init
    job = next(r.obj for r in objs if r.kind == "Job")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"


def test_values_override_and_merge_like_helm():
    # The test harness merges values files the way Helm does (later files win, maps merge).
    merged = deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}})
    assert merged == {"a": {"b": 1, "c": 3}}
