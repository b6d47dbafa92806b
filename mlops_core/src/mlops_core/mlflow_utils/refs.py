"""Model references: parsing every form a user or GitOps gives, resolving one to the
registered version and its lineage, and loading that version.

Forms: 3 or "3" (a version), "champion" or "@champion" (an alias) of a given registered
model; "models:/NAME/3" and "models:/NAME@champion" name the model themselves
("models:/NAME/champion" is read as the alias, as the prediction service always has).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlops_core.contracts.constants import Alias, Tag
from mlops_core.errors import BadInput
from mlops_core.mlflow_utils.failures import Failure, classify, registry_error

# The shared names (mlops_core.contracts), as plain strings for MLflow's API.
CHAMPION = Alias.CHAMPION.value
CHALLENGER = Alias.CHALLENGER.value
TAG_DATA_VERSION = Tag.DATA_VERSION.value
TAG_DATA_HASH = Tag.DATA_HASH.value
TAG_VALIDATION_STATUS = Tag.VALIDATION_STATUS.value
TAG_VALIDATION_REASON = Tag.VALIDATION_REASON.value

_ALIAS = re.compile(r"[A-Za-z0-9_-]+")
_FORMS = "a version number, an alias, @alias, models:/<name>/<version> or models:/<name>@<alias>"


@dataclass(frozen=True)
class Reference:
    """A parsed model reference: exactly one of version and alias is set."""

    name: str
    version: str | None = None
    alias: str | None = None

    @property
    def uri(self) -> str:
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}@{self.alias}"

    def describe(self) -> str:
        return f"version {self.version}" if self.version is not None else f"alias {self.alias!r}"


def parse_reference(ref: str | int, name: str | None = None) -> Reference:
    """Parse any reference form; a bare version or alias belongs to registered model `name`.

    Bad input -> BadInput naming the reference and the forms accepted.
    """
    text = str(ref).strip()
    if not text:
        raise BadInput(f"empty model reference: give {_FORMS}")
    if text.startswith("models:/"):
        rest = text.removeprefix("models:/")
        if "@" in rest:
            model, _, alias = rest.partition("@")
            if model and _ALIAS.fullmatch(alias):
                return Reference(model, alias=alias)
        else:
            model, _, tail = rest.rpartition("/")
            if model and tail.isdigit():
                return Reference(model, version=str(int(tail)))
            if model and _ALIAS.fullmatch(tail):
                return Reference(model, alias=tail)
        raise BadInput(
            f"model {text!r}: expected models:/<name>/<version> or models:/<name>@<alias>"
        )
    if name is None or not name.strip():
        raise BadInput(f"model reference {text!r} needs a registered model name")
    if text.isdigit():
        return Reference(name, version=str(int(text)))
    alias = text.removeprefix("@")
    if _ALIAS.fullmatch(alias):
        return Reference(name, alias=alias)
    raise BadInput(f"model reference {text!r}: not {_FORMS}")


def model_uri(name: str, ref: str | int) -> str:
    """models:/NAME/VERSION for a version number, models:/NAME@ALIAS for an alias."""
    return parse_reference(ref, name).uri


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
    tracking_uri: str | None = None  # the server it was resolved on (load_model uses it)
    created_ms: int | None = None  # when the version was registered (epoch milliseconds)
    experiment_id: str | None = None  # the training run's experiment (for its UI page)

    @property
    def created(self) -> float | None:
        """When the version was registered, in Unix seconds."""
        return self.created_ms / 1000 if self.created_ms else None

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


def _uri_of(mlflow_client) -> str | None:
    return getattr(mlflow_client, "_registry_uri", None) or getattr(
        mlflow_client, "tracking_uri", None
    )


@contextmanager
def missing_is_bad_input(mlflow_client, message: str) -> Iterator[None]:
    """MLflow's "no such model, version, alias or artifact" as BadInput(message); any other
    failure as the registry error of the client's server."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        # An unset alias is INVALID_PARAMETER_VALUE, an unknown version RESOURCE_DOES_NOT_EXIST.
        if classify(exc) in (Failure.NOT_FOUND, Failure.INVALID):
            raise BadInput(message) from None
        raise registry_error(exc, _uri_of(mlflow_client)) from exc


