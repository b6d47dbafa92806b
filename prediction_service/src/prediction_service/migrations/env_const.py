"""Name of the Alembic version table: its own, so a database shared with MLflow (which also
uses Alembic) keeps both histories apart."""

VERSION_TABLE = "prediction_log_alembic_version"
