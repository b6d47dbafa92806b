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


def train_note(t: TrainResult) -> str:
    shown = ", ".join(
        f"{k}={t.metrics[k]:.4g}" for k in ("test_rmse", "test_r2", "test_mape") if k in t.metrics
    )
    return f"v{t.model_version} gate {t.gate}: {shown}"


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


def monitor_note(m: MonitorResult) -> str:
    share = m.drift_share
    return (
        f"{m.status}: drift share {share if share is None else f'{share:.2f}'}"
        + (f", drifted {', '.join(m.drifted_columns)}" if m.drifted_columns else "")
        + (f", rmse {m.rmse:.4g}" if m.rmse is not None else "")
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
    return m.model_dump(include=set(MONITOR_KEYS))


def human(console, s: PipelineResult) -> None:
    console.print(f"\n[bold green]The loop ran in {s.seconds:.0f} s[/] (state in {s.home})")
    console.print(f"  data versions: {', '.join(s.data_versions)}")
    for m in s.models:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in m.metrics.items())
        console.print(f"  model v{m.version} on {m.data_version}: gate {m.gate}; {metrics}")
    console.print(
        f"  champion: v{s.champion} (gitops commit {str(s.gitops.commit)[:10]} in {s.gitops.repo})"
    )
    for label, m in zip(("normal traffic", "drifted traffic"), s.monitoring, strict=True):
        console.print(f"  monitoring, {label}: {m.status} (drift share {m.drift_share})")
        console.print(f"    report: {m.report_html}")
    console.print("  open:")
    for name, url in s.urls.model_dump().items():
        if url:
            console.print(f"    {name.replace('_', ' ')}: {url}")
    console.print("  stop the services with `make down` (or `mlops down`)")
