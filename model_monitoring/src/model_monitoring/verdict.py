"""The policy's verdict on a window: drift, degradation, reasons and whether to retrain."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_core.contracts.monitor import MonitorStatus, Performance
from model_monitoring.policy import LOWER_IS_BETTER, Policy
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
    policy says so) the prediction or a class probability drifted. Degradation: the
    performance rule."""
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
    flags = policy.drift.prediction_drift_flags
    prediction = drift.prediction
    if prediction is not None and prediction.drifted and flags:
        data_drift = True
        reasons.append(f"prediction drift (score {prediction.score or 0:.3f})")
    drifted_probabilities = sorted(c for c, info in drift.probabilities.items() if info.drifted)
    if drifted_probabilities and flags:
        data_drift = True
        reasons.append(f"probability drift of class(es) {', '.join(drifted_probabilities)}")
    degraded = performance is not None and performance.degraded
    if degraded:
        value = performance.value
        if value is None:  # a Performance built by hand with the regression fields only
            value = getattr(performance, performance.metric)
        rule = policy.performance
        if performance.metric in LOWER_IS_BETTER:
            how = f"> limit {performance.limit:.4g} (test {performance.baseline:.4g} + "
            how += f"{rule.max_increase:.0%})"
        else:
            how = f"< limit {performance.limit:.4g} (test {performance.baseline:.4g} - "
            how += f"{rule.max_decrease:.0%})"
        reasons.append(f"degradation: {performance.metric} {value:.4g} {how}")
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
