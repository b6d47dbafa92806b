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

from mlops_core import __version__
from mlops_core.errors import ExitCode, MlopsError
from mlops_core.output import stderr

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

app = typer.Typer(
    name="mlops",
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


_registered: list[str] | None = None


def _register_plugins() -> list[str]:
    """Add every installed stage's commands once; returns the stages that failed to load."""
    global _registered
    if _registered is not None:
        return []
    from mlops_core.embedded import register as register_embedded

    register_embedded(app)
    failed: list[str] = []
    _registered = failed
    for ep in sorted(entry_points(group="mlops.commands"), key=lambda e: e.name):
        try:
            ep.load()(app)
        except ImportError as exc:
            failed.append(f"{ep.name}: {exc}")
    return failed


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    failed = _register_plugins()
    for message in failed:
        stderr.print(f"[yellow]warning:[/] commands of {message} are not available")
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
