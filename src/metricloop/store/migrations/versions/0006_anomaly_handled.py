"""detect: anomalies remember whether the workflow has handled them (exactly-once loop)

An anomaly is *pending* while it is active and ``handled_at`` is empty; the workflow sets
``handled_at`` and ``decision`` (the incident it opened or joined, or why none) in the same
transaction that writes the incident, so a pass that dies in between leaves it pending for the
next one. Rows that exist at upgrade time were handled by the previous version's pass and are
marked so (an upgrade must not replay history as a flood of alerts).

Revision ID: 0006_handled
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = "0006_handled"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("det_anomalies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handled_at", metricloop.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("decision", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_det_anomalies_pending", ["state", "handled_at"], unique=False)
    anomalies = sa.table("det_anomalies", sa.column("handled_at", sa.DateTime()),
                         sa.column("updated_at", sa.DateTime()), sa.column("decision", sa.String()))
    op.execute(anomalies.update().values(handled_at=anomalies.c.updated_at, decision="before_upgrade"))


def downgrade() -> None:
    with op.batch_alter_table("det_anomalies", schema=None) as batch_op:
        batch_op.drop_index("ix_det_anomalies_pending")
        batch_op.drop_column("decision")
        batch_op.drop_column("handled_at")
