"""After a change, the running embedded prediction service serves the new champion.

A small stand-in service (a real process registered like `mlops up` registers the real
one) records the admin calls; test_pipeline.py runs the real prediction service."""

from __future__ import annotations

import json
import sys

import pytest

from mlops_core.services import ServiceManager, free_port
from mlops_core.settings import get_settings

FAKE_SERVICE = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, state = int(sys.argv[1]), sys.argv[2]

class H(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        version = open(state).read().strip()
        self._send(200, {"status": "ready", "model_version": version})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(state + ".calls", "a") as f:
            f.write(json.dumps({"key": self.headers.get("X-API-Key"), "body": body}) + "\n")
        if self.headers.get("X-API-Key") != "admin-key":
            return self._send(403, {"error": "wrong key"})
        version = body["model"].rsplit("/", 1)[1]
        open(state, "w").write(version)
        self._send(200, {"model_version": version, "changed": True})

    def log_message(self, *a):
        pass

ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.fixture
def fake_service(mlops_home, tmp_path):
    script = tmp_path / "fake_service.py"
    script.write_text(FAKE_SERVICE)
    state = tmp_path / "serving"
    state.write_text("0")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    manager = ServiceManager(get_settings().run_dir)
    manager.start(
        "prediction-service",
        [sys.executable, str(script), str(port), str(state)],
        url=url,
        health_url=url + "/v1/health/ready",
        timeout=30,
    )
    yield state
    manager.stop("prediction-service")


def _calls(state) -> list[dict]:
    path = state.with_name(state.name + ".calls")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_admin_reload_with_the_services_key(
    mlops, register, stub_checks, unique_model_name, fake_service, monkeypatch
):
    monkeypatch.setenv("MLOPS_SERVE_API_KEYS", "admin-key,other")
    version = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stderr
    reload = result.json["reload"]
    assert reload["ok"] and reload["how"] == "admin reload"
    assert _calls(fake_service) == [
        {"key": "admin-key", "body": {"model": f"models:/{unique_model_name}/{version}"}}
    ]
    assert fake_service.read_text() == version
    assert "admin-key" not in result.stdout


def test_without_a_key_it_waits_for_the_service_to_follow_the_alias(
    mlops, register, stub_checks, fake_service, monkeypatch
):
    version = register()
    fake_service.write_text(version)  # as if its alias poll had picked the change up
    result = mlops("promote", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["reload"]["how"] == "followed the alias"
    assert _calls(fake_service) == []

    monkeypatch.setenv("MLOPS_PROMOTE_RELOAD_TIMEOUT", "1")
    fake_service.write_text("0")  # a service that never catches up
    newer = register()
    result = mlops("promote", "--json")
    assert result.exit_code == 0  # the promotion stands; the result says what is served
    reload = result.json["reload"]
    assert (
        not reload["ok"] and reload["serving"] == "0" and "MLOPS_SERVE_API_KEYS" in reload["error"]
    )
    assert result.json["model_version"] == newer
