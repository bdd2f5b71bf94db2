"""payments: channel health reports shared by every API process

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_health_reports',
    sa.Column('process_id', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('successes', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('open_until', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reported_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('process_id', 'channel')
    )
    op.create_index('ix_channel_health_reports_reported_at', 'channel_health_reports', ['reported_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_channel_health_reports_reported_at', table_name='channel_health_reports')
    op.drop_table('channel_health_reports')