def registered_model(mlflow_client, name: str):
    """The registered model `name`; BadInput naming it when it does not exist."""
    message = (
        f"registered model {name!r} does not exist in MLflow; train one with `mlops train` "
        "(or pass --model NAME)"
    )
    with missing_is_bad_input(mlflow_client, message):
        return mlflow_client.get_registered_model(name)


def _version(mlflow_client, ref: Reference):
    with missing_is_bad_input(
        mlflow_client, f"registered model {ref.name!r} has no {ref.describe()}"
    ):
        if ref.version is not None:
            return mlflow_client.get_model_version(ref.name, ref.version)
        return mlflow_client.get_model_version_by_alias(ref.name, ref.alias)


def resolve(mlflow_client, ref: Reference | str | int, name: str | None = None) -> ModelRef:
    """The version `ref` names, with its run's metrics and its data version.

    Unknown model, version or alias -> BadInput naming it; unreachable -> Unreachable.
    """
    from mlflow.exceptions import MlflowException

    ref = ref if isinstance(ref, Reference) else parse_reference(ref, name)
    registered_model(mlflow_client, ref.name)
    mv = _version(mlflow_client, ref)
    metrics: dict[str, float] = {}
    run_tags: dict[str, str] = {}
    experiment_id = None
    if mv.run_id:
        try:
            run = mlflow_client.get_run(mv.run_id)
            metrics = dict(run.data.metrics)
            run_tags = dict(run.data.tags)
            experiment_id = run.info.experiment_id
        except MlflowException as exc:
            # A deleted run leaves the version without metrics, not unusable.
            if classify(exc) is not Failure.NOT_FOUND:
                raise registry_error(exc, _uri_of(mlflow_client)) from exc
    tags = dict(mv.tags or {})
    return ModelRef(
        name=ref.name,
        version=str(mv.version),
        run_id=mv.run_id,
        data_version=tags.get(TAG_DATA_VERSION) or run_tags.get(TAG_DATA_VERSION),
        metrics=metrics,
        aliases=tuple(getattr(mv, "aliases", None) or ()),
        tags=tags,
        source=mv.source,
        tracking_uri=_uri_of(mlflow_client),
        created_ms=getattr(mv, "creation_timestamp", None),
        experiment_id=experiment_id,
    )


