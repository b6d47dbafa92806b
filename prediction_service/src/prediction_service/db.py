"""Schema migrations of the prediction log (Alembic), run on start-up in the embedded
runtime and by `mlops serve migrate` (the cluster's migration Job)."""

from __future__ import annotations

from pathlib import Path

from mlops_core import predlog
from mlops_core.errors import Unavailable

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(url: str, revision: str = "head") -> dict[str, str | None]:
    """Bring the prediction log's tables to `revision`; returns {before, after}."""
    import sqlalchemy as sa
    from alembic import command

    engine = predlog.create_engine(url)
    try:
        with engine.begin() as conn:
            before = current_revision(conn)
            command.upgrade(_config(conn), revision)
            after = current_revision(conn)
    except sa.exc.OperationalError as exc:
        raise Unavailable(
            f"prediction log database {sa.engine.make_url(url)!r} cannot be reached: "
            f"{str(exc.orig)[:300]}"
        ) from exc
    finally:
        engine.dispose()
    return {"before": before, "after": after}


def current_revision(conn) -> str | None:
    from alembic.migration import MigrationContext

    from prediction_service.migrations.env_const import VERSION_TABLE

    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()
