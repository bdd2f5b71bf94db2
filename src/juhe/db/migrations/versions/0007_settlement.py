"""settlement: fee schedules, profiles, runs, batches, holds, items, releases, payout files,
reserve proofs; and recon_items, the reconciliation results settlement reads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('recon_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'payment_id', 'refund_id')
    )
    with op.batch_alter_table('recon_items', schema=None) as batch_op:
        batch_op.create_index('uq_recon_items_payment', ['kind', 'payment_id'], unique=True,
                              sqlite_where=sa.text('refund_id IS NULL'), postgresql_where=sa.text('refund_id IS NULL'))
        batch_op.create_index('ix_recon_items_merchant_id_business_date', ['merchant_id', 'business_date'], unique=False)

    op.create_table('fee_schedules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('effective_from', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'channel', 'effective_from')
    )

    op.create_table('settlement_profiles',
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('cycle', sa.String(length=4), nullable=False),
    sa.Column('split_by', sa.String(length=10), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('cutoff', sa.String(length=5), nullable=False),
    sa.Column('payout_name', sa.String(length=140), nullable=False),
    sa.Column('payout_account', sa.String(length=64), nullable=False),
    sa.Column('payout_bank', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    *_timestamps(),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('merchant_id')
    )

    op.create_table('settlement_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('settlement_date', sa.Date(), nullable=False),
    sa.Column('due_through', sa.Date(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'settlement_date')
    )

    op.create_table('payout_files',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('msg_id', sa.String(length=35), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('transfer_count', sa.Integer(), nullable=False),
    sa.Column('document', sa.LargeBinary(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('next_poll_at', juhe.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('poll_count', sa.Integer(), nullable=False),
    *_timestamps(),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('msg_id')
    )
    with op.batch_alter_table('payout_files', schema=None) as batch_op:
        batch_op.create_index('ix_payout_files_status_next_poll_at', ['status', 'next_poll_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_payout_files_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('settlement_batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('settlement_date', sa.Date(), nullable=False),
    sa.Column('group_key', sa.String(length=64), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('business_line_id', sa.Uuid(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('gross_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('end_to_end_id', sa.String(length=35), nullable=True),
    sa.Column('payout_file_id', sa.Uuid(), nullable=True),
    sa.Column('creditor_name', sa.String(length=140), nullable=False),
    sa.Column('creditor_account', sa.String(length=64), nullable=False),
    sa.Column('creditor_bank', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=8), nullable=True),
    sa.Column('reason_text', sa.Text(), nullable=True),
    sa.Column('bank_ref', sa.String(length=64), nullable=True),
    *_timestamps(),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['settlement_runs.id'], ),
    sa.ForeignKeyConstraint(['store_id'], ['stores.id'], ),
    sa.ForeignKeyConstraint(['business_line_id'], ['business_lines.id'], ),
    sa.ForeignKeyConstraint(['payout_file_id'], ['payout_files.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('end_to_end_id'),
    sa.UniqueConstraint('merchant_id', 'settlement_date', 'group_key', 'currency')
    )
    with op.batch_alter_table('settlement_batches', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_batches_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_settlement_batches_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_batches_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_batches_payout_file_id'), ['payout_file_id'], unique=False)

    op.create_table('settlement_holds',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('payable_account_id', sa.Uuid(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['settlement_batches.id'], ),
    sa.ForeignKeyConstraint(['payable_account_id'], ['ledger_accounts.id'], ),
    sa.ForeignKeyConstraint(['hold_id'], ['ledger_transactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('settlement_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_holds_batch_id'), ['batch_id'], unique=False)

    op.create_table('settlement_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('claim_key', sa.String(length=48), nullable=True),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('gross_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('payable_account_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['settlement_batches.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('claim_key')
    )
    with op.batch_alter_table('settlement_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_items_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_settlement_items_payment_id'), ['payment_id'], unique=False)

    op.create_table('settlement_releases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=False),
    sa.Column('refund_id', sa.Uuid(), nullable=True),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('released_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'source_id')
    )
    with op.batch_alter_table('settlement_releases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_releases_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('reserve_proofs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reserve_account', sa.String(length=200), nullable=False),
    sa.Column('statement_id', sa.String(length=64), nullable=False),
    sa.Column('liabilities_minor', sa.BigInteger(), nullable=False),
    sa.Column('in_transit_minor', sa.BigInteger(), nullable=False),
    sa.Column('ledger_reserve_minor', sa.BigInteger(), nullable=False),
    sa.Column('bank_balance_minor', sa.BigInteger(), nullable=False),
    sa.Column('difference_minor', sa.BigInteger(), nullable=False),
    sa.Column('coverage_minor', sa.BigInteger(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    *_timestamps(),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day', 'currency')
    )


def downgrade() -> None:
    for table in ('reserve_proofs', 'settlement_releases', 'settlement_items', 'settlement_holds', 'settlement_batches',
                  'payout_files', 'settlement_runs', 'settlement_profiles', 'fee_schedules', 'recon_items'):
        op.drop_table(table)
