"""A book of supply-chain finance on a database, to show the report on figures: one large buyer,
two funders and small suppliers, each with invoiced orders the buyer confirmed and each taking the
offer with the lowest APR that can be paid (the buyer's early-payment budget runs out, then the
funders take over). The orders are invoiced through the tax-platform sandbox, the money moves in
the ledger as it would for real; only the parties and their orders are made up."""

from __future__ import annotations

import random
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from juhe.db.engine import Database
from juhe.einvoice.credit_code import check_character
from juhe.einvoice.service import Buyer, save_settings
from juhe.ledger import ensure_account, payable_code, post, transfer
from juhe.merchants import create_merchant
from juhe.orders.service import create_order, invoice_order
from juhe.scf import service, views
from juhe.scf.errors import ScfError
from juhe.scf.models import ScfBuyer, ScfFinancing, ScfFunder

BUYER = ("华南重工集团有限公司", 80, 600)  # name, credit spread, discount APR (bps)
FUNDERS = (("icbc", "工银保理 SCF", 250, 10), ("cmb", "招银保理 SCF", 200, 20))  # code, name, margin, fee (bps)
GOODS = {"name": "*机械设备*液压元件", "tax_category_code": "1090199000000000000", "tax_rate_bps": 1300}
FUNDER_CASH_MINOR = 500_000_000  # 5 million CNY each: they can fund the whole book
BUYER_CASH_MINOR = 60_000_000  # the buyer's early-payment budget: about a fifth of the book
SUPPLIERS_MAX = 50


def credit_code(region: str, org: str) -> str:
    """A unified social credit code of an enterprise (91) in `region` with organisation code `org` (9)."""
    first17 = f"91{region}{org}"
    return first17 + check_character(first17)


def deposit(conn: Connection, merchant_id: uuid.UUID, amount_minor: int, key: str) -> None:
    """Money a party wired to its account on Juhe: the bank reserve holds it, Juhe owes it."""
    post(conn, transfer(key, ensure_account(conn, "reserve:bank", "CNY", owner_type="platform"),
                        ensure_account(conn, payable_code(merchant_id), "CNY", merchant_id=merchant_id, no_overdraft=True,
                                       owner_type="merchant", owner_id=merchant_id), amount_minor, merchant_id=merchant_id))


def seed(db: Database, platform, now: datetime, suppliers: int = 8, orders_each: int = 3, seed: int = 7) -> dict:
    """The parties and their book; returns the cost report of what was financed."""
    if not 0 < suppliers <= SUPPLIERS_MAX:
        raise ValueError(f"1 to {SUPPLIERS_MAX} suppliers")
    rates = service.configured_rates()
    with db.reader() as session:
        seeded = session.scalar(select(ScfBuyer).where(ScfBuyer.name == BUYER[0]))
    if seeded is not None:  # once per database, as `juhe simulate --once`: then the report of that book
        return {"seeded": False, "buyer_id": str(seeded.merchant_id), **_book(db, seeded.merchant_id, rates)}
    rng, today, tag = random.Random(seed), service.local_date(now), uuid.uuid4().hex[:6].upper()
    buyer_id, supplier_ids = _parties(db, suppliers, tag)
    for n in range(suppliers * orders_each):
        supplier = supplier_ids[n % suppliers]
        face = rng.randrange(20_000, 300_000) * 100
        order_id = _invoiced(db, platform, supplier, tag, f"SCF-{tag}-{n:03d}", face)
        with db.session() as session, session.begin():
            service.confirm(session, buyer_id, order_id, today + timedelta(days=rng.choice((30, 45, 60, 90, 120))), today)
        _take_cheapest(db, supplier, order_id, now, rates)
    logins = _console_logins(db, buyer_id, supplier_ids[0])
    return {"seeded": True, "buyer_id": str(buyer_id), "console_logins": logins, **_book(db, buyer_id, rates)}


