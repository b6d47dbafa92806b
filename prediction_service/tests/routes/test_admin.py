"""POST /v1/admin/reload (the swap under load is in test_serve_manager.py)."""

from __future__ import annotations

from serve_helpers import API_KEY


def test_reload_needs_a_key(client, trained_model):
    missing = client.post("/v1/admin/reload")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "ApiKey"
    assert "X-API-Key" in missing.json()["error"]
    assert client.post("/v1/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 403
    r = client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == trained_model.version
    assert r.json()["changed"] is True  # a reload loads again, even the same version


def test_reload_of_a_missing_version_is_refused_and_keeps_the_model(client, trained_model):
    bad = client.post(
        "/v1/admin/reload",
        headers={"X-API-Key": API_KEY},
        json={"model": f"models:/{trained_model.model_name}/999"},
    )
    assert bad.status_code == 422, bad.text
    assert "999" in bad.json()["error"]
    assert client.get("/v1/model").json()["model_version"] == trained_model.version


def test_reload_body_must_name_a_reference(client):
    for body, status in ((b"{", 400), (b'{"model": 3}', 422), (b"[1]", 422)):
        r = client.post(
            "/v1/admin/reload",
            content=body,
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        )
        assert r.status_code == status, (body, r.text)
