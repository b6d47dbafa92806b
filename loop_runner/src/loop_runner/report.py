"""What the loop tells a person: one line per step, and the closing summary."""

from __future__ import annotations

from typing import Any

from mlops_core.contracts.deploy import PromoteResult
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.contracts.pipeline import PipelineResult
from mlops_core.contracts.train import TrainResult

MONITOR_KEYS = (
    "status",
    "drift_share",
    "drifted_columns",
    "rows",
    "rmse",
    "report_html",
    "report_json",
    "model_version",
)

# The test metrics a note shows: regression's, then classification's (scikit-learn names).
HEADLINE = (
    "test_rmse",
    "test_r2",
    "test_mape",
    "test_roc_auc",
    "test_f1_macro",
    "test_balanced_accuracy",
    "test_accuracy",
    "test_log_loss",
    "test_brier",
)


def headline(metrics: dict[str, float], limit: int = 4) -> str:
    shown = [f"{k}={metrics[k]:.4g}" for k in HEADLINE if k in metrics][:limit]
    return ", ".join(shown)


def train_note(t: TrainResult) -> str:
    return f"v{t.model_version} gate {t.gate}: {headline(t.metrics)}"


def promote_note(r: PromoteResult) -> str:
    served = f"; service {r.reload.how}" if r.reload and r.reload.ok else ""
    return (
        f"champion v{r.model_version} (was {r.previous_version or 'none'}), "
        f"commit {(r.commit or '')[:10]} in {r.gitops_repo}{served}"
    )


def traffic_note(t: dict[str, Any]) -> str:
    return (
        f"{t['predictions']} predictions, {t['feedback']} labels, "
        f"{t['failed_requests']} failed, model {', '.join(t['model_versions'])}"
    )


def _performance(m: MonitorResult) -> tuple[str | None, float | None]:
    """The policy metric and its value on the labelled rows (rmse before monitoring named
    its metric)."""
    metric = getattr(m, "metric", None)
    value = getattr(m, "metric_value", None)
    if metric is None and m.rmse is not None:
        return "rmse", m.rmse
    return metric, value


def monitor_note(m: MonitorResult) -> str:
    share = m.drift_share
    metric, value = _performance(m)
    return (
        f"{m.status}: drift share {share if share is None else f'{share:.2f}'}"
        + (f", drifted {', '.join(m.drifted_columns)}" if m.drifted_columns else "")
        + (f", {metric} {value:.4g}" if metric and value is not None else "")
    )


def model_summary(t: TrainResult, p: PromoteResult) -> dict[str, Any]:
    return {
        "version": t.model_version,
        "data_version": t.data_version,
        "gate": t.gate,
        "metrics": {k: v for k, v in t.metrics.items() if k.startswith("test_")},
        "promoted": p.model_version == t.model_version,
    }


def monitor_summary(m: MonitorResult) -> dict[str, Any]:
    metric, value = _performance(m)
    return {**m.model_dump(include=set(MONITOR_KEYS)), "metric": metric, "metric_value": value}


def human(console, s: PipelineResult) -> None:
    names = ", ".join(m.model for m in s.models)
    how = "side by side" if s.side_by_side else "one after the other"
    console.print(
        f"\n[bold green]The loop ran in {s.seconds:.0f} s[/] for {names} ({how}; "
        f"{s.serving}; state in {s.home})"
    )
    for loop in s.models:
        console.print(f"\n  [bold]{loop.model}[/] ({loop.task}), {loop.seconds:.0f} s of steps")
        console.print(f"    data versions: {', '.join(loop.data_versions)}")
        for v in loop.versions:
            console.print(
                f"    model v{v.version} on {v.data_version}: gate {v.gate}; "
                f"{headline(v.metrics, limit=6)}"
            )
        files = ", ".join(loop.gitops.values_files) or "no file"
        console.print(
            f"    champion: v{loop.champion} (gitops commit {str(loop.gitops.commit)[:10]}: "
            f"{files})"
        )
        for label, m in zip(("normal traffic", "drifted traffic"), loop.monitoring, strict=True):
            perf = (
                f", {m.metric} {m.metric_value:.4g}"
                if m.metric and m.metric_value is not None
                else ""
            )
            console.print(
                f"    monitoring, {label}: {m.status} (drift share {m.drift_share}{perf})"
            )
            console.print(f"      report: {m.report_html}")
        swap = loop.traffic.during_swap
        console.print(
            f"    predictions: {loop.predict_url} ({swap.requests} requests during the last "
            f"promotion, {swap.failed} failed)"
        )
    console.print("\n  open:")
    for name, url in s.urls.model_dump().items():
        if url:
            console.print(f"    {name.replace('_', ' ')}: {url}")
    console.print("  stop the services with `make down` (or `mlops down`)")
