"""The prediction log: table definitions (SQLAlchemy Core) shared by the prediction service,
which writes it, and monitoring, which reads it.

One row per served prediction in `predictions` (the model's name, version and role; a
regressor's value in `prediction`, a classifier's class in `predicted_class` with every
class's probability in `probabilities`); ground truth reported later by a client in
`feedback` (a number in `label`, a class in `label_class`), joined by request id. Every read
helper takes `model_name`: a model only ever reads its own rows. The schema is created and
migrated by the prediction service's Alembic migrations (`mlops serve migrate`);
`metadata` here is their target.

The URL comes from `get_settings().prediction_log` (SQLite under MLOPS_HOME by default,
PostgreSQL in a cluster).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

# The role a served model plays (champion, canary, shadow, challenger).
DEFAULT_ROLE = "champion"

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    # A regressor's value; NULL for a classifier (its class is predicted_class).
    sa.Column("prediction", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("predicted_class", sa.String(255), nullable=True),
    sa.Column("probabilities", sa.JSON, nullable=True),  # {class: p}, classifiers only
    sa.Column("role", sa.String(16), nullable=False, server_default=DEFAULT_ROLE),
    # The one secondary index: every read names its model and a window of time.
    sa.Index("ix_predictions_model_name_created_at", "model_name", "created_at"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column(
        "request_id",
        sa.String(64),
        sa.ForeignKey("predictions.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("label", sa.Float, nullable=True),  # a regressor's true value
    sa.Column("label_class", sa.String(255), nullable=True),  # a classifier's true class
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_engine(url: str, *, sync_commits: bool = True, **kwargs: Any) -> sa.Engine:
    """An engine for the prediction log; creates the SQLite file's folder when needed.

    `sync_commits=False`: SQLite does not fsync its write-ahead log on every commit
    (`synchronous=NORMAL`): a commit still survives the process being killed, not a power
    cut. For a writer whose rows are already in a journal with the same guarantee."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 5})
        engine = sa.create_engine(url, **kwargs)
        if parsed.database and parsed.database != ":memory:":
            sa.event.listen(engine, "connect", _sqlite_wal)
            if not sync_commits:
                sa.event.listen(engine, "connect", _sqlite_normal_sync)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead logging: monitoring reads while the service writes, and a commit appends
    to the log instead of copying every page it touches to a rollback journal."""
    import sqlite3

    # Locked or read-only: the default journal still works.
    with contextlib.suppress(sqlite3.Error):
        dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchall()


def _sqlite_normal_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL").fetchall()


def _insert(engine_or_conn: sa.Engine | sa.Connection, table: sa.Table):
    dialect = engine_or_conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise ValueError(f"unsupported prediction log database: {dialect}")
    return insert(table)


_PREDICTION_COLUMNS = (
    "request_id",
    "created_at",
    "model_name",
    "model_version",
    "features",
    "prediction",
    "latency_ms",
    "predicted_class",
    "probabilities",
    "role",
)


try:  # looked up once: the writer encodes two values a row
    from orjson import OPT_SERIALIZE_NUMPY as _NUMPY
    from orjson import dumps as _dumps

    def _json(value: Any) -> str:
        return _dumps(value, option=_NUMPY).decode()

except ImportError:  # pragma: no cover - orjson is optional here
    import json

    def _json(value: Any) -> str:
        return json.dumps(value, default=str)


_ROWS_PER_STATEMENT = 100


def _insert_predictions(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Multi-row INSERTs straight to the driver, a hundred rows a statement.

    SQLAlchemy's per-row bind processing cost more than the database on a batch of a
    thousand rows; and the driver releases the GIL once per statement, so one statement per
    row let a busy request thread starve the log writer of the GIL.
    """
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        stmt = _insert(conn, predictions).on_conflict_do_nothing(index_elements=["request_id"])
        conn.execute(stmt, list(rows))
        return
    sqlite = dialect == "sqlite"
    # The storage format of SQLAlchemy's SQLite DateTime (UTC, without offset). The rows of
    # one batch request share one time: format it once.
    last: list[Any] = [None, ""]

    def stamp(created: datetime) -> Any:
        if not sqlite:
            return created
        if created is not last[0]:
            last[0], last[1] = created, created.strftime("%Y-%m-%d %H:%M:%S.%f")
        return last[1]

    group = (
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        if sqlite
        else "(%s, %s, %s, %s, %s::json, %s, %s, %s, %s::json, %s)"
    )
    head = f"INSERT INTO predictions ({', '.join(_PREDICTION_COLUMNS)}) VALUES "
    tail = " ON CONFLICT (request_id) DO NOTHING"
    statements: dict[int, str] = {}
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        params: list[Any] = []
        for r in chunk:
            value = r.get("prediction")
            probabilities = r.get("probabilities")
            params += (
                r["request_id"],
                stamp(r["created_at"]),
                r["model_name"],
                r["model_version"],
                _json(r["features"]),
                None if value is None else float(value),
                float(r["latency_ms"]),
                r.get("predicted_class"),
                None if probabilities is None else _json(probabilities),
                r.get("role") or DEFAULT_ROLE,
            )
        n = len(chunk)
        if n not in statements:
            statements[n] = head + ", ".join([group] * n) + tail
        conn.exec_driver_sql(statements[n], tuple(params))


