"""Alert rules as code: one Prometheus rule group per model, from its monitor.yaml.

The same definition becomes the plain rules file the embedded Prometheus loads
(`write_rules_file`) and the PrometheusRule the Prometheus Operator loads in a cluster
(`prometheus_rule`). The series they read:

- the prediction service's own /metrics (prediction_service/metrics.py): request counters
  and latency histogram by `endpoint` (the route path), mlops_predictions by model_name,
  mlops_model_info{model_name,...} (1 for each served version), the log writer's queue and
  spool gauges, mlops_model_created_timestamp_seconds;
- the monitoring runs' series on the Pushgateway (model_monitoring/push.py), by `model`.

A model's requests are those of its own routes (/v1/models/<name>/...) on any instance,
plus the single-model routes (/v1/predict, /v1/predict/batch) of an instance that serves
that model alone (a model's Deployment in a cluster). The instance-wide gauges (log queue,
spool) count for every model the instance serves.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlops_core.alerting.config import AlertsConfig, MonitorAlerting, load_monitor_alerting
from mlops_core.modelspec import ModelFolder

# The label kube-prometheus-stack's Prometheus selects PrometheusRules by (its default
# ruleSelector is `release: <Helm release name>`); the platform installs the chart as the
# release named kube-prometheus-stack.
PROMETHEUS_RELEASE = "kube-prometheus-stack"
RULE_NAMESPACE = "mlops"

_SINGLE_ROUTES = "/v1/predict(/batch)?"
REQUESTS = "mlops_http_requests_total"
# Only the service's own failures: a 4xx is the client's (bad input, unknown model).
SERVER_ERRORS = 'status=~"5.."'


def _model_routes(name: str) -> str:
    """The regular expression of a model's own prediction routes (REST and, when served,
    the Open Inference Protocol's infer)."""
    return f"/v1/models/{name}/predict(/batch)?|/v2/models/{name}(/versions/[^/]+)?/infer"


def _serves_only(name: str) -> str:
    """(job, instance) of each instance that serves `name` and no other model, value 1."""
    return (
        f'(max by (job, instance) (mlops_model_info{{model_name="{name}"}}) '
        "and on (job, instance) (count by (job, instance) "
        "(count by (job, instance, model_name) (mlops_model_info)) == 1))"
    )


def _requests(metric: str, name: str, window: str, matchers: str = "") -> str:
    """The per-second rate of `metric` over a model's prediction requests."""
    extra = f", {matchers}" if matchers else ""
    own = f'rate({metric}{{endpoint=~"{_model_routes(name)}"{extra}}}[{window}])'
    single = f'rate({metric}{{endpoint=~"{_SINGLE_ROUTES}"{extra}}}[{window}])'
    return f"({own} or ({single} * on (job, instance) group_left () {_serves_only(name)}))"


def _serving(name: str) -> str:
    return f'mlops_model_info{{model_name="{name}"}}'


