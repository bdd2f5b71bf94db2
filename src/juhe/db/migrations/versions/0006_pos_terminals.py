"""pos terminals

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pos_terminals',
    sa.Column('terminal_id', sa.String(length=8), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('mac_key', sa.LargeBinary(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('terminal_id')
    )
    op.create_index(op.f('ix_pos_terminals_merchant_id'), 'pos_terminals', ['merchant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_pos_terminals_merchant_id'), table_name='pos_terminals')
    op.drop_table('pos_terminals')
