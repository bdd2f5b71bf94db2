"""Live fund figures, each one aggregate query that runs the same on SQLite and PostgreSQL:

- flows: payments per merchant, channel and currency over a window, with the success rate
  succeeded / (succeeded + failed + closed). "Closed" is a payment that ended unpaid because
  its order expired or the channel closed it; a merchant's own cancel is not held against
  the channel, and payments still in progress are not finished yet.
- fees: what channels actually charged on the payments that succeeded in a window, as a rate
  in basis points beside the contracted rate.
- balances: clearing (due from channels), payable (owed to merchants) and reserve (customer
  funds at banks) from the ledger.

`merchant_id=None` means the whole platform; a merchant only ever sees its own figures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection, and_, case, func, select

from juhe.db.models import Account, LedgerEntry, LedgerTransaction
from juhe.payments.models import MerchantChannel, Payment

PAYMENTS = Payment.__table__
CONTRACTS = MerchantChannel.__table__
ACCOUNTS = Account.__table__
ENTRIES = LedgerEntry.__table__
TXNS = LedgerTransaction.__table__

BPS = 10_000
FIGURE_ROWS_MAX = 2_000  # merchants × channels × currencies on one screen; beyond that, filter
POSTED_KINDS = ("posting", "capture", "reversal")
RATE_PLACES = Decimal("0.0001")
# Ended unpaid because the order expired or the channel closed it (not a merchant's cancel).
CLOSED = and_(PAYMENTS.c.status == "canceled", PAYMENTS.c.failure_code == "expired")
BPS_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Window:
    """From just after `start` up to and including `end`."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class FlowFigure:
    merchant_id: uuid.UUID
    channel: str | None  # None: not routed to a channel (yet)
    currency: str
    payments_count: int
    amount_minor: int
    succeeded_count: int
    succeeded_amount_minor: int
    failed_count: int
    closed_count: int
    success_rate: Decimal | None  # None until a payment has finished


@dataclass(frozen=True, slots=True)
class FeeFigure:
    merchant_id: uuid.UUID
    channel: str
    currency: str
    payments_count: int
    amount_minor: int
    channel_fee_minor: int
    merchant_fee_minor: int
    channel_fee_rate_bps: Decimal | None
    merchant_fee_rate_bps: Decimal | None
    contract_channel_fee_bps: int | None  # what the merchant's contract says the channel charges


@dataclass(frozen=True, slots=True)
class BalanceFigure:
    group: str  # clearing, payable, reserve
    merchant_id: uuid.UUID | None  # None: a platform account seen whole
    account_code: str | None  # None for payables: a merchant's, its stores' and lines' together
    currency: str
    posted_minor: int  # in the account's normal direction: what a channel owes, what we owe
    held_minor: int  # outgoing amounts on hold (batch transfers waiting for the bank)
    available_minor: int
    basis: str  # "accounts": the account counters; "merchant_entries": this merchant's share


def window_ending(now: datetime, minutes: int) -> Window:
    return Window(now - timedelta(minutes=minutes), now)


def success_rate(succeeded: int, failed: int, closed: int) -> Decimal | None:
    finished = succeeded + failed + closed
    return None if finished == 0 else (Decimal(succeeded) / Decimal(finished)).quantize(RATE_PLACES)


def rate_bps(part_minor: int, whole_minor: int) -> Decimal | None:
    return None if whole_minor == 0 else (Decimal(part_minor) * BPS / Decimal(whole_minor)).quantize(BPS_PLACES)


def total_where(condition, value=1):
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _scoped(query, column, merchant_id: uuid.UUID | None):
    return query if merchant_id is None else query.where(column == merchant_id)


def _sort_key(figure) -> tuple:
    return (str(figure.merchant_id), figure.channel or "", figure.currency)


def flows(conn: Connection, window: Window, merchant_id: uuid.UUID | None) -> list[FlowFigure]:
    p = PAYMENTS.c
    query = (
        select(
            p.merchant_id, p.channel, p.currency, func.count(), func.sum(p.amount_minor),
            total_where(p.status == "succeeded"), total_where(p.status == "succeeded", p.amount_minor),
            total_where(p.status == "failed"), total_where(CLOSED),
        )
        .where(p.created_at > window.start, p.created_at <= window.end)
        .group_by(p.merchant_id, p.channel, p.currency)
        .limit(FIGURE_ROWS_MAX)
    )
    figures = []
    for row in conn.execute(_scoped(query, p.merchant_id, merchant_id)):
        merchant, channel, currency, *numbers = row
        count, amount, succeeded, succeeded_amount, failed, closed_count = (int(n or 0) for n in numbers)
        figures.append(FlowFigure(merchant, channel, currency, count, amount, succeeded, succeeded_amount, failed,
                                  closed_count, success_rate(succeeded, failed, closed_count)))
    return sorted(figures, key=_sort_key)


