"""scf: buyers, funders, confirmed receivables and the one financing each can carry

Revision ID: 0025
Revises: 0024
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scf_buyers',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('tax_id', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('credit_spread_bps', sa.Integer(), nullable=False),
    sa.Column('discount_apr_bps', sa.Integer(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('merchant_id'),
    sa.UniqueConstraint('tax_id')
    )
    op.create_table('scf_funders',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('margin_bps', sa.Integer(), nullable=False),
    sa.Column('fee_bps', sa.Integer(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('merchant_id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('scf_receivables',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_merchant_id', sa.Uuid(), nullable=False),
    sa.Column('face_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('maturity_on', sa.Date(), nullable=False),
    sa.Column('order_leaf', sa.BigInteger(), nullable=False),
    sa.Column('invoice_leaf', sa.BigInteger(), nullable=False),
    sa.Column('confirmed_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_merchant_id'], ['scf_buyers.merchant_id'], ),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['b2b_orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id')
    )
    with op.batch_alter_table('scf_receivables', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scf_receivables_buyer_merchant_id'), ['buyer_merchant_id'], unique=False)
        batch_op.create_index('ix_scf_receivables_merchant_id_id', ['merchant_id', 'id'], unique=False)
    op.create_table('scf_financings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('receivable_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_merchant_id', sa.Uuid(), nullable=False),
    sa.Column('funder_merchant_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('discount_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('apr_bps', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('maturity_on', sa.Date(), nullable=False),
    sa.Column('market_cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('repaid_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['receivable_id'], ['scf_receivables.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receivable_id')
    )
    with op.batch_alter_table('scf_financings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scf_financings_buyer_merchant_id'), ['buyer_merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scf_financings_funder_merchant_id'), ['funder_merchant_id'], unique=False)
        batch_op.create_index('ix_scf_financings_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_scf_financings_status_maturity_on', ['status', 'maturity_on'], unique=False)


def downgrade() -> None:
    op.drop_table('scf_financings')
    op.drop_table('scf_receivables')
    op.drop_table('scf_funders')
    op.drop_table('scf_buyers')
