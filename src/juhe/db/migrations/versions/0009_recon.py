"""reconciliation runs and cases

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recon_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('statement_sha256', sa.String(length=64), nullable=False),
    sa.Column('statement_lines', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'business_date')
    )
    op.create_table('recon_cases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=True),
    sa.Column('order_no', sa.String(length=64), nullable=True),
    sa.Column('refund_no', sa.String(length=64), nullable=True),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('channel_txn_id', sa.String(length=64), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('ours_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('channel_amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('ours_fee_minor', sa.BigInteger(), nullable=True),
    sa.Column('channel_fee_minor', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('ledger_txn_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['recon_runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_recon_cases_merchant_id_status', 'recon_cases', ['merchant_id', 'status'], unique=False)
    op.create_index(op.f('ix_recon_cases_run_id'), 'recon_cases', ['run_id'], unique=False)
    op.create_table('recon_case_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['recon_cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_recon_case_events_case_id'), 'recon_case_events', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_recon_case_events_case_id'), table_name='recon_case_events')
    op.drop_table('recon_case_events')
    op.drop_index(op.f('ix_recon_cases_run_id'), table_name='recon_cases')
    op.drop_index('ix_recon_cases_merchant_id_status', table_name='recon_cases')
    op.drop_table('recon_cases')
    op.drop_table('recon_runs')
