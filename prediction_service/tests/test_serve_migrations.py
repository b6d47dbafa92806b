"""The prediction log's migrations: a log written by revision 0001 (one regression model)
upgrades in place to 0002 (classification, roles, many models) and 0003 (the single-column
indexes dropped) with no row lost, on SQLite and on PostgreSQL; the new columns take
classifier rows; the read helpers filter by model."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from mlops_core import predlog
from prediction_service.db import _config, current_revision, migrate

OLD_ROWS = 250


def _fill_0001(url: str) -> None:
    """Rows as revision 0001's service wrote them (its column set, by plain SQL)."""
    engine = predlog.create_engine(url)
    now = predlog.utcnow()
    with engine.begin() as conn:
        for i in range(OLD_ROWS):
            conn.execute(
                sa.text(
                    "INSERT INTO predictions (request_id, created_at, model_name, model_version,"
                    " features, prediction, latency_ms) VALUES (:r, :c, :n, :v, :f, :p, :l)"
                ),
                {
                    "r": f"old-{i}",
                    "c": now - timedelta(seconds=OLD_ROWS - i),
                    "n": "house-price",
                    "v": "1",
                    "f": '{"area": 1000.0}',
                    "p": 100.0 + i,
                    "l": 1.5,
                },
            )
        for i in range(0, OLD_ROWS, 10):
            conn.execute(
                sa.text("INSERT INTO feedback (request_id, label, created_at) VALUES (:r, :l, :c)"),
                {"r": f"old-{i}", "l": 7.0 + i, "c": now},
            )
    engine.dispose()


def _check_upgrade(url: str) -> None:
    assert migrate(url, "0001") == {"before": None, "after": "0001"}
    _fill_0001(url)
    assert {i["name"] for i in _indexes(url)} >= {
        "ix_predictions_created_at",
        "ix_predictions_model_version",
    }
    assert migrate(url) == {"before": "0001", "after": "0003"}
    engine = predlog.create_engine(url)
    try:
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns("predictions")}
        assert {"predicted_class", "probabilities", "role"} <= set(columns)
        assert columns["prediction"]["nullable"] is True
        feedback_columns = {c["name"] for c in sa.inspect(engine).get_columns("feedback")}
        assert "label_class" in feedback_columns
        indexes = {i["name"]: i["column_names"] for i in _indexes(url)}
        assert indexes == {"ix_predictions_model_name_created_at": ["model_name", "created_at"]}
        # Nothing lost, old rows read back whole (role: champion).
        rows = predlog.read_predictions(engine, model_name="house-price")
        assert len(rows) == OLD_ROWS
        assert [r["request_id"] for r in rows[:3]] == ["old-0", "old-1", "old-2"]
        assert rows[10]["prediction"] == 110.0 and rows[10]["label"] == 17.0
        assert {r["role"] for r in rows} == {"champion"}
        assert predlog.count(engine, predlog.feedback) == OLD_ROWS // 10
        # A classifier's rows beside them.
        now = predlog.utcnow()
        with engine.begin() as conn:
            predlog.write_rows(
                conn,
                [
                    {
                        "request_id": "churn-1",
                        "created_at": now,
                        "model_name": "churn",
                        "model_version": "3",
                        "features": {"tenure": 3},
                        "prediction": None,
                        "predicted_class": "yes",
                        "probabilities": {"yes": 0.75, "no": 0.25},
                        "role": "canary",
                        "latency_ms": 0.5,
                    }
                ],
                [{"request_id": "churn-1", "label_class": "no", "created_at": now}],
            )
        churn = predlog.read_predictions(engine, model_name="churn")
        assert len(churn) == 1
        assert churn[0]["predicted_class"] == "yes" and churn[0]["prediction"] is None
        assert churn[0]["probabilities"] == {"yes": 0.75, "no": 0.25}
        assert (churn[0]["role"], churn[0]["label_class"], churn[0]["label"]) == (
            "canary",
            "no",
            None,
        )
        assert predlog.read_predictions(engine, model_name="churn", role="champion") == []
        assert predlog.count(engine, model_name="house-price") == OLD_ROWS
        assert predlog.count(engine, predlog.feedback, model_name="churn") == 1
        assert predlog.model_names(engine) == ["churn", "house-price"]
    finally:
        engine.dispose()
    # Idempotent.
    assert migrate(url) == {"before": "0003", "after": "0003"}
    # 0003 down: the two indexes are back, the rows untouched.
    assert migrate_down(url, "0002") == {"before": "0003", "after": "0002"}
    assert {"ix_predictions_created_at", "ix_predictions_model_version"} <= {
        i["name"] for i in _indexes(url)
    }
    engine = predlog.create_engine(url)
    try:
        assert predlog.count(engine, model_name="house-price") == OLD_ROWS
    finally:
        engine.dispose()


def migrate_down(url: str, revision: str) -> dict[str, str | None]:
    """Alembic's downgrade, as an operator runs it (the service only ever upgrades)."""
    from alembic import command

    engine = predlog.create_engine(url)
    try:
        with engine.begin() as conn:
            before = current_revision(conn)
            command.downgrade(_config(conn), revision)
            return {"before": before, "after": current_revision(conn)}
    finally:
        engine.dispose()


def _indexes(url: str) -> list[dict]:
    engine = predlog.create_engine(url)
    try:
        return sa.inspect(engine).get_indexes("predictions")
    finally:
        engine.dispose()


def test_0001_log_upgrades_in_place_sqlite(tmp_path):
    _check_upgrade(f"sqlite:///{tmp_path / 'predictions.db'}")


@pytest.mark.postgres
def test_0001_log_upgrades_in_place_postgres(postgres_url):
    """In a database of its own: the session's database already holds the head revision."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"mlops_upgrade_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.engine.make_url(postgres_url).set(database=name)
        _check_upgrade(url.render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