def _rule(
    alert: str,
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    for_: str | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"model": name, "severity": severity}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def model_rules(name: str, cfg: AlertsConfig, schedule_seconds: int) -> list[dict[str, Any]]:
    """The alert rules of one model, in ALERT_NAMES order, without the disabled ones."""
    c = cfg
    days = f"{c.max_age_days:g}"
    rules = [
        _rule(
            "MlopsServingLatencyHigh",
            name,
            "histogram_quantile(0.99, sum by (le) ("
            f"{_requests('mlops_http_request_duration_seconds_bucket', name, '5m')})) "
            f"> {c.latency_p99_seconds:g}",
            "warning",
            f"Model {name}: p99 prediction latency above {c.latency_p99_seconds:g} s",
            f"The 99th percentile of {name}'s prediction requests over 5m is "
            f'{{{{ $value | printf "%.3g" }}}} s (target {c.latency_p99_seconds:g} s) '
            f"for {c.latency_for}.",
            c.latency_for,
        ),
        _rule(
            "MlopsServingErrorRate",
            name,
            f"sum({_requests(REQUESTS, name, c.error_window, SERVER_ERRORS)})"
            f" / sum({_requests(REQUESTS, name, c.error_window)}) > {c.error_rate:g}",
            "critical",
            f"Model {name}: more than {c.error_rate:.0%} of predictions fail",
            f"{{{{ $value | humanizePercentage }}}} of {name}'s prediction requests answered "
            f"5xx over {c.error_window} (limit {c.error_rate:.0%}).",
            "1m",
        ),
        _rule(
            "MlopsNoTraffic",
            name,
            # Served now and already `no_traffic_for` ago (a service that just started is not
            # idle yet), with no prediction in that window.
            f"max({_serving(name)}) and on () max({_serving(name)} offset {c.no_traffic_for}) "
            f'unless on () (sum(increase(mlops_predictions_total{{model_name="{name}"}}'
            f"[{c.no_traffic_for}])) > 0)",
            "warning",
            f"Model {name}: no prediction for {c.no_traffic_for}",
            f"Model {name} is served but answered no prediction in the last "
            f"{c.no_traffic_for}: are its clients reaching it?",
        ),
        _rule(
            "MlopsPredictionLogBacklog",
            name,
            f"max by (job, instance) (mlops_prediction_log_queue_depth) > {c.log_queue_depth} "
            f"and on (job, instance) {_serving(name)}",
            "warning",
            f"Model {name}: prediction log rows waiting to be written",
            f"{{{{ $value }}}} prediction log rows wait for the writer on "
            f"{{{{ $labels.instance }}}} (limit {c.log_queue_depth}) for {c.log_backlog_for}: "
            "the log database is slow.",
            c.log_backlog_for,
        ),
        _rule(
            "MlopsPredictionLogSpooling",
            name,
            "(max by (job, instance) (mlops_prediction_log_spool_rows) > 0) "
            "and on (job, instance) (max by (job, instance) "
            f"(delta(mlops_prediction_log_spool_rows[{c.spool_window}])) > 0) "
            f"and on (job, instance) {_serving(name)}",
            "critical",
            f"Model {name}: prediction log spooling (database unavailable)",
            f"{{{{ $value }}}} prediction log rows are spooled on {{{{ $labels.instance }}}} "
            f"and the spool grew in the last {c.spool_window}: the prediction log database "
            "is not taking writes.",
        ),
        _rule(
            "MlopsDriftDetected",
            name,
            f'max by (model) (mlops_monitor_dataset_drift{{model="{name}"}}) == 1',
            "warning",
            f"Model {name}: data drift detected",
            f"The last monitoring run of {name} found data drift: read its report "
            f"(`mlops monitor --model {name}`) and consider retraining.",
        ),
        _rule(
            "MlopsPerformanceDegraded",
            name,
            f'max by (model) (mlops_monitor_performance_degraded{{model="{name}"}}) == 1',
            "critical",
            f"Model {name}: performance degraded",
            f"The last monitoring run of {name} judged the served version's quality on "
            "feedback labels beyond the policy's limit.",
        ),
        _rule(
            "MlopsModelRolledBack",
            name,
            f'max by (model) (mlops_monitor_rolled_back{{model="{name}"}}) == 1',
            "critical",
            f"Model {name}: rolled back on live degradation",
            f"The last monitoring run of {name} found the champion degraded beyond its "
            "confidence bound and moved `champion` back to the previous version by a GitOps "
            f"commit (its Reason trailer says why: `mlops history --model {name}`).",
        ),
        _rule(
            "MlopsRollbackFailed",
            name,
            f'max by (model) (mlops_monitor_rollback_failed{{model="{name}"}}) == 1',
            "critical",
            f"Model {name}: automatic rollback failed",
            f"The last monitoring run of {name} called for a rollback and `mlops rollback` "
            "did not move the champion (no previous champion, or the GitOps push was "
            "refused): the degraded version is still serving.",
        ),
        _rule(
            "MlopsMonitoringStale",
            name,
            f'time() - max by (model) (mlops_monitor_last_run_timestamp_seconds{{model="{name}"}})'
            f" > {c.stale_factor:g} * max by (model) "
            f'(mlops_monitor_schedule_seconds{{model="{name}"}})',
            "warning",
            f"Model {name}: monitoring has not run on schedule",
            f"The last monitoring run of {name} was {{{{ $value | humanizeDuration }}}} ago, "
            f"more than {c.stale_factor:g} x its schedule ({schedule_seconds} s in monitor.yaml).",
        ),
        _rule(
            "MlopsChampionTooOld",
            name,
            "(time() - max by (model_name) "
            f'(mlops_model_created_timestamp_seconds{{model_name="{name}"}})) / 86400 > {days}',
            "warning",
            f"Model {name}: served version older than {days} days",
            f"The newest served version of {name} was registered "
            f'{{{{ $value | printf "%.0f" }}}} days ago (limit {days}): retrain it on recent data.',
        ),
    ]
    return [r for r in rules if r["alert"] not in c.disabled]


