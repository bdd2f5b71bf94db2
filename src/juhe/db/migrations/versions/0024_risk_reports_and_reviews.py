"""risk: fraud reports (append-only, corrections supersede) and compromise reviews of terminals, stores, merchants

Revision ID: 0024
Revises: 0023
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('risk_fraud_reports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('verdict', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('learned_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=False),
    sa.Column('reported_by', sa.String(length=128), nullable=False),
    sa.Column('corrects_id', sa.Uuid(), nullable=True),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'source', 'external_id')
    )
    op.create_index('ix_risk_fraud_reports_merchant_payment', 'risk_fraud_reports', ['merchant_id', 'payment_id'],
                    unique=False)
    op.create_table('risk_reviews',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('merchant_id', sa.String(length=128), nullable=False),
    sa.Column('figures', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('opened_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=128), nullable=True),
    sa.Column('outcome', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ux_risk_reviews_open_key', 'risk_reviews', ['key'], unique=True,
                    sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
    op.create_index('ix_risk_reviews_merchant_opened', 'risk_reviews', ['merchant_id', 'opened_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_risk_reviews_merchant_opened', table_name='risk_reviews')
    op.drop_index('ux_risk_reviews_open_key', table_name='risk_reviews')
    op.drop_table('risk_reviews')
    op.drop_index('ix_risk_fraud_reports_merchant_payment', table_name='risk_fraud_reports')
    op.drop_table('risk_fraud_reports')
