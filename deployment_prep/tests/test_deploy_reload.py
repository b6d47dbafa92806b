"""After a promotion, the running embedded prediction service serves the new champion.

The real `mlops serve` (uvicorn) runs in the background, registered as `mlops up` registers
it, so `mlops promote` finds it and reloads it (admin endpoint) or waits for it to follow
the alias (its own poll)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx
import pytest

from mlops_core.services import ServiceManager, free_port
from mlops_core.settings import get_settings

SERVICE = "prediction-service"


@pytest.fixture
def serving(tracking_uri, mlops_home, monkeypatch):
    """start(poll=seconds) -> base URL of a real `mlops serve` of the current champion."""
    manager = ServiceManager(get_settings().run_dir)
    exe = shutil.which("mlops", path=str(Path(sys.executable).parent)) or "mlops"

    def start(poll: float = 0.0) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("MLOPS_SERVE_POLL_INTERVAL", str(poll))
        manager.start(
            SERVICE,
            [exe, "serve", "--port", str(port)],
            url=url,
            health_url=url + "/v1/health/ready",
            timeout=240,
        )
        return url

    yield start
    manager.stop(SERVICE)


def _served(url: str, headers: dict | None = None) -> str:
    response = httpx.get(f"{url}/v1/model", headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


@pytest.mark.slow
def test_admin_reload_with_the_services_key(
    mlops, register, data_registry, unique_model_name, serving, monkeypatch
):
    monkeypatch.setenv("MLOPS_SERVE_API_KEYS", "admin-key,other")
    first = register(alias="champion")  # the champion the service starts on
    url = serving(poll=0)  # it never polls the alias: only the admin call can move it
    key = {"X-API-Key": "admin-key"}
    assert _served(url, key) == first

    version = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stderr
    reload = result.json["reload"]
    assert reload["ok"] and reload["how"] == "admin reload", reload
    assert reload["model"] == f"models:/{unique_model_name}/{version}"
    assert _served(url, key) == version
    assert "admin-key" not in result.stdout


@pytest.mark.slow
def test_without_a_key_it_waits_for_the_service_to_follow_the_alias(
    mlops, register, data_registry, serving, monkeypatch
):
    first = register(alias="champion")  # the champion the service starts on
    url = serving(poll=1)
    assert _served(url) == first

    version = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stderr
    reload = result.json["reload"]
    assert reload["ok"] and reload["how"] == "followed the alias", reload
    assert _served(url) == version


@pytest.mark.slow
def test_a_service_that_does_not_follow_is_reported_not_reloaded(
    mlops, register, data_registry, serving, monkeypatch
):
    first = register(alias="champion")  # the champion the service starts on
    url = serving(poll=0)  # no key and no poll: nothing makes it change
    monkeypatch.setenv("MLOPS_PROMOTE_RELOAD_TIMEOUT", "2")

    newer = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0  # the promotion stands; the result says what is served
    reload = result.json["reload"]
    assert not reload["ok"] and reload["serving"] == first, reload
    assert "MLOPS_SERVE_API_KEYS" in reload["error"]
    assert result.json["model_version"] == newer
    assert _served(url) == first
