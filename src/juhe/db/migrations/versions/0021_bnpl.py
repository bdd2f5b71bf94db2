"""bnpl: credit lines, orders, installments, repayments; payments.purpose

Revision ID: 0021
Revises: 0020
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bnpl_lines',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('limit_minor', sa.BigInteger(), nullable=False),
    sa.Column('held_minor', sa.BigInteger(), nullable=False),
    sa.Column('owed_minor', sa.BigInteger(), nullable=False),
    sa.Column('decision', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('decided_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'customer_id', 'currency')
    )
    op.create_table('bnpl_orders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('installments', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('fees_minor', sa.BigInteger(), nullable=False),
    sa.Column('repaid_minor', sa.BigInteger(), nullable=False),
    sa.Column('reserved_minor', sa.BigInteger(), nullable=False),
    sa.Column('written_off_minor', sa.BigInteger(), nullable=False),
    sa.Column('merchant_fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('hold_txn_id', sa.Uuid(), nullable=False),
    sa.Column('expires_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('review_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('captured_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['bnpl_lines.id'], ),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'idempotency_key')
    )
    with op.batch_alter_table('bnpl_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bnpl_orders_line_id'), ['line_id'], unique=False)
        batch_op.create_index('ix_bnpl_orders_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_bnpl_orders_status_review_at', ['status', 'review_at'], unique=False)

    op.create_table('bnpl_installments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('due_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('late_fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('paid_minor', sa.BigInteger(), nullable=False),
    sa.Column('reminders', sa.JSON(), nullable=False),
    sa.Column('paid_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['bnpl_orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'seq')
    )
    op.create_table('bnpl_repayments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['bnpl_orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'idempotency_key')
    )
    with op.batch_alter_table('bnpl_repayments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bnpl_repayments_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_bnpl_repayments_status', ['status'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('purpose')

    with op.batch_alter_table('bnpl_repayments', schema=None) as batch_op:
        batch_op.drop_index('ix_bnpl_repayments_status')
        batch_op.drop_index(batch_op.f('ix_bnpl_repayments_order_id'))

    op.drop_table('bnpl_repayments')
    op.drop_table('bnpl_installments')
    with op.batch_alter_table('bnpl_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_bnpl_orders_status_review_at')
        batch_op.drop_index('ix_bnpl_orders_merchant_id_id')
        batch_op.drop_index(batch_op.f('ix_bnpl_orders_line_id'))

    op.drop_table('bnpl_orders')
    op.drop_table('bnpl_lines')
