"""GET /metrics."""

from __future__ import annotations


def test_metrics(client):
    client.post("/v1/predict", json={})
    client.get("/metrics")  # a request is counted once it is answered
    text = client.get("/metrics").text
    for name in (
        "mlops_http_requests_total",
        "mlops_http_request_duration_seconds_bucket",
        "mlops_predictions_total",
        "mlops_model_info",
        "mlops_prediction_log_queue_depth",
        "mlops_prediction_log_spool_rows",
        "mlops_prediction_log_spool_bytes",
    ):
        assert name in text, name
    assert 'endpoint="/v1/predict",method="POST",status="422"' in text
    assert 'endpoint="/metrics",method="GET",status="200"' in text
