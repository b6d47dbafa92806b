"""prediction log: drop the single-column indexes on created_at and model_version

Every stage's read names its model (`model_name`, then a window of `created_at`), which the
(model_name, created_at) index of 0002 answers; the two single-column indexes of 0001 were
written on every insert and read by none, and cost SQLite's insert a sixth of its time
(7.5 against 6.3 ms per 1 000 rows). Rows are untouched.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_predictions_model_version", table_name="predictions")
    op.drop_index("ix_predictions_created_at", table_name="predictions")


def downgrade() -> None:
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])
    op.create_index("ix_predictions_model_version", "predictions", ["model_version"])
