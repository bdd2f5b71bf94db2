"""fund monitoring: alert rules, alerts, incidents and their audit trail

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_rules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('owner', sa.String(length=120), nullable=False),
    sa.Column('response_hours', sa.Integer(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rules_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('monitor_alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('detail', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('dedupe_key', sa.String(length=400), nullable=False),
    sa.Column('last_event_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('raised_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    with op.batch_alter_table('monitor_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_alerts_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_monitor_alerts_rule_id_subject', ['rule_id', 'subject'], unique=False)

    op.create_table('monitor_incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('owner', sa.String(length=120), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['monitor_alerts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_id')
    )
    with op.batch_alter_table('monitor_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_monitor_incidents_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_monitor_incidents_status_due_at', ['status', 'due_at'], unique=False)

    op.create_table('monitor_incident_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['monitor_incidents.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('monitor_incident_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_incident_events_incident_id'), ['incident_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('monitor_incident_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_incident_events_incident_id'))
    op.drop_table('monitor_incident_events')
    with op.batch_alter_table('monitor_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_incidents_status_due_at')
        batch_op.drop_index('ix_monitor_incidents_merchant_id_id')
    op.drop_table('monitor_incidents')
    with op.batch_alter_table('monitor_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_monitor_alerts_rule_id_subject')
        batch_op.drop_index('ix_monitor_alerts_merchant_id_id')
    op.drop_table('monitor_alerts')
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_merchant_id'))
    op.drop_table('alert_rules')
