"""Supply-chain finance on a fresh database: a supplier with invoicing set up, its buyer (a
company with its credit code, on Juhe too), two funders holding money on Juhe, and a helper that
raises and invoices a B2B order through the tax-platform sandbox."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from juhe.db.engine import Database
from juhe.db.models import Account
from juhe.einvoice import sandbox as tax_sandbox
from juhe.einvoice.service import Buyer, save_settings
from juhe.ledger import payable_code, verify_ledger
from juhe.merchants import create_merchant
from juhe.orders.service import create_order, invoice_order
from juhe.scf.demo import deposit
from juhe.scf.models import ScfBuyer, ScfFunder
from juhe.scf.service import Rates

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 2, tzinfo=timezone.utc)
RATES = Rates(base_rate_bps=310, market_apr_bps=1000)
BUYER_TAX_ID = "914403001922038216"
LINES = [{"name": "*电子元件*集成电路", "tax_category_code": "1090512010000000000", "tax_rate_bps": 1300, "total_minor": 11_300_000}]
FACE = 11_300_000
FUNDED = 50_000_000


@dataclass
class Scf:
    db: Database
    platform: object
    supplier: uuid.UUID
    buyer: uuid.UUID
    funders: dict[str, uuid.UUID]
    orders: int = 0

    def invoiced_order(self, lines: list[dict] = LINES) -> uuid.UUID:
        self.orders += 1
        with self.db.session() as session, session.begin():
            order = create_order(session, self.supplier, f"PO-{self.orders:04d}", Buyer("华为技术有限公司", BUYER_TAX_ID), lines)
            order_id = order.id
        invoice_order(self.db, self.platform, self.supplier, order_id, "merchant")
        return order_id

    def balance(self, code: str, currency: str = "CNY") -> int:
        """Posted balance in the account's normal direction (what a receivable is owed, a payable owes)."""
        with self.db.reader() as session:
            row = session.scalar(select(Account).where(Account.code == code, Account.currency == currency))
            if row is None:
                return 0
            return (1 if row.normal_side == "debit" else -1) * (row.debits_posted - row.credits_posted)

    def payable(self, merchant_id: uuid.UUID, suffix: str = "") -> int:
        return self.balance(payable_code(merchant_id) + suffix)

    def ledger_ok(self) -> bool:
        with self.db.engine.connect() as conn, conn.begin():
            return verify_ledger(conn).ok


@pytest.fixture(scope="session")
def tax_platform():
    _, server, platform = tax_sandbox.start()
    yield platform
    server.stop()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An empty database at the newest migration, copied for each test: migrating costs more than the test."""
    path = tmp_path_factory.mktemp("scf-template") / "juhe.db"
    Database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def scf(migrated_sqlite, tax_platform, tmp_path, monkeypatch):
    """On SQLite; `scf_both` also on PostgreSQL, for what the claim's concurrency and the ledger rely on."""
    shutil.copy(migrated_sqlite, tmp_path / "juhe.db")
    yield from _scf(f"sqlite:///{tmp_path}/juhe.db", tax_platform, tmp_path, monkeypatch)


@pytest.fixture(params=["sqlite", "pg_url"])
def scf_both(request, migrated_sqlite, tax_platform, tmp_path, monkeypatch):
    if request.param == "sqlite":
        shutil.copy(migrated_sqlite, tmp_path / "juhe.db")
        url = f"sqlite:///{tmp_path}/juhe.db"
    else:
        url = request.getfixturevalue("pg_url")
    yield from _scf(url, tax_platform, tmp_path, monkeypatch)


def _scf(url, tax_platform, tmp_path, monkeypatch):
    monkeypatch.setenv("JUHE_DATA_DIR", str(tmp_path / "juhe-data"))
    db = Database(url)
    with db.session() as session, session.begin():
        supplier = create_merchant(session, "深圳小微电子有限公司", "manufacturing").id
        save_settings(session, supplier, seller_name="深圳小微电子有限公司", seller_tax_id="91350100M000100Y43",
                      item_name="*电子元件*集成电路", tax_category_code="1090512010000000000", tax_rate_bps=1300,
                      auto_issue=False)
        buyer = create_merchant(session, "华为技术有限公司", "manufacturing").id
        session.add(ScfBuyer(merchant_id=buyer, tax_id=BUYER_TAX_ID, name="华为技术有限公司", credit_spread_bps=80,
                             discount_apr_bps=600))
        funders = {}
        for code, margin, fee in (("icbc", 250, 10), ("cmb", 200, 20)):
            funders[code] = create_merchant(session, f"{code.upper()} SCF", "services").id
            session.add(ScfFunder(merchant_id=funders[code], code=code, name=f"{code.upper()} SCF", margin_bps=margin, fee_bps=fee))
        conn = session.connection()
        for name, merchant_id in (("buyer", buyer), *funders.items()):
            deposit(conn, merchant_id, FUNDED, f"test:deposit:{name}")
    yield Scf(db, tax_platform, supplier, buyer, funders)
    db.dispose()
