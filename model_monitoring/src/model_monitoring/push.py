"""A monitoring run's results as Prometheus series, pushed to a Pushgateway.

A monitoring run is a short-lived batch job: it has ended before Prometheus would scrape
it, so it pushes what it found to a Pushgateway (Prometheus's way for batch jobs), which
keeps the last push of each model for Prometheus to scrape. The prediction service, which
lives long, keeps its own /metrics.

One group per model (job "mlops-monitor", grouping key {model}), so models never overwrite
each other. A judged run replaces its model's whole group (a column no longer judged
disappears); a run with too few rows to judge adds its time and row counts only, keeping
the last verdict (drift, performance) until a run judges again. A failed push is a warning
on the result, never a failed run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway

from mlops_core.alerting.config import DEFAULT_SCHEDULE_SECONDS, load_monitor_alerting
from mlops_core.contracts.monitor import MonitorResult

log = logging.getLogger("mlops.monitor")

JOB = "mlops-monitor"
# The Performance fields pushed as mlops_monitor_performance{metric}, when computed.
PERFORMANCE_METRICS = (
    "rmse",
    "mae",
    "mape",
    "mean_error",
    "r2",
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "brier",
)


def judged(result: MonitorResult) -> bool:
    """The run reached a verdict (not too few rows to judge)."""
    return result.status != "insufficient_data"


def registry_of(
    result: MonitorResult, schedule_seconds: int, now: float | None = None
) -> CollectorRegistry:
    """The series of one run, in a registry of their own (the grouping key adds `model`)."""
    r = CollectorRegistry()

    def gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None):
        if value is None:
            return
        g = Gauge(name, doc, list(labels or {}), registry=r)
        (g.labels(**labels) if labels else g).set(float(value))

    gauge(
        "mlops_monitor_last_run_timestamp_seconds",
        "When the model's last monitoring run ended (Unix seconds).",
        time.time() if now is None else now,
    )
    gauge(
        "mlops_monitor_schedule_seconds",
        "How often monitoring of the model is expected to run (monitor.yaml schedule_seconds).",
        schedule_seconds,
    )
    gauge("mlops_monitor_rows", "Predictions in the judged window.", result.rows)
    gauge(
        "mlops_monitor_labelled_rows",
        "Predictions of the window with a feedback label.",
        result.labelled_rows,
    )
    if result.model_version is not None:
        g = Gauge(
            "mlops_monitor_model_version_info",
            "The model version whose traffic the last run judged (value 1).",
            ["version"],
            registry=r,
        )
        g.labels(version=str(result.model_version)).set(1)
    if not judged(result):
        return r
    gauge(
        "mlops_monitor_dataset_drift",
        "1 when the last judged run found data drift (the policy's verdict), else 0.",
        1 if result.data_drift else 0,
    )
    gauge(
        "mlops_monitor_drift_share",
        "Share of feature columns drifted in the last judged run.",
        result.drift_share,
    )
    columns = list(result.columns.items())
    if columns:
        score = Gauge(
            "mlops_monitor_column_drift_score",
            "Evidently's drift score of each feature column (p-value or distance).",
            ["column"],
            registry=r,
        )
        drifted = Gauge(
            "mlops_monitor_column_drifted",
            "1 when the column's drift test failed in the last judged run.",
            ["column"],
            registry=r,
        )
        for column, info in columns:
            if info.score is not None:
                score.labels(column=column).set(info.score)
            drifted.labels(column=column).set(1 if info.drifted else 0)
    perf = result.performance
    if perf is not None:
        values = {m: getattr(perf, m) for m in PERFORMANCE_METRICS}
        values = {m: v for m, v in values.items() if v is not None}
        if values:
            g = Gauge(
                "mlops_monitor_performance",
                "Quality on the labelled rows of the last judged run, by metric.",
                ["metric"],
                registry=r,
            )
            for metric, value in values.items():
                g.labels(metric=metric).set(value)
    gauge(
        "mlops_monitor_performance_degraded",
        "1 when the last judged run found the policy metric beyond its limit, else 0.",
        1 if result.degraded else 0,
    )
    rollback = result.rollback
    gauge(
        "mlops_monitor_rolled_back",
        "1 when the last judged run rolled the champion back (on_degradation: rollback).",
        1 if rollback is not None and rollback.triggered and rollback.ok else 0,
    )
    gauge(
        "mlops_monitor_rollback_failed",
        "1 when the last judged run's rollback was due and did not move the champion.",
        1 if rollback is not None and rollback.triggered and rollback.ok is False else 0,
    )
    return r


def schedule_of(result: MonitorResult) -> int:
    """The run's policy file's schedule_seconds (the default for the built-in policy)."""
    path = Path(result.policy)
    if not path.is_file():
        return DEFAULT_SCHEDULE_SECONDS
    return load_monitor_alerting(path).schedule_seconds


def push_result(
    result: MonitorResult, url: str, *, budget: float = 10.0, now: float | None = None
) -> None:
    """Push the run's series to the Pushgateway at `url`; an unreachable gateway is retried
    (mlops_core's retry policy) for `budget` seconds, then the error is raised."""
    from mlops_core.mlflow_utils.retry import retrying

    registry = registry_of(result, schedule_of(result), now)
    push = push_to_gateway if judged(result) else pushadd_to_gateway
    retrying(budget, first_wait=0.5, max_wait=2.0, what="Pushgateway")(
        push,
        url,
        job=JOB,
        registry=registry,
        grouping_key={"model": result.model_name},
        timeout=min(5.0, budget),
    )


def publish(result: MonitorResult, url: str | None, *, budget: float = 10.0) -> MonitorResult:
    """Push when a Pushgateway is set: on success name it on the result, on failure add a
    warning; the run's outcome is never changed."""
    if not url:
        return result
    try:
        push_result(result, url, budget=budget)
    except Exception as exc:
        log.warning("monitoring series not pushed", extra={"pushgateway": url, "error": str(exc)})
        result.warnings = [*(result.warnings or []), f"Pushgateway {url} not updated: {exc}"]
        return result
    result.pushgateway = url
    return result