def model_alerting(folder: ModelFolder) -> MonitorAlerting:
    """The alerting keys of a model folder's monitor.yaml (defaults without one)."""
    return load_monitor_alerting(folder.monitor_path)


def group_name(name: str) -> str:
    return f"mlops-model-{name}"


def rule_groups(models: Iterable[ModelFolder]) -> dict[str, Any]:
    """The Prometheus rules document ({"groups": [...]}): one group per model, by name."""
    groups = []
    for folder in sorted(models, key=lambda m: m.name):
        keys = model_alerting(folder)
        groups.append(
            {
                "name": group_name(folder.name),
                "rules": model_rules(folder.name, keys.alerts, keys.schedule_seconds),
            }
        )
    return {"groups": groups}


def prometheus_rule(models: Iterable[ModelFolder]) -> dict[str, Any]:
    """The same groups as a PrometheusRule custom resource (Prometheus Operator), labelled
    for kube-prometheus-stack's default rule selector."""
    models = sorted(models, key=lambda m: m.name)
    names = [m.name for m in models]
    name = f"mlops-alerts-{names[0]}" if len(names) == 1 else "mlops-alerts"
    labels = {
        "release": PROMETHEUS_RELEASE,
        "app.kubernetes.io/part-of": "mlops-platform",
        "app.kubernetes.io/managed-by": "mlops-alerts",
    }
    if len(names) == 1:
        labels["mlops.platform/model"] = names[0]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": RULE_NAMESPACE, "labels": labels},
        "spec": rule_groups(models),
    }


def render(document: dict[str, Any], header: str = "") -> str:
    """YAML text of a rules document or resource (deterministic: a checked-in copy can be
    compared with it)."""
    import yaml

    body = yaml.safe_dump(document, sort_keys=False, width=10_000, allow_unicode=True)
    return header + body


def rules_header(models: Iterable[ModelFolder]) -> str:
    names = ", ".join(sorted(m.name for m in models)) or "no model"
    return (
        f"# Alert rules of {names}, generated by `mlops alerts rules` from each model's\n"
        "# monitor.yaml (`alerts:`); edit those, not this file.\n"
    )


def write_rules_file(path: str | Path, models: Iterable[ModelFolder]) -> Path:
    """Write the plain Prometheus rules file of `models` to `path` (atomically: a reader
    never sees half a file); returns the path."""
    from mlops_core.storage import write_text

    models = list(models)
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(str(path), render(rule_groups(models), rules_header(models)))
    return path


ALERTS_SUBDIR = "alerts"


def gitops_header(name: str) -> str:
    return (
        f"# The alert rules of model {name} for the Prometheus Operator, generated from\n"
        f"# models/{name}/monitor.yaml by `mlops alerts rules --gitops-dir gitops`: edit that\n"
        "# file and regenerate (a test checks this one equals the generator's output).\n"
    )


def gitops_alert_files(models: Iterable[ModelFolder], envs: Iterable[str]) -> dict[str, str]:
    """{`envs/<env>/alerts/<model>.yaml` (relative to the gitops folder): its text}: one
    PrometheusRule per model per environment, which each environment's model-alerts
    application (gitops/apps/model-alerts.yaml) applies."""
    models = sorted(models, key=lambda m: m.name)
    files = {}
    for env in sorted(envs):
        for folder in models:
            text = render(prometheus_rule([folder]), gitops_header(folder.name))
            files[f"envs/{env}/{ALERTS_SUBDIR}/{folder.name}.yaml"] = text
    return files


def write_gitops_alerts(gitops_dir: str | Path, models: Iterable[ModelFolder]) -> list[Path]:
    """Write every environment's alert files under `gitops_dir` (its envs/<env>/ folders)
    and remove those of models that are gone; returns the files written."""
    from mlops_core.errors import BadInput
    from mlops_core.storage import write_text

    root = Path(gitops_dir).expanduser().resolve()
    envs_dir = root / "envs"
    if not envs_dir.is_dir():
        raise BadInput(f"gitops folder {root}: no envs/ folder (expected envs/<env>/)")
    envs = [p.name for p in envs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    files = gitops_alert_files(models, envs)
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(str(path), text)
        written.append(path)
    for env in envs:
        for stale in (envs_dir / env / ALERTS_SUBDIR).glob("*.yaml"):
            if f"envs/{env}/{ALERTS_SUBDIR}/{stale.name}" not in files:
                stale.unlink()
    return written
