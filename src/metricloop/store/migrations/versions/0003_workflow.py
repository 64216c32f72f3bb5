"""workflow: incidents, alerts, audit, timers, action items, silences, outbox, delivery attempts,
used tokens, reviews, effect checks

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26 11:53:19.229887
"""

import sqlalchemy as sa
from alembic import op

import metricloop.store.models

revision = '0003'
down_revision = '0001'
branch_labels = ('workflow',)
depends_on = None


def upgrade() -> None:
    op.create_table('notify_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('outbox_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('started_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notify_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_notify_attempts_channel', ['channel', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notify_attempts_outbox_id'), ['outbox_id'], unique=False)

    op.create_table('notify_channel_state',
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('broken', sa.Boolean(), nullable=False),
    sa.Column('since', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('channel')
    )
    op.create_table('notify_outbox',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=128), nullable=False),
    sa.Column('notification', sa.JSON(), nullable=False),
    sa.Column('covers', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('covered_by', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_attempt_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('next_attempt_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('delivered_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_notify_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notify_outbox_incident_id'), ['incident_id'], unique=False)

    op.create_table('notify_used_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('used_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('jti')
    )
    with op.batch_alter_table('notify_used_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_used_tokens_expires_at'), ['expires_at'], unique=False)

    op.create_table('wf_incidents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('slice', sa.JSON(), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('team', sa.String(length=128), nullable=True),
    sa.Column('rule', sa.String(length=256), nullable=True),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('window_start', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('window_end', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('triggered_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('acknowledged_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('mitigated_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('closed_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('ack_due_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('resolve_due_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('duplicate_of', sa.Integer(), nullable=True),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('expected', sa.Float(), nullable=True),
    sa.Column('impact', sa.Float(), nullable=True),
    sa.Column('explanation', sa.JSON(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_wf_incidents_metric_status', ['metric', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_wf_incidents_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_wf_incidents_status'), ['status'], unique=False)

    op.create_table('wf_silences',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('monitor', sa.String(length=128), nullable=False),
    sa.Column('slice', sa.JSON(), nullable=False),
    sa.Column('starts_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('ends_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rv_effect_checks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('checked_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('effective_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('verdict', sa.String(length=32), nullable=False),
    sa.Column('recovery', sa.Float(), nullable=True),
    sa.Column('recovery_low', sa.Float(), nullable=True),
    sa.Column('recovery_high', sa.Float(), nullable=True),
    sa.Column('gap_after', sa.Float(), nullable=True),
    sa.Column('gap_after_low', sa.Float(), nullable=True),
    sa.Column('gap_after_high', sa.Float(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rv_effect_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rv_effect_checks_incident_id'), ['incident_id'], unique=False)

    op.create_table('rv_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('slice', sa.JSON(), nullable=False),
    sa.Column('cause_keys', sa.JSON(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.Column('verdict', sa.String(length=32), nullable=True),
    sa.Column('author', sa.String(length=128), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('completed_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id')
    )
    with op.batch_alter_table('rv_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rv_reviews_metric'), ['metric'], unique=False)

    op.create_table('wf_action_items',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('due_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expected_effect', sa.Text(), nullable=True),
    sa.Column('link', sa.String(length=1024), nullable=True),
    sa.Column('effective_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('done_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_action_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wf_action_items_incident_id'), ['incident_id'], unique=False)

    op.create_table('wf_alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=256), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('monitor', sa.String(length=128), nullable=False),
    sa.Column('metric', sa.String(length=128), nullable=False),
    sa.Column('slice', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('start', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('end', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('expected', sa.Float(), nullable=True),
    sa.Column('lower', sa.Float(), nullable=True),
    sa.Column('upper', sa.Float(), nullable=True),
    sa.Column('impact', sa.Float(), nullable=True),
    sa.Column('reason', sa.JSON(), nullable=True),
    sa.Column('explanation', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('suppressed_by', sa.String(length=128), nullable=True),
    sa.Column('seen_count', sa.Integer(), nullable=False),
    sa.Column('first_seen', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('last_seen', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_wf_alerts_fp', ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_wf_alerts_incident_id'), ['incident_id'], unique=False)

    op.create_table('wf_audit_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wf_audit_events_incident_id'), ['incident_id'], unique=False)

    op.create_table('wf_timers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('due_at', metricloop.store.models.UTCDateTime(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('fired_at', metricloop.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['wf_incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wf_timers', schema=None) as batch_op:
        batch_op.create_index('ix_wf_timers_due', ['state', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wf_timers_incident_id'), ['incident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wf_timers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_timers_incident_id'))
        batch_op.drop_index('ix_wf_timers_due')

    op.drop_table('wf_timers')
    with op.batch_alter_table('wf_audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_audit_events_incident_id'))

    op.drop_table('wf_audit_events')
    with op.batch_alter_table('wf_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_alerts_incident_id'))
        batch_op.drop_index('ix_wf_alerts_fp')

    op.drop_table('wf_alerts')
    with op.batch_alter_table('wf_action_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_action_items_incident_id'))

    op.drop_table('wf_action_items')
    with op.batch_alter_table('rv_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rv_reviews_metric'))

    op.drop_table('rv_reviews')
    with op.batch_alter_table('rv_effect_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rv_effect_checks_incident_id'))

    op.drop_table('rv_effect_checks')
    op.drop_table('wf_silences')
    with op.batch_alter_table('wf_incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wf_incidents_status'))
        batch_op.drop_index(batch_op.f('ix_wf_incidents_owner'))
        batch_op.drop_index('ix_wf_incidents_metric_status')

    op.drop_table('wf_incidents')
    with op.batch_alter_table('notify_used_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_used_tokens_expires_at'))

    op.drop_table('notify_used_tokens')
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_outbox_incident_id'))
        batch_op.drop_index('ix_notify_outbox_due')

    op.drop_table('notify_outbox')
    op.drop_table('notify_channel_state')
    with op.batch_alter_table('notify_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_attempts_outbox_id'))
        batch_op.drop_index('ix_notify_attempts_channel')

    op.drop_table('notify_attempts')
