"""The Evidently UI over the monitoring workspace, in the foreground or as a background
service of the embedded runtime (also started by `mlops up`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SERVICE = "evidently-ui"


def _argv(port: int, workspace: Path) -> list[str]:
    """Evidently's UI server under our page title (model_monitoring.evidently_ui)."""
    from model_monitoring.evidently_ui import DEFAULT_TITLE

    workspace.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "model_monitoring.evidently_ui",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workspace",
        str(workspace),
        "--title",
        DEFAULT_TITLE,
    ]


def _config(port: int | None):
    from mlops_core.settings import get_settings
    from model_monitoring.settings import get_monitor_settings

    settings, msettings = get_settings(), get_monitor_settings()
    return settings, msettings.workspace_path(settings), port or msettings.ui_port


def start_ui(port: int | None = None, timeout: float = 120.0) -> dict:
    from mlops_core.embedded import venv_env
    from mlops_core.services import ServiceManager

    settings, workspace, port = _config(port)
    port, _ = ServiceManager(settings.run_dir).claim_port(SERVICE, port)  # not another home's
    url = f"http://127.0.0.1:{port}"
    env = {**venv_env(), "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    info, started = ServiceManager(settings.run_dir).start(
        SERVICE,
        _argv(port, workspace),
        url=url,
        health_url=f"{url}/api/version",
        env=env,
        timeout=timeout,
        port=port,
    )
    return {"service": SERVICE, "url": info.url, "started": started, "workspace": str(workspace)}


def model_project(model: str | None) -> dict:
    """The model's project in the workspace (project_id None before its first run); an
    unknown model is BadInput naming the known ones."""
    from model_monitoring.workspace import find_project

    settings, workspace, _ = _config(None)
    name = settings.model_folder(model).name
    project = find_project(workspace, name)
    return {"model_name": name, "project_id": str(project.id) if project else None}


def stop_ui() -> bool:
    from mlops_core.services import ServiceManager
    from mlops_core.settings import get_settings

    return ServiceManager(get_settings().run_dir).stop(SERVICE)


def run_ui(port: int | None = None) -> None:
    """Foreground: exec the Evidently UI until interrupted."""
    from mlops_core.embedded import venv_env

    _, workspace, port = _config(port)
    env = {**os.environ, **venv_env(), "DO_NOT_TRACK": "1"}
    raise SystemExit(subprocess.call(_argv(port, workspace), env=env))


def up_hook(settings, airflow: bool = False) -> dict:
    """`mlops up`: the Evidently UI alongside MLflow and the prediction service."""
    return start_ui()
