"""The ledger postings of payments and refunds, with the fee split.

On success of amount A with merchant fee mf and channel fee cf:
    Dr clearing:{channel}     A − cf    (the channel owes us the amount less its fee)
    Dr expense:channel_fees   cf
    Cr payable:{merchant…}    A − mf    (we owe the merchant the amount less our fee)
    Cr revenue:fees           mf
A refund mirrors this in proportion; fee shares are computed cumulatively so that partial
refunds together return exactly the original fees, never a fen more or less."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import Connection

from juhe.ledger import Entry, Post, ensure_account, payable_code

BPS = 10_000


@dataclass(frozen=True, slots=True)
class FeeSplit:
    merchant_fee_minor: int
    channel_fee_minor: int


def fees_for(amount_minor: int, merchant_fee_bps: int, channel_fee_bps: int) -> FeeSplit:
    return FeeSplit(_share(amount_minor, Fraction(merchant_fee_bps, BPS)), _share(amount_minor, Fraction(channel_fee_bps, BPS)))


# Card acquirers keep their merchant discount when a card payment is refunded; wallets give
# their fee back in proportion (as their bills show).
CHANNEL_FEE_KEPT_ON_REFUND = frozenset({"pos"})


def refund_fees(payment_amount_minor: int, fees: FeeSplit, refunded_before_minor: int, refund_minor: int,
                *, channel_fee_kept: bool = False) -> FeeSplit:
    def portion(fee: int) -> int:
        after = _share(fee, Fraction(refunded_before_minor + refund_minor, payment_amount_minor))
        before = _share(fee, Fraction(refunded_before_minor, payment_amount_minor))
        return after - before

    return FeeSplit(portion(fees.merchant_fee_minor), 0 if channel_fee_kept else portion(fees.channel_fee_minor))


def _share(amount_minor: int, rate: Fraction) -> int:
    # Exact, rounded half up to the minor unit: how the channels compute their fees (四舍五入).
    exact = amount_minor * rate
    return (exact.numerator * 2 + exact.denominator) // (2 * exact.denominator)


@dataclass(frozen=True, slots=True)
class PaymentAccounts:
    clearing: uuid.UUID
    payable: uuid.UUID
    revenue: uuid.UUID
    channel_fees: uuid.UUID


def payment_accounts(conn: Connection, merchant_id: uuid.UUID, store_id, line_id, channel: str, currency: str) -> PaymentAccounts:
    owner = ("store", store_id) if store_id else ("business_line", line_id) if line_id else ("merchant", merchant_id)
    return PaymentAccounts(
        clearing=ensure_account(conn, f"clearing:{channel}", currency, owner_type="platform"),
        payable=ensure_account(
            conn, payable_code(merchant_id, store_id, line_id), currency, merchant_id=merchant_id, no_overdraft=True,
            owner_type=owner[0], owner_id=owner[1],
        ),
        revenue=ensure_account(conn, "revenue:fees", currency, owner_type="platform"),
        channel_fees=ensure_account(conn, "expense:channel_fees", currency, owner_type="platform"),
    )


def collection_entries(accounts: PaymentAccounts, amount_minor: int, fees: FeeSplit) -> tuple[Entry, ...]:
    legs = (
        (accounts.clearing, amount_minor - fees.channel_fee_minor),
        (accounts.channel_fees, fees.channel_fee_minor),
        (accounts.payable, -(amount_minor - fees.merchant_fee_minor)),
        (accounts.revenue, -fees.merchant_fee_minor),
    )
    return merge_legs(legs)


def merge_legs(legs) -> tuple[Entry, ...]:
    # Zero legs are dropped (a fee-free contract); the same account twice is summed.
    totals: dict[uuid.UUID, int] = {}
    for account, amount in legs:
        totals[account] = totals.get(account, 0) + amount
    return tuple(Entry(account, amount) for account, amount in totals.items() if amount)


def collection_posting(key: str, merchant_id: uuid.UUID, accounts: PaymentAccounts, amount_minor: int, fees: FeeSplit, metadata: dict) -> Post:
    return Post(key, collection_entries(accounts, amount_minor, fees), merchant_id, "payment collected", metadata)


def refund_posting(key: str, merchant_id: uuid.UUID, accounts: PaymentAccounts, refund_minor: int, fees: FeeSplit, metadata: dict) -> Post:
    entries = tuple(Entry(e.account_id, -e.amount_minor) for e in collection_entries(accounts, refund_minor, fees))
    return Post(key, entries, merchant_id, "payment refunded", metadata)
