"""`mlops pipeline run` (import-light: the work happens in loop.py)."""

from __future__ import annotations

from typing import Annotated

import typer

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


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
