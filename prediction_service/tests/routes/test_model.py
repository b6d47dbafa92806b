"""GET /v1/model."""

from __future__ import annotations

import pytest


def test_model_metadata(client, trained_model, schema):
    r = client.get("/v1/model")
    assert r.status_code == 200
    info = r.json()
    assert info["model_name"] == trained_model.model_name
    assert info["model_version"] == trained_model.version
    assert info["alias"] == "champion"
    assert info["data_version"] == trained_model.data_version
    assert info["run_id"] == trained_model.run_id
    assert info["metrics"]["val_rmse"] == pytest.approx(trained_model.result["metrics"]["val_rmse"])
    assert info["fast_path"] is True
    assert info["features"] == schema.feature_names
    assert r.headers["x-request-id"] == info["request_id"]
