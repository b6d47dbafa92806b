"""Metrics, alerts and dashboards in the cluster (issue 16):

- the upstream kube-prometheus-stack and Pushgateway charts as pinned Argo CD applications
  (server-side apply for the operator's CRDs, a sync wave before every application that
  creates a ServiceMonitor or PrometheusRule, namespace monitoring);
- Prometheus selects every ServiceMonitor and PrometheusRule the platform ships (the
  chart's selector logic applied to its values), which its defaults would not;
- the stage pods push to the Pushgateway the application installs;
- each model's Grafana dashboard: the chart's file is the generator's output, it renders
  for two models as ConfigMaps the Grafana sidecar provisions, its JSON has what Grafana
  needs, every query parses (promtool), and every query returns data from a real
  Prometheus scraping the series the platform's own code produces (the prediction
  service's metrics registry, the monitoring push to a real Pushgateway) with the model's
  alert rules loaded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import httpx
import pytest
import yaml
from k8s_support import (
    CHARTS,
    ENVS,
    GITOPS,
    ROOT,
    SAMPLE_MODEL,
    SECOND_MODEL,
    all_applications,
    application_sets,
    applications,
    deep_merge,
    load_all,
    load_yaml,
    render,
    values_cases,
)
from test_waves import app_objects

from mlops_core import dashboards

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
COMMUNITY_CHARTS = "https://prometheus-community.github.io/helm-charts"
MONITORING = "monitoring"
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "Probe", "ScrapeConfig"}
MODELS = (SAMPLE_MODEL["model"]["name"], SECOND_MODEL["model"]["name"])  # house-price, churn
# Grafana's own variables, as Grafana substitutes them before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$endpoint": ".*"}
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


def app(env: str, name: str) -> dict:
    found = [a for a in all_applications(env) if a["metadata"]["name"] == name]
    assert found, f"gitops/envs/{env}: no application {name}"
    return found[0]


def wave(obj: dict) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def values(env: str, name: str) -> dict:
    return app(env, name)["spec"]["source"]["helm"]["valuesObject"]


# ------------------------------------------------------------------ the upstream applications


@pytest.mark.parametrize("env", ENVS)
def test_the_monitoring_stack_is_the_pinned_upstream_chart_applied_server_side(env):
    stack = app(env, "kube-prometheus-stack")
    src = stack["spec"]["source"]
    assert (src["repoURL"], src["chart"]) == (COMMUNITY_CHARTS, "kube-prometheus-stack")
    assert SEMVER.match(str(src["targetRevision"])), src["targetRevision"]
    # The operator's CRDs exceed a client-side apply's annotation limit.
    assert "ServerSideApply=true" in stack["spec"]["syncPolicy"]["syncOptions"]
    assert stack["spec"]["destination"]["namespace"] == MONITORING
    assert src["helm"]["valuesObject"]["crds"]["enabled"] is True


@pytest.mark.parametrize("env", ENVS)
def test_the_pushgateway_is_the_pinned_upstream_chart_scraped_with_honor_labels(env):
    gateway = app(env, "pushgateway")
    src = gateway["spec"]["source"]
    assert (src["repoURL"], src["chart"]) == (COMMUNITY_CHARTS, "prometheus-pushgateway")
    assert SEMVER.match(str(src["targetRevision"])), src["targetRevision"]
    monitor = src["helm"]["valuesObject"]["serviceMonitor"]
    # Without honorLabels the pushed job and model labels would become exported_*.
    assert monitor["enabled"] is True and monitor["honorLabels"] is True
    assert gateway["spec"]["destination"]["namespace"] == MONITORING


def pushgateway_url(env: str) -> str:
    """The Pushgateway Service's URL: the chart's fullnameOverride, the application's
    namespace, the chart's service port 9091 (its default, not overridden)."""
    gateway = app(env, "pushgateway")
    vals = gateway["spec"]["source"]["helm"]["valuesObject"]
    assert "service" not in vals, "the port below is the chart's default"
    namespace = gateway["spec"]["destination"]["namespace"]
    return f"http://{vals['fullnameOverride']}.{namespace}.svc.cluster.local:9091"


