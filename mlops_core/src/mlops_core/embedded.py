"""Commands of the embedded runtime: `mlops mlflow up|down|status` and `mlops up|down|status`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlops_core.contracts import Service
from mlops_core.contracts.runtime import (
    DownResult,
    MlflowUpResult,
    ServiceDownResult,
    ServiceStarted,
    ServiceStatus,
    StatusResult,
    UpResult,
)
from mlops_core.errors import BadInput, Unavailable
from mlops_core.output import JsonOption, emit
from mlops_core.services import ServiceManager
from mlops_core.settings import PlatformSettings, get_settings

mlflow_app = typer.Typer(
    help="The embedded MLflow tracking server (SQLite store, artifacts under MLOPS_HOME).",
    no_args_is_help=True,
)

MLFLOW = Service.MLFLOW.value


def venv_env() -> dict[str, str]:
    """Environment for child processes: this interpreter's bin first on PATH, since MLflow
    and Airflow exec helpers (uvicorn, gunicorn) by name."""
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


def mlflow_server_argv(settings: PlatformSettings, port: int) -> list[str]:
    store = settings.home / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("mlflow", path=venv_env()["PATH"])
    if exe is None:
        raise Unavailable("the mlflow command is not installed here; run `make install`")
    return [
        exe,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
        "--workers",
        "1",
    ]


def start_mlflow(settings: PlatformSettings, timeout: float = 180.0) -> MlflowUpResult:
    """Start this home's MLflow server unless it runs.

    Its port is claimed (see services): when another process holds the configured port
    (another MLOPS_HOME's server), a free one is used and recorded, and this home's
    commands follow it (settings.tracking_uri); the note says which process holds it.
    """
    if settings.mlflow_tracking_uri:
        raise BadInput(
            "MLOPS_MLFLOW_TRACKING_URI/MLFLOW_TRACKING_URI points at an external server "
            f"({settings.mlflow_tracking_uri}); unset it to use the embedded one"
        )
    manager = ServiceManager(settings.run_dir)
    port, note = manager.claim_port(Service.MLFLOW, settings.mlflow_port)
    url = f"http://127.0.0.1:{port}"
    env = {
        **venv_env(),
        # One worker and no job runner: 500 MB and ~20 s instead of 3 GB and ~40 s.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # No usage data leaves the machine, and the UI shows no telemetry banner (the
        # server answers its UI's telemetry query with "disabled").
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    info, started = manager.start(
        Service.MLFLOW,
        mlflow_server_argv(settings, port),
        url=url,
        health_url=f"{url}/health",
        env=env,
        timeout=timeout,
        port=port,
    )
    return MlflowUpResult(url=info.url or url, started=started, note=note if started else None)


@mlflow_app.command("up")
def mlflow_up(as_json: JsonOption = False) -> None:
    """Start the embedded MLflow server in the background.

    Example: mlops mlflow up && open http://127.0.0.1:5050
    """
    result = start_mlflow(get_settings())
    state = "started" if result.started else "already running"
    note = f" ({result.note})" if result.note else ""
    emit(result, as_json, f"MLflow {state} at {result.url}{note}")


@mlflow_app.command("down")
def mlflow_down(as_json: JsonOption = False) -> None:
    """Stop the embedded MLflow server.

    Example: mlops mlflow down
    """
    stop_and_report(MLFLOW, "MLflow", as_json)


def stop_and_report(service: str, label: str, as_json: bool) -> None:
    """The `down` command of one background service: stop its process group, say so."""
    stopped = ServiceManager(get_settings().run_dir).stop(service)
    emit(
        ServiceDownResult(service=service, stopped=stopped),
        as_json,
        f"{label} stopped" if stopped else f"{label} was not running",
    )


@mlflow_app.command("status")
def mlflow_status(as_json: JsonOption = False) -> None:
    """Tell whether the embedded MLflow server runs, and where.

    Example: mlops mlflow status --json
    """
    _status(get_settings(), as_json, only=MLFLOW)


def _status(settings: PlatformSettings, as_json: bool, only: str | None = None) -> None:
    from mlops_core import observability

    services = ServiceManager(settings.run_dir).all()
    if only:
        services = [s for s in services if s.name == only]
    result = StatusResult(
        home=str(settings.home),
        services=[
            ServiceStatus(service=s.name, running=s.alive, pid=s.pid, url=s.url, log=s.log)
            for s in services
        ],
    )
    prometheus = None if only else observability.prometheus_url(settings)
    if prometheus:
        result.prometheus = prometheus
        try:
            result.alerts = observability.alerts(prometheus)
        except Unavailable as exc:  # the services' state is still worth printing
            result.alerts_error = exc.message

    def human(console) -> None:
        if not result.services:
            console.print("no embedded service is running" + (f" ({only})" if only else ""))
            return
        table = Table("service", "running", "pid")
        # A URL or a path is copied by a person: folded onto the next line, never cut.
        table.add_column("url", overflow="fold")
        table.add_column("log", overflow="fold")
        for s in result.services:
            table.add_row(
                s.service, "yes" if s.running else "[red]no[/]", str(s.pid), s.url or "", s.log
            )
        console.print(table)
        if result.prometheus:
            _print_alerts(console, result)

    emit(result, as_json, human)


def _print_alerts(console, result: StatusResult) -> None:
    if result.alerts is None:
        console.print(f"[red]alerts unknown[/]: {result.alerts_error}", soft_wrap=True)
        return
    if not result.alerts:
        console.print(f"no alert firing ({result.prometheus}/alerts)", soft_wrap=True)
        return
    table = Table("alert", "model", "severity", "state", "since", title="alerts")
    table.add_column("summary", overflow="fold")
    for a in result.alerts:
        state = "[red]firing[/]" if a.state == "firing" else "pending"
        table.add_row(
            a.name, a.model or "", a.severity or "", state, a.since or "", a.summary or ""
        )
    console.print(table)
    console.print(f"Prometheus: {result.prometheus}/alerts", soft_wrap=True)


def up(
    as_json: JsonOption = False,
    airflow: Annotated[
        bool, typer.Option("--airflow", help="Also run Airflow standalone with dags/.")
    ] = False,
    observability: Annotated[
        bool,
        typer.Option(
            "--observability",
            help="Also run a Prometheus (with the platform's alert rules) and a Pushgateway.",
        ),
    ] = False,
) -> None:
    """Start the embedded runtime's background services (MLflow server, ...).

    Example: mlops up --observability && mlops status
    """
    settings = get_settings()
    plan = None
    if observability:
        from mlops_core.observability import Observability

        plan = Observability.prepare(settings)  # a missing binary starts nothing
    if settings.mlflow_tracking_uri:
        # A tracking server of the team's: the stages use it, there is none to start.
        first = {
            "service": MLFLOW,
            "url": settings.mlflow_tracking_uri,
            "skipped": "MLOPS_MLFLOW_TRACKING_URI names an external server",
        }
    else:
        mlflow = start_mlflow(settings)
        first = {"service": mlflow.service, "url": mlflow.url, "started": mlflow.started}
        if mlflow.note:
            first["note"] = mlflow.note
    services = [ServiceStarted.model_validate(first)]
    if plan is not None:
        # Before the stages' services: a prediction service that starts next is added to
        # Prometheus's targets on its port, and Airflow's tasks get the Pushgateway.
        services += plan.start()
    for hook in list(UP_HOOKS):
        entry = hook(settings, airflow=airflow)
        if entry:
            services.append(ServiceStarted.model_validate(entry))
    result = UpResult(home=str(settings.home), services=services)

    def human(console) -> None:
        for s in result.services:
            if s.skipped:
                console.print(f"{s.service}: not started: {s.skipped}")
                continue
            state = "started" if s.started else "already running"
            console.print(f"{s.service}: {state} at {s.url}", soft_wrap=True)
            for key, value in (s.model_extra or {}).items():
                console.print(f"  {key}: {value}", soft_wrap=True)

    emit(result, as_json, human)


def down(as_json: JsonOption = False) -> None:
    """Stop every background service started under MLOPS_HOME.

    Example: mlops down
    """
    manager = ServiceManager(get_settings().run_dir)
    # Reverse start order: clients (prediction service, Airflow) before MLflow.
    stopped = [
        s.name for s in sorted(manager.all(), key=lambda s: -s.started) if manager.stop(s.name)
    ]
    emit(
        DownResult(stopped=stopped),
        as_json,
        f"stopped: {', '.join(stopped)}" if stopped else "nothing was running",
    )


def status(as_json: JsonOption = False) -> None:
    """List the embedded runtime's background services.

    Example: mlops status
    """
    _status(get_settings(), as_json)


# Stages that run a background service in the embedded runtime append a function here:
# hook(settings, airflow=bool) -> a result entry (a dict of ServiceStarted's fields) or
# None. An entry with "skipped": reason tells why a service was not started (no model yet).
UP_HOOKS: list = []


def register(app: typer.Typer) -> None:
    app.add_typer(mlflow_app, name="mlflow")
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