def _book(db: Database, buyer_id: uuid.UUID, rates) -> dict:
    with db.reader() as session:
        rows = list(session.scalars(select(ScfFinancing).where(ScfFinancing.buyer_merchant_id == buyer_id)))
    return {"supplier_ids": sorted({str(f.merchant_id) for f in rows}), **views.cost_report(rows, rates.market_apr_bps)}


def _console_logins(db: Database, buyer_id: uuid.UUID, supplier_id: uuid.UUID) -> list[dict]:
    """Console logins for the buyer, one supplier and a funder, shown once: their passwords are random."""
    from juhe.console.users import add_user

    logins = []
    with db.session() as session, session.begin():
        funder_id = session.scalar(select(ScfFunder.merchant_id).where(ScfFunder.code == FUNDERS[0][0]))
        for login, merchant_id in (("buyer@scf", buyer_id), ("supplier@scf", supplier_id), ("funder@scf", funder_id)):
            password = secrets.token_urlsafe(9)
            add_user(session, login, login, "finance", password, merchant_id)
            logins.append({"login": login, "password": password})
    return logins


def _parties(db: Database, suppliers: int, tag: str) -> tuple[uuid.UUID, list[uuid.UUID]]:
    name, spread, discount = BUYER
    with db.session() as session, session.begin():
        buyer_id = create_merchant(session, name, "manufacturing").id
        session.add(ScfBuyer(merchant_id=buyer_id, tax_id=_buyer_code(tag), name=name, credit_spread_bps=spread,
                             discount_apr_bps=discount))
        deposit(session.connection(), buyer_id, BUYER_CASH_MINOR, f"scf-demo:{tag}:deposit:buyer")
        for code, funder_name, margin, fee in FUNDERS:  # a second book is funded by the same funders
            if session.scalar(select(ScfFunder).where(ScfFunder.code == code)) is None:
                funder_id = create_merchant(session, funder_name, "services").id
                session.add(ScfFunder(merchant_id=funder_id, code=code, name=funder_name, margin_bps=margin, fee_bps=fee))
                deposit(session.connection(), funder_id, FUNDER_CASH_MINOR, f"scf-demo:{tag}:deposit:{code}")
        supplier_ids = []
        for i in range(suppliers):
            supplier_name = f"东莞小微配件厂{i + 1:02d}"
            supplier_id = create_merchant(session, supplier_name, "manufacturing").id
            save_settings(session, supplier_id, seller_name=supplier_name, seller_tax_id=credit_code("441900", f"{i:03d}{tag}"),
                          item_name=GOODS["name"], tax_category_code=GOODS["tax_category_code"],
                          tax_rate_bps=GOODS["tax_rate_bps"], auto_issue=False)
            supplier_ids.append(supplier_id)
    return buyer_id, supplier_ids


def _buyer_code(tag: str) -> str:
    return credit_code("440300", f"B00{tag}")


def _invoiced(db: Database, platform, supplier: uuid.UUID, tag: str, order_no: str, face_minor: int) -> uuid.UUID:
    with db.session() as session, session.begin():
        order_id = create_order(session, supplier, order_no, Buyer(BUYER[0], _buyer_code(tag)),
                                [{**GOODS, "total_minor": face_minor}]).id
    invoice_order(db, platform, supplier, order_id, "scf-demo")
    return order_id


def _take_cheapest(db: Database, supplier: uuid.UUID, order_id: uuid.UUID, now: datetime, rates) -> None:
    with db.reader() as session:
        found = service.offers(session, supplier, order_id, None, now.date(), rates)
    for offer in found:  # lowest APR first; an offer whose payer is short of cash is passed over
        try:
            with db.session() as session, session.begin():
                service.accept(session, supplier, order_id, offer.funder_code or service.BUYER, None, now, rates)
            return
        except ScfError as e:
            if not e.code.endswith("_funds_insufficient"):
                raise
    raise ScfError(422, "no_offer_payable", f"no offer for order {order_id} could be paid")