def fees(conn: Connection, window: Window, merchant_id: uuid.UUID | None) -> list[FeeFigure]:
    """Fees of the payments that succeeded (paid_at) within the window, gross of refunds."""
    p, c = PAYMENTS.c, CONTRACTS.c
    contract = and_(c.merchant_id == p.merchant_id, c.channel == p.channel)
    query = (
        select(
            p.merchant_id, p.channel, p.currency, c.channel_fee_bps, func.count(), func.sum(p.amount_minor),
            func.sum(p.channel_fee_minor), func.sum(p.fee_minor),
        )
        .select_from(PAYMENTS.outerjoin(CONTRACTS, contract))
        .where(p.status == "succeeded", p.paid_at > window.start, p.paid_at <= window.end)
        .group_by(p.merchant_id, p.channel, p.currency, c.channel_fee_bps)
        .limit(FIGURE_ROWS_MAX)
    )
    figures = []
    for merchant, channel, currency, contract_bps, *numbers in conn.execute(_scoped(query, p.merchant_id, merchant_id)):
        count, amount, channel_fee, merchant_fee = (int(n or 0) for n in numbers)
        figures.append(FeeFigure(merchant, channel, currency, count, amount, channel_fee, merchant_fee,
                                 rate_bps(channel_fee, amount), rate_bps(merchant_fee, amount), contract_bps))
    return sorted(figures, key=_sort_key)


def balances(conn: Connection, merchant_id: uuid.UUID | None) -> list[BalanceFigure]:
    """The platform sees every payable and its clearing and reserve accounts whole; a merchant
    sees its payables and its own share of the shared clearing and reserve accounts (the sum
    of the entries its transactions put there)."""
    figures = _payables(conn, merchant_id)
    for group in ("clearing", "reserve"):
        figures += _platform_accounts(conn, group) if merchant_id is None else _merchant_share(conn, group, merchant_id)
    return sorted(figures, key=lambda f: (f.group, str(f.merchant_id), f.account_code or "", f.currency))


def liability_balance(debits_posted: int, credits_posted: int, debits_pending: int) -> tuple[int, int, int]:
    """(posted, held, available) of a credit-normal account: held are outgoing debits."""
    posted = credits_posted - debits_posted
    return posted, debits_pending, posted - debits_pending


def asset_balance(debits_posted: int, credits_posted: int, credits_pending: int) -> tuple[int, int, int]:
    """(posted, held, available) of a debit-normal account: held are outgoing credits."""
    posted = debits_posted - credits_posted
    return posted, credits_pending, posted - credits_pending


def _counter_sums():
    a = ACCOUNTS.c
    return (func.sum(a.debits_posted), func.sum(a.credits_posted), func.sum(a.debits_pending), func.sum(a.credits_pending))


def _payables(conn: Connection, merchant_id: uuid.UUID | None) -> list[BalanceFigure]:
    a = ACCOUNTS.c
    query = (
        select(a.merchant_id, a.currency, *_counter_sums())
        .where(a.code.like("payable:%"), a.merchant_id.is_not(None))
        .group_by(a.merchant_id, a.currency)
        .limit(FIGURE_ROWS_MAX)
    )
    figures = []
    for merchant, currency, dp, cp, dh, _ch in conn.execute(_scoped(query, a.merchant_id, merchant_id)):
        posted, held, available = liability_balance(int(dp), int(cp), int(dh))
        figures.append(BalanceFigure("payable", merchant, None, currency, posted, held, available, "accounts"))
    return figures


def _platform_accounts(conn: Connection, group: str) -> list[BalanceFigure]:
    a = ACCOUNTS.c
    query = (
        select(a.code, a.currency, *_counter_sums())
        .where(a.code.like(f"{group}:%"), a.merchant_id.is_(None))
        .group_by(a.code, a.currency)
        .limit(FIGURE_ROWS_MAX)
    )
    figures = []
    for code, currency, dp, cp, _dh, ch in conn.execute(query):
        posted, held, available = asset_balance(int(dp), int(cp), int(ch))
        figures.append(BalanceFigure(group, None, code, currency, posted, held, available, "accounts"))
    return figures


def _merchant_share(conn: Connection, group: str, merchant_id: uuid.UUID) -> list[BalanceFigure]:
    a, e, t = ACCOUNTS.c, ENTRIES.c, TXNS.c
    posted = t.kind.in_(POSTED_KINDS)
    held = and_(t.kind == "hold", t.status == "pending")
    query = (
        select(
            a.code, a.currency,
            total_where(and_(posted, e.amount_minor > 0), e.amount_minor),
            -total_where(and_(posted, e.amount_minor < 0), e.amount_minor),
            -total_where(and_(held, e.amount_minor < 0), e.amount_minor),
        )
        .select_from(ENTRIES.join(ACCOUNTS, a.id == e.account_id).join(TXNS, t.id == e.transaction_id))
        .where(e.merchant_id == merchant_id, a.code.like(f"{group}:%"), a.merchant_id.is_(None))
        .group_by(a.code, a.currency)
        .limit(FIGURE_ROWS_MAX)
    )
    figures = []
    for code, currency, debits, credits, credits_held in conn.execute(query):
        posted_minor, held_minor, available = asset_balance(int(debits), int(credits), int(credits_held))
        figures.append(BalanceFigure(group, merchant_id, code, currency, posted_minor, held_minor, available, "merchant_entries"))
    return figures
