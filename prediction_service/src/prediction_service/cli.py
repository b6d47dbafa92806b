"""`mlops serve` (the prediction service, foreground) and `mlops serve migrate`; the
`mlops up` hook that starts the service in the embedded runtime. Import-light: FastAPI,
MLflow and scikit-learn are imported inside the commands."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from mlops_core.output import JsonOption, emit

SERVICE = "prediction-service"
HEALTH_PATH = "/v1/health/ready"

log = logging.getLogger("prediction_service")

serve_app = typer.Typer(invoke_without_command=True)


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A model to serve (repeat for several): a model name (its champion, or the "
            "version its GitOps file pins with MLOPS_SERVE_GITOPS_ENV), models:/<name>/<version>, "
            "models:/<name>@<alias>, a version or alias of the default model, or a local model "
            "folder (NAME=FOLDER). Default: MLOPS_SERVE_MODEL, else MLOPS_MODEL, else every "
            "model folder with a champion.",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", help="Port (default MLOPS_SERVE_PORT, 8000).")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default 127.0.0.1).")
    ] = None,
    poll: Annotated[
        float | None,
        typer.Option(
            "--poll",
            help="Seconds between polls of the model alias for a new version (0: off).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Report a start-up error as one JSON object on stdout."),
    ] = False,
) -> None:
    """Serve one or several models over HTTP in the foreground (FastAPI under uvicorn).

    Example: mlops serve --model house-price --model models:/churn/2 --port 8000
    (then open http://127.0.0.1:8000/docs)
    """
    if ctx.invoked_subcommand is not None:
        return
    from prediction_service.runtime import run_server

    run_server(model=model, port=port, host=host, poll=poll)


@serve_app.command("migrate")
def migrate_command(
    as_json: JsonOption = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Database URL (default MLOPS_PREDICTION_LOG_URL)."),
    ] = None,
) -> None:
    """Create or upgrade the prediction log's tables (the cluster's migration Job).

    Example: mlops serve migrate --json
    """
    from mlops_core.contracts.serve import MigrateResult
    from mlops_core.settings import get_settings
    from prediction_service.db import migrate

    target = url or get_settings().prediction_log
    result = migrate(target)
    import sqlalchemy as sa

    shown = sa.engine.make_url(target).render_as_string(hide_password=True)
    emit(
        MigrateResult(url=shown, before=result["before"], after=result["after"]),
        as_json,
        f"prediction log at {shown}: revision {result['before']} -> {result['after']}",
    )


def up_hook(settings, airflow: bool = False) -> dict | None:
    """`mlops up`: start the prediction service in the background when there is a model."""
    from prediction_service.runtime import start_background

    return start_background(settings)


def register(app: typer.Typer) -> None:
    from mlops_core import embedded

    app.add_typer(serve_app, name="serve")
    if up_hook not in embedded.UP_HOOKS:
        embedded.UP_HOOKS.append(up_hook)


def main() -> None:  # pragma: no cover - `python -m prediction_service`
    from mlops_core.cli import main as mlops_main

    mlops_main(["serve", *sys.argv[1:]])