@pytest.mark.parametrize("env", ENVS)
def test_the_stage_pods_push_to_the_pushgateway_the_cluster_runs(env):
    config = next(
        r.obj for r in render("pipeline-runtime", env) if r.name == "mlops-pipeline-config"
    )
    assert config["data"]["MLOPS_MONITOR_PUSHGATEWAY_URL"] == pushgateway_url(env)


def creates_operator_objects(env: str, application: dict) -> bool:
    """Whether an application creates ServiceMonitors or PrometheusRules: rendered for this
    repository's sources, from the values for the Pushgateway's upstream chart."""
    name = application["metadata"]["name"]
    if name == "pushgateway":
        return values(env, name)["serviceMonitor"]["enabled"]
    objs = app_objects(application) or []
    return any(o.get("kind") in OPERATOR_KINDS for o in objs)


def model_applications(env: str) -> list[dict]:
    """The prediction-service applications the ApplicationSet generates (an unpromoted
    model renders its Service, ServiceMonitor and dashboard, without a workload)."""
    return [
        a
        for a in all_applications(env)
        if "mlops.platform/model" in a["metadata"].get("labels", {})
    ]


@pytest.mark.parametrize("env", ENVS)
def test_every_application_with_operator_objects_syncs_after_the_crds(env):
    stack = wave(app(env, "kube-prometheus-stack"))
    # A generated application syncs in its ApplicationSet's wave.
    (appset,) = application_sets(env)
    users = [
        (a["metadata"]["name"], wave(a))
        for a in applications(env)
        if a["metadata"]["name"] != "kube-prometheus-stack" and creates_operator_objects(env, a)
    ]
    users += [
        (a["metadata"]["name"], wave(appset))
        for a in model_applications(env)
        if creates_operator_objects(env, a)
    ]
    names = {n for n, _ in users}
    # Not vacuous: the models' monitors, their rules, the Pushgateway and Airflow's monitor.
    assert {"pushgateway", "model-alerts", "platform-monitors"} <= names, names
    assert any(n.startswith("prediction-service-") for n in names), names
    early = [(n, w) for n, w in users if w <= stack]
    assert not early, f"before the CRDs (wave {stack}): {early}"


@pytest.mark.parametrize("env", ENVS)
def test_the_monitoring_namespace_is_declared_and_permitted(env):
    namespaces = load_all((GITOPS / "namespaces" / "namespaces.yaml").read_text())
    assert MONITORING in {n["metadata"]["name"] for n in namespaces}
    project = load_yaml(GITOPS / "apps" / "project.yaml")
    assert MONITORING in {d["namespace"] for d in project["spec"]["destinations"]}
    # The stack's cluster-scoped objects are whitelisted for the project.
    kinds = {(k["group"], k["kind"]) for k in project["spec"]["clusterResourceWhitelist"]}
    assert ("apiextensions.k8s.io", "CustomResourceDefinition") in kinds


# ------------------------------------------------------------------ what Prometheus selects


def selector(prom_spec: dict, kind: str, release: str) -> dict:
    """The selector kube-prometheus-stack renders into the Prometheus resource for
    ServiceMonitors (kind "serviceMonitor") or rules ("rule"): the explicit one if set,
    else `release: <release>` when <kind>SelectorNilUsesHelmValues (default true), else
    everything (templates/prometheus/prometheus.yaml)."""
    explicit = prom_spec.get(f"{kind}Selector")
    if explicit:
        return explicit
    if prom_spec.get(f"{kind}SelectorNilUsesHelmValues", True):
        return {"matchLabels": {"release": release}}
    return {}


def selects(sel: dict, labels: dict) -> bool:
    assert set(sel) <= {"matchLabels"}, "only matchLabels selectors are modelled here"
    return all(labels.get(k) == v for k, v in sel.get("matchLabels", {}).items())


def platform_monitors(env: str) -> list[dict]:
    monitors = [
        r.obj
        for label in (f"{env}+model", f"{env}+second-model")
        for r in render("prediction-service", label)
        if r.kind == "ServiceMonitor"
    ]
    monitors += [
        o for o in app_objects(app(env, "platform-monitors")) if o["kind"] == "ServiceMonitor"
    ]
    return monitors


