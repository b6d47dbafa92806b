"""Logging: readable (rich) in a terminal, one JSON object per line elsewhere (pods, CI).

The stages log with the standard library's `logging`; in JSON mode structlog's
ProcessorFormatter renders each record (time, level, logger, message, the record's extra
fields and the exception).
"""

from __future__ import annotations

import logging
import sys

import structlog


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, extras."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(default=str),
        ],
    )


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Configure the root logger once per command; stderr only, stdout is for results."""
    if fmt == "auto":
        fmt = "rich" if sys.stderr.isatty() else "json"
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if fmt == "rich":
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=_stderr_console(), show_path=False, rich_tracebacks=True
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(json_formatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter drowns the stage's own messages.
    for noisy in ("urllib3", "botocore", "alembic", "git", "dvc", "httpx", "mlflow", "numexpr"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
