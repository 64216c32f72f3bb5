"""foundation: catalog revisions, ingest loads and rejects, table checks

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('definition_revisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change', sa.String(length=32), nullable=False),
    sa.Column('calc_hash', sa.String(length=64), nullable=False),
    sa.Column('meta_hash', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'name', 'version')
    )
    with op.batch_alter_table('definition_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_defrev_name', ['kind', 'name'], unique=False)

    op.create_table('ingest_loads',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('table_name', sa.String(length=256), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_loaded', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('time_column', sa.String(length=256), nullable=True),
    sa.Column('max_event_time', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ingest_loads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_loads_table_name'), ['table_name'], unique=False)

    op.create_table('table_checks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('table_name', sa.String(length=256), nullable=False),
    sa.Column('check', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('observed', sa.Float(), nullable=True),
    sa.Column('threshold', sa.String(length=256), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('checked_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('table_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_table_checks_table_name'), ['table_name'], unique=False)

    op.create_table('ingest_rejects',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=1024), nullable=False),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('column', sa.String(length=256), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['load_id'], ['ingest_loads.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ingest_rejects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_rejects_load_id'), ['load_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ingest_rejects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_rejects_load_id'))

    op.drop_table('ingest_rejects')
    with op.batch_alter_table('table_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_table_checks_table_name'))

    op.drop_table('table_checks')
    with op.batch_alter_table('ingest_loads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_loads_table_name'))

    op.drop_table('ingest_loads')
    with op.batch_alter_table('definition_revisions', schema=None) as batch_op:
        batch_op.drop_index('ix_defrev_name')

    op.drop_table('definition_revisions')
