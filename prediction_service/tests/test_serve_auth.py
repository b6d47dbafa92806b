"""API keys on every /v1 endpoint but health (MLOPS_SERVE_REQUIRE_KEY, the default), read
from a key file as a mounted secret gives it (prediction_service.auth, mlops_core.apikeys)."""

from __future__ import annotations

import httpx
import pytest

FILE_KEY = "file-key-" + "fedcba9876543210"


@pytest.fixture(scope="module")
def keyed(start_server, tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "api-keys"
    secret.write_text(f"# one key a line\n{FILE_KEY}\n")
    return start_server({"MLOPS_SERVE_API_KEY_FILE": str(secret)})


def test_every_v1_endpoint_but_health_needs_the_key(keyed, records):
    calls = [
        ("POST", "/v1/predict", {"json": records[0]}),
        ("POST", "/v1/predict/batch", {"json": {"records": records[:2]}}),
        ("GET", "/v1/model", {}),
        ("POST", "/v1/feedback", {"json": {"request_id": "x", "label": 1.0}}),
    ]
    with httpx.Client(base_url=keyed.url, timeout=30) as client:
        for method, path, kw in calls:
            missing = client.request(method, path, **kw)
            assert missing.status_code == 401, (path, missing.text)
            assert missing.json()["request_id"] == missing.headers["x-request-id"]
            wrong = client.request(method, path, headers={"X-API-Key": "nope"}, **kw)
            assert wrong.status_code == 403, (path, wrong.text)
        ok = client.post("/v1/predict", json=records[0], headers={"X-API-Key": FILE_KEY})
        assert ok.status_code == 200, ok.text
        assert client.get("/v1/health/ready").status_code == 200
        assert client.get("/v1/health/live").status_code == 200


def test_the_document_says_which_operations_need_the_key(keyed):
    doc = httpx.get(keyed.url + "/openapi.json").json()
    for path, method in (("/v1/predict", "post"), ("/v1/model", "get"), ("/v1/feedback", "post")):
        op = doc["paths"][path][method]
        assert op["security"] == [{"ApiKey": []}], path
        assert {"401", "403"} <= set(op["responses"]), path
    assert "security" not in doc["paths"]["/v1/health/ready"]["get"]
