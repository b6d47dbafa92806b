"""`mlops monitor` and `mlops monitor ui` (kept import-light: heavy imports inside functions)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_core.cli_options import ModelOption
from mlops_core.errors import ExitCode
from mlops_core.output import JsonOption, emit

EVIDENTLY_UI = "evidently-ui"

monitor_app = typer.Typer(invoke_without_command=True)


@monitor_app.callback(invoke_without_command=True)
def monitor(
    ctx: typer.Context,
    model: ModelOption = None,
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
        typer.Option(
            help="Policy YAML (default: MLOPS_MONITOR_POLICY, else the model folder's "
            "monitor.yaml)."
        ),
    ] = None,
    trigger_retrain: Annotated[
        bool,
        typer.Option(
            "--trigger-retrain",
            help="When the policy advises retraining, run `mlops ingest --model M` (with "
            "--source or --synthetic) then `mlops train --model M` (or trigger the model's "
            "training DAG in Airflow).",
        ),
    ] = False,
    rollback_on_degradation: Annotated[
        bool,
        typer.Option(
            "--rollback-on-degradation",
            help="Act on the policy's `performance.on_degradation: rollback`: when the "
            "champion's metric is beyond the limit over its whole confidence interval, on "
            "enough labelled rows, run `mlops rollback --model M --reason ...`. A policy "
            "saying `alert` (the default) never rolls back.",
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
    """Model monitoring: compare one model's served traffic with its training data
    (Evidently drift, data summary, and regression or classification quality reports) and
    judge it by the model's policy (models/<name>/monitor.yaml).

    Exit codes: 0 no drift, 6 drift (or degraded performance: retraining advised),
    7 insufficient data, 9 a rollback the policy called for failed
    (--rollback-on-degradation).

    Example: mlops monitor --model house-price --last 1000 --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from model_monitoring.run import Options
    from model_monitoring.run import monitor as run_monitor

    result = run_monitor(
        Options(
            model=model,
            model_version=model_version,
            since=since,
            until=until,
            last=last,
            policy=policy,
            trigger_retrain=trigger_retrain,
            rollback_on_degradation=rollback_on_degradation,
            source=source,
            synthetic=synthetic,
            seed=seed,
        )
    )
    emit(result, as_json, lambda console: _human(console, result))
    code = {"drift": ExitCode.DRIFT, "insufficient_data": ExitCode.INSUFFICIENT_DATA}.get(
        result.status, ExitCode.OK
    )
    if result.rollback is not None and result.rollback.ok is False:
        code = ExitCode.ROLLBACK_FAILED  # never swallowed behind the drift code
    if code:
        raise typer.Exit(int(code))


