"""Where the compared data comes from.

Reference: the model version's training data, through its lineage: model version -> MLflow
run -> data_version tag -> the train split pulled from the data registry; its predictions are
computed in one in-process batch with the same model version.

Current: the prediction log (mlops_core.predlog tables) in a time window or the last N
predictions of that model version, left-joined with the feedback labels.
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


def latest_served_version(settings: PlatformSettings, model_name: str) -> str | None:
    """The model version of the newest logged prediction of model_name."""
    import sqlalchemy as sa

    from mlops_core import predlog

    t = predlog.predictions
    query = (
        sa.select(t.c.model_version)
        .where(t.c.model_name == model_name)
        .order_by(t.c.created_at.desc())
        .limit(1)
    )
    with _engine(settings).connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else str(row[0])


def read_current(
    settings: PlatformSettings,
    schema: DatasetSchema,
    model_name: str,
    model_version: str,
    window: Window,
    prediction: str,
) -> pd.DataFrame:
    """The logged traffic of one model version in the window: one row per prediction with the
    schema's feature columns, the prediction, the label (NaN without feedback), request_id
    and created_at. Rows whose features do not match the schema -> DataQualityError."""
    import sqlalchemy as sa

    from mlops_core import predlog

    p, f = predlog.predictions, predlog.feedback
    query = (
        sa.select(p.c.request_id, p.c.created_at, p.c.features, p.c.prediction, f.c.label)
        .select_from(p.outerjoin(f, f.c.request_id == p.c.request_id))
        .where(p.c.model_name == model_name, p.c.model_version == str(model_version))
    )
    if window.since is not None:
        query = query.where(p.c.created_at > window.since)
    query = query.where(p.c.created_at <= window.until)
    if window.last:
        query = query.order_by(p.c.created_at.desc()).limit(window.last)
    try:
        with _engine(settings).connect() as conn:
            rows = conn.execute(query).all()
    except sa.exc.SQLAlchemyError as exc:
        raise Unavailable(f"prediction log {_safe(settings.prediction_log)}: {exc}") from None
    return log_frame(rows, schema, prediction)


def log_frame(rows: list, schema: DatasetSchema, prediction: str) -> pd.DataFrame:
    """Build the current frame from log rows (request_id, created_at, features, prediction,
    label), checking that every row's features are exactly the schema's feature columns."""
    label = schema.label.name
    expected = schema.feature_names
    if not rows:
        return pd.DataFrame(columns=[*expected, prediction, label, "request_id", "created_at"])
    request_ids, created, features, preds, labels = (list(col) for col in zip(*rows, strict=True))
    for i, value in enumerate(features):
        if isinstance(value, str):
            try:
                features[i] = json.loads(value)
            except ValueError:
                raise DataQualityError(
                    f"prediction log row {request_ids[i]}: features are not a JSON object"
                ) from None
    wanted = set(expected)
    for i, value in enumerate(features):  # dict.keys() == set: a C-level comparison
        if not isinstance(value, dict) or value.keys() != wanted:
            _mismatch(request_ids[i], value, wanted, schema)
    frame = pd.DataFrame.from_records(features, columns=expected)
    frame[prediction] = preds
    frame[label] = labels
    frame["request_id"] = request_ids
    frame["created_at"] = created
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
    frame[prediction] = pd.to_numeric(frame[prediction], errors="coerce")
    frame[label] = pd.to_numeric(frame[label], errors="coerce")
    return frame.sort_values("created_at", kind="stable").reset_index(drop=True)


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


def load_reference(
    settings: PlatformSettings, schema: DatasetSchema, model, prediction: str
) -> Reference:
    """The train split of the model's data version, with the model's predictions on it."""
    from mlops_core.mlflow_utils import load_model
    from mlops_core.registry import DataRegistry

    registry = DataRegistry.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="mlops-monitor-ref-") as tmp:
        paths = registry.pull(model.data_version, Path(tmp))
        frame = pd.read_parquet(paths["train"])
    missing = [c for c in [*schema.feature_names, schema.label.name] if c not in frame.columns]
    if missing:
        raise DataQualityError(
            f"train split of {model.data_version}: missing column(s) {', '.join(missing)}"
        )
    pyfunc = load_model(model)
    frame[prediction] = predict(pyfunc, frame[schema.feature_names])
    return Reference(frame=frame, data_version=model.data_version, model=model)


def predict(model, features: pd.DataFrame):
    """One in-process batch prediction (never one call per row)."""
    import numpy as np

    out = model.predict(features)
    return np.asarray(out, dtype=float).reshape(-1)
