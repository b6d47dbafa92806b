"""Logging: readable (rich) in a terminal, one JSON object per line elsewhere (pods, CI)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


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
        handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party chatter drowns the stage's own messages.
    for noisy in ("urllib3", "botocore", "alembic", "git", "dvc", "httpx", "mlflow", "numexpr"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
