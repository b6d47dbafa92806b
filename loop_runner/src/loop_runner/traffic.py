"""`mlops pipeline traffic`: a burst of generated client traffic for one model to the
service the home runs, normal or drifted, with feedback labels that are true or partly
wrong: what an operator needs to see a drift alert fire or a degraded champion rolled back
without writing a client."""

from __future__ import annotations

from typing import Any

from mlops_core.contracts.pipeline import TrafficResult
from mlops_core.errors import BadInput, Unavailable


def corrupt_labels(schema, labels: list[Any], share: float, seed: int) -> list[Any]:
    """`share` of the labels made wrong: another class for a classifier, three times the
    value for a regression (a champion judged on them looks degraded)."""
    import numpy as np

    if not 0.0 <= share <= 1.0:
        raise BadInput(f"--wrong-labels: {share} is not a share between 0 and 1")
    rng = np.random.default_rng(seed + 1)
    out = list(labels)
    classes = list(schema.classes) if schema.is_classification else []
    for i in np.flatnonzero(rng.random(len(out)) < share):
        if classes:
            out[i] = rng.choice([c for c in classes if c != out[i]] or classes)
            out[i] = str(out[i])
        else:
            out[i] = float(out[i]) * 3.0
    return out


def service_url(platform, model: str) -> str:
    """The URL of the running service of this home that serves `model`."""
    from loop_runner.serving import SHARED_SERVICE, per_model_service
    from mlops_core.services import ServiceManager

    manager = ServiceManager(platform.run_dir)
    for name in (SHARED_SERVICE, per_model_service(model)):
        info = manager.get(name)
        if info is not None and info.alive and info.url:
            return info.url
    raise Unavailable(
        f"no prediction service of {platform.home} is running for {model}: "
        "`mlops up` (or `make demo`) starts one"
    )


def send(
    model: str | None,
    rows: int,
    *,
    drift: float | None,
    feedback_share: float,
    wrong_labels: float,
    seed: int,
    url: str | None = None,
) -> TrafficResult:
    from loop_runner.scenario import client_records, drift_for
    from mlops_core.settings import get_settings
    from mlops_core.traffic import PredictionClient

    if rows < 1:
        raise BadInput(f"--rows: {rows} is not a positive number of requests")
    platform = get_settings()
    folder = platform.model_folder(model)
    schema = folder.schema
    scenario = drift_for(schema, drift) if drift else None
    records, labels = client_records(schema, rows, seed=seed, drift=scenario)
    labels = corrupt_labels(schema, labels, wrong_labels, seed) if wrong_labels else labels
    base = url or service_url(platform, folder.name)
    with PredictionClient(base, model=folder.name) as client:
        report = client.send(
            records, labels, single=min(rows, 50), feedback_share=feedback_share, seed=seed
        )
    if report.predictions == 0:
        raise Unavailable(f"{base} answered none of {rows} requests for {folder.name}")
    return TrafficResult(
        model_name=folder.name,
        url=base,
        drift=scenario,
        wrong_labels=wrong_labels,
        **report.as_dict(),
    )
