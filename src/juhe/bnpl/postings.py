"""BNPL's ledger transactions, each one balanced movement:

    approved    hold     Dr receivable:bnpl  A          Cr payable:{merchant…}   A    (pending)
    captured    capture  the hold, for what shipped (≤ A); the rest is released
                fee      Dr payable:{merchant…}  f      Cr revenue:fees           f
    repaid      payment  Dr clearing:{channel} R − cf · Dr expense:channel_fees cf · Cr receivable:bnpl R
    late fee    posting  Dr receivable:bnpl  L          Cr revenue:bnpl_late_fees L
    default     posting  Dr expense:bnpl_write_offs W   Cr receivable:bnpl        W

The platform funds the merchant at capture and carries what payers owe in `receivable:bnpl`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection

from juhe.ledger import Capture, Post, Void, ensure_account, payable_code, transfer

RECEIVABLE = "receivable:bnpl"
MERCHANT_FEE_BPS = 300  # what the merchant pays for being paid at once while the payer pays later
BPS = 10_000


def receivable(conn: Connection, currency: str) -> uuid.UUID:
    return ensure_account(conn, RECEIVABLE, currency, owner_type="platform")


def merchant_payable(conn: Connection, merchant_id: uuid.UUID, store_id: uuid.UUID | None, currency: str) -> uuid.UUID:
    owner = ("store", store_id) if store_id else ("merchant", merchant_id)
    return ensure_account(conn, payable_code(merchant_id, store_id), currency, merchant_id=merchant_id, no_overdraft=True,
                          owner_type=owner[0], owner_id=owner[1])


def merchant_fee_minor(captured_minor: int) -> int:
    return (captured_minor * MERCHANT_FEE_BPS * 2 + BPS) // (2 * BPS)  # half up, as channel fees are


def approval_hold(conn: Connection, order, expires_at: datetime) -> Post:
    return transfer(f"bnpl:{order.id}:approved", receivable(conn, order.currency),
                    merchant_payable(conn, order.merchant_id, order.store_id, order.currency), order.amount_minor,
                    merchant_id=order.merchant_id, description="bnpl order approved", pending=True, expires_at=expires_at,
                    metadata={"bnpl_order_id": str(order.id)})


def capture(conn: Connection, order, amount_minor: int) -> list:
    commands = [Capture(f"bnpl:{order.id}:captured", order.hold_txn_id, amount_minor, "bnpl order captured")]
    fee = merchant_fee_minor(amount_minor)
    if fee:
        commands.append(transfer(
            f"bnpl:{order.id}:merchant_fee", merchant_payable(conn, order.merchant_id, order.store_id, order.currency),
            ensure_account(conn, "revenue:fees", order.currency, owner_type="platform"), fee,
            merchant_id=order.merchant_id, description="bnpl merchant fee", metadata={"bnpl_order_id": str(order.id)}))
    return commands


def release(order, expired: bool = False) -> Void:
    return Void(f"bnpl:{order.id}:released", order.hold_txn_id, expired=expired)


def late_fee(conn: Connection, order, seq: int, amount_minor: int) -> Post:
    return transfer(f"bnpl:{order.id}:late_fee:{seq}", receivable(conn, order.currency),
                    ensure_account(conn, "revenue:bnpl_late_fees", order.currency, owner_type="platform"), amount_minor,
                    merchant_id=order.merchant_id, description=f"bnpl late fee, installment {seq}",
                    metadata={"bnpl_order_id": str(order.id), "installment": seq})


def write_off(conn: Connection, order, amount_minor: int, cause: str) -> Post:
    # cause: "default", or the repayment that was in flight at the default and then failed (its remainder)
    return transfer(f"bnpl:{order.id}:write_off:{cause}",
                    ensure_account(conn, "expense:bnpl_write_offs", order.currency, owner_type="platform"),
                    receivable(conn, order.currency), amount_minor, merchant_id=order.merchant_id,
                    description="bnpl order defaulted: written off", metadata={"bnpl_order_id": str(order.id)})