def platform_rules(env: str) -> list[dict]:
    return [o for o in app_objects(app(env, "model-alerts")) if o["kind"] == "PrometheusRule"]


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_selects_every_monitor_and_rule_of_the_platform(env):
    stack = app(env, "kube-prometheus-stack")
    prom = stack["spec"]["source"]["helm"]["valuesObject"]["prometheus"]["prometheusSpec"]
    release = stack["spec"]["source"]["helm"]["releaseName"]
    # Every namespace: no namespace selector narrows the defaults ({} = all namespaces).
    assert not prom.get("serviceMonitorNamespaceSelector") and not prom.get("ruleNamespaceSelector")
    monitors, rules = platform_monitors(env), platform_rules(env)
    assert len(monitors) >= 3 and {r["metadata"]["name"] for r in rules} >= {
        f"mlops-alerts-{m}" for m in MODELS
    }
    sm, rule = selector(prom, "serviceMonitor", release), selector(prom, "rule", release)
    for obj in monitors:
        assert selects(sm, obj["metadata"].get("labels", {})), obj["metadata"]["name"]
    for obj in rules:
        assert selects(rule, obj["metadata"].get("labels", {})), obj["metadata"]["name"]


def test_with_the_charts_default_selectors_the_prediction_monitors_would_be_ignored():
    """The check above can fail: the chart's defaults select only `release`-labelled
    monitors, which the prediction services' are not."""
    monitors = platform_monitors("kind")[:2]
    default = selector({}, "serviceMonitor", "kube-prometheus-stack")
    assert monitors and not any(selects(default, m["metadata"]["labels"]) for m in monitors)


@pytest.mark.parametrize("env", ENVS)
def test_each_model_is_scraped_on_its_service_and_labelled_with_its_name(env):
    for label, model in ((f"{env}+model", MODELS[0]), (f"{env}+second-model", MODELS[1])):
        objs = render("prediction-service", label)
        service = next(r.obj for r in objs if r.kind == "Service")
        monitor = next(r.obj for r in objs if r.kind == "ServiceMonitor")
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        assert endpoint["path"] == "/metrics"
        # The alert rules select the service's own `endpoint` (route) label, which the
        # Operator's target label of the same name would otherwise rename.
        assert endpoint["honorLabels"] is True
        assert {"action": "replace", "targetLabel": "model", "replacement": model} in endpoint[
            "relabelings"
        ]


def test_airflows_statsd_monitor_follows_the_airflow_release():
    airflow = app("kind", "airflow")["spec"]["source"]["helm"]
    assert airflow["valuesObject"].get("statsd", {}).get("enabled", True), "statsd is on"
    (monitor,) = [o for o in app_objects(app("kind", "platform-monitors"))]
    assert (
        monitor["metadata"]["namespace"]
        == app("kind", "airflow")["spec"]["destination"]["namespace"]
    )
    assert monitor["spec"]["selector"]["matchLabels"]["release"] == airflow["releaseName"]


# ------------------------------------------------------------------ Grafana provisioning


def dashboard_configmaps(env: str) -> dict[str, dict]:
    """{model: its dashboard's ConfigMap} of the two rendered model releases."""
    out = {}
    for label, model in ((f"{env}+model", MODELS[0]), (f"{env}+second-model", MODELS[1])):
        (cm,) = [
            r.obj
            for r in render("prediction-service", label)
            if r.kind == "ConfigMap" and r.obj["metadata"]["labels"].get("grafana_dashboard")
        ]
        out[model] = cm
    return out


def dashboard_json(cm: dict) -> dict:
    (text,) = cm["data"].values()
    return json.loads(text)


