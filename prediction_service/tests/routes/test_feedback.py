"""POST /v1/feedback."""

from __future__ import annotations

import time

from serve_helpers import wait_for_rows

from mlops_core import predlog


def test_feedback(client, records, log_url):
    pred = client.post("/v1/predict", json=records[3], headers={"X-Request-ID": "fb-1"})
    assert pred.status_code == 200
    r = client.post("/v1/feedback", json={"request_id": "fb-1", "label": 123456.0})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] is True
    missing = client.post("/v1/feedback", json={"request_id": "nope", "label": 1.0})
    assert missing.status_code == 404 and missing.json()["detail"][0]["field"] == "request_id"
    bad = client.post("/v1/feedback", json={"request_id": "fb-1", "label": -5})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "label"
    assert wait_for_rows(log_url, "fb", 1) == 1
    engine = predlog.create_engine(log_url)
    rows = []
    for _ in range(100):
        rows = [r for r in predlog.read_predictions(engine) if r["request_id"] == "fb-1"]
        if rows and rows[0]["label"] is not None:
            break
        time.sleep(0.1)
    engine.dispose()
    assert rows[0]["label"] == 123456.0


def test_feedback_on_a_row_of_a_batch(client, records):
    """A batch's rows are `{id}-{i}`: each takes feedback; an id past its rows does not."""
    pred = client.post(
        "/v1/predict/batch", json={"records": records[:3]}, headers={"X-Request-ID": "fb-batch"}
    )
    assert pred.status_code == 200, pred.text
    assert pred.json()["request_ids"] == ["fb-batch-0", "fb-batch-1", "fb-batch-2"]
    for rid in ("fb-batch-0", "fb-batch-2"):
        r = client.post("/v1/feedback", json={"request_id": rid, "label": 250000.0})
        assert r.status_code == 202, r.text
    for rid in ("fb-batch-3", "fb-batch-02", "fb-batch"):
        r = client.post("/v1/feedback", json={"request_id": rid, "label": 250000.0})
        assert r.status_code == 404, (rid, r.text)