def alias_version(mlflow_client, name: str, alias: str) -> str | None:
    """The version number holding `alias`, or None when the alias (or model) is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if classify(exc) in (Failure.NOT_FOUND, Failure.INVALID):
            return None
        raise registry_error(exc, _uri_of(mlflow_client)) from exc


def resolve_model(
    name: str, ref: str | int, tracking_uri: str | None = None, *, budget: float | None = None
) -> ModelRef:
    """resolve() on a checked client for tracking_uri (default: the platform setting).

    A server that is down fails at once (the check); a transient failure after it is
    retried for `budget` seconds (retry.DEFAULT_BUDGET).
    """
    from mlops_core.mlflow_utils.connect import client
    from mlops_core.mlflow_utils.retry import DEFAULT_BUDGET, retrying

    mlflow_client = client(tracking_uri)
    policy = retrying(DEFAULT_BUDGET if budget is None else budget)
    return policy(resolve, mlflow_client, ref, name)


def find_alias(name: str, alias: str, tracking_uri: str | None = None) -> ModelRef | None:
    """The version holding `alias`, or None when the model or the alias does not exist."""
    try:
        return resolve_model(name, f"@{alias}", tracking_uri)
    except BadInput:
        return None


def _download(ref: ModelRef | str, tracking_uri: str | None) -> str:
    """The model's local folder (a local folder is used where it is).

    A registered version is downloaded from its storage location, asked of the registry
    explicitly: MLflow's own models:/ resolution (ModelsArtifactRepository) always asks the
    process-global registry URI, whatever registry_uri it is given.
    """
    import mlflow.artifacts

    if isinstance(ref, str) and ref.startswith("models:/") and tracking_uri is not None:
        from mlops_core.mlflow_utils.connect import client

        ref = resolve(client(tracking_uri, check=False), ref)
    if isinstance(ref, ModelRef):
        uri = tracking_uri or ref.tracking_uri
        if uri is None:
            ref = ref.uri  # resolved elsewhere: MLflow's default registry, as before
        else:
            from mlflow import MlflowClient

            location = MlflowClient(uri, uri).get_model_version_download_uri(ref.name, ref.version)
            return mlflow.artifacts.download_artifacts(
                artifact_uri=location, tracking_uri=uri, registry_uri=uri
            )
    return mlflow.artifacts.download_artifacts(
        artifact_uri=ref, tracking_uri=tracking_uri, registry_uri=tracking_uri
    )


def load_model(ref: ModelRef | str, flavor: str = "pyfunc", tracking_uri: str | None = None):
    """Load a model in-process: a ModelRef, a models:/ URI or a local model folder.

    The registry is the one the ModelRef was resolved on (else tracking_uri, else MLflow's
    own default), passed explicitly: nothing global is set.
    """
    local = _download(ref, tracking_uri)
    if flavor == "sklearn":
        import mlflow.sklearn

        return mlflow.sklearn.load_model(local)
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(local)


def load_estimator(ref: ModelRef | str, tracking_uri: str | None = None) -> tuple[Any, str]:
    """(model, flavor): the scikit-learn estimator when the model has that flavor (its
    MLmodel file says so), else the pyfunc model."""
    from mlflow.models import Model

    local = _download(ref, tracking_uri)
    if "sklearn" in Model.load(local).flavors:
        return load_model(local, flavor="sklearn"), "sklearn"
    return load_model(local, flavor="pyfunc"), "pyfunc"


# Where `mlops train` records the schema a run was trained with (model_training.runlog).
SCHEMA_ARTIFACT = "config/schema.json"
# The key of the schema in a logged model's MLmodel `metadata`: a copy of the model folder
# (or a mounted artifact) is served with no models folder and no tracking server.
SCHEMA_METADATA = "mlops_schema"


def model_folder_schema(path):
    """The schema an MLflow model folder carries in its MLmodel metadata; None when it has
    none (a model logged elsewhere, or before the platform recorded it there)."""
    import yaml

    from mlops_core.schema import DatasetSchema

    meta = yaml.safe_load((path / "MLmodel").read_text()) or {}
    found = (meta.get("metadata") or {}).get(SCHEMA_METADATA)
    if found is None:
        return None
    try:
        return DatasetSchema.model_validate(found)
    except ValueError as exc:
        raise BadInput(
            f"{path / 'MLmodel'}: metadata {SCHEMA_METADATA} is not a schema: {exc}"
        ) from None


def logged_schema(ref: ModelRef | str, tracking_uri: str | None = None):
    """The schema the version was trained with, read from its training run: what a process
    with no model folder mounted (a serving pod) validates requests against."""
    import json

    from mlops_core.mlflow_utils.connect import client
    from mlops_core.schema import DatasetSchema

    mlflow_client = client(tracking_uri, check=False)
    if not isinstance(ref, ModelRef):
        ref = resolve(mlflow_client, ref)
    if not ref.run_id:
        raise BadInput(f"{ref.uri}: no training run recorded, so no schema to serve it with")
    import mlflow.artifacts

    uri = tracking_uri or ref.tracking_uri or _uri_of(mlflow_client)
    missing = (
        f"{ref.uri}: its run {ref.run_id} has no {SCHEMA_ARTIFACT}; mount the model folder "
        "(MLOPS_MODELS_DIR) to serve it"
    )
    with missing_is_bad_input(mlflow_client, missing):
        text = mlflow.artifacts.download_artifacts(
            run_id=ref.run_id, artifact_path=SCHEMA_ARTIFACT, tracking_uri=uri
        )
    with open(text) as fh:
        return DatasetSchema.model_validate(json.load(fh))
