"""The policy's verdict on a window: drift, degradation, reasons and whether to retrain."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_core.contracts.monitor import MonitorStatus, Performance
from model_monitoring.policy import Policy
from model_monitoring.readings import DriftReading


@dataclass
class Verdict:
    status: MonitorStatus
    data_drift: bool
    degraded: bool
    retrain_advised: bool
    reasons: list[str] = field(default_factory=list)
    message: str = ""


def judge(
    drift: DriftReading, performance: Performance | None, policy: Policy, judged_columns: int
) -> Verdict:
    """Data drift: Evidently's share test failed, a critical column drifted, or (when the
    policy says so) the prediction drifted. Degradation: the performance rule."""
    reasons: list[str] = []
    drifted = drift.drifted_columns
    data_drift = drift.share_test_failed
    if data_drift:
        reasons.append(
            f"data drift: {len(drifted)} of {judged_columns} feature columns drifted "
            f"(share {drift.drift_share or 0:.2f} >= {drift.share_threshold or 0:.2f})"
        )
    critical = [c for c in policy.drift.critical_columns if c in drifted]
    if critical:
        data_drift = True
        reasons.append(f"critical column(s) drifted: {', '.join(critical)}")
    prediction = drift.prediction
    if prediction is not None and prediction.drifted and policy.drift.prediction_drift_flags:
        data_drift = True
        reasons.append(f"prediction drift (score {prediction.score or 0:.3f})")
    degraded = performance is not None and performance.degraded
    if degraded:
        value = getattr(performance, performance.metric)
        reasons.append(
            f"degradation: {performance.metric} {value:.4g} > limit {performance.limit:.4g} "
            f"(test {performance.baseline:.4g} + {policy.performance.max_increase:.0%})"
        )
    share = drift.share_threshold or policy.drift.share
    return Verdict(
        status="drift" if (data_drift or degraded) else "no_drift",
        data_drift=data_drift,
        degraded=degraded,
        retrain_advised=("drift" in policy.retrain_on and data_drift)
        or ("degradation" in policy.retrain_on and degraded),
        reasons=reasons,
        message="; ".join(reasons)
        or (
            f"no drift: {len(drifted)} of {judged_columns} feature columns drifted "
            f"(share {drift.drift_share or 0:.2f} < {share:.2f})"
        ),
    )
