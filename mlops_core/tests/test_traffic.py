"""The traffic client against the real prediction service (`mlops serve`, uvicorn) of the
session's trained model: single records, batches, feedback, failures counted, the served
version, and the background loop."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from mlops_core.apikeys import ApiKeySettings
from mlops_core.schema import load_schema
from mlops_core.services import ServiceManager, free_port
from mlops_core.settings import get_settings
from mlops_core.synthetic import generate
from mlops_core.traffic import BackgroundTraffic, PredictionClient


@pytest.fixture
def service(trained_model, mlops_home, monkeypatch):
    trained_model.use(monkeypatch)
    monkeypatch.setenv("MLOPS_SERVE_API_KEYS", "client-key")
    manager = ServiceManager(get_settings().run_dir)
    exe = shutil.which("mlops", path=str(Path(sys.executable).parent)) or "mlops"
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    manager.start(
        "prediction-service",
        [exe, "serve", "--port", port],
        url=url,
        health_url=url + "/v1/health/ready",
        timeout=240,
    )
    yield url
    manager.stop("prediction-service")


def _records(rows: int):
    import json

    schema = load_schema()
    frame = generate(schema, rows, seed=11)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    return records, frame[schema.label.name].tolist()


def test_the_key_comes_from_the_services_own_settings(monkeypatch):
    monkeypatch.setenv("MLOPS_SERVE_API_KEYS", " first , second")
    assert ApiKeySettings().headers() == {"X-API-Key": "first"}
    monkeypatch.delenv("MLOPS_SERVE_API_KEYS")
    assert ApiKeySettings().headers() == {}


@pytest.mark.slow
def test_send_predicts_batches_reports_labels_and_counts_failures(service, trained_model):
    records, labels = _records(60)
    records[45] = {**records[45], load_schema().numeric_features[0]: "not a number"}
    with PredictionClient(service) as client:  # the key from MLOPS_SERVE_API_KEYS
        assert client.served_version() == trained_model.version
        report = client.send(records, labels, single=20, batch_size=20, feedback_share=1.0, seed=1)
    # 20 single requests and two good batches; the batch holding the bad record fails whole.
    assert report.failed_requests == 20 and report.predictions == 40, report
    assert report.feedback == 40
    assert report.model_versions == [trained_model.version]
    assert report.request_ids[45] is None and report.request_ids[0]

    with PredictionClient(service, headers={}) as anonymous:
        assert anonymous.predict(records[0]).status_code == 401
        assert anonymous.served_version() is None


@pytest.mark.slow
def test_background_traffic_counts_answers_by_version(service, trained_model):
    import time

    records, _ = _records(10)
    with BackgroundTraffic(service, records, pause=0.01) as during:
        time.sleep(2.0)
    assert during.sent > 0 and during.failed == 0, during.as_dict()
    assert during.versions == {trained_model.version: during.sent}