@pytest.mark.parametrize("env", ENVS)
def test_grafanas_sidecar_provisions_the_model_dashboards(env):
    grafana = values(env, "kube-prometheus-stack")["grafana"]
    sidecar = grafana["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True and sidecar["searchNamespace"] == "ALL"
    chart = load_yaml(CHARTS / "prediction-service" / "values.yaml")["grafanaDashboard"]
    assert (sidecar["label"], sidecar["labelValue"]) == (chart["label"], chart["labelValue"])
    assert sidecar["folderAnnotation"] == chart["folderAnnotation"]
    assert sidecar["provider"]["foldersFromFilesStructure"] is True
    for cm in dashboard_configmaps(env).values():
        assert cm["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        assert cm["metadata"]["annotations"][sidecar["folderAnnotation"]] == chart["folder"]


def test_grafanas_admin_password_comes_from_a_secret_make_up_creates():
    admin = values("kind", "kube-prometheus-stack")["grafana"]["admin"]
    assert "adminPassword" not in values("kind", "kube-prometheus-stack")["grafana"]
    script = (ROOT / "scripts" / "platform.sh").read_text()
    line = re.search(rf"apply_secret {MONITORING} {admin['existingSecret']} (.*)", script)
    assert line, f"make up creates no Secret {admin['existingSecret']} in {MONITORING}"
    assert f'"{admin["userKey"]}=' in line.group(1) and f'"{admin["passwordKey"]}=' in line.group(1)


# ------------------------------------------------------------------ the dashboards


def test_the_charts_dashboard_is_the_generators_output():
    path = ROOT / dashboards.CHART_FILE
    assert path.read_text() == dashboards.render(dashboards.model_dashboard()), (
        f"{dashboards.CHART_FILE} is stale: "
        f"python -m mlops_core.dashboards --out {dashboards.CHART_FILE}"
    )


def grafana_problems(d: dict, model: str) -> list[str]:
    """What Grafana needs of a provisioned dashboard, and what this platform promises."""
    problems = []
    uid = d.get("uid", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problems.append(f"uid {uid!r}: 1-40 characters of [A-Za-z0-9_-]")
    for key in ("title", "panels", "templating", "schemaVersion", "time"):
        if key not in d:
            problems.append(f"no {key}")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if (ds.get("type"), ds.get("query")) != ("datasource", "prometheus"):
        problems.append("no Prometheus datasource variable named datasource")
    ids = [p.get("id") for p in d.get("panels", [])]
    if len(set(ids)) != len(ids) or None in ids:
        problems.append(f"panel ids not unique: {ids}")
    for p in d.get("panels", []):
        where = f"panel {p.get('id')} {p.get('title')!r}"
        grid = p.get("gridPos", {})
        if not (grid.get("w", 0) > 0 and grid.get("x", -1) >= 0 and grid["x"] + grid["w"] <= 24):
            problems.append(f"{where}: gridPos {grid}")
        if p.get("type") == "row":
            continue
        if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append(f"{where}: datasource is not the variable")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            problems.append(f"{where}: refIds {refs}")
        for t in targets:
            if model not in t.get("expr", ""):
                problems.append(f"{where} {t.get('refId')}: query not about {model}")
    return problems


@pytest.mark.parametrize("env", ENVS)
def test_the_dashboards_render_for_two_models_as_valid_grafana_json(env):
    rendered = {m: dashboard_json(cm) for m, cm in dashboard_configmaps(env).items()}
    assert set(rendered) == set(MODELS)
    for model, d in rendered.items():
        assert grafana_problems(d, model) == [], model
        assert dashboards.MODEL not in json.dumps(d) and dashboards.UID not in json.dumps(d)
        # The chart's substitution is the generator's dashboard of that model.
        assert d == dashboards.model_dashboard(model)
        titles = {p["title"] for p in d["panels"]}
        assert {
            "Throughput",
            "Latency p50 / p95 / p99",
            "Error rate",
            "Prediction distribution",
            "Drift score per column",
            "Drifted share",
            "Performance over time",
            "Champion version (served)",
        } <= titles
    uids = [d["uid"] for d in rendered.values()]
    assert len(set(uids)) == len(uids)


def test_a_long_model_name_gets_the_same_cut_uid_from_the_chart_and_the_generator():
    import helm_python

    base = next(v for c, lab, v in values_cases() if (c, lab) == ("prediction-service", "kind"))
    names = ["m" * 50 + "-one", "m" * 50 + "-two"]
    uids = []
    for name in names:
        vals = deep_merge(base, {"model": {"name": name, "version": "1", "dataVersion": "d1"}})
        out = helm_python.Chart.load(str(CHARTS / "prediction-service")).render(
            vals, name=f"prediction-service-{name}", namespace="mlops", is_install=True
        )
        (cm,) = load_all(out["prediction-service/templates/dashboard.yaml"])
        d = dashboard_json(cm)
        assert d == dashboards.model_dashboard(name)
        assert grafana_problems(d, name) == []
        uids.append(d["uid"])
    assert uids[0] != uids[1]


def grafana_substituted(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"a Grafana variable left in {expr}"
    return expr


def variable_selectors(d: dict) -> list[tuple[str, str]]:
    """The series selector inside each query variable's label_values(selector, label)."""
    out = []
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+), *\w+\)", v["query"]["query"])
            assert m, v["query"]
            out.append((f"variable {v['name']}", m.group(1)))
    return out


def all_queries() -> list[tuple[str, str, str]]:
    """(model, where, PromQL as Grafana sends it) of both models' dashboards."""
    out = []
    for model, cm in dashboard_configmaps("kind").items():
        d = dashboard_json(cm)
        for where, expr in dashboards.queries(d) + variable_selectors(d):
            out.append((model, where, grafana_substituted(expr)))
    return out


def promtool_check(
    tmp_path: Path, queries: list[tuple[str, str, str]]
) -> subprocess.CompletedProcess:
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, (_, _, e) in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )


def test_every_dashboard_query_parses_with_promtool(tmp_path):
    queries = all_queries()
    proc = promtool_check(tmp_path, queries)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(queries)} rules found" in proc.stdout
    # The check can fail: a broken query is refused.
    bad = promtool_check(tmp_path, [*queries, ("x", "broken", "sum by (le (rate(x[1m]))")])
    assert bad.returncode != 0 and "dashboard:query_" in bad.stdout + bad.stderr


