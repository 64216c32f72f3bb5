"""access: users, teams, sessions, API tokens, metric permissions, row policies, audit log,
service settings, scheduler job claims and runs

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = "0004"
down_revision = "0001"
branch_labels = ("access",)
depends_on = None


def upgrade() -> None:
    op.create_table('access_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=256), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_audit_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_audit_actor'), ['actor'], unique=False)
        batch_op.create_index('ix_audit_at', ['at'], unique=False)

    op.create_table('access_metric_permissions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('principal_type', sa.String(length=8), nullable=False),
    sa.Column('principal', sa.String(length=64), nullable=False),
    sa.Column('access', sa.String(length=8), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('metric', 'principal_type', 'principal')
    )
    op.create_table('access_row_policies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('dimension', sa.String(length=128), nullable=False),
    sa.Column('attribute', sa.String(length=64), nullable=False),
    sa.Column('applies_to_type', sa.String(length=8), nullable=False),
    sa.Column('applies_to', sa.String(length=64), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('access_teams',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('label', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('scheduler_jobs',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('schedule', sa.String(length=64), nullable=False),
    sa.Column('next_run_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('lease_until', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_started_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_finished_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_status', sa.String(length=16), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_duration', sa.Float(), nullable=True),
    sa.Column('last_worker', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('scheduler_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job', sa.String(length=128), nullable=False),
    sa.Column('due_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('worker', sa.String(length=128), nullable=False),
    sa.Column('started_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job', 'due_at')
    )
    with op.batch_alter_table('scheduler_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduler_runs_job'), ['job'], unique=False)

    op.create_table('service_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('access_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=True),
    sa.Column('email', sa.String(length=256), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['team'], ['access_teams.name'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('access_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['access_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('access_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['access_users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('digest')
    )
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_tokens_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('access_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_tokens_user_id'))

    op.drop_table('access_tokens')
    with op.batch_alter_table('access_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_sessions_user_id'))

    op.drop_table('access_sessions')
    op.drop_table('access_users')
    op.drop_table('service_settings')
    with op.batch_alter_table('scheduler_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduler_runs_job'))

    op.drop_table('scheduler_runs')
    op.drop_table('scheduler_jobs')
    op.drop_table('access_teams')
    op.drop_table('access_row_policies')
    op.drop_table('access_metric_permissions')
    with op.batch_alter_table('access_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_at')
        batch_op.drop_index(batch_op.f('ix_access_audit_actor'))
        batch_op.drop_index(batch_op.f('ix_access_audit_action'))

    op.drop_table('access_audit')
