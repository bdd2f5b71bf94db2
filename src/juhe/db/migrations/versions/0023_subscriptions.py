"""subscriptions: products, plans, coupons, mandates, subscriptions, usage, invoices

Revision ID: 0023
Revises: 0022
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sub_coupons',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('percent_off', sa.Integer(), nullable=False),
    sa.Column('amount_off_minor', sa.BigInteger(), nullable=False),
    sa.Column('duration', sa.String(length=10), nullable=False),
    sa.Column('duration_cycles', sa.Integer(), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'code')
    )
    op.create_table('sub_mandates',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('agreement_no', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sub_mandates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sub_mandates_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('sub_products',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sub_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sub_products_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('sub_plans',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('interval', sa.String(length=8), nullable=False),
    sa.Column('pricing', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('trial_days', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['sub_products.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'code')
    )
    op.create_table('subscriptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('mandate_id', sa.Uuid(), nullable=False),
    sa.Column('coupon_id', sa.Uuid(), nullable=True),
    sa.Column('coupon_cycles_left', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('anchor_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trial_end', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('period_start', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('pause_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('credit_minor', sa.BigInteger(), nullable=False),
    sa.Column('review_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.String(length=32), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['sub_coupons.id'], ),
    sa.ForeignKeyConstraint(['mandate_id'], ['sub_mandates.id'], ),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['sub_plans.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_subscriptions_status_review_at', ['status', 'review_at'], unique=False)

    op.create_table('sub_invoices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('subtotal_minor', sa.BigInteger(), nullable=False),
    sa.Column('discount_minor', sa.BigInteger(), nullable=False),
    sa.Column('credit_applied_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_due_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('period_start', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sub_invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sub_invoices_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index('ix_sub_invoices_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sub_invoices_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('sub_usage_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'event_id')
    )
    with op.batch_alter_table('sub_usage_events', schema=None) as batch_op:
        batch_op.create_index('ix_sub_usage_events_sub_at', ['subscription_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sub_usage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_sub_usage_events_sub_at')

    op.drop_table('sub_usage_events')
    with op.batch_alter_table('sub_invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sub_invoices_subscription_id'))
        batch_op.drop_index('ix_sub_invoices_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_sub_invoices_merchant_id'))

    op.drop_table('sub_invoices')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_status_review_at')
        batch_op.drop_index('ix_subscriptions_merchant_id_id')

    op.drop_table('subscriptions')
    op.drop_table('sub_plans')
    with op.batch_alter_table('sub_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sub_products_merchant_id'))

    op.drop_table('sub_products')
    with op.batch_alter_table('sub_mandates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sub_mandates_merchant_id'))

    op.drop_table('sub_mandates')
    op.drop_table('sub_coupons')