# ------------------------------------------------------------------ every query has data


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _HTTP.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in {timeout:.0f}s")
        time.sleep(0.1)


def serving_registry(model: str):
    """A prediction service's metrics registry, exercised through its own API the way the
    middleware, the model manager and the batcher use it."""
    from prediction_service.metrics import Metrics

    m = Metrics()
    served = SimpleNamespace(
        name=model, version="3", data_version="data-v2", created_at=time.time()
    )
    m.set_model(served)
    m.model_loads.labels("loaded").inc()
    for endpoint, status in (
        (f"/v1/models/{model}/predict", "200"),
        ("/v1/predict", "200"),
        ("/v1/predict", "500"),
        ("/metrics", "200"),
    ):
        m.requests.labels(endpoint, "POST", status).inc()
        m.latency.labels(endpoint).observe(0.004)
    m.predictions.labels(model, "3", "single", "champion").inc(5)
    return m.registry


def monitor_result(model: str):
    """A judged monitoring run of `model` with drift and feedback labels."""
    from mlops_core.contracts.monitor import ColumnDrift, MonitorResult, Performance

    return MonitorResult(
        status="drift",
        model_name=model,
        model_version="3",
        policy=str(ROOT / "models" / model / "monitor.yaml"),
        rows=500,
        labelled_rows=120,
        drift_share=0.5,
        data_drift=True,
        columns={
            "a": ColumnDrift(score=0.01, drifted=True),
            "b": ColumnDrift(score=0.6, drifted=False),
        },
        performance=Performance(
            labelled_rows=120,
            metric="rmse",
            value=1.2,
            baseline=1.0,
            limit=1.25,
            degraded=False,
            rmse=1.2,
            mae=0.9,
        ),
    )


