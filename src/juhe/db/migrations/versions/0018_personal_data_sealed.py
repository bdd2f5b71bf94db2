"""pii: personal data sealed at rest (names, accounts, phones, payout documents), a blind index on transfer accounts

Existing rows are sealed in place with the keyring of the process that migrates
(JUHE_PII_KEYRING_FILE, or data_dir/pii/keyring.json, generated if missing): keep that file,
every process of the deployment needs it to read these columns.

Revision ID: 0018
Revises: 0017
"""
from alembic import op
import sqlalchemy as sa

from juhe.pii import envelope, values

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# (table, primary key, text columns that were strings, bytes columns that were plaintext blobs)
SEALED = (
    ('transfer_items', 'id', {'creditor_name': 140, 'creditor_account': 64}, ()),
    ('transfer_batches', 'id', {}, ('document',)),
    ('settlement_profiles', 'merchant_id', {'payout_name': 140, 'payout_account': 64}, ()),
    ('settlement_batches', 'id', {'creditor_name': 140, 'creditor_account': 64}, ()),
    ('payout_files', 'id', {}, ('document',)),
    ('verification_challenges', 'id', {'phone': 32}, ()),
    ('console_users', 'id', {'name': 200}, ()),
)
BATCH_ROWS = 1000


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('PRAGMA secure_delete = ON')  # the pages that held the plaintext are zeroed, not just freed
    op.add_column('transfer_items', sa.Column('creditor_account_index', sa.String(length=32), nullable=True))
    op.create_index('ix_transfer_items_creditor_account_index', 'transfer_items', ['creditor_account_index'], unique=False)
    for table, pk, texts, blobs in SEALED:
        _retype(table, texts, sa.LargeBinary(), lambda c: f"convert_to({c}, 'UTF8')")
        for column in (*texts, *blobs):
            _reseal(table, pk, column, _seal_one)
    _index_transfer_accounts()


def downgrade() -> None:
    for table, pk, texts, blobs in SEALED:
        for column in (*texts, *blobs):
            _reseal(table, pk, column, _open_one, as_text=column in texts)
        for column, length in texts.items():
            _retype(table, {column: length}, sa.String(length=length), lambda c: f"convert_from({c}, 'UTF8')")
    op.drop_index('ix_transfer_items_creditor_account_index', table_name='transfer_items')
    op.drop_column('transfer_items', 'creditor_account_index')


def _retype(table: str, columns: dict, new_type, using) -> None:
    if not columns:
        return
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.alter_column(column, type_=new_type, postgresql_using=using(column) if postgres else None)


def _seal_one(table: str, column: str, row, raw: bytes):
    if raw[:1] == bytes((envelope.FORMAT,)):
        return None  # sealed already: a rerun after an interrupted upgrade
    return values.seal(raw, table, column, row)


def _open_one(table: str, column: str, row, raw: bytes):
    return values.open_bytes(raw, table, column, row)


def _reseal(table: str, pk: str, column: str, change, as_text: bool = False) -> None:
    conn = op.get_bind()
    t = sa.table(table, sa.column(pk, sa.Uuid()), sa.column(column, sa.LargeBinary()))
    out = sa.table(table, sa.column(pk, sa.Uuid()), sa.column(column, sa.String() if as_text else sa.LargeBinary()))
    rows = conn.execute(sa.select(t.c[pk], t.c[column]).where(t.c[column].is_not(None))).all()
    for start in range(0, len(rows), BATCH_ROWS):
        for key, raw in rows[start:start + BATCH_ROWS]:
            raw = raw.encode() if isinstance(raw, str) else bytes(raw)  # SQLite keeps the old TEXT values as text
            new = change(table, column, key, raw)
            if new is not None:
                conn.execute(sa.update(out).where(out.c[pk] == key).values({column: new.decode() if as_text else bytes(new)}))


def _index_transfer_accounts() -> None:
    conn = op.get_bind()
    t = sa.table('transfer_items', sa.column('id', sa.Uuid()), sa.column('creditor_account', sa.LargeBinary()),
                 sa.column('creditor_account_index', sa.String()))
    for key, blob in conn.execute(sa.select(t.c.id, t.c.creditor_account)).all():
        account = values.open_text(bytes(blob), 'transfer_items', 'creditor_account', key)
        conn.execute(sa.update(t).where(t.c.id == key).values(
            creditor_account_index=values.blind_index(account, 'transfer_items.creditor_account', 'account')))
