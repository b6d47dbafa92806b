"""The typed contracts between a stage command and whoever runs it.

Every `mlops ... --json` command prints exactly one result object: a `Result` model from
this package. `read_result` is the one parser of a command's output, used by the task
runner, the DAGs, the retrain trigger, the whole-loop runner, the checks and the tests.
`docs/contracts.md` is generated from these models (`python -m mlops_core.contracts.docs`).
"""

from mlops_core.contracts.base import (
    ErrorResult,
    Result,
    ResultNotFound,
    all_result_models,
    parse_payload,
    read_result,
)
from mlops_core.contracts.constants import (
    DATA_VERSION_PREFIX,
    SPLITS,
    Alias,
    ExitCode,
    Role,
    Service,
    Split,
    Tag,
    Task,
)

# One module of result models per stage; importing this package imports them all.
MODULES = ("ingest", "train", "deploy", "serve", "monitor", "pipeline", "runtime", "alerts")

__all__ = [
    "DATA_VERSION_PREFIX",
    "MODULES",
    "SPLITS",
    "Alias",
    "ErrorResult",
    "ExitCode",
    "Result",
    "ResultNotFound",
    "Role",
    "Service",
    "Split",
    "Tag",
    "Task",
    "all_result_models",
    "parse_payload",
    "read_result",
]

from mlops_core.contracts import (  # noqa: E402, F401
    alerts,
    deploy,
    ingest,
    monitor,
    pipeline,
    runtime,
    serve,
    train,
)
