"""risk: velocity buckets, device sightings, payer profiles and activations shared by every process

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_velocity_buckets',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('grain_s', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('bucket_s', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('shard', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('sum_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'grain_s', 'bucket_s', 'shard')
    )
    op.create_index('ix_risk_velocity_buckets_bucket_s', 'risk_velocity_buckets', ['bucket_s'], unique=False)
    op.create_table('risk_device_payers',
    sa.Column('device_id', sa.String(length=128), nullable=False),
    sa.Column('payer_id', sa.String(length=128), nullable=False),
    sa.Column('last_seen_s', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'payer_id')
    )
    op.create_index('ix_risk_device_payers_device_seen', 'risk_device_payers', ['device_id', 'last_seen_s'], unique=False)
    op.create_table('risk_payer_profiles',
    sa.Column('payer_id', sa.String(length=128), nullable=False),
    sa.Column('first_seen_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('payments', sa.Integer(), nullable=False),
    sa.Column('devices', sa.JSON(), nullable=False),
    sa.Column('cards', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('amounts', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('last_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_latitude', sa.Float(), nullable=True),
    sa.Column('last_longitude', sa.Float(), nullable=True),
    sa.Column('password_reset_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('payer_id')
    )
    op.create_table('risk_activations',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('rules', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('activated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind')
    )


def downgrade() -> None:
    op.drop_table('risk_activations')
    op.drop_table('risk_payer_profiles')
    op.drop_index('ix_risk_device_payers_device_seen', table_name='risk_device_payers')
    op.drop_table('risk_device_payers')
    op.drop_index('ix_risk_velocity_buckets_bucket_s', table_name='risk_velocity_buckets')
    op.drop_table('risk_velocity_buckets')