def _human(console, result) -> None:
    from rich.table import Table

    colour = {"no_drift": "green", "drift": "red", "insufficient_data": "yellow"}[result.status]
    console.print(
        f"[bold {colour}]{result.status}[/]: model {result.model_name} ({result.task}) "
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
    perf = result.performance
    if perf is not None and perf.task == "classification":
        scores = {k: getattr(perf, k) for k in ("accuracy", "balanced_accuracy", "f1_macro",
                                                 "roc_auc", "log_loss", "brier")}  # fmt: skip
        console.print("  " + "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if v is not None))
    if perf is not None:
        judged = f"{perf.value:.4g}" if perf.value is not None else "-"
        if perf.interval and perf.confidence:
            judged += f", {perf.confidence:.0%} CI [{perf.interval[0]:.4g}, {perf.interval[1]:.4g}]"
        limit = f"{perf.limit:.4g}" if perf.limit is not None else "-"
        console.print(
            f"  {perf.metric}: {judged} (limit {limit}){f'; {perf.note}' if perf.note else ''}"
        )
    pdrift = result.prediction_drift
    if pdrift is not None and pdrift.score is not None:
        what = "predicted class drift" if result.task == "classification" else "prediction drift"
        console.print(
            f"  {what}: {pdrift.score:.4f} ({pdrift.method}, "
            f"{'drifted' if pdrift.drifted else 'not drifted'})"
        )
    for cls, info in (result.probability_drift or {}).items():
        if info.score is not None:
            console.print(
                f"  probability drift of {cls!r}: {info.score:.4f} ({info.method}, "
                f"{'drifted' if info.drifted else 'not drifted'})"
            )
    if result.retrain:
        console.print(f"  retrain: {result.retrain.model_dump(exclude_none=True)}")
    back = result.rollback
    if back is not None:
        if back.ok:
            console.print(
                f"  [bold red]rolled back[/]: v{back.from_version} -> v{back.to_version} "
                f"(commit {(back.commit or '-')[:12]}): {back.reason}"
            )
        elif back.ok is False:
            console.print(f"  [bold red]rollback failed[/]: {back.error}")
        elif back.advised:  # without --rollback-on-degradation (the DAG runs it)
            console.print(f"  [red]rollback advised[/]: {back.reason}")
        else:
            console.print(f"  {back.reason}")  # "no rollback: <why>"
    for warning in result.warnings or []:
        console.print(f"  [yellow]warning:[/] {warning}")


@monitor_app.command("compare")
def compare(
    model: ModelOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start of the window (ISO-8601, exclusive); default: the beginning."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the window (ISO-8601, inclusive); default: now.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(help="Policy YAML (default: the model folder's monitor.yaml, `live:`)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the champion with the live candidate (alias shadow or canary) on the same
    window of the prediction log: agreement of paired answers (shadow), the prediction
    distribution's drift, p50/p95 latency, and the task's metric with a confidence interval
    where feedback labels arrived. Judged by monitor.yaml `live:`; the verdict is stored in
    the report store, as an MLflow run in <model>-monitoring and as tags live_verdict,
    live_verdict_run, live_verdict_time on the candidate version (`mlops promote
    --require-live` reads them).

    Exit codes: 0 pass, 3 fail, 7 insufficient data.

    Example: mlops monitor compare --model house-price --json
    """
    from model_monitoring.compare import Options
    from model_monitoring.compare import compare as run_compare

    result = run_compare(Options(model=model, since=since, until=until, policy=policy))
    emit(result, as_json, lambda console: _human_compare(console, result))
    code = {"fail": ExitCode.GATE_REFUSED, "insufficient_data": ExitCode.INSUFFICIENT_DATA}.get(
        result.verdict, ExitCode.OK
    )
    if code:
        raise typer.Exit(int(code))


def _human_compare(console, result) -> None:
    colour = {"pass": "green", "fail": "red", "insufficient_data": "yellow"}[result.verdict]
    console.print(f"[bold {colour}]{result.verdict}[/]: {result.message}")
    for side in (result.champion, result.candidate):
        value = f"{side.metric} {side.value:.4g}" if side.value is not None else "no metric"
        interval = f" [{side.interval[0]:.4g}, {side.interval[1]:.4g}]" if side.interval else ""
        p95 = f"{side.latency_p95_ms:.2f} ms" if side.latency_p95_ms is not None else "-"
        console.print(
            f"  {side.role} v{side.version}: {side.rows} rows ({side.labelled_rows} labelled), "
            f"p95 {p95}, {value}{interval}"
        )
    if result.agreement is not None and result.agreement.agreement is not None:
        console.print(
            f"  agreement: {result.agreement.agreement:.1%} of {result.agreement.pairs} pairs"
        )
    for key in ("report_html", "report_json", "mlflow_run_id"):
        if getattr(result, key):
            console.print(f"  {key}: {getattr(result, key)}")


@monitor_app.command("ui")
def ui(
    model: ModelOption = None,
    port: Annotated[int | None, typer.Option(help="Port (default MLOPS_MONITOR_UI_PORT).")] = None,
    background: Annotated[
        bool, typer.Option("--background", help="Start it in the background and return.")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background UI.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The Evidently UI on the monitoring workspace: one project per model (named after
    it), every monitoring run of that model a snapshot. With --model, the result names that
    model's project page.

    Example: mlops monitor ui --background --model house-price
    """
    from mlops_core.contracts.monitor import MonitorUiResult
    from model_monitoring.ui import model_project, run_ui, start_ui, stop_ui

    project = model_project(model) if model is not None else None

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
        if project is not None:
            entry["model_name"] = project["model_name"]
            if project["project_id"]:
                entry["project_url"] = f"{entry['url']}/projects/{project['project_id']}"
        where = entry.get("project_url") or entry["url"]
        emit(
            MonitorUiResult(**entry),
            as_json,
            f"Evidently UI {'started' if entry['started'] else 'already running'} at "
            f"{where} (workspace {entry['workspace']})",
        )
        return
    run_ui(port=port)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
    from mlops_core import embedded
    from model_monitoring.ui import up_hook

    if up_hook not in embedded.UP_HOOKS:
        embedded.UP_HOOKS.append(up_hook)
