"""The quality gate: may a newly trained version become `challenger`?

It passes when the new version meets every absolute threshold of the config on the test
split, and - when a champion exists - is not worse than the champion by more than the
configured relative tolerance, both scored on the same test split (of the new data version).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_core.contracts.constants import Task
from model_training.config import LOWER_IS_BETTER, TASK_METRICS, Gate

GATE_METRICS = TASK_METRICS[Task.REGRESSION]  # the regression gate's (the name before tasks)


@dataclass(frozen=True)
class Champion:
    """The current champion, scored on the new data version's test split."""

    version: str
    metrics: dict[str, float] | None  # None: it could not score the split
    error: str | None = None


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def relative_worsening(metric: str, new: float, champion: float) -> float:
    """How much worse `new` is than `champion` (relative; negative when better)."""
    diff = new - champion if LOWER_IS_BETTER[metric] else champion - new
    scale = abs(champion)
    return diff / scale if scale > 0 else diff


def decide(
    new: dict[str, float],
    gate: Gate,
    champion: dict[str, float] | None = None,
    champion_version: str | None = None,
    metric: str | None = None,
) -> GateDecision:
    """new/champion: the task's metrics on the same test split; `metric` compares them
    (default gate.metric, else rmse)."""
    failures: list[str] = []
    notes: list[str] = []
    for name, bound in sorted(gate.thresholds.items()):
        value = new[name]
        if value != value:  # NaN: e.g. roc_auc on a test split holding one class
            failures.append(f"test {name} could not be computed on the test split")
            continue
        if bound.min is not None and value < bound.min:
            failures.append(f"test {name} {_fmt(value)} is below the minimum {bound.min:g}")
        if bound.max is not None and value > bound.max:
            failures.append(f"test {name} {_fmt(value)} is above the maximum {bound.max:g}")
    if champion is not None:
        metric = metric or gate.metric or "rmse"
        worse = relative_worsening(metric, new[metric], champion[metric])
        comparison = (
            f"test {metric} {_fmt(new[metric])} vs champion v{champion_version} "
            f"{_fmt(champion[metric])} ({worse:+.1%} worse, tolerance {gate.tolerance:.1%})"
        )
        if worse > gate.tolerance:
            failures.append(comparison)
        else:
            notes.append(comparison)
    else:
        notes.append("no champion to compare with")
    if failures:
        return GateDecision(False, "; ".join(failures), champion_version, champion)
    thresholds = "thresholds met" if gate.thresholds else "no absolute thresholds"
    return GateDecision(True, "; ".join([*notes, thresholds]), champion_version, champion)


def judge(
    test_metrics: dict[str, float],
    gate: Gate,
    champion: Champion | None,
    data_version: str,
    *,
    task: Task = Task.REGRESSION,
    metric: str | None = None,
) -> GateDecision:
    """The decision for a new version given its `test_<metric>` scores and the champion's.

    A champion that cannot score the new test split refuses the new version: the
    comparison the gate promises cannot be made.
    """
    new = {m: test_metrics[f"test_{m}"] for m in TASK_METRICS[task]}
    if champion is None:
        return decide(new, gate, metric=metric)
    if champion.metrics is None:
        return GateDecision(
            False,
            f"champion v{champion.version} could not be scored on the test split of "
            f"{data_version}: {champion.error}",
            champion.version,
        )
    return decide(new, gate, champion.metrics, champion.version, metric)
