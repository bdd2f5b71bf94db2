"""receipts of payments and refunds, e-invoices (blue and red-letter) with the merchant's invoicing settings, B2B orders

Revision ID: 0019
Revises: 0018
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('b2b_orders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=False),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('buyer_tax_id', sa.String(length=18), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('invoice_id', sa.Uuid(), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('leaf_index', sa.BigInteger(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'order_no'),
    sa.UniqueConstraint('payment_id')
    )
    op.create_table('invoice_settings',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('seller_name', sa.String(length=200), nullable=False),
    sa.Column('seller_tax_id', sa.String(length=18), nullable=False),
    sa.Column('item_name', sa.String(length=100), nullable=False),
    sa.Column('tax_category_code', sa.String(length=19), nullable=False),
    sa.Column('tax_rate_bps', sa.Integer(), nullable=False),
    sa.Column('auto_issue', sa.Boolean(), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('merchant_id')
    )
    op.create_table('invoices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=4), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('blue_for', sa.String(length=48), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('original_id', sa.Uuid(), nullable=True),
    sa.Column('request_no', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('buyer_tax_id', sa.String(length=18), nullable=True),
    sa.Column('seller_name', sa.String(length=200), nullable=False),
    sa.Column('seller_tax_id', sa.String(length=18), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('tax_minor', sa.BigInteger(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('issued_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('leaf_index', sa.BigInteger(), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('blue_for'),
    sa.UniqueConstraint('number'),
    sa.UniqueConstraint('refund_id'),
    sa.UniqueConstraint('request_no')
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_invoices_original_id', ['original_id'], unique=False)
        batch_op.create_index('ix_invoices_payment_id', ['payment_id'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('object_id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('leaf_index', sa.BigInteger(), nullable=False),
    sa.Column('issued_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'object_id'),
    sa.UniqueConstraint('token')
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index('ix_receipts_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_receipts_payment_id', ['payment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_receipts_payment_id')
        batch_op.drop_index('ix_receipts_merchant_id_id')

    op.drop_table('receipts')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_payment_id')
        batch_op.drop_index('ix_invoices_original_id')
        batch_op.drop_index('ix_invoices_merchant_id_id')

    op.drop_table('invoices')
    op.drop_table('invoice_settings')
    op.drop_table('b2b_orders')
