"""qrcodes: aggregated QR codes of stores (static) and tills (dynamic)

Revision ID: 0020
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('qr_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('expires_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token')
    )
    op.create_index('ix_qr_codes_merchant_id_store_id', 'qr_codes', ['merchant_id', 'store_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_qr_codes_merchant_id_store_id', table_name='qr_codes')
    op.drop_table('qr_codes')
