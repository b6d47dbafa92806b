"""The MLflow side of promotion: the version to promote, the `champion` alias and the
promotion history stored with it, the headline metrics of a promotion.

The client, the reachability check, resolution and error classification are the shared
layer's (mlops_core.mlflow_utils); `client`, `alias_version` and `registered_model` are
re-exported for promote.py.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_core.contracts.constants import Alias, Tag
from mlops_core.errors import BadInput
from mlops_core.mlflow_utils import (
    CHALLENGER,
    CHAMPION,
    ModelRef,
    Reference,
    alias_version,
    client,
    registered_model,
    resolve,
    retrying,
)

log = logging.getLogger("mlops.promote")

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Candidate",
    "History",
    "LiveCandidate",
    "alias_version",
    "candidate",
    "client",
    "headline_metrics",
    "history",
    "live_candidate",
    "registered_model",
    "set_candidate",
    "set_champion",
]

# The version a promotion or a rollback moves the champion to.
Candidate = ModelRef

HISTORY_TAG = Tag.CHAMPION_HISTORY.value
MAX_EVENTS = 20
MAX_STACK = 50


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


def candidate(c, name: str, version: str | int | None) -> Candidate:
    """The version to promote: `version`, else the `challenger` alias."""
    registered_model(c, name)
    if version is None:
        resolved = alias_version(c, name, CHALLENGER)
        if resolved is None:
            raise BadInput(
                f"model {name!r} has no challenger (no version passed the quality gate "
                "since the last promotion); run `mlops train` or pass --version N"
            )
        version = resolved
    return retrying()(resolve, c, Reference(name, version=str(version).strip()))


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


# -- the candidate: alias shadow or canary (never both), a canary's weight as a tag --------

SHADOW, CANARY = Alias.SHADOW.value, Alias.CANARY.value
WEIGHT_TAG = Tag.CANARY_WEIGHT.value


@dataclass(frozen=True)
class LiveCandidate:
    """The version served beside the champion, as the registry holds it."""

    version: str
    mode: str  # shadow | canary (the alias it holds)
    weight: float | None = None  # canary: tag canary_weight, percent


def live_candidate(c, name: str) -> LiveCandidate | None:
    """The model's candidate (alias canary, else shadow); None when there is none."""
    canary = alias_version(c, name, CANARY)
    if canary is not None:
        tags = c.get_model_version(name, canary).tags or {}
        try:
            weight = float(tags[WEIGHT_TAG])
        except (KeyError, ValueError):
            weight = None  # a canary alias set by hand: the file says the weight
        return LiveCandidate(canary, CANARY, weight)
    shadow = alias_version(c, name, SHADOW)
    return LiveCandidate(shadow, SHADOW) if shadow is not None else None


def set_candidate(c, name: str, new: LiveCandidate | None, old: LiveCandidate | None) -> None:
    """Move the registry from `old` to `new` (None: no candidate); set_candidate(c, name,
    old, new) undoes it. The alias not in use is removed, so never both are set."""
    if old is not None and (new is None or new.mode != old.mode):
        c.delete_registered_model_alias(name, old.mode)
    if (
        old is not None
        and old.mode == CANARY
        and (new is None or new.mode != CANARY or new.version != old.version)
    ):
        try:
            c.delete_model_version_tag(name, old.version, WEIGHT_TAG)
        except Exception:  # the tag was never set (an alias set by hand): nothing to remove
            log.debug("no %s tag on %s v%s", WEIGHT_TAG, name, old.version)
    if new is None:
        return
    c.set_registered_model_alias(name, new.mode, new.version)
    if new.mode == CANARY:
        c.set_model_version_tag(name, new.version, WEIGHT_TAG, _weight_text(new.weight))


def _weight_text(weight: float | None) -> str:
    return f"{weight:g}" if weight is not None else ""
