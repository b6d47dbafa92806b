"""The live comparison's policy and verdict, shared by the stage that writes the verdict
(`mlops monitor compare`, model_monitoring) and the one that requires it
(`mlops promote --require-live`, deployment_prep): stages never import each other, so the
`live:` block of monitor.yaml, the tag names and the check live here.

The verdict is recorded as tags on the candidate model version: `live_verdict`
(pass|fail|insufficient_data), `live_verdict_run` (the comparison's MLflow run id),
`live_verdict_time` (ISO-8601, UTC) and `live_verdict_champion` (the champion version it was
compared with: a verdict against another champion says nothing about this one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.configfile import load_yaml_model
from mlops_core.errors import GateRefused

TAG_VERDICT = "live_verdict"
TAG_RUN = "live_verdict_run"
TAG_TIME = "live_verdict_time"
TAG_CHAMPION = "live_verdict_champion"
TAG_REPORT = "live_verdict_report"

# The aliases a live candidate carries (never both, at most one candidate per model).
CANDIDATE_ALIASES = ("shadow", "canary")


class LiveConfig(BaseModel):
    """monitor.yaml `live:`: when a candidate's live comparison with the champion passes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_rows: int = Field(
        default=200, ge=1, description="predictions each side needs in the window"
    )
    min_labelled_rows: int = Field(
        default=100,
        ge=0,
        description="labelled predictions each side needs (0: judge without labels)",
    )
    metric: str | None = Field(
        default=None, description="the compared metric; default: performance.metric"
    )
    max_degradation: float = Field(
        default=0.05,
        ge=0,
        description="the candidate's metric may be worse than the champion's by at most "
        "this fraction; fail when the whole confidence interval of the degradation is "
        "beyond it, pass only when the whole interval is within it",
    )
    confidence: float = Field(default=0.95, ge=0.5, lt=1, description="of that interval")
    max_disagreement: float | None = Field(
        default=0.3,
        ge=0,
        le=1,
        description="shadow: the largest share of paired requests whose answers differ "
        "(null: not judged)",
    )
    tolerance: float = Field(
        default=0.1,
        ge=0,
        description="regression: two answers agree when they differ by at most this "
        "fraction of the champion's",
    )
    max_latency_increase: float | None = Field(
        default=0.5,
        ge=0,
        description="the candidate's p95 latency may exceed the champion's by at most this "
        "fraction (null: not judged)",
    )
    max_verdict_age_hours: float = Field(
        default=24, gt=0, description="`mlops promote --require-live`: the oldest verdict it takes"
    )


class _MonitorLive(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    live: LiveConfig = Field(default_factory=LiveConfig)


def load_live_config(path: str | Path) -> LiveConfig:
    """A monitor.yaml's `live:` block; defaults when the file does not exist. A bad value
    is BadInput naming the file and the field (e.g. `live.max_degradation`)."""
    if not Path(path).is_file():
        return LiveConfig()
    found, _, _ = load_yaml_model(_MonitorLive, path, what="monitoring policy", empty_ok=True)
    return found.live


def verdict_tags(
    verdict: str, run_id: str, when: datetime, champion: str, report: str | None = None
) -> dict[str, str]:
    """The tags a comparison writes on the candidate version."""
    tags = {
        TAG_VERDICT: verdict,
        TAG_RUN: run_id,
        TAG_TIME: when.astimezone(UTC).isoformat(),
        TAG_CHAMPION: str(champion),
    }
    if report:
        tags[TAG_REPORT] = report
    return tags


def require_live_verdict(
    client: Any,
    model: str,
    version: str,
    max_age_seconds: float,
    *,
    champion: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The live verdict of `model` version `version`: its tags when it is `pass`, recent
    (at most max_age_seconds old) and, when `champion` is given, against that champion.
    Otherwise GateRefused naming what is missing, the verdict or its age."""
    from mlops_core.mlflow_utils.refs import missing_is_bad_input

    with missing_is_bad_input(client, f"registered model {model!r} has no version {version}"):
        tags = dict(client.get_model_version(model, str(version)).tags or {})
    what = f"model {model!r} version {version}"
    how = f"run `mlops monitor compare --model {model}` while it is live"
    verdict = tags.get(TAG_VERDICT)
    if not verdict:
        raise GateRefused(f"--require-live: {what} has no live verdict; {how}")
    run = tags.get(TAG_RUN, "?")
    if verdict != "pass":
        raise GateRefused(
            f"--require-live: the live verdict of {what} is {verdict} (comparison run {run})",
            details={"verdict": verdict, "run": run},
        )
    try:
        stamped = datetime.fromisoformat(tags.get(TAG_TIME, ""))
    except ValueError:
        raise GateRefused(
            f"--require-live: the live verdict of {what} has no readable time "
            f"({TAG_TIME}={tags.get(TAG_TIME)!r}); {how}"
        ) from None
    if stamped.tzinfo is None:
        stamped = stamped.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - stamped).total_seconds()
    if age > max_age_seconds:
        raise GateRefused(
            f"--require-live: the live verdict of {what} (pass, run {run}) is "
            f"{age / 3600:.1f} h old, older than the policy's "
            f"{max_age_seconds / 3600:g} h (live.max_verdict_age_hours); {how}",
            details={"verdict": verdict, "run": run, "age_seconds": round(age)},
        )
    compared = tags.get(TAG_CHAMPION)
    if champion is not None and compared is not None and compared != str(champion):
        raise GateRefused(
            f"--require-live: the live verdict of {what} compared it with version "
            f"{compared}, but the champion is version {champion}; {how}"
        )
    return tags


def require_live_for_promotion(model: str | None, version: str | None) -> dict[str, str]:
    """`mlops promote --require-live`, before anything moves: the version to promote
    (`version`, else the live candidate: alias shadow or canary, else the challenger) must
    carry a passing, recent live verdict against the current champion; the age limit is
    the model's monitor.yaml `live.max_verdict_age_hours`. GateRefused otherwise."""
    from mlops_core.mlflow_utils import alias_version
    from mlops_core.mlflow_utils import client as mlflow_client
    from mlops_core.settings import get_settings

    settings = get_settings()
    folder = settings.model_folder(model)
    config = load_live_config(folder.monitor_path)
    client = mlflow_client(settings.tracking_uri)
    name = folder.name
    if version is None:
        for alias in (*CANDIDATE_ALIASES, "challenger"):
            version = alias_version(client, name, alias)
            if version is not None:
                break
    if version is None:
        raise GateRefused(
            f"--require-live: model {name!r} has no candidate (shadow or canary) or "
            "challenger to promote"
        )
    champion = alias_version(client, name, "champion")
    return require_live_verdict(
        client, name, str(version), config.max_verdict_age_hours * 3600, champion=champion
    )
