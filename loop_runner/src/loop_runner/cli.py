"""`mlops pipeline run` (import-light: the work happens in loop.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlops_core.cli_options import ModelOption
from mlops_core.output import JsonOption, emit

ModelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        "-m",
        help="A model folder to run the loop for (repeat for several). Default: every "
        "model folder.",
    ),
]

pipeline_app = typer.Typer(
    help="The whole loop on the embedded runtime, stage by stage.", no_args_is_help=True
)


@pipeline_app.command("run")
def pipeline_run(
    rows: Annotated[int, typer.Option(help="Synthetic rows per ingested data version.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the data and the traffic.")] = 42,
    traffic: Annotated[
        int, typer.Option(help="Requests per traffic phase (normal, then drifted).")
    ] = 1200,
    feedback_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of predictions given a true label.")
    ] = 0.5,
    model: ModelsOption = None,
    side_by_side: Annotated[
        bool,
        typer.Option(
            "--side-by-side/--one-after-another",
            help="Run the models' loops concurrently (default) or one model at a time.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop for each model: ingest, train, promote, serve, traffic, monitor,
    drift, retrain.

    Starts the embedded services (`mlops up`), then runs each stage as a subprocess through
    this command line, with `--model NAME`, for every model (side by side): ingest data-v1
    -> train -> promote -> serve -> realistic traffic with feedback -> monitor (no drift)
    -> drifted traffic -> monitor (drift) -> ingest data-v2 -> retrain -> promote -> the
    service answers with the new version. Ends with a summary per model (versions,
    metrics, reports, GitOps file, URLs). The services keep running: stop them with
    `mlops down`.

    Example: mlops pipeline run --model house-price --model churn --rows 5000
    """
    from loop_runner.loop import Options, run
    from loop_runner.report import human

    result = run(
        Options(
            rows=rows,
            seed=seed,
            traffic=traffic,
            feedback_share=feedback_share,
            side_by_side=side_by_side,
        ),
        models=model,
        quiet=as_json,
    )
    emit(result, as_json, lambda console: human(console, result))


@pipeline_app.command("traffic")
def pipeline_traffic(
    model: ModelOption = None,
    rows: Annotated[int, typer.Option(help="Records to send (the first 50 one by one).")] = 600,
    drift: Annotated[
        float | None,
        typer.Option(
            help="Drift the records as the loop does: the first two numeric features "
            "scaled by this factor and the first category's mix turned around."
        ),
    ] = None,
    feedback_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of answers given a label.")
    ] = 0.5,
    wrong_labels: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of those labels made wrong (another class; 3x the value for a "
            "regression): the champion then looks degraded to `mlops monitor`.",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the records and labels.")] = 7,
    url: Annotated[
        str | None, typer.Option(help="The service (default: the one this home runs).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send generated client traffic for one model to the running service, with feedback.

    Example: mlops pipeline traffic --model house-price --rows 600 --drift 1.6
    """
    from loop_runner.traffic import send

    result = send(
        model,
        rows,
        drift=drift,
        feedback_share=feedback_share,
        wrong_labels=wrong_labels,
        seed=seed,
        url=url,
    )
    emit(
        result,
        as_json,
        f"{result.predictions} predictions from {result.url} (versions "
        f"{', '.join(result.model_versions)}), {result.failed_requests} failed, "
        f"{result.feedback} labels reported in {result.seconds:.1f}s",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
