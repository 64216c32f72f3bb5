"""explain: stored explanations

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = "0005"
down_revision = "0001"
branch_labels = ("explain",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("period_start", metricloop.store.models.UTCDateTime(), nullable=False),
        sa.Column("period_end", metricloop.store.models.UTCDateTime(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("anomaly_fingerprint", sa.String(length=128), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", metricloop.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("explanations", schema=None) as batch_op:
        batch_op.create_index("ix_explanations_metric", ["metric"], unique=False)
        batch_op.create_index("ix_explanations_params_hash", ["params_hash"], unique=False)
        batch_op.create_index("ix_explanations_anomaly_fingerprint", ["anomaly_fingerprint"], unique=False)


def downgrade() -> None:
    op.drop_table("explanations")
