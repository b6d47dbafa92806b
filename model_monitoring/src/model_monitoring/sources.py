"""Where the compared data comes from.

Reference: the model version's training data, through its lineage: model version -> MLflow
run -> data_version tag -> the train split pulled from that model's versions in the data
registry; its predictions (a classifier's: the class and every class's probability) are
computed in one in-process batch with the same model version.

Current: the prediction log in a time window or the last N predictions of that model's
version, left-joined with the feedback labels; only that model's rows are ever read. A
regression row holds `prediction` and its feedback `label`; a classifier's row holds
`predicted_class`, `probabilities` ({class: p}) and its feedback `label_class`. The columns
are read as the database has them (reflected), so a log from before the classification
columns still reads.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_core.errors import BadInput, DataQualityError, Unavailable
from mlops_core.schema import DatasetSchema, normalise_category
from mlops_core.settings import PlatformSettings

log = logging.getLogger("mlops.monitor")


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 time (naive = UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{option}: {value!r} is not an ISO-8601 time (e.g. 2026-11-29T17:00Z)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class Window:
    since: datetime | None
    until: datetime
    last: int | None = None
    default_since: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "last": self.last,
            "since_previous_run": self.default_since,
        }


# -- current traffic --------------------------------------------------------------------------
def _engine(settings: PlatformSettings):
    import sqlalchemy as sa

    from mlops_core import predlog

    url = settings.prediction_log
    parsed = sa.engine.make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(parsed.database).exists():  # never create an empty log as a side effect
        raise BadInput(
            f"prediction log {parsed.database} does not exist: has the prediction service "
            "run (`mlops serve`), or is MLOPS_PREDICTION_LOG_URL wrong?"
        )
    try:
        engine = predlog.create_engine(url)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"prediction log {_safe(url)} is not reachable: {exc}") from None
    missing = {"predictions", "feedback"} - tables
    if missing:
        raise BadInput(
            f"prediction log {_safe(url)} has no table(s) {', '.join(sorted(missing))}: "
            "has the prediction service run (`mlops serve`)?"
        )
    return engine


def _safe(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<prediction log>"


def _tables(engine) -> tuple[Any, Any]:
    """The predictions and feedback tables as the database has them."""
    import sqlalchemy as sa

    meta = sa.MetaData()
    meta.reflect(engine, only=["predictions", "feedback"])
    return meta.tables["predictions"], meta.tables["feedback"]


def latest_served_version(settings: PlatformSettings, model_name: str) -> str | None:
    """The model version of the newest logged prediction of model_name (answered as the
    champion, where the log records roles: a shadow's rows never choose the version)."""
    import sqlalchemy as sa

    engine = _engine(settings)
    p, _ = _tables(engine)
    query = (
        sa.select(p.c.model_version)
        .where(p.c.model_name == model_name)
        .order_by(p.c.created_at.desc())
        .limit(1)
    )
    if "role" in p.c:
        query = query.where(p.c.role == "champion")
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else str(row[0])


# What a log row may hold besides the features, in the frame's terms.
_PREDICTION_FIELDS = ("prediction", "predicted_class", "probabilities")
_FEEDBACK_FIELDS = ("label", "label_class")


def read_current(
    settings: PlatformSettings,
    schema: DatasetSchema,
    model_name: str,
    model_version: str,
    window: Window,
    prediction: str,
    probability_columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The logged traffic of one model version in the window: one row per prediction with the
    schema's feature columns, the prediction (a classifier's: its predicted class, and one
    column per class probability when `probability_columns` maps classes to columns), the
    label (missing without feedback), request_id and created_at. Rows whose features do not
    match the schema -> DataQualityError."""
    import sqlalchemy as sa

    engine = _engine(settings)
    try:
        p, f = _tables(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"prediction log {_safe(settings.prediction_log)}: {exc}") from None
    wanted = [p.c.request_id, p.c.created_at, p.c.features]
    wanted += [p.c[name] for name in _PREDICTION_FIELDS if name in p.c]
    wanted += [f.c[name] for name in _FEEDBACK_FIELDS if name in f.c]
    query = (
        sa.select(*wanted)
        .select_from(p.outerjoin(f, f.c.request_id == p.c.request_id))
        .where(p.c.model_name == model_name, p.c.model_version == str(model_version))
    )
    if window.since is not None:
        query = query.where(p.c.created_at > window.since)
    query = query.where(p.c.created_at <= window.until)
    if window.last:
        query = query.order_by(p.c.created_at.desc()).limit(window.last)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"prediction log {_safe(settings.prediction_log)}: {exc}") from None
    finally:
        engine.dispose()
    return log_frame(rows, schema, prediction, probability_columns)


def _as_mapping(row) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    # (request_id, created_at, features, prediction, label): a regression row.
    request_id, created_at, features, value, label = row
    return {"request_id": request_id, "created_at": created_at, "features": features,
            "prediction": value, "label": label}  # fmt: skip


def _json_value(value, request_id, what: str):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise DataQualityError(
                f"prediction log row {request_id}: {what} are not a JSON object"
            ) from None
    return value


def log_frame(
    rows: list,
    schema: DatasetSchema,
    prediction: str,
    probability_columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Build the current frame from log rows (mappings of the log's columns, or regression
    tuples (request_id, created_at, features, prediction, label)), checking that every
    row's features are exactly the schema's feature columns."""
    label = schema.label.name
    expected = schema.feature_names
    extra = list((probability_columns or {}).values())
    if not rows:
        return pd.DataFrame(
            columns=[*expected, prediction, *extra, label, "request_id", "created_at"]
        )
    rows = [_as_mapping(r) for r in rows]
    request_ids = [r["request_id"] for r in rows]
    features = [_json_value(r["features"], r["request_id"], "features") for r in rows]
    wanted = set(expected)
    for i, value in enumerate(features):  # dict.keys() == set: a C-level comparison
        if not isinstance(value, dict) or value.keys() != wanted:
            _mismatch(request_ids[i], value, wanted, schema)
    frame = pd.DataFrame.from_records(features, columns=expected)
    if schema.is_classification:
        frame[prediction] = [_class(r.get("predicted_class")) for r in rows]
        frame[label] = [_class(r.get("label_class")) for r in rows]
        if probability_columns:
            probas = [_probabilities(r) for r in rows]
            for cls, column in probability_columns.items():
                frame[column] = [
                    (p or {}).get(cls) if isinstance(p, dict) else None for p in probas
                ]
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
    else:
        frame[prediction] = pd.to_numeric(
            pd.Series([r.get("prediction") for r in rows], dtype=object), errors="coerce"
        )
        frame[label] = pd.to_numeric(
            pd.Series([r.get("label") for r in rows], dtype=object), errors="coerce"
        )
    frame["request_id"] = request_ids
    frame["created_at"] = [r["created_at"] for r in rows]
    for name in schema.numeric_features:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna() & frame[name].notna()
        if bad.any():
            first = bad.idxmax()
            raise DataQualityError(
                f"prediction log row {frame.loc[first, 'request_id']}: feature {name!r} "
                f"is not numeric ({frame.loc[first, name]!r})"
            )
        frame[name] = values
    for name in schema.categorical_features:
        spelling = {v: normalise_category(v) for v in frame[name].dropna().unique()}
        frame[name] = frame[name].map(spelling).astype(object)
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)


