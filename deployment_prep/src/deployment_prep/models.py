"""The MLflow side of promotion: resolving versions, the `champion` alias and its history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_core.errors import BadInput, Unavailable

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "mlops.champion_history"
MAX_EVENTS = 20
MAX_STACK = 50


@dataclass
class Candidate:
    name: str
    version: str
    run_id: str | None
    data_version: str | None
    tags: dict[str, str]
    source: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass
class History:
    """Champion versions, oldest first (the last is the current champion), and recent events."""

    stack: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_tag(self) -> str:
        return json.dumps(
            {"stack": self.stack[-MAX_STACK:], "events": self.events[-MAX_EVENTS:]},
            separators=(",", ":"),
        )

    @classmethod
    def from_tag(cls, value: str | None) -> History:
        if not value:
            return cls()
        try:
            data = json.loads(value)
            return cls([str(v) for v in data.get("stack", [])], list(data.get("events", [])))
        except (ValueError, AttributeError):
            return cls()

    def record(self, action: str, version: str, previous: str | None, **extra: Any) -> None:
        self.events.append(
            {
                "action": action,
                "version": version,
                "previous": previous,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                **extra,
            }
        )


def check_reachable(tracking_uri: str) -> None:
    """Fail fast (exit 5) instead of MLflow's minutes of retries when the server is down."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        httpx.get(f"{tracking_uri.rstrip('/')}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"the MLflow server at {tracking_uri} cannot be reached ({type(exc).__name__}); "
            "start it with `mlops up` or set MLOPS_MLFLOW_TRACKING_URI"
        ) from exc


def client(tracking_uri: str):
    from mlflow import MlflowClient

    check_reachable(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _missing(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or (
        "not found" in str(exc).lower()
    )


def alias_version(c, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(c.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if _missing(exc) or "alias" in str(exc).lower():
            return None
        raise


def registered_model(c, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return c.get_registered_model(name)
    except MlflowException as exc:
        if _missing(exc):
            raise BadInput(
                f"registered model {name!r} does not exist in MLflow; train one with "
                "`mlops train` (or set MLOPS_MODEL_NAME)"
            ) from exc
        raise


def candidate(c, name: str, version: str | int | None) -> Candidate:
    """The version to promote: `version`, else the `challenger` alias."""
    from mlflow.exceptions import MlflowException

    registered_model(c, name)
    if version is None:
        resolved = alias_version(c, name, CHALLENGER)
        if resolved is None:
            raise BadInput(
                f"model {name!r} has no challenger (no version passed the quality gate "
                "since the last promotion); run `mlops train` or pass --version N"
            )
        version = resolved
    try:
        mv = c.get_model_version(name, str(version))
    except MlflowException as exc:
        if _missing(exc):
            raise BadInput(f"model {name!r} has no version {version}") from exc
        raise
    tags = dict(mv.tags or {})
    metrics: dict[str, float] = {}
    data_version = tags.get("data_version")
    if mv.run_id:
        try:
            run = c.get_run(mv.run_id)
            metrics = dict(run.data.metrics)
            data_version = data_version or run.data.tags.get("data_version")
        except MlflowException:
            pass
    return Candidate(name, str(mv.version), mv.run_id, data_version, tags, mv.source, metrics)


def history(c, name: str) -> History:
    rm = registered_model(c, name)
    return History.from_tag((rm.tags or {}).get(HISTORY_TAG))


def set_champion(c, name: str, version: str | None, hist: History) -> None:
    """Point `champion` at version (None deletes it) and store the history with it."""
    if version is None:
        c.delete_registered_model_alias(name, CHAMPION)
    else:
        c.set_registered_model_alias(name, CHAMPION, str(version))
    c.set_registered_model_tag(name, HISTORY_TAG, hist.to_tag())


def headline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    keys = [k for k in sorted(metrics) if k.startswith(("test_", "val_"))]
    return {k: round(float(metrics[k]), 4) for k in keys}
