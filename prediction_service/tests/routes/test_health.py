"""GET /v1/health/live and /v1/health/ready."""

from __future__ import annotations


def test_health(client, trained_model):
    live = client.get("/v1/health/live")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model_version"] == trained_model.version
    assert ready.json()["prediction_log"] == "up"
