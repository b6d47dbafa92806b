"""prediction log: classification and many models

predictions: `prediction` becomes nullable (a regressor's value; NULL for a classifier),
new `predicted_class` and `probabilities` ({class: p}) for classifiers, `role` (champion,
canary, shadow, ...; 'champion' for every row logged before), an index on
(model_name, created_at) so each model reads its own rows. feedback: `label` becomes
nullable, new `label_class` (a classifier's true class).

Every existing row is kept (SQLite rebuilds the tables in batch mode, copying them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.alter_column("prediction", existing_type=sa.Float, nullable=True)
        batch.add_column(sa.Column("predicted_class", sa.String(255), nullable=True))
        batch.add_column(sa.Column("probabilities", sa.JSON, nullable=True))
        batch.add_column(
            sa.Column("role", sa.String(16), nullable=False, server_default="champion")
        )
        batch.create_index("ix_predictions_model_name_created_at", ["model_name", "created_at"])
    with op.batch_alter_table("feedback") as batch:
        batch.alter_column("label", existing_type=sa.Float, nullable=True)
        batch.add_column(sa.Column("label_class", sa.String(255), nullable=True))


def downgrade() -> None:
    # Classifier rows have no number to put back into the NOT NULL columns: they go.
    op.execute(
        "DELETE FROM feedback WHERE label IS NULL OR request_id IN "
        "(SELECT request_id FROM predictions WHERE prediction IS NULL)"
    )
    op.execute("DELETE FROM predictions WHERE prediction IS NULL")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("label_class")
        batch.alter_column("label", existing_type=sa.Float, nullable=False)
    with op.batch_alter_table("predictions") as batch:
        batch.drop_index("ix_predictions_model_name_created_at")
        batch.drop_column("role")
        batch.drop_column("probabilities")
        batch.drop_column("predicted_class")
        batch.alter_column("prediction", existing_type=sa.Float, nullable=False)
