"""MLflow helpers shared by the stages that read the model registry (train, serve, monitor,
deploy): resolve a model version or alias to its lineage, build model URIs, check that the
tracking server answers, load a model in-process.

mlflow is not a dependency of mlops_core: it is imported inside the functions, and only
stages that depend on mlflow themselves call them.

    ref = resolve_model("house-price", "champion")   # or 3, "3", "@champion"
    ref.version, ref.run_id, ref.data_version, ref.metrics["test_rmse"]
    model = load_model(ref)                          # a pyfunc model
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlops_core.errors import BadInput, Unavailable

CHAMPION = "champion"
CHALLENGER = "challenger"
# Tag names on registered model versions and on training runs (CONTRACTS.md section 2).
TAG_DATA_VERSION = "data_version"
TAG_DATA_HASH = "data_hash"
TAG_VALIDATION_STATUS = "validation_status"
TAG_VALIDATION_REASON = "validation_reason"


@dataclass(frozen=True)
class ModelRef:
    """One registered model version and where it came from."""

    name: str
    version: str
    run_id: str | None
    data_version: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    @property
    def uri(self) -> str:
        """models:/NAME/VERSION - pinned, unlike an alias URI."""
        return f"models:/{self.name}/{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "run_id": self.run_id,
            "data_version": self.data_version,
            "metrics": dict(self.metrics),
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
        }


def _split_ref(ref: str | int) -> tuple[str, str]:
    """('version', '3') or ('alias', 'champion') from 3, '3', 'champion', '@champion'."""
    text = str(ref).strip()
    if not text:
        raise BadInput("empty model reference: give a version number or an alias")
    if text.isdigit():
        return "version", str(int(text))
    return "alias", text.removeprefix("@")


def model_uri(name: str, ref: str | int) -> str:
    """models:/NAME/VERSION for a version number, models:/NAME@ALIAS for an alias."""
    if str(ref).startswith("models:/"):
        return str(ref)
    kind, value = _split_ref(ref)
    return f"models:/{name}/{value}" if kind == "version" else f"models:/{name}@{value}"


def check_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast with Unavailable when an http(s) tracking server does not answer.

    (MLflow's own client retries for minutes before giving up.)
    """
    if not uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        response = httpx.get(f"{uri.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"MLflow tracking server {uri} is not reachable ({type(exc).__name__}); "
            "start it with `mlops mlflow up` or set MLOPS_MLFLOW_TRACKING_URI"
        ) from None
    if response.status_code >= 500:
        raise Unavailable(f"MLflow tracking server {uri} answered HTTP {response.status_code}")


def configure_tracking(uri: str, check: bool = True) -> None:
    """Point the mlflow client library at uri (after checking it answers)."""
    if check:
        check_tracking_server(uri)
    # Fail in seconds, not minutes, when the server goes away in the middle of a command.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def client(tracking_uri: str | None = None):
    """An MlflowClient for tracking_uri (default: the platform setting), checked first."""
    if tracking_uri is None:
        from mlops_core.settings import get_settings

        tracking_uri = get_settings().tracking_uri
    configure_tracking(tracking_uri)
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "") or ""
    return "RESOURCE_DOES_NOT_EXIST" in code or "INVALID_PARAMETER_VALUE" in code


def resolve_model(name: str, ref: str | int, tracking_uri: str | None = None) -> ModelRef:
    """Resolve a version number or an alias of registered model `name` to its lineage.

    Unknown model, version or alias -> BadInput naming it; unreachable server -> Unavailable.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client = client(tracking_uri)
    kind, value = _split_ref(ref)
    try:
        if kind == "version":
            mv = mlflow_client.get_model_version(name, value)
        else:
            mv = mlflow_client.get_model_version_by_alias(name, value)
    except MlflowException as exc:
        if _not_found(exc):
            what = f"version {value}" if kind == "version" else f"alias {value!r}"
            raise BadInput(f"registered model {name!r} has no {what}") from None
        raise Unavailable(f"MLflow model registry: {exc.message}") from None
    metrics: dict[str, float] = {}
    run_tags: dict[str, str] = {}
    if mv.run_id:
        try:
            run = mlflow_client.get_run(mv.run_id)
            metrics = dict(run.data.metrics)
            run_tags = dict(run.data.tags)
        except MlflowException as exc:
            if not _not_found(exc):
                raise Unavailable(f"MLflow tracking: {exc.message}") from None
    tags = dict(mv.tags or {})
    data_version = tags.get(TAG_DATA_VERSION) or run_tags.get(TAG_DATA_VERSION)
    return ModelRef(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        data_version=data_version,
        metrics=metrics,
        aliases=tuple(getattr(mv, "aliases", None) or ()),
        tags=tags,
        source=mv.source,
    )


def find_alias(name: str, alias: str, tracking_uri: str | None = None) -> ModelRef | None:
    """The version holding `alias`, or None when the model or the alias does not exist."""
    try:
        return resolve_model(name, f"@{alias}", tracking_uri)
    except BadInput:
        return None


def load_model(ref: ModelRef | str, flavor: str = "pyfunc"):
    """Load a model in-process: a ModelRef or a models:/ URI; flavor pyfunc or sklearn."""
    uri = ref.uri if isinstance(ref, ModelRef) else ref
    if flavor == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model(uri)
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)
