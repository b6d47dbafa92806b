"""The `mlops` command line: the one contract between stages, DAGs, pods, the demo and tests.

Stage packages add their commands through the `mlops.commands` entry-point group, so a
stage's image holds only the commands of the stages it installs.
"""

from __future__ import annotations

import logging
import sys
import traceback
from importlib.metadata import entry_points
from typing import Annotated

import typer
from typer.core import TyperGroup

from mlops_core import __version__
from mlops_core.errors import ExitCode, MlopsError
from mlops_core.output import stderr

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

# `mlops --help` lists the stages in the order a model goes through them, then the
# embedded runtime's services; a command of none of these lists comes in between.
PIPELINE_ORDER = (
    "models",
    "ingest",
    "data",
    "train",
    "promote",
    "rollback",
    "history",
    "serve",
    "monitor",
    "alerts",
    "pipeline",
)
RUNTIME_ORDER = ("up", "down", "status", "mlflow", "airflow")


class PipelineOrderGroup(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        order = {name: i for i, name in enumerate(PIPELINE_ORDER)}
        order.update({name: 1000 + i for i, name in enumerate(RUNTIME_ORDER)})
        return sorted(self.commands, key=lambda name: (order.get(name, 500), name))


app = typer.Typer(
    name="mlops",
    cls=PipelineOrderGroup,
    help=(
        "GitOps-driven MLOps platform: ingest, train, promote, serve and monitor models.\n\n"
        "State of the embedded runtime lives in MLOPS_HOME (default: ./.mlops). "
        "Exit codes: 0 ok, 1 unexpected error, 2 bad input, 3 gate refused, "
        "4 data quality, 5 unavailable, 6 drift, 7 insufficient data, 8 conflict."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# `mlops models ...`: stage packages add their commands here (new: ingestion, list: deployment).
models_app = typer.Typer(
    name="models",
    help="The model folders (models/<name>/): draft one from a CSV, list them.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from mlops_core.logging import configure_logging
    from mlops_core.settings import get_settings

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic's ValidationError names the variable
        raise MlopsError(f"invalid settings: {exc}") from exc
    configure_logging(settings.log_format, "DEBUG" if verbose else settings.log_level)


class PluginError(Exception):
    """A stage's commands failed to load: a broken install or a bug, never a missing command."""


_registered: bool = False


def _register_plugins() -> None:
    """Add every installed stage's commands once; PluginError names the one that fails."""
    global _registered
    if _registered:
        return
    from mlops_core.alerting.cli import register as register_alerts
    from mlops_core.embedded import register as register_embedded

    register_embedded(app)
    register_alerts(app)
    _registered = True
    for ep in sorted(entry_points(group="mlops.commands"), key=lambda e: e.name):
        try:
            ep.load()(app)
        except Exception as exc:
            raise PluginError(
                f"the commands of {ep.name} ({ep.value}, package "
                f"{ep.dist.name if ep.dist else 'unknown'}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        _register_plugins()
    except PluginError as exc:
        traceback.print_exc()
        _report(str(exc), ExitCode.FAILURE, {}, "--json" in args)
        sys.exit(int(ExitCode.FAILURE))
    command = typer.main.get_command(app)
    as_json = "--json" in args
    try:
        result = command.main(args=args, prog_name="mlops", standalone_mode=False)
    except typer.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        exc.show()
        sys.exit(ExitCode.BAD_INPUT if exc.exit_code == 2 else exc.exit_code)
    except MlopsError as exc:
        _report(exc.message, exc.exit_code, exc.details, as_json)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        logging.getLogger("mlops").debug("unexpected error", exc_info=True)
        traceback.print_exc()
        _report(f"unexpected error: {type(exc).__name__}: {exc}", ExitCode.FAILURE, {}, as_json)
        sys.exit(int(ExitCode.FAILURE))
    sys.exit(result if isinstance(result, int) else 0)


def _report(message: str, code: ExitCode, details: dict, as_json: bool) -> None:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if as_json:
        from mlops_core.contracts import ErrorResult

        payload = ErrorResult(exit_code=int(code), error=message, **details)
        sys.stdout.write(payload.model_dump_json() + "\n")


if __name__ == "__main__":
    main()
