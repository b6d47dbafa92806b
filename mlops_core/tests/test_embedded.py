"""mlops_core.embedded: the embedded runtime's commands, with real MLflow servers."""

from __future__ import annotations

import os

import httpx
import psutil
import pytest

from mlops_core.contracts import read_result
from mlops_core.contracts.runtime import MlflowUpResult, StatusResult
from mlops_core.errors import Conflict
from mlops_core.services import ServiceManager
from mlops_core.settings import PlatformSettings


@pytest.mark.slow
def test_two_homes_on_one_machine_each_get_their_own_mlflow(
    mlflow_service, mlops, mlops_home, monkeypatch
):
    """Home A's server (the session's, started by start_mlflow for a home of its own) holds
    the port home B is configured with: B's `mlops mlflow up` starts B's own server
    elsewhere, and B's commands register into B's registry only."""
    a, first = mlflow_service.up, mlflow_service.settings
    home_a, port = first.home, first.mlflow_port
    assert a.url == f"http://127.0.0.1:{port}" and a.started
    try:
        monkeypatch.setenv("MLOPS_MLFLOW_PORT", str(port))

        # Before B has a server of its own, its commands refuse A's instead of using it.
        with pytest.raises(Conflict, match=str(home_a)):
            _ = PlatformSettings().tracking_uri

        up = mlops("mlflow", "up", "--json")
        assert up.exit_code == 0, up.stderr
        b = read_result(up.stdout, MlflowUpResult)
        assert b.started and b.url != a.url
        assert str(home_a) in b.note and "held by" in b.note
        assert f"MLflow started at {b.url}" not in up.stdout  # the JSON, not the sentence

        # Every later command of home B follows its own server.
        settings_b = PlatformSettings()
        assert settings_b.home == mlops_home
        assert settings_b.tracking_uri == b.url
        status = read_result(mlops("mlflow", "status", "--json").stdout, StatusResult)
        assert [(s.service, s.url, s.running) for s in status.services] == [("mlflow", b.url, True)]

        def registered(url: str, name: str) -> bool:
            # Filtered by name: A, the session's server, holds every other test's models.
            found = httpx.get(
                f"{url}/api/2.0/mlflow/registered-models/search",
                params={"filter": f"name = '{name}'"},
                timeout=30,
            )
            assert found.status_code == 200, found.text
            return name in {m["name"] for m in found.json().get("registered_models", [])}

        created = httpx.post(
            f"{settings_b.tracking_uri}/api/2.0/mlflow/registered-models/create",
            json={"name": "only-in-home-b"},
            timeout=30,
        )
        assert created.status_code == 200, created.text
        assert registered(b.url, "only-in-home-b")
        assert not registered(a.url, "only-in-home-b")
        server = ServiceManager(settings_b.run_dir).get("mlflow")
        assert f"sqlite:///{mlops_home}/" in " ".join(psutil.Process(server.pid).cmdline())

        # `up` again: the same server, not a second one on a third port.
        again = read_result(mlops("mlflow", "up", "--json").stdout, MlflowUpResult)
        assert (again.url, again.started) == (b.url, False)
    finally:
        mlops("mlflow", "down")  # B's server only: A is the session's
    assert ServiceManager(first.run_dir).get("mlflow").alive


def test_the_embedded_mlflow_server_sends_no_telemetry(mlflow_service):
    """The session's server was started by start_mlflow: its process has telemetry off."""
    settings, url = mlflow_service.settings, mlflow_service.url
    info = ServiceManager(settings.run_dir).get("mlflow")
    proc = psutil.Process(info.pid)
    assert info.alive, (proc.status(), proc.create_time(), info.created)
    environ = proc.environ()
    assert environ.get("MLFLOW_DISABLE_TELEMETRY") == "true"
    assert "MLFLOW_DISABLE_TELEMETRY" not in os.environ  # set for the server only
    # The UI asks this before showing its telemetry banner.
    answer = httpx.get(f"{url}/ajax-api/3.0/mlflow/ui-telemetry", timeout=10).json()
    assert answer["disable_ui_telemetry"] is True
