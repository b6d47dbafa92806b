"""`mlops monitor` and `mlops monitor ui` (kept import-light: heavy imports inside functions)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_core.errors import ExitCode
from mlops_core.output import JsonOption, emit

EVIDENTLY_UI = "evidently-ui"

monitor_app = typer.Typer(invoke_without_command=True)


@monitor_app.callback(invoke_without_command=True)
def monitor(
    ctx: typer.Context,
    model_version: Annotated[
        str | None,
        typer.Option(
            "--model-version",
            help="Version number or alias of the registered model; default: the version "
            "that served the newest logged prediction.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start of the window (ISO-8601, exclusive); default: the end of "
            "the previous monitoring run of this model."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the window (ISO-8601, inclusive); default: now.")
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", help="Judge the last N predictions instead.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(help="Policy YAML (default: MLOPS_MONITOR_POLICY, else the packaged one)."),
    ] = None,
    trigger_retrain: Annotated[
        bool,
        typer.Option(
            "--trigger-retrain",
            help="When the policy advises retraining, run `mlops ingest` (with --source or "
            "--synthetic) then `mlops train`.",
        ),
    ] = False,
    source: Annotated[
        str | None, typer.Option(help="With --trigger-retrain: the new data to ingest.")
    ] = None,
    synthetic: Annotated[
        int | None,
        typer.Option(help="With --trigger-retrain: ingest N synthetic rows instead of a source."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed passed to `mlops ingest`.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Model monitoring: compare served traffic with the model's training data (Evidently
    drift, data summary and regression reports) and judge it by the policy.

    Exit codes: 0 no drift, 6 drift (or degraded performance: retraining advised),
    7 insufficient data.

    Example: mlops monitor --last 1000 --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from model_monitoring.run import Options
    from model_monitoring.run import monitor as run_monitor

    result = run_monitor(
        Options(
            model_version=model_version,
            since=since,
            until=until,
            last=last,
            policy=policy,
            trigger_retrain=trigger_retrain,
            source=source,
            synthetic=synthetic,
            seed=seed,
        )
    )
    emit(result, as_json, lambda console: _human(console, result))
    code = {"drift": ExitCode.DRIFT, "insufficient_data": ExitCode.INSUFFICIENT_DATA}.get(
        result.status, ExitCode.OK
    )
    if code:
        raise typer.Exit(int(code))


def _human(console, result) -> None:
    from rich.table import Table

    colour = {"no_drift": "green", "drift": "red", "insufficient_data": "yellow"}[result.status]
    console.print(
        f"[bold {colour}]{result.status}[/]: model {result.model_name} "
        f"version {result.model_version}: {result.message}"
    )
    if result.columns:
        table = Table("column", "method", "score", "threshold", "drifted")
        for name, info in result.columns.items():
            table.add_row(
                name,
                str(info.method),
                f"{info.score:.4f}" if info.score is not None else "-",
                str(info.threshold),
                "[red]yes[/]" if info.drifted else "no",
            )
        console.print(table)
    for key in ("rows", "reference_rows", "labelled_rows", "drift_share", "rmse", "report_html"):
        if getattr(result, key) is not None:
            console.print(f"  {key}: {getattr(result, key)}")
    pdrift = result.prediction_drift
    if pdrift is not None and pdrift.score is not None:
        console.print(
            f"  prediction drift: {pdrift.score:.4f} ({pdrift.method}, "
            f"{'drifted' if pdrift.drifted else 'not drifted'})"
        )
    if result.retrain:
        console.print(f"  retrain: {result.retrain.model_dump(exclude_none=True)}")
    for warning in result.warnings or []:
        console.print(f"  [yellow]warning:[/] {warning}")


@monitor_app.command("ui")
def ui(
    port: Annotated[int | None, typer.Option(help="Port (default MLOPS_MONITOR_UI_PORT).")] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Start it in the background and return.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background UI.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The Evidently UI on the monitoring workspace: every run's report, per model.

    Example: mlops monitor ui --background && open http://127.0.0.1:8085
    """
    from mlops_core.contracts.monitor import MonitorUiResult
    from model_monitoring.ui import run_ui, start_ui, stop_ui

    if stop:
        stopped = stop_ui()
        emit(
            MonitorUiResult(service=EVIDENTLY_UI, stopped=stopped),
            as_json,
            "Evidently UI stopped" if stopped else "Evidently UI was not running",
        )
        return
    if background:
        entry = start_ui(port=port)
        emit(
            MonitorUiResult(**entry),
            as_json,
            f"Evidently UI {'started' if entry['started'] else 'already running'} at "
            f"{entry['url']} (workspace {entry['workspace']})",
        )
        return
    run_ui(port=port)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
    from mlops_core import embedded
    from model_monitoring.ui import up_hook

    if up_hook not in embedded.UP_HOOKS:
        embedded.UP_HOOKS.append(up_hook)
