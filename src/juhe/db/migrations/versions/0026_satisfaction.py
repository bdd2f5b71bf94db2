"""satisfaction: a payer's 1–5 rating of a payment, with its store, channel and scenario

Revision ID: 0026
Revises: 0025
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('satisfaction_ratings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payment_id')
    )
    op.create_index('ix_satisfaction_ratings_merchant_created', 'satisfaction_ratings', ['merchant_id', 'created_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_satisfaction_ratings_merchant_created', table_name='satisfaction_ratings')
    op.drop_table('satisfaction_ratings')
