"""aml: uploaded watch lists and their versions, screenings and hits, monitoring runs, alerts,
cases and their audit trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, juhe.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('aml_watch_lists',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=36), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    _time('created_at'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope', 'name')
    )
    with op.batch_alter_table('aml_watch_lists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aml_watch_lists_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('aml_list_versions',
    sa.Column('scope', sa.String(length=36), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    _time('updated_at'),
    sa.PrimaryKeyConstraint('scope')
    )

    op.create_table('aml_screenings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('subject', sa.String(length=10), nullable=False),
    sa.Column('payment_id', sa.Uuid(), nullable=True),
    sa.Column('parties', sa.JSON(), nullable=False),
    sa.Column('request', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('hit_count', sa.Integer(), nullable=False),
    sa.Column('top_score', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('entries_screened', sa.Integer(), nullable=False),
    sa.Column('lists_version', sa.String(length=200), nullable=False),
    sa.Column('reviewed_by', sa.String(length=200), nullable=True),
    _time('reviewed_at', nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    _time('created_at'),
    _time('updated_at'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'payment_id')
    )
    with op.batch_alter_table('aml_screenings', schema=None) as batch_op:
        batch_op.create_index('ix_aml_screenings_merchant_id_id', ['merchant_id', 'id'], unique=False)

    op.create_table('aml_screening_hits',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('screening_id', sa.Uuid(), nullable=False),
    sa.Column('party_role', sa.String(length=16), nullable=False),
    sa.Column('party_name', sa.String(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('list_name', sa.String(length=120), nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('entry_name', sa.String(length=400), nullable=False),
    sa.Column('detail', sa.JSON(none_as_null=True), nullable=False),
    sa.ForeignKeyConstraint(['screening_id'], ['aml_screenings.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('aml_screening_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aml_screening_hits_screening_id'), ['screening_id'], unique=False)

    op.create_table('aml_monitoring_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    _time('period_start'),
    _time('period_end'),
    sa.Column('movements', sa.Integer(), nullable=False),
    sa.Column('alerts_raised', sa.Integer(), nullable=False),
    sa.Column('cases_opened', sa.Integer(), nullable=False),
    sa.Column('unmonitored', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    _time('started_at'),
    _time('finished_at'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('aml_monitoring_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aml_monitoring_runs_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('aml_cases',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('case_key', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.String(length=80), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    _time('opened_at'),
    _time('decided_at', nullable=True),
    _time('updated_at'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('aml_cases', schema=None) as batch_op:
        batch_op.create_index('ix_aml_cases_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_aml_cases_merchant_id_account_id', ['merchant_id', 'account_id'], unique=False)

    op.create_table('aml_case_events',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    _time('at'),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('before', sa.String(length=200), nullable=True),
    sa.Column('after', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['aml_cases.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('aml_case_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aml_case_events_case_id'), ['case_id'], unique=False)

    op.create_table('aml_alerts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=False),
    sa.Column('alert_key', sa.String(length=40), nullable=False),
    sa.Column('scenario', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=80), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    _time('window_start'),
    _time('window_end'),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('figures', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('movement_ids', sa.JSON(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    _time('raised_at'),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], ),
    sa.ForeignKeyConstraint(['case_id'], ['aml_cases.id'], ),
    sa.ForeignKeyConstraint(['run_id'], ['aml_monitoring_runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant_id', 'scenario', 'account_id', 'currency', 'window_start', 'window_end')
    )
    with op.batch_alter_table('aml_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_aml_alerts_merchant_id_id', ['merchant_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aml_alerts_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ('aml_alerts', ('ix_aml_alerts_case_id', 'ix_aml_alerts_merchant_id_id')),
        ('aml_case_events', ('ix_aml_case_events_case_id',)),
        ('aml_cases', ('ix_aml_cases_merchant_id_account_id', 'ix_aml_cases_merchant_id_id')),
        ('aml_monitoring_runs', ('ix_aml_monitoring_runs_merchant_id',)),
        ('aml_screening_hits', ('ix_aml_screening_hits_screening_id',)),
        ('aml_screenings', ('ix_aml_screenings_merchant_id_id',)),
        ('aml_list_versions', ()),
        ('aml_watch_lists', ('ix_aml_watch_lists_merchant_id',)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