def scrape_config(job: str, target: str, monitor: dict) -> dict:
    """A scrape job as the Prometheus Operator generates it from a ServiceMonitor's
    endpoint: its honorLabels and relabelings (camelCase fields in snake case)."""
    (endpoint,) = monitor["spec"]["endpoints"]
    relabel = [
        {re.sub(r"([A-Z])", lambda c: "_" + c.group(1).lower(), k): v for k, v in r.items()}
        for r in endpoint.get("relabelings", [])
    ]
    return {
        "job_name": job,
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [{"targets": [target]}],
        # The Operator labels every target with its port name as `endpoint` first: a
        # series' own `endpoint` label survives that only with honorLabels.
        "relabel_configs": [
            {"target_label": "endpoint", "replacement": endpoint.get("port", "http")},
            *relabel,
        ],
    }


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Pushgateway with both models' monitoring runs pushed by model_monitoring.push,
    each model's prediction service metrics registry served on a port, and a real
    Prometheus scraping them as the ServiceMonitors say, with the models' alert rules."""
    from prometheus_client import start_http_server

    from mlops_core.alerting import write_rules_file
    from mlops_core.modelspec import discover_models
    from mlops_core.services import free_port
    from model_monitoring.push import push_result

    root = tmp_path_factory.mktemp("observability")
    procs: list[subprocess.Popen] = []
    servers = []
    log = (root / "prometheus.log").open("w")
    try:
        gw_port = free_port()
        procs.append(
            subprocess.Popen(
                [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{gw_port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        gateway = f"http://127.0.0.1:{gw_port}"
        wait_http(f"{gateway}/-/ready")
        for model in MODELS:
            push_result(monitor_result(model), gateway)
        jobs = []
        for label, model in (("kind+model", MODELS[0]), ("kind+second-model", MODELS[1])):
            port = free_port()
            servers.append(
                start_http_server(port, addr="127.0.0.1", registry=serving_registry(model))[0]
            )
            monitor = next(
                r.obj for r in render("prediction-service", label) if r.kind == "ServiceMonitor"
            )
            jobs.append(scrape_config(f"prediction-service-{model}", f"127.0.0.1:{port}", monitor))
        gw_monitor = {
            "spec": {
                "endpoints": [
                    {"honorLabels": values("kind", "pushgateway")["serviceMonitor"]["honorLabels"]}
                ]
            }
        }
        jobs.append(scrape_config("pushgateway", f"127.0.0.1:{gw_port}", gw_monitor))
        models = [m for m in discover_models(ROOT / "models") if m.name in MODELS]
        rules = write_rules_file(root / "rules.yml", models)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": jobs,
        }
        (root / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )
        url = f"http://127.0.0.1:{prom_port}"
        wait_http(f"{url}/-/ready")
        wait_scraped(url, len(jobs), root / "prometheus.log")
        yield url
    finally:
        log.close()
        _HTTP.close()
        for server in servers:
            server.shutdown()
            server.server_close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_scraped(url: str, targets: int, log: Path, timeout: float = 30.0) -> None:
    """Until every target is up and scraped twice (a rate needs two samples)."""
    deadline = time.monotonic() + timeout
    while not (
        query(url, f"count(up == 1) == {targets}")
        and query(url, "count_over_time(up[1m]) >= 2")
        and len(query(url, "count_over_time(up[1m]) >= 2")) == targets
    ):
        assert time.monotonic() < deadline, f"targets not scraped: {log.read_text()[-2000:]}"
        time.sleep(0.2)


# One connection pool for the many queries (a client per request costs ~0.1 s here).
_HTTP = httpx.Client(timeout=5)


def query(url: str, expr: str) -> list:
    body = _HTTP.get(f"{url}/api/v1/query", params={"query": expr}).json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return body["data"]["result"]


def test_every_dashboard_query_returns_data_from_the_platforms_own_series(prometheus):
    """Each panel's query, as Grafana sends it, against what the platform's code exports
    (rates need two scrapes, the drift alert one rule evaluation): empty means the panel
    reads a series or label nobody produces."""
    queries = all_queries()
    deadline = time.monotonic() + 30
    while True:
        empty = [(m, w, e) for m, w, e in queries if not query(prometheus, e)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert empty == [], "\n".join(f"{m} {w}: {e}" for m, w, e in empty)


def test_a_series_nobody_produces_leaves_its_panel_empty(prometheus):
    """The check above can fail: a misspelt series or a wrong label returns nothing."""
    assert query(prometheus, 'mlops_monitor_drift_share{model="house-price"}')
    assert not query(prometheus, 'mlops_monitor_drift_shares{model="house-price"}')
    assert not query(prometheus, 'mlops_http_requests_total{model_name="house-price"}')


def test_the_pushgateway_url_is_a_service_of_the_monitoring_namespace():
    url = urlparse(pushgateway_url("kind"))
    assert url.hostname.endswith(f".{MONITORING}.svc.cluster.local") and url.port == 9091
