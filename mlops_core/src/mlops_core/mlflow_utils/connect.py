"""Reaching the MLflow server: the /health check, the client factory, and MLflow's HTTP
settings for child processes (why they are not set in-process: see the package docstring)."""

from __future__ import annotations

from mlops_core.errors import Unavailable

HOW_TO_START = "start it with `mlops mlflow up` or set MLOPS_MLFLOW_TRACKING_URI"


class Unreachable(Unavailable):
    """Nothing (or only a 5xx) answered at the tracking URI: the transient kind, retried."""


def check_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast with Unreachable (exit 5) when an http(s) tracking server does not answer.

    Other URIs (sqlite:, file:, a local path) have no server to ask and pass.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        raise Unreachable(
            f"MLflow tracking server {uri} is not reachable ({type(exc).__name__}: "
            f"/health cannot be reached); {HOW_TO_START}"
        ) from None
    if response.status_code >= 500:
        raise Unreachable(
            f"MLflow tracking server {uri} is not reachable: /health answered HTTP "
            f"{response.status_code}; {HOW_TO_START}"
        )


def client(tracking_uri: str | None = None, *, check: bool = True, timeout: float = 5.0):
    """An MlflowClient for tracking_uri (default: the platform setting), checked first.

    Tracking and registry URI are the same server. Nothing global is set: neither
    mlflow.set_tracking_uri nor os.environ.
    """
    if tracking_uri is None:
        from mlops_core.settings import get_settings

        tracking_uri = get_settings().tracking_uri
    if check:
        check_tracking_server(tracking_uri, timeout=timeout)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def request_env(max_retries: int = 3, timeout: float = 60.0) -> dict[str, str]:
    """MLflow's HTTP retry and timeout settings, as variables for a child's environment.

    MLflow's defaults (7 retries with backoff, 120 s per request) make a command wait for
    minutes when the server goes away mid-command; a process started with these fails in
    seconds. Use it as `env={**os.environ, **request_env()}` where a process is spawned.
    """
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(int(max_retries)),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout)),
    }


def configure_tracking(uri: str, check: bool = True) -> None:
    """Point MLflow's fluent API (mlflow.start_run, log_model...) at uri, checked first.

    Only for code that uses the fluent API: mlflow.set_tracking_uri is process-global and
    MLflow itself exports the URI as MLFLOW_TRACKING_URI for subprocesses. Everything else
    takes a `client()`.
    """
    if check:
        check_tracking_server(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
