"""Finding and loading the served model, and predicting with it in-process.

A model reference is one of:
- `models:/<name>/<version>` (the form GitOps pins) or `models:/<name>@<alias>`;
- a bare version number or alias of the configured registered model;
- a local MLflow model folder (offline use).
Start-up fails fast when the model does not exist; it retries with backoff only while the
registry cannot be reached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlops_core.errors import BadInput, Unavailable
from mlops_core.schema import DatasetSchema

log = logging.getLogger("prediction_service.model")

DEFAULT_ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class ModelSpec:
    """What the service was asked to serve."""

    raw: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    path: Path | None = None

    @property
    def follows_alias(self) -> bool:
        return self.alias is not None or (self.path is None and self.version is None)


def parse_ref(ref: str | None, default_name: str) -> ModelSpec:
    if ref is None or not ref.strip():
        return ModelSpec(raw="", name=default_name)
    ref = ref.strip()
    if ref.startswith("models:/"):
        rest = ref[len("models:/") :]
        if "@" in rest:
            name, _, alias = rest.partition("@")
            if name and alias and "/" not in alias:
                return ModelSpec(ref, name=name, alias=alias)
        else:
            name, _, version = rest.rpartition("/")
            if name and version.isdigit():
                return ModelSpec(ref, name=name, version=version)
            if name and version:
                return ModelSpec(ref, name=name, alias=version)
        raise BadInput(
            f"model {ref!r}: expected models:/<name>/<version> or models:/<name>@<alias>"
        )
    if ref.startswith("file://"):
        ref = ref[len("file://") :]
    path = Path(ref).expanduser()
    if (path / "MLmodel").is_file():
        return ModelSpec(ref, path=path.resolve())
    if "/" in ref or path.exists():
        raise BadInput(f"model {ref!r}: no MLflow model folder there (no MLmodel file)")
    if ref.isdigit():
        return ModelSpec(ref, name=default_name, version=ref)
    if re.fullmatch(r"[A-Za-z0-9_-]+", ref):
        return ModelSpec(ref, name=default_name, alias=ref)
    raise BadInput(f"model {ref!r}: not a models:/ URI, a version, an alias or a model folder")


@dataclass
class LoadedModel:
    name: str
    version: str
    uri: str
    estimator: Any
    run_id: str | None = None
    data_version: str | None = None
    alias: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)
    flavor: str = "sklearn"
    # records -> predictions through numpy (prediction_service.fastpath), when it applies.
    fast: Any = field(default=None, repr=False)

    def metadata(self) -> dict[str, Any]:
        return {
            "model_name": self.name,
            "model_version": self.version,
            "model_uri": self.uri,
            "alias": self.alias,
            "run_id": self.run_id,
            "data_version": self.data_version,
            "metrics": self.metrics,
            "flavor": self.flavor,
            "fast_path": self.fast is not None,
            "loaded_at": self.loaded_at,
        }


@contextlib.contextmanager
def _no_mlflow_retries(timeout: float = 10.0) -> Iterator[None]:
    """MLflow retries HTTP calls for minutes by itself; the service does its own backoff."""
    names = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout)),
    }
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _unreachable(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        kind = type(current).__module__ + "." + type(current).__name__
        if "requests.exceptions" in kind or "urllib3.exceptions" in kind:
            return True
        text = str(current)
        if any(
            s in text
            for s in (
                "Max retries exceeded",
                "Connection refused",
                "Failed to establish a new connection",
                "Read timed out",
                "too many 5",
                "502",
                "503",
                "504",
            )
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _not_found(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def resolve_version(spec: ModelSpec, tracking_uri: str) -> tuple[str, str, str | None]:
    """(name, version, alias) of a registry reference; one registry round-trip."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    assert spec.name is not None
    if spec.version is not None:
        mv = client.get_model_version(spec.name, spec.version)
        return spec.name, str(mv.version), None
    aliases = (spec.alias,) if spec.alias else DEFAULT_ALIASES
    last: Exception | None = None
    for alias in aliases:
        try:
            mv = client.get_model_version_by_alias(spec.name, alias)
            return spec.name, str(mv.version), alias
        except Exception as exc:
            if not _not_found(exc):
                raise
            last = exc
    which = f"alias {spec.alias!r}" if spec.alias else "a champion or challenger alias"
    raise BadInput(
        f"model {spec.name!r} has no {which} in the registry at {tracking_uri}; train one "
        f"(`mlops train`) or pass --model models:/<name>/<version>"
    ) from last


