"""prediction_service.runtime: the `mlops up` hook that starts the service in the background."""

from __future__ import annotations

import socket

import httpx
import pytest

from mlops_core.services import ServiceManager
from mlops_core.settings import get_settings
from prediction_service.runtime import SERVICE, start_background


@pytest.mark.slow
def test_a_held_port_makes_the_background_service_use_a_free_one(
    trained_model, mlops_home, monkeypatch
):
    """Whatever holds the configured port (here a socket of this test) is never taken for
    this home's service: the service starts elsewhere and says why."""
    trained_model.use(monkeypatch)
    monkeypatch.setenv("MLOPS_SERVE_MODEL", trained_model.model_uri)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        monkeypatch.setenv("MLOPS_SERVE_PORT", str(port))
        platform = get_settings()
        started = start_background(platform)
        try:
            assert started["started"] is True, started
            assert started["url"] != f"http://127.0.0.1:{port}"
            assert f"port {port} is held by" in started["note"]
            ready = httpx.get(started["url"] + "/v1/health/ready", timeout=30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["model_version"] == trained_model.version
        finally:
            ServiceManager(platform.run_dir).stop(SERVICE)
