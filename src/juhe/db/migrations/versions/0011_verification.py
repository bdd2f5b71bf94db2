"""step-up verification and password-free limits

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('verification_challenges',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('methods', sa.JSON(), nullable=False),
    sa.Column('otp_channel', sa.String(length=8), nullable=False),
    sa.Column('sms_secret', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payment_id')
    )
    op.create_index(op.f('ix_verification_challenges_merchant_id'), 'verification_challenges', ['merchant_id'], unique=False)
    op.create_table('payer_authenticators',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('secret', sa.String(length=32), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('merchant_id', 'customer_id')
    )
    op.create_table('payer_limits',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('limit_minor', sa.BigInteger(), nullable=False),
    sa.Column('good_streak', sa.Integer(), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('merchant_id', 'customer_id', 'currency')
    )


def downgrade() -> None:
    op.drop_table('payer_limits')
    op.drop_table('payer_authenticators')
    op.drop_index(op.f('ix_verification_challenges_merchant_id'), table_name='verification_challenges')
    op.drop_table('verification_challenges')
