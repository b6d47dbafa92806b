"""The Grafana dashboard of a model, from one definition.

`model_dashboard(name)` builds the dashboard JSON of one model: its serving (throughput,
latency percentiles, errors, the distribution of its predictions over versions and
endpoints, the prediction log) and its monitoring (drift per column, drifted share,
performance over time, the judged and the served version, firing alerts). It reads:

- the prediction service's series (prediction_service/metrics.py), which the cluster's
  Prometheus scrapes through each model's ServiceMonitor (charts/prediction-service): that
  monitor adds the label `model` to every series of the model's pods (each model's
  Deployment serves that model alone);
- the monitoring runs' series on the Pushgateway (model_monitoring/push.py), by `model`;
- Prometheus's own ALERTS series of the model's alert rules (mlops_core.alerting).

The cluster renders one dashboard per model: charts/prediction-service carries the
dashboard of the placeholder model (`python -m mlops_core.dashboards --out ...` writes it,
a test checks the file is the generator's output) and renders it, with the release's model
name, as a ConfigMap the Grafana sidecar of kube-prometheus-stack provisions.

It lives in the shared library beside mlops_core.alerting: the same per-model series, one
definition of what operations see, and no stage owns it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

# Placeholders the chart replaces (charts/prediction-service/templates/dashboard.yaml).
MODEL = "__MLOPS_MODEL__"
UID = "__MLOPS_DASHBOARD_UID__"
CHART_FILE = Path("charts/prediction-service/files/dashboard.json")
# Grafana keeps a dashboard's uid in a 40-character column.
UID_MAX = 40
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's built-in rate window: never shorter than four scrape intervals.
RATE = "$__rate_interval"
QUANTILES = (0.5, 0.95, 0.99)
GRID_WIDTH = 24


def dashboard_uid(name: str) -> str:
    """mlops-<name>, cut with a hash of the whole name when longer than Grafana allows
    (the chart computes the same: charts/prediction-service/templates/_helpers.tpl)."""
    uid = f"mlops-{name}"
    if len(uid) <= UID_MAX:
        return uid
    return f"{uid[:31]}-{hashlib.sha256(uid.encode()).hexdigest()[:8]}"


def _target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "refId": ref, "expr": expr, "legendFormat": legend, **extra}


def _targets(*pairs: tuple[str, str], **extra: Any) -> list[dict[str, Any]]:
    return [_target(e, leg, chr(ord("A") + i), **extra) for i, (e, leg) in enumerate(pairs)]


def _panel(
    kind: str,
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    width: int,
    height: int,
    unit: str | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    if custom:
        defaults["custom"] = custom
    panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": height},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if options:
        panel["options"] = options
    return panel


def _stat(title: str, description: str, expr: str, legend: str = "", **kw: Any) -> dict:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": kw.pop("text_mode", "value"),
        "colorMode": "value",
    }
    return _panel(
        "stat",
        title,
        description,
        [_target(expr, legend, instant=True)],
        width=3,
        height=4,
        options=options,
        **kw,
    )


def _series(title: str, description: str, *pairs: tuple[str, str], **kw: Any) -> dict:
    return _panel("timeseries", title, description, _targets(*pairs), width=12, height=8, **kw)


def _row(title: str) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


def _layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and positions: left to right, a new line when a panel does not fit."""
    x = y = line_height = 0
    for i, panel in enumerate(panels, start=1):
        grid = panel["gridPos"]
        if x + grid["w"] > GRID_WIDTH or panel["type"] == "row":
            x, y, line_height = 0, y + line_height, 0
        panel["id"] = i
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        line_height = max(line_height, grid["h"])
    return panels