def _probabilities(row) -> dict[str, float] | None:
    """A row's {class: p}, its classes in the schema's spelling (None when not logged)."""
    value = _json_value(row.get("probabilities"), row["request_id"], "probabilities")
    if not isinstance(value, dict):
        return None
    return {normalise_category(k): v for k, v in value.items()}


def _class(value) -> str | None:
    """A logged class, in the schema's spelling (None stays None)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return normalise_category(value)


def _mismatch(request_id, features, wanted: set[str], schema: DatasetSchema) -> None:
    if not isinstance(features, dict):
        raise DataQualityError(f"prediction log row {request_id}: features are not an object")
    missing, extra = sorted(wanted - set(features)), sorted(set(features) - wanted)
    parts = [f"missing {', '.join(missing)}"] if missing else []
    parts += [f"unexpected {', '.join(extra)}"] if extra else []
    raise DataQualityError(
        f"prediction log row {request_id}: features do not match schema {schema.name!r} "
        f"({'; '.join(parts)}): was the traffic served by a model of another dataset?",
        details={"request_id": request_id, "missing": missing, "unexpected": extra},
    )


# -- reference -------------------------------------------------------------------------------
@dataclass
class Reference:
    frame: pd.DataFrame
    data_version: str
    model: Any  # the ModelRef from mlops_core.mlflow_utils


def resolve(model_name: str, ref: str, tracking_uri: str):
    from mlops_core.mlflow_utils import resolve_model

    model = resolve_model(model_name, ref, tracking_uri)
    if not model.data_version:
        raise BadInput(
            f"model {model_name!r} version {model.version} has no data_version tag "
            "(neither on the version nor on its run): its training data cannot be found"
        )
    return model


def data_registry(settings: PlatformSettings, model_name: str):
    """The model's view of the data registry (its own data-vN versions)."""
    import inspect

    from mlops_core.registry import DataRegistry

    # Until the per-model registry lands, from_settings has no `model` parameter.
    if "model" in inspect.signature(DataRegistry.from_settings).parameters:
        return DataRegistry.from_settings(settings, model=model_name)
    return DataRegistry.from_settings(settings)


