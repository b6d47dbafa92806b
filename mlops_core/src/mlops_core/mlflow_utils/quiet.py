"""Keep MLflow's chatter off a command's output: stdout holds only the command's result."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

log = logging.getLogger("mlops.mlflow")


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """MLflow's advice (integer columns in signatures, ...) is noise for a CLI user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", message=r".*[Ii]nteger column", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        yield


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's run URLs (printed on stdout) and info logs go to the debug log."""
    if not log.isEnabledFor(logging.DEBUG):
        # uv detection, "pip version unknown" in a uv venv: no news for a user.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), quiet_warnings():
            yield
    finally:
        if printed.getvalue().strip():
            log.debug("mlflow: %s", printed.getvalue().strip())