def _serving_panels(m: str) -> list[dict[str, Any]]:
    pods = f'model="{m}"'
    requests = f'mlops_http_requests_total{{{pods}, endpoint=~"$endpoint"}}'
    buckets = f'mlops_http_request_duration_seconds_bucket{{{pods}, endpoint=~"$endpoint"}}'
    errors = f'mlops_http_requests_total{{{pods}, endpoint=~"$endpoint", status=~"5.."}}'
    latency = [
        (
            f"histogram_quantile({q}, sum by (le, endpoint) (rate({buckets}[{RATE}])))",
            f"{{{{endpoint}}}} p{q * 100:g}",
        )
        for q in QUANTILES
    ]
    return [
        _row("Serving"),
        _series(
            "Throughput",
            "HTTP requests per second of the model's pods, by endpoint and status code.",
            (f"sum by (endpoint, status) (rate({requests}[{RATE}]))", "{{endpoint}} {{status}}"),
            unit="reqps",
        ),
        _series(
            "Prediction distribution",
            "Rows predicted per second by model version and endpoint kind (single or batch): "
            "how the traffic is shared between the versions served.",
            (
                f'sum by (model_version, kind) (rate(mlops_predictions_total{{model_name="{m}"}}'
                f"[{RATE}]))",
                "version {{model_version}} {{kind}}",
            ),
            unit="rowsps",
            custom={"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 30},
        ),
        _series(
            "Latency p50 / p95 / p99",
            "Request latency percentiles by endpoint (mlops_http_request_duration_seconds).",
            *latency,
            unit="s",
        ),
        _series(
            "Error rate",
            "Share of requests answered with a 5xx status, by endpoint (a 4xx is the client's).",
            (
                f"sum by (endpoint) (rate({errors}[{RATE}])) "
                f"/ sum by (endpoint) (rate({requests}[{RATE}]))",
                "{{endpoint}}",
            ),
            unit="percentunit",
        ),
        _series(
            "Prediction log",
            "Log rows waiting for the background writer, and rows spooled locally while the "
            "prediction log database is unavailable (per pod).",
            (f"mlops_prediction_log_queue_depth{{{pods}}}", "queued {{pod}}"),
            (f"mlops_prediction_log_spool_rows{{{pods}}}", "spooled {{pod}}"),
            unit="short",
        ),
        _series(
            "Model loads",
            "Model loads and swaps by outcome (a failed load keeps the previous version).",
            (
                f"sum by (outcome) (increase(mlops_model_loads_total{{{pods}}}[{RATE}]))",
                "{{outcome}}",
            ),
            unit="short",
        ),
    ]


def _monitoring_panels(m: str) -> list[dict[str, Any]]:
    sel = f'model="{m}"'
    return [
        _row("Monitoring"),
        _series(
            "Drift score per column",
            "Evidently's drift score of each feature column in the last judged run (a p-value "
            "or a distance, by the column's method), stepping at each monitoring run.",
            (f"mlops_monitor_column_drift_score{{{sel}}}", "{{column}}"),
            unit="short",
        ),
        _series(
            "Drifted share",
            "Share of feature columns that drifted, drifted columns, and the dataset verdict "
            "(1: drift by the policy).",
            (f"mlops_monitor_drift_share{{{sel}}}", "drifted share"),
            (f"sum(mlops_monitor_column_drifted{{{sel}}})", "drifted columns"),
            (f"mlops_monitor_dataset_drift{{{sel}}}", "dataset drift"),
            unit="short",
        ),
        _series(
            "Performance over time",
            "Quality on the feedback-labelled rows of each judged run, by metric, and the "
            "degradation verdict (1: beyond the policy's limit).",
            (f"mlops_monitor_performance{{{sel}}}", "{{metric}}"),
            (f"mlops_monitor_performance_degraded{{{sel}}}", "degraded"),
            unit="short",
        ),
        _series(
            "Rows judged",
            "Predictions in the judged window, and those with a feedback label.",
            (f"mlops_monitor_rows{{{sel}}}", "rows"),
            (f"mlops_monitor_labelled_rows{{{sel}}}", "labelled rows"),
            unit="short",
        ),
        _series(
            "Monitoring freshness",
            "Time since the last monitoring run, against its schedule (monitor.yaml "
            "schedule_seconds).",
            (f"time() - max(mlops_monitor_last_run_timestamp_seconds{{{sel}}})", "since last run"),
            (f"max(mlops_monitor_schedule_seconds{{{sel}}})", "schedule"),
            unit="s",
        ),
        _panel(
            "table",
            "Firing alerts",
            "The model's alerts that fire now (rules: mlops_core.alerting).",
            [_target(f'ALERTS{{{sel}, alertstate="firing"}}', instant=True, format="table")],
            width=12,
            height=8,
        ),
    ]


def _overview_panels(m: str) -> list[dict[str, Any]]:
    sel = f'model="{m}"'
    return [
        _row("Model"),
        _stat(
            "Champion version (served)",
            "The version the model's pods serve (mlops_model_info).",
            f'max by (model_version) (mlops_model_info{{model_name="{m}"}})',
            "{{model_version}}",
            text_mode="name",
        ),
        _stat(
            "Champion age",
            "Time since the served version was registered (the champion-age alert's clock).",
            f'time() - max(mlops_model_created_timestamp_seconds{{model_name="{m}"}})',
            unit="s",
        ),
        _stat(
            "Version judged",
            "The version whose traffic the last monitoring run judged.",
            f"max by (version) (mlops_monitor_model_version_info{{{sel}}})",
            "{{version}}",
            text_mode="name",
        ),
        _stat(
            "Data drift",
            "The last judged run's dataset verdict: 1 drift, 0 none.",
            f"max(mlops_monitor_dataset_drift{{{sel}}})",
        ),
        _stat(
            "Performance degraded",
            "The last judged run's degradation verdict: 1 degraded, 0 not.",
            f"max(mlops_monitor_performance_degraded{{{sel}}})",
        ),
        _stat(
            "Since last monitoring run",
            "Time since the model's last monitoring run ended.",
            f"time() - max(mlops_monitor_last_run_timestamp_seconds{{{sel}}})",
            unit="s",
        ),
        _stat(
            "Rows judged",
            "Predictions in the last monitoring run's window.",
            f"max(mlops_monitor_rows{{{sel}}})",
        ),
        _stat(
            "Firing alerts",
            "How many of the model's alerts fire now.",
            f'count(ALERTS{{{sel}, alertstate="firing"}}) or vector(0)',
        ),
    ]


def _variables(m: str) -> list[dict[str, Any]]:
    endpoints = f'label_values(mlops_http_requests_total{{model="{m}"}}, endpoint)'
    return [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Prometheus",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"},
            "hide": 0,
            "refresh": 1,
        },
        {
            "type": "query",
            "name": "endpoint",
            "label": "Endpoint",
            "datasource": DATASOURCE,
            "definition": endpoints,
            "query": {"query": endpoints, "refId": "endpoint"},
            "includeAll": True,
            "multi": True,
            "allValue": ".*",
            "current": {"text": ["All"], "value": ["$__all"]},
            "refresh": 2,
            "sort": 1,
            "hide": 0,
        },
    ]


