"""The served version's registration time on /metrics: the champion-age alert's clock
(mlops_core.alerting's MlopsChampionTooOld)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

SERIES = "mlops_model_created_timestamp_seconds"


def created(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.labels["model_name"], s.labels["model_version"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == SERIES
    }


@pytest.mark.slow
def test_the_served_versions_registration_time_is_exported(client, trained_model):
    from mlflow import MlflowClient

    mv = MlflowClient(trained_model.tracking_uri).get_model_version(
        trained_model.model_name, trained_model.version
    )
    found = created(client.get("/metrics").text)
    assert found == {
        (trained_model.model_name, trained_model.version): pytest.approx(
            mv.creation_timestamp / 1000
        )
    }


@pytest.mark.slow
def test_a_model_folder_is_dated_by_its_mlmodel(trained_model, tmp_path):
    """A copied model folder has no registry entry: MLmodel's utc_time_created dates it."""
    from datetime import UTC, datetime

    import mlflow.artifacts
    import yaml

    from prediction_service.metrics import Metrics
    from prediction_service.model import load_model, parse_ref

    local = Path(
        mlflow.artifacts.download_artifacts(
            trained_model.model_uri, dst_path=str(tmp_path), tracking_uri=trained_model.tracking_uri
        )
    )
    stamp = yaml.safe_load((local / "MLmodel").read_text())["utc_time_created"]
    model = load_model(parse_ref(str(local), "copy"), "http://127.0.0.1:9", registry_timeout=0)
    expected = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    assert model.created_at == pytest.approx(expected)
    metrics = Metrics()
    metrics.set_model(model)
    assert created(generate_latest(metrics.registry).decode()) == {
        (model.name, "local"): pytest.approx(expected)
    }
