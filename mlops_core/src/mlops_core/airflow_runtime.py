"""Airflow in the embedded runtime: `mlops up --airflow` runs `airflow standalone` under
MLOPS_HOME with this repository's dags/ folder and the local task runner.

Airflow is in the root project's `airflow` dependency group (a dev tool of the repository,
not a dependency of any stage), so everything here checks that it is installed and says how
to install it when it is not. Registered through the `mlops.commands` entry point of
mlops-core, which appends the hook to mlops_core.embedded.UP_HOOKS.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import typer
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mlops_core.contracts.runtime import AirflowUpResult
from mlops_core.embedded import UP_HOOKS, stop_and_report, venv_env
from mlops_core.errors import BadInput, Unavailable
from mlops_core.observability import stage_env
from mlops_core.output import JsonOption, emit
from mlops_core.services import ServiceManager
from mlops_core.settings import PlatformSettings, StageSettings, get_settings

SERVICE = "airflow"
NOT_INSTALLED = (
    "Airflow is not installed in this environment: it is in the root project's `airflow` "
    "dependency group; run `uv sync --group airflow` (or `make install`) in the repository"
)


class AirflowSettings(StageSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_AIRFLOW_")

    port: int = Field(default=8080, ge=1, le=65535, description="Airflow UI / API port.")
    dags_folder: Path | None = Field(
        default=None, description="DAG folder; this repository's dags/ when unset."
    )
    parallelism: int = Field(
        default=2, ge=1, description="Task slots (LocalExecutor workers); 2 fits 2 cores."
    )
    start_timeout: float = Field(default=300.0, gt=0, description="Seconds to wait for the UI.")


def airflow_home(settings: PlatformSettings) -> Path:
    return settings.home / "airflow"


def default_dags_folder() -> Path | None:
    """This repository's dags/: from the working directory up, then from this source file."""
    candidates = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for base in candidates:
        folder = base / "dags"
        if (folder / "mlops_tasks.py").is_file():
            return folder
    return None


def airflow_executable() -> str:
    exe = shutil.which("airflow", path=venv_env()["PATH"])
    if exe is None:
        raise Unavailable(NOT_INSTALLED)
    return exe


def airflow_env(
    settings: PlatformSettings, airflow: AirflowSettings, dags_folder: Path
) -> dict[str, str]:
    """Environment of every Airflow process (and so of every local stage task)."""
    home = airflow_home(settings)
    n = str(airflow.parallelism)
    return {
        **venv_env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # `standalone` defaults to 32 parallel workers: far too many for 2 cores.
        "AIRFLOW__CORE__PARALLELISM": n,
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": n,
        "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": "1",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{airflow.port}/execution/",
        "AIRFLOW__API__PORT": str(airflow.port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{airflow.port}",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        # The DAGs run their stage commands as subprocesses against this MLOPS_HOME.
        "MLOPS_TASK_RUNNER": "local",
        "MLOPS_HOME": str(settings.home),
        "MLOPS_LOG_FORMAT": "json",
        # `mlops up --observability` started first: monitoring tasks push to its Pushgateway.
        **stage_env(settings),
    }


def admin_password(home: Path) -> str | None:
    """The admin password `airflow standalone` generated (simple auth manager)."""
    path = home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get("admin")
    except (OSError, ValueError):
        return None


def start_airflow(settings: PlatformSettings) -> AirflowUpResult:
    """Start `airflow standalone` unless it runs."""
    airflow = AirflowSettings()
    exe = airflow_executable()
    dags_folder = airflow.dags_folder or default_dags_folder()
    if dags_folder is None or not dags_folder.is_dir():
        raise BadInput(
            "cannot find this repository's dags/ folder: run from the repository or set "
            "MLOPS_AIRFLOW_DAGS_FOLDER"
        )
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{airflow.port}"
    # `airflow standalone` migrates the metadata database (SQLite under AIRFLOW_HOME) itself.
    info, started = ServiceManager(settings.run_dir).start(
        SERVICE,
        [exe, "standalone"],
        url=url,
        health_url=f"{url}/api/v2/monitor/health",
        env=airflow_env(settings, airflow, dags_folder.resolve()),
        cwd=home,
        timeout=airflow.start_timeout,
        port=airflow.port,
    )
    return AirflowUpResult(
        url=info.url or url,
        started=started,
        user="admin",
        password=admin_password(home) or f"see {home}/simple_auth_manager_passwords.json",
        dags_folder=str(dags_folder),
        log=info.log,
    )


def up_hook(settings: PlatformSettings, airflow: bool = False, **_: object) -> dict | None:
    """`mlops up` hook: Airflow only with --airflow."""
    if not airflow:
        return None
    return start_airflow(settings).model_dump(exclude={"ok", "exit_code"})


airflow_app = typer.Typer(
    help="Airflow standalone in the embedded runtime (DAGs from this repository's dags/).",
    no_args_is_help=True,
)


@airflow_app.command("up")
def airflow_up(as_json: JsonOption = False) -> None:
    """Start Airflow standalone in the background (local task runner, 2 task slots).

    Example: mlops airflow up   (then open the printed URL and log in as admin)
    """
    result = start_airflow(get_settings())
    emit(
        result,
        as_json,
        f"Airflow {'started' if result.started else 'already running'} at {result.url}"
        f"\n  user: admin  password: {result.password}\n  DAGs: {result.dags_folder}",
    )


@airflow_app.command("down")
def airflow_down(as_json: JsonOption = False) -> None:
    """Stop Airflow (its whole process group).

    Example: mlops airflow down
    """
    stop_and_report(SERVICE, "Airflow", as_json)


def register(app: typer.Typer) -> None:
    if up_hook not in UP_HOOKS:
        UP_HOOKS.append(up_hook)
    app.add_typer(airflow_app, name="airflow")


__all__ = ["AirflowSettings", "register", "start_airflow", "up_hook"]
