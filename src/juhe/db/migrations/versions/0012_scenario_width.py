"""payments.scenario holds "crossborder" (11 characters)

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.alter_column('scenario', existing_type=sa.String(length=10), type_=sa.String(length=16), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch:
        batch.alter_column('scenario', existing_type=sa.String(length=16), type_=sa.String(length=10), existing_nullable=False)
