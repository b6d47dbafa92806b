"""What the loop tells a person: one line per step, and the closing summary."""

from __future__ import annotations

from typing import Any

from mlops_core.contracts.deploy import PromoteResult
from mlops_core.contracts.pipeline import PipelineResult

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


def train_note(t: dict[str, Any]) -> str:
    metrics = t.get("metrics") or {}
    shown = ", ".join(
        f"{k}={metrics[k]:.4g}" for k in ("test_rmse", "test_r2", "test_mape") if k in metrics
    )
    return f"v{t.get('model_version')} gate {t.get('gate')}: {shown}"


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


def monitor_note(m: dict[str, Any]) -> str:
    share = m.get("drift_share")
    rmse = m.get("rmse")
    drifted = m.get("drifted_columns")
    return (
        f"{m.get('status')}: drift share {share if share is None else f'{share:.2f}'}"
        + (f", drifted {', '.join(drifted)}" if drifted else "")
        + (f", rmse {rmse:.4g}" if isinstance(rmse, int | float) else "")
    )


def model_summary(t: dict[str, Any], p: PromoteResult) -> dict[str, Any]:
    version = t.get("model_version")
    return {
        "version": None if version is None else str(version),
        "data_version": t.get("data_version"),
        "gate": t.get("gate"),
        "metrics": {k: v for k, v in (t.get("metrics") or {}).items() if k.startswith("test_")},
        "promoted": p.model_version == (None if version is None else str(version)),
    }


def monitor_summary(m: dict[str, Any]) -> dict[str, Any]:
    summary = {k: m.get(k) for k in MONITOR_KEYS}
    if summary["model_version"] is not None:
        summary["model_version"] = str(summary["model_version"])
    return summary


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
