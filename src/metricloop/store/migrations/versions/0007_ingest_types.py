"""ingest: a load records the types its rows were checked against and its column-policy notes

Revision ID: 0007_ingest
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ingest"
down_revision = "0001"
branch_labels = ("ingest",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_loads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("types", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("types_from", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_loads", schema=None) as batch_op:
        batch_op.drop_column("notes")
        batch_op.drop_column("types_from")
        batch_op.drop_column("types")
