"""installments: plans per merchant and channel, the quoted terms of each installment sale

Revision ID: 0022
Revises: 0021
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('installment_plans',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('fee_bearer', sa.String(length=8), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_installment_plans_merchant_id_id', 'installment_plans', ['merchant_id', 'id'], unique=False)
    op.create_table('installment_sales',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('periods', sa.Integer(), nullable=False),
    sa.Column('fee_bearer', sa.String(length=8), nullable=False),
    sa.Column('fee_rate_per_period', sa.String(length=16), nullable=False),
    sa.Column('principal_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('payer_fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('merchant_fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['installment_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'idempotency_key')
    )
    op.create_index('ix_installment_sales_payment_id', 'installment_sales', ['payment_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_installment_sales_payment_id', table_name='installment_sales')
    op.drop_table('installment_sales')
    op.drop_index('ix_installment_plans_merchant_id_id', table_name='installment_plans')
    op.drop_table('installment_plans')
