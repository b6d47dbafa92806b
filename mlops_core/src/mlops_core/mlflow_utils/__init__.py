"""The one MLflow access layer of the platform: every stage reaches the tracking server and
the model registry through it.

- connect:  `check_tracking_server` (one GET /health with a timeout, Unreachable when nothing
  answers), `client` (an MlflowClient after that check), `request_env` (MLflow's HTTP
  settings for a child process), `configure_tracking` (the fluent API's global URI).
- failures: `classify` an exception by MLflow's `error_code` and by exception type for
  transport errors (never by message text), `is_transient`, `registry_error`.
- retry:    `retrying` - the tenacity policy (only transient failures, exponential backoff,
  a total time budget).
- refs:     `parse_reference` (3, "3", "champion", "@champion", "models:/NAME/3",
  "models:/NAME@champion"), `resolve` / `resolve_model` to a `ModelRef` with its lineage,
  `find_alias`, `alias_version`, `registered_model`, `load_model`, `load_estimator`.

mlflow is not a dependency of mlops_core: it is imported inside the functions, and only
stages that depend on mlflow themselves call them.

MLflow's own HTTP retries and timeout (MLFLOW_HTTP_REQUEST_MAX_RETRIES, ..._TIMEOUT) exist
only as environment variables: mlflow.utils.rest_utils.http_request reads them on every
request when called without max_retries/timeout, and the REST stores behind MlflowClient
(call_endpoint) never pass those arguments, so a client cannot be given its own request
settings. Writing them into our own os.environ would change every other MLflow user of the
process, so the layer does not: whoever starts a process sets them in that child's
environment (`request_env()`), and in-process the layer bounds waiting itself - a /health
check with an explicit timeout before any client is built (a server that is down fails in
seconds, whatever MLflow's retry settings), and the tenacity policy's total budget.

    ref = resolve_model("house-price", "champion")   # or 3, "3", "@champion", "models:/..."
    ref.version, ref.run_id, ref.data_version, ref.metrics["test_rmse"]
    model = load_model(ref)                          # a pyfunc model
"""

from __future__ import annotations

from mlops_core.mlflow_utils.connect import (
    Unreachable,
    check_tracking_server,
    client,
    configure_tracking,
    request_env,
)
from mlops_core.mlflow_utils.failures import Failure, classify, is_transient, registry_error
from mlops_core.mlflow_utils.refs import (
    CHALLENGER,
    CHAMPION,
    SCHEMA_METADATA,
    TAG_DATA_HASH,
    TAG_DATA_VERSION,
    TAG_VALIDATION_REASON,
    TAG_VALIDATION_STATUS,
    ModelRef,
    Reference,
    alias_version,
    find_alias,
    load_estimator,
    load_model,
    logged_schema,
    model_folder_schema,
    model_uri,
    parse_reference,
    registered_model,
    resolve,
    resolve_model,
)
from mlops_core.mlflow_utils.retry import DEFAULT_BUDGET, retrying

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_BUDGET",
    "SCHEMA_METADATA",
    "TAG_DATA_HASH",
    "TAG_DATA_VERSION",
    "TAG_VALIDATION_REASON",
    "TAG_VALIDATION_STATUS",
    "Failure",
    "ModelRef",
    "Reference",
    "Unreachable",
    "alias_version",
    "check_tracking_server",
    "classify",
    "client",
    "configure_tracking",
    "find_alias",
    "is_transient",
    "load_estimator",
    "load_model",
    "logged_schema",
    "model_folder_schema",
    "model_uri",
    "parse_reference",
    "registered_model",
    "registry_error",
    "request_env",
    "resolve",
    "resolve_model",
    "retrying",
]