def load_reference(
    settings: PlatformSettings,
    schema: DatasetSchema,
    model,
    prediction: str,
    probability_columns: dict[str, str] | None = None,
) -> Reference:
    """The train split of the model's data version, with the model's predictions on it (a
    classifier's: the predicted class and, with `probability_columns`, each probability)."""
    registry = data_registry(settings, model.name)
    with tempfile.TemporaryDirectory(prefix="mlops-monitor-ref-") as tmp:
        paths = registry.pull(model.data_version, Path(tmp))
        frame = pd.read_parquet(paths["train"])
    missing = [c for c in [*schema.feature_names, schema.label.name] if c not in frame.columns]
    if missing:
        raise DataQualityError(
            f"train split of {model.data_version}: missing column(s) {', '.join(missing)}"
        )
    features = frame[schema.feature_names]
    if schema.is_classification:
        from mlops_core.mlflow_utils import load_estimator

        estimator, _ = load_estimator(model)
        predicted, probabilities = predict_classes(estimator, features, schema)
        frame[schema.label.name] = [_class(v) for v in frame[schema.label.name]]
        frame[prediction] = predicted
        for cls, column in (probability_columns or {}).items():
            if probabilities is not None:
                frame[column] = probabilities[cls].to_numpy(float)
    else:
        from mlops_core.mlflow_utils import load_model

        frame[prediction] = predict(load_model(model), features)
    return Reference(frame=frame, data_version=model.data_version, model=model)


def predict(model, features: pd.DataFrame):
    """One in-process batch prediction (never one call per row)."""
    import numpy as np

    out = model.predict(features)
    return np.asarray(out, dtype=float).reshape(-1)


def predict_classes(
    model, features: pd.DataFrame, schema: DatasetSchema
) -> tuple[list[str | None], pd.DataFrame | None]:
    """A classifier's predicted classes and, when it has predict_proba, one probability
    column per schema class (a class the model never learned: 0). One batch call each."""
    import numpy as np

    probabilities = None
    if hasattr(model, "predict_proba"):
        raw = np.asarray(model.predict_proba(features), dtype=float)
        learned = [_class(c) for c in getattr(model, "classes_", schema.classes)]
        unknown = sorted(set(learned) - set(schema.classes))
        if unknown:
            raise DataQualityError(
                f"model predicts class(es) {', '.join(map(repr, unknown))} that schema "
                f"{schema.name!r} does not list (classes: {', '.join(schema.classes)})"
            )
        probabilities = pd.DataFrame(0.0, index=features.index, columns=list(schema.classes))
        for i, cls in enumerate(learned):
            probabilities[cls] = raw[:, i]
    out = model.predict(features)
    if isinstance(out, pd.DataFrame):
        out = out.iloc[:, 0]
    predicted = [_class(v) for v in np.asarray(out, dtype=object).reshape(-1)]
    return predicted, probabilities
