"""SCF's ledger transactions, each one balanced movement (N net to the supplier, A face financed):

    reverse factoring, advance   Dr payable:{funder} N        Cr payable:{supplier} N
                                 Dr receivable:scf   A        Cr payable:{funder}:scf A
    reverse factoring, maturity  Dr payable:{buyer}  A        Cr receivable:scf A
                                 Dr payable:{funder}:scf A    Cr payable:{funder} A
    dynamic discounting          Dr payable:{buyer}  N        Cr payable:{supplier} N

`receivable:scf` is what buyers owe on financed receivables; `payable:{funder}:scf` is what Juhe
will owe the funder once they pay. The funder earns A − N (discount and fee) at maturity, the
buyer keeps the discount of an early payment. Payables of funders and buyers may not go below
zero: they pay from money they hold on Juhe."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from juhe.ledger import Entry, Post, ensure_account, payable_code

RECEIVABLE = "receivable:scf"


def _payable(conn: Connection, merchant_id: uuid.UUID, currency: str) -> uuid.UUID:
    return ensure_account(conn, payable_code(merchant_id), currency, merchant_id=merchant_id, no_overdraft=True,
                          owner_type="merchant", owner_id=merchant_id)


def _funder_claims(conn: Connection, funder_id: uuid.UUID, currency: str) -> uuid.UUID:
    return ensure_account(conn, f"{payable_code(funder_id)}:scf", currency, merchant_id=funder_id,
                          owner_type="merchant", owner_id=funder_id)


def _receivable(conn: Connection, currency: str) -> uuid.UUID:
    return ensure_account(conn, RECEIVABLE, currency, owner_type="platform")


def _metadata(financing) -> dict:
    return {"scf_financing_id": str(financing.id), "scf_receivable_id": str(financing.receivable_id),
            "discount_minor": financing.discount_minor, "fee_minor": financing.fee_minor}


def advance(conn: Connection, financing) -> Post:
    c, a, n = financing.currency, financing.amount_minor, financing.net_minor
    if financing.funder_merchant_id is None:
        entries = (Entry(_payable(conn, financing.buyer_merchant_id, c), n), Entry(_payable(conn, financing.merchant_id, c), -n))
        description = "scf dynamic discounting: the buyer pays early"
    else:
        funder = financing.funder_merchant_id
        entries = (Entry(_payable(conn, funder, c), n), Entry(_payable(conn, financing.merchant_id, c), -n),
                   Entry(_receivable(conn, c), a), Entry(_funder_claims(conn, funder, c), -a))
        description = "scf reverse factoring: the funder advances"
    return Post(f"scf:{financing.receivable_id}:advance", entries, merchant_id=financing.merchant_id,
                description=description, metadata=_metadata(financing))


def repayment(conn: Connection, financing) -> Post:
    c, a, funder = financing.currency, financing.amount_minor, financing.funder_merchant_id
    entries = (Entry(_payable(conn, financing.buyer_merchant_id, c), a), Entry(_receivable(conn, c), -a),
               Entry(_funder_claims(conn, funder, c), a), Entry(_payable(conn, funder, c), -a))
    return Post(f"scf:{financing.receivable_id}:repaid", entries, merchant_id=financing.merchant_id,
                description="scf maturity: the buyer repays the funder", metadata=_metadata(financing))
