"""The one retry policy for MLflow calls (tenacity): only transient failures (see
failures.is_transient), exponential backoff, a total time budget.

    result = retrying(budget=30)(resolve, mlflow_client, ref)

A not-found, an invalid request or a bug fails on the first attempt; the last transient
error is re-raised when the budget is spent. `Retrying.statistics["attempt_number"]` says
how many attempts were made.
"""

from __future__ import annotations

import logging

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
)

from mlops_core.mlflow_utils.failures import is_transient

log = logging.getLogger("mlops.mlflow")

# Enough for a server that restarts (the embedded one starts in ~20 s on a busy machine).
DEFAULT_BUDGET = 30.0


def _log_retry(what: str):
    def log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            f"{what} unreachable; retrying",
            extra={
                "attempt": state.attempt_number,
                "retry_in_s": round(state.upcoming_sleep, 2),
                "error": str(exc),
            },
        )

    return log_retry


def retrying(
    budget: float = DEFAULT_BUDGET,
    *,
    first_wait: float = 0.5,
    max_wait: float = 10.0,
    what: str = "MLflow",
) -> Retrying:
    """A tenacity Retrying: waits first_wait, 2x, 4x... (at most max_wait) between attempts,
    and starts no attempt after `budget` seconds. `what` names the server in the retry log
    (the policy holds for any HTTP call: transport failures are classified by type)."""
    return Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=first_wait, max=max_wait),
        stop=stop_before_delay(budget),
        before_sleep=_log_retry(what),
        reraise=True,
    )