def _load_registry(spec: ModelSpec, tracking_uri: str) -> LoadedModel:
    import mlflow
    from mlflow import MlflowClient

    name, version, alias = resolve_version(spec, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = client.get_model_version(name, version)
    metrics: dict[str, float] = {}
    data_version = (mv.tags or {}).get("data_version")
    if mv.run_id:
        try:
            run = client.get_run(mv.run_id)
            metrics = dict(run.data.metrics)
            data_version = data_version or run.data.tags.get("data_version")
        except Exception as exc:
            if not _not_found(exc):
                raise
    uri = f"models:/{name}/{version}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    estimator, flavor = _load_estimator(uri)
    return LoadedModel(
        name=name,
        version=version,
        uri=uri,
        estimator=estimator,
        run_id=mv.run_id,
        data_version=data_version,
        alias=alias,
        metrics=metrics,
        flavor=flavor,
    )


def _load_estimator(uri: str) -> tuple[Any, str]:
    import mlflow

    try:
        return mlflow.sklearn.load_model(uri), "sklearn"
    except Exception as exc:
        if _unreachable(exc):
            raise
        if "flavor" not in str(exc) and "sklearn" not in str(exc):
            raise
    return mlflow.pyfunc.load_model(uri), "pyfunc"


def _load_local(spec: ModelSpec) -> LoadedModel:
    import yaml

    assert spec.path is not None
    try:
        meta = yaml.safe_load((spec.path / "MLmodel").read_text()) or {}
        estimator, flavor = _load_estimator(str(spec.path))
    except Exception as exc:
        raise BadInput(f"model folder {spec.path}: cannot be loaded ({exc})") from exc
    return LoadedModel(
        name=spec.path.name,
        version="local",
        uri=str(spec.path),
        estimator=estimator,
        run_id=meta.get("run_id"),
        flavor=flavor,
    )


def load_model(spec: ModelSpec, tracking_uri: str, *, registry_timeout: float) -> LoadedModel:
    """Load the model; retry with backoff while the registry is unreachable."""
    if spec.path is not None:
        return _load_local(spec)
    deadline = time.monotonic() + registry_timeout
    delay = 0.5
    while True:
        try:
            with _no_mlflow_retries():
                return _load_registry(spec, tracking_uri)
        except BadInput:
            raise
        except Exception as exc:
            if _not_found(exc):
                raise BadInput(
                    f"model {spec.raw or spec.name!r}: not found in the registry at "
                    f"{tracking_uri} ({getattr(exc, 'message', exc)})"
                ) from exc
            if not _unreachable(exc):
                raise Unavailable(
                    f"model {spec.raw or spec.name!r}: cannot be loaded: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if time.monotonic() + delay > deadline:
                raise Unavailable(
                    f"model registry at {tracking_uri} is unreachable "
                    f"(gave up after {registry_timeout:.0f}s): {exc}"
                ) from exc
            log.warning(
                "model registry unreachable; retrying",
                extra={"tracking_uri": tracking_uri, "retry_in_s": delay},
            )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


class Predictor:
    """Turns validated records into predictions.

    The numpy fast path (prediction_service.fastpath) when it was verified for the model;
    else a DataFrame built once per batch, in schema order, with the training dtypes
    (int -> int64, float -> float64, category -> object).
    """

    def __init__(self, schema: DatasetSchema) -> None:
        import pandas as pd

        self._pd = pd
        self.schema = schema
        self.columns = schema.feature_names
        self._dtypes = {
            c.name: {"int": "int64", "float": "float64", "category": object}[c.dtype]
            for c in schema.features
        }

    def samples(self, n: int = 64) -> list[dict[str, Any]]:
        """Valid records to check a model with: synthetic rows, else values at the ranges."""
        if self.schema.synthetic:
            try:
                from mlops_core.synthetic import generate

                frame = generate(self.schema, n, seed=12345)[self.columns]
                return [
                    {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                    for row in frame.to_dict("records")
                ]
            except Exception:
                pass
        rows = []
        for i in range(n):
            row: dict[str, Any] = {}
            for c in self.schema.features:
                if c.dtype == "category":
                    cats = c.categories or ("",)
                    row[c.name] = cats[i % len(cats)]
                else:
                    lo = c.min if c.min is not None else 0.0
                    hi = c.max if c.max is not None else lo + 100.0
                    v = lo + (hi - lo) * (i / max(1, n - 1))
                    row[c.name] = round(v) if c.dtype == "int" else float(v)
            rows.append(row)
        return rows

    def prepare(self, model: LoadedModel) -> LoadedModel:
        """Compile and verify the numpy fast path for a freshly loaded model."""
        if model.flavor == "sklearn":
            from prediction_service.fastpath import compile_pipeline

            model.fast = compile_pipeline(model.estimator, self.schema, self.samples())
        return model

    def frame(self, records: Sequence[dict[str, Any]]):
        pd = self._pd
        data = {}
        for name in self.columns:
            data[name] = np.array([r[name] for r in records], dtype=self._dtypes[name])
        return pd.DataFrame(data, copy=False)

    def predict(self, model: LoadedModel, records: Sequence[dict[str, Any]]) -> list[float]:
        fast = model.fast
        out = fast(records) if fast is not None else model.estimator.predict(self.frame(records))
        return np.asarray(out, dtype="float64").reshape(len(records), -1)[:, 0].tolist()
