"""detect: monitor revisions, runs, anomalies, labels

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = '0002'
down_revision = '0001'
branch_labels = ('detect',)
depends_on = None


def upgrade() -> None:
    op.create_table('det_anomalies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('monitor', sa.String(length=128), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('grain', sa.String(length=16), nullable=False),
    sa.Column('slice', sa.JSON(), nullable=False),
    sa.Column('slice_key', sa.String(length=512), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('suppressed_by', sa.String(length=128), nullable=True),
    sa.Column('start', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('end', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('peak', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('expected', sa.Float(), nullable=True),
    sa.Column('lower', sa.Float(), nullable=True),
    sa.Column('upper', sa.Float(), nullable=True),
    sa.Column('impact', sa.Float(), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('reason', sa.JSON(), nullable=True),
    sa.Column('detectors', sa.JSON(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=True),
    sa.Column('first_run_id', sa.Integer(), nullable=True),
    sa.Column('last_run_id', sa.Integer(), nullable=True),
    sa.Column('seen_count', sa.Integer(), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('fingerprint')
    )
    with op.batch_alter_table('det_anomalies', schema=None) as batch_op:
        batch_op.create_index('ix_det_anomalies_metric_start', ['metric', 'start'], unique=False)
        batch_op.create_index('ix_det_anomalies_monitor_end', ['monitor', 'end'], unique=False)
        batch_op.create_index(batch_op.f('ix_det_anomalies_state'), ['state'], unique=False)

    op.create_table('det_labels',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('monitor', sa.String(length=128), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('det_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_det_labels_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_det_labels_monitor'), ['monitor'], unique=False)

    op.create_table('det_monitor_revisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', 'version')
    )
    with op.batch_alter_table('det_monitor_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_det_monitor_revisions_name'), ['name'], unique=False)

    op.create_table('det_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('monitor', sa.String(length=128), nullable=False),
    sa.Column('spec_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('data_until', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('window_start', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('window_end', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('series', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('events_new', sa.Integer(), nullable=False),
    sa.Column('events_updated', sa.Integer(), nullable=False),
    sa.Column('events_retracted', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('started_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('det_runs', schema=None) as batch_op:
        batch_op.create_index('ix_det_runs_monitor', ['monitor', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('det_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_det_runs_monitor')

    op.drop_table('det_runs')
    with op.batch_alter_table('det_monitor_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_det_monitor_revisions_name'))

    op.drop_table('det_monitor_revisions')
    with op.batch_alter_table('det_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_det_labels_monitor'))
        batch_op.drop_index(batch_op.f('ix_det_labels_fingerprint'))

    op.drop_table('det_labels')
    with op.batch_alter_table('det_anomalies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_det_anomalies_state'))
        batch_op.drop_index('ix_det_anomalies_monitor_end')
        batch_op.drop_index('ix_det_anomalies_metric_start')

    op.drop_table('det_anomalies')