def model_dashboard(name: str = MODEL, uid: str | None = None) -> dict[str, Any]:
    """The dashboard of model `name` (default: the placeholder the chart replaces)."""
    panels = _overview_panels(name) + _serving_panels(name) + _monitoring_panels(name)
    return {
        "uid": uid or (UID if name == MODEL else dashboard_uid(name)),
        "title": f"Model {name}",
        "description": f"Serving and monitoring of model {name} (mlops_core.dashboards).",
        "tags": ["mlops", "model"],
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": _variables(name)},
        "panels": _layout(panels),
    }


def render(dashboard: dict[str, Any]) -> str:
    """The JSON text (deterministic: a checked-in copy can be compared with it)."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target: `panel <id> "<title>" <refId>`."""
    return [
        (f'panel {p["id"]} "{p["title"]}" {t["refId"]}', t["expr"])
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_core.dashboards",
        description="Write the dashboard of the placeholder model that the prediction-service "
        "chart renders per model (or, with --model, one model's dashboard).",
    )
    parser.add_argument("--out", type=Path, help=f"file to write (default: stdout); {CHART_FILE}")
    parser.add_argument("--model", default=MODEL, help="a model's name instead of the placeholder")
    args = parser.parse_args(argv)
    text = render(model_dashboard(args.model))
    if args.out is None:
        sys.stdout.write(text)
        return 0
    from mlops_core.storage import write_text

    write_text(str(args.out), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
