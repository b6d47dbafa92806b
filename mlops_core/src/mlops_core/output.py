"""How a command reports its result: one JSON object on stdout with --json, else for a person."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from mlops_core.contracts.base import Result

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")
]

stdout = Console()
stderr = Console(stderr=True)

# Not a terminal (a pipe, a CI log): rich would fit output to 80 columns and cut or fold
# the URLs, paths and dates a person copies from it; a line there has no width to fit.
_UNLIMITED = 100_000


def human_console() -> Console:
    """The console a command's human summary is printed on."""
    if stdout.is_terminal:
        return stdout
    return Console(width=_UNLIMITED, color_system=None)


def emit(
    result: Result | dict[str, Any], as_json: bool, human: Callable[[Console], None] | str
) -> None:
    """Print a command's result: its contract model as one JSON line, or the human summary."""
    if as_json:
        if isinstance(result, Result):
            line = result.to_json()
        else:
            line = json.dumps(result, default=str, sort_keys=True)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    elif callable(human):
        human(human_console())
    else:
        human_console().print(human)


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """Progress bars on stderr; silent (but still usable) when disabled or not a terminal."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not (enabled and stderr.is_terminal),
        transient=False,
    )
    with bar:
        yield bar
