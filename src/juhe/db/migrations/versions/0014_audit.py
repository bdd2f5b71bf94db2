"""audit: hash-chained audit records and the chain's head

Revision ID: 0014
Revises: 0013
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

GENESIS = '0' * 64


def upgrade() -> None:
    op.create_table('audit_records',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=120), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.String(length=80), nullable=True),
    sa.Column('outcome', sa.String(length=80), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=True),
    sa.Column('origin', sa.String(length=120), nullable=False),
    sa.Column('detail', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_records_merchant_id_id', 'audit_records', ['merchant_id', 'id'], unique=False)
    head = op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one head row exists from the start, so that every writer only ever locks it.
    op.bulk_insert(head, [{'id': 1, 'last_id': 0, 'last_hash': GENESIS, 'updated_at': datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table('audit_chain_head')
    op.drop_index('ix_audit_records_merchant_id_id', table_name='audit_records')
    op.drop_table('audit_records')
