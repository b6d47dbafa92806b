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


def resolve_ref(spec: ModelSpec, tracking_uri: str):
    """The registry version a reference names, with its lineage (mlops_core.mlflow_utils):
    a version, an alias, or without either the champion, else the challenger."""
    from mlops_core.mlflow_utils import find_alias, resolve_model

    assert spec.name is not None
    if spec.version is not None:
        return resolve_model(spec.name, spec.version, tracking_uri), None
    if spec.alias is not None:
        return resolve_model(spec.name, f"@{spec.alias}", tracking_uri), spec.alias
    for alias in DEFAULT_ALIASES:
        ref = find_alias(spec.name, alias, tracking_uri)
        if ref is not None:
            return ref, alias
    raise BadInput(
        f"model {spec.name!r} has no champion or challenger alias in the registry at "
        f"{tracking_uri}; train one (`mlops train`) or pass --model models:/<name>/<version>"
    )


def resolve_version(spec: ModelSpec, tracking_uri: str) -> tuple[str, str, str | None]:
    """(name, version, alias) of a registry reference."""
    ref, alias = resolve_ref(spec, tracking_uri)
    return ref.name, ref.version, alias


def _load_registry(spec: ModelSpec, tracking_uri: str) -> LoadedModel:
    ref, alias = resolve_ref(spec, tracking_uri)
    estimator, flavor = _load_estimator(ref)  # pinned to the version, not the alias
    return LoadedModel(
        name=ref.name,
        version=ref.version,
        uri=ref.uri,
        estimator=estimator,
        run_id=ref.run_id,
        data_version=ref.data_version,
        alias=alias,
        metrics=dict(ref.metrics),
        flavor=flavor,
    )


def _load_estimator(uri) -> tuple[Any, str]:
    """uri: a ModelRef (loaded from the registry it was resolved on) or a local folder."""
    from mlops_core.mlflow_utils import load_model as load_mlflow_model

    try:
        return load_mlflow_model(uri, flavor="sklearn"), "sklearn"
    except Exception as exc:
        if _unreachable(exc):
            raise
        if "flavor" not in str(exc) and "sklearn" not in str(exc):
            raise
    return load_mlflow_model(uri, flavor="pyfunc"), "pyfunc"


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
            # mlops_core.mlflow_utils says Unavailable when the server does not answer.
            unreachable = isinstance(exc, Unavailable) or _unreachable(exc)
            if _not_found(exc):
                raise BadInput(
                    f"model {spec.raw or spec.name!r}: not found in the registry at "
                    f"{tracking_uri} ({getattr(exc, 'message', exc)})"
                ) from exc
            if not unreachable:
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
