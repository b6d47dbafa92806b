"""Command-line options every stage shares, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="The model (a folder under MLOPS_MODELS_DIR); default: MLOPS_MODEL, "
        "or the only model folder.",
        show_default=False,
    ),
]
