"""Rollback on live degradation: whether the policy calls for one, and running it.

A model's policy says `performance.on_degradation: rollback` (default `alert`). A rollback
is due only when all of these hold, so noise and stale verdicts cannot trigger one:
- the metric's whole confidence interval (Performance.interval) is beyond the limit, not
  just its value;
- on at least `rollback_min_labelled_rows` labelled rows;
- the judged version is the champion now (after a rollback the degraded version is not,
  so judging the same window again does nothing).

Monitoring never moves an alias itself: `mlops rollback --model M --reason TEXT --json`
runs as a stage command through `mlops_core.taskrun`, as retraining runs its commands (on
one machine with `mlops monitor --rollback-on-degradation`; the monitoring DAG runs it as
its own task instead). Its result is read as the RollbackResult contract.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from mlops_core import taskrun
from mlops_core.contracts import parse_payload
from mlops_core.contracts.deploy import RollbackResult
from mlops_core.contracts.monitor import Performance, RollbackOutcome
from model_monitoring.policy import Policy

log = logging.getLogger("mlops.monitor")

RUNNER_VARIABLE = "MLOPS_TASK_RUNNER"


def _g(value: float) -> str:
    return f"{value:.4g}"


def describe(performance: Performance) -> str:
    """'<metric> <value> (95% CI [lo, hi])', the interval left out when there is none."""
    text = f"{performance.metric} {_g(performance.value)}"
    if performance.interval and performance.confidence:
        lo, hi = performance.interval
        text += f" ({performance.confidence:.0%} CI [{_g(lo)}, {_g(hi)}])"
    return text


def decide(
    policy: Policy,
    performance: Performance | None,
    *,
    judged_version: str,
    champion: Callable[[], str | None],
    run_id: str,
) -> RollbackOutcome | None:
    """The rollback decision on one judged window; None when the policy only alerts or no
    performance was judged. `champion` looks the champion version up (only asked once the
    bound says degraded: it costs a registry call)."""
    rule = policy.performance
    if rule.on_degradation != "rollback" or performance is None:
        return None
    n, minimum = performance.labelled_rows, rule.rollback_min_labelled_rows
    if performance.value is None or performance.limit is None:
        why = performance.note or f"{performance.metric} has no limit to judge against"
        return RollbackOutcome(advised=False, reason=f"no rollback: {why}")
    judged = f"{describe(performance)} against limit {_g(performance.limit)}"
    if n < minimum:
        return RollbackOutcome(
            advised=False,
            reason=f"no rollback: {n} labelled rows, a rollback needs at least {minimum} "
            f"({judged})",
        )
    if performance.interval is None:
        return RollbackOutcome(
            advised=False,
            reason=f"no rollback: no confidence interval of {performance.metric} "
            f"(too many undefined resamples; {judged})",
        )
    if not performance.interval_degraded:
        how = (
            "beyond the limit, but its interval reaches it: noise is not ruled out"
            if performance.degraded
            else "within the limit"
        )
        return RollbackOutcome(advised=False, reason=f"no rollback: {judged}: {how}")
    current = champion()
    if current != str(judged_version):
        return RollbackOutcome(
            advised=False,
            reason=f"no rollback: version {judged_version} is degraded but no longer the "
            f"champion (the champion is {f'v{current}' if current else 'unset'})",
            from_version=str(judged_version),
        )
    return RollbackOutcome(
        advised=True,
        reason=f"{describe(performance)} beyond limit {_g(performance.limit)} on {n} "
        f"labelled rows, monitoring run {run_id}",
        from_version=str(judged_version),
    )


def installed() -> bool:
    """`mlops rollback` can run here: the local task runner and the deployment stage
    installed next to monitoring (the embedded runtime), not a monitoring-only image."""
    from model_monitoring.retrain import installed_commands

    runner = (os.environ.get(RUNNER_VARIABLE) or "local").strip().lower()
    return runner == "local" and "rollback" in installed_commands()


def apply(model: str, outcome: RollbackOutcome) -> RollbackOutcome:
    """Run `mlops rollback` for an advised outcome; returns it with what happened."""
    command = ["mlops", "rollback", "--model", model, "--reason", outcome.reason, "--json"]
    done: dict[str, Any] = {"triggered": False, "ok": False}
    if not installed():
        done["error"] = (
            "`mlops rollback` cannot run here (the deployment stage is not installed, or "
            f"{RUNNER_VARIABLE} runs each stage in its own image); the mlops_monitoring."
            f"{model} DAG runs it as its own task, or run it by hand: "
            f"mlops rollback --model {model} --reason '{outcome.reason}'"
        )
        return outcome.model_copy(update=done)
    log.warning("rolling back %s: %s", model, outcome.reason)
    done.update(triggered=True, command=command)
    try:
        ran = taskrun.run(command, accept=(0,), sink=lambda _stream, line: log.debug("%s", line))
    except taskrun.TaskFailed as exc:
        done.update(exit_code=exc.outcome.exit_code, error=str(exc))
        return outcome.model_copy(update=done)
    done["exit_code"] = ran.exit_code
    try:
        result = parse_payload(ran.payload(), RollbackResult)
    except ValueError as exc:  # exit 0 but no RollbackResult: report it, never assume
        result = exc
    if not isinstance(result, RollbackResult):
        done["error"] = f"`mlops rollback` printed no rollback result: {result}"
        return outcome.model_copy(update=done)
    done.update(
        ok=bool(result.changed),
        from_version=str(result.previous_version) if result.previous_version else None,
        to_version=str(result.model_version),
        commit=result.commit,
    )
    if not result.changed:
        done["error"] = f"`mlops rollback` changed nothing (v{result.model_version} stays)"
    return outcome.model_copy(update=done)