def write_rows(
    conn: sa.Connection,
    prediction_rows: Sequence[Mapping[str, Any]],
    feedback_rows: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Write rows idempotently: a prediction already logged (same request id) is kept as is;
    feedback for a request id replaces the earlier label."""
    if prediction_rows:
        _insert_predictions(conn, prediction_rows)
    if feedback_rows:
        ins = _insert(conn, feedback)
        stmt = ins.on_conflict_do_update(
            index_elements=["request_id"],
            set_={
                "label": ins.excluded.label,
                "label_class": ins.excluded.label_class,
                "created_at": ins.excluded.created_at,
            },
        )
        conn.execute(
            stmt,
            [
                {
                    "request_id": r["request_id"],
                    "label": r.get("label"),
                    "label_class": r.get("label_class"),
                    "created_at": r["created_at"],
                }
                for r in feedback_rows
            ],
        )


def read_predictions(
    engine: sa.Engine,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Prediction rows of `model_name` (newest last) with their feedback: `label` (a
    number) or `label_class` (a class), None when not reported. Without `model_name`,
    every model's rows (an operator's view; a stage reads one model's)."""
    query = (
        sa.select(predictions, feedback.c.label, feedback.c.label_class)
        .select_from(predictions.outerjoin(feedback))
        .order_by(predictions.c.created_at)
    )
    if model_name is not None:
        query = query.where(predictions.c.model_name == model_name)
    if role is not None:
        query = query.where(predictions.c.role == role)
    if model_version is not None:
        query = query.where(predictions.c.model_version == str(model_version))
    if since is not None:
        query = query.where(predictions.c.created_at >= since)
    if until is not None:
        query = query.where(predictions.c.created_at < until)
    if limit is not None:
        query = query.order_by(None).order_by(predictions.c.created_at.desc()).limit(limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    if limit is not None:
        rows.reverse()
    return rows


def count(
    engine: sa.Engine, table: sa.Table = predictions, *, model_name: str | None = None
) -> int:
    """Rows of `table` (of `model_name`'s predictions when given)."""
    query = sa.select(sa.func.count()).select_from(table)
    if model_name is not None:
        if table is feedback:
            query = query.join(predictions, predictions.c.request_id == feedback.c.request_id)
        query = query.where(predictions.c.model_name == model_name)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def model_names(engine: sa.Engine) -> list[str]:
    """The models that have rows in the log."""
    query = sa.select(predictions.c.model_name).distinct().order_by(predictions.c.model_name)
    with engine.connect() as conn:
        return [str(n) for n in conn.execute(query).scalars()]


def feature_frame(rows: Iterable[Mapping[str, Any]]):
    """The logged features as a DataFrame (one column per feature), for monitoring."""
    import pandas as pd

    return pd.DataFrame([r["features"] for r in rows])
