"""trace: the Merkle log's entries, perfect subtrees, right edge, ingestion cursors and signed tree heads

Revision ID: 0013
Revises: 0012
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import juhe.db.types


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('trace_entries',
    sa.Column('id', BigIntPK, autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('source_key', sa.String(length=96), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('leaf_index', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'source_key'),
    )
    op.create_index('ix_trace_entries_kind_object_id', 'trace_entries', ['kind', 'object_id'], unique=False)
    op.create_index('ix_trace_entries_merchant_id_id', 'trace_entries', ['merchant_id', 'id'], unique=False)
    op.create_index('ix_trace_entries_leaf_index', 'trace_entries', ['leaf_index'], unique=True)
    op.create_table('trace_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'index')
    )
    frontier = op.create_table('trace_frontier',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('edge', sa.JSON(), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one frontier row exists from the start, so that every appender only ever locks it.
    op.bulk_insert(frontier, [{'id': 1, 'tree_size': 0, 'edge': [], 'updated_at': datetime.now(timezone.utc)}])
    op.create_table('trace_cursors',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('position', sa.String(length=64), nullable=False),
    sa.Column('updated_at', juhe.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.create_table('trace_tree_heads',
    sa.Column('id', BigIntPK, autoincrement=True, nullable=False),
    sa.Column('origin', sa.String(length=100), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('timestamp_ms', sa.BigInteger(), nullable=False),
    sa.Column('key_name', sa.String(length=100), nullable=False),
    sa.Column('key_hash', sa.LargeBinary(length=4), nullable=False),
    sa.Column('signature', sa.LargeBinary(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_trace_tree_heads_tree_size', 'trace_tree_heads', ['tree_size'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_trace_tree_heads_tree_size', table_name='trace_tree_heads')
    op.drop_table('trace_tree_heads')
    op.drop_table('trace_cursors')
    op.drop_table('trace_frontier')
    op.drop_table('trace_nodes')
    op.drop_index('ix_trace_entries_leaf_index', table_name='trace_entries')
    op.drop_index('ix_trace_entries_merchant_id_id', table_name='trace_entries')
    op.drop_index('ix_trace_entries_kind_object_id', table_name='trace_entries')
    op.drop_table('trace_entries')
