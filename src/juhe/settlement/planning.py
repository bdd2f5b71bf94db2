"""Which settleable items go into which batch, and what is held for each: pure.

A batch is what one merchant, store or business line (per its profile's `split_by`) is paid
for a settlement date. Its items draw on payable accounts; per account the items' nets are
summed, and that sum is held on the account before the transfer goes out. An account whose
items net below zero (refunds exceed collections) or above what the account still has
available (e.g. a refund booked but not yet reconciled, or a transfer already held) is
carried forward: its items stay unclaimed and wait for a later run. Items netting to exactly
zero are claimed without a hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping

SPLITS = ("merchant", "store", "line")
MERCHANT_GROUP = "merchant"


@dataclass(frozen=True, slots=True)
class SettleableItem:
    kind: str  # payment | refund
    payment_id: uuid.UUID
    refund_id: uuid.UUID | None
    store_id: uuid.UUID | None
    business_line_id: uuid.UUID | None
    payable_account_id: uuid.UUID
    currency: str
    business_date: date
    gross_minor: int  # signed: a refund is negative
    fee_minor: int  # signed: the fee given back on a refund is negative

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.fee_minor

    @property
    def claim_key(self) -> str:
        return f"{self.kind}:{self.refund_id or self.payment_id}"


@dataclass(frozen=True, slots=True)
class PlannedHold:
    payable_account_id: uuid.UUID
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CarriedForward:
    payable_account_id: uuid.UUID
    net_minor: int
    item_count: int
    reason: str  # negative_net | insufficient_balance


@dataclass(frozen=True, slots=True)
class PlannedBatch:
    group_key: str
    store_id: uuid.UUID | None
    business_line_id: uuid.UUID | None
    currency: str
    items: tuple[SettleableItem, ...]  # claimed by this batch
    holds: tuple[PlannedHold, ...]
    carried: tuple[CarriedForward, ...]

    @property
    def status(self) -> str:
        if self.holds:
            return "held"
        return "nil" if self.items else "carried_forward"

    @property
    def gross_minor(self) -> int:
        return sum(i.gross_minor for i in self.items)

    @property
    def fee_minor(self) -> int:
        return sum(i.fee_minor for i in self.items)

    @property
    def net_minor(self) -> int:
        """What is paid; for a batch wholly carried forward, what was carried."""
        if self.items:
            return sum(i.net_minor for i in self.items)
        return sum(c.net_minor for c in self.carried)


def group_of(item: SettleableItem, split_by: str) -> tuple[str, uuid.UUID | None, uuid.UUID | None]:
    """(group key, store, business line) of the batch an item belongs to."""
    if split_by == "store" and item.store_id is not None:
        return f"store:{item.store_id}", item.store_id, None
    if split_by == "line" and item.business_line_id is not None:
        return f"line:{item.business_line_id}", None, item.business_line_id
    return MERCHANT_GROUP, None, None


def plan_batches(
    items: Iterable[SettleableItem], split_by: str, available_minor: Mapping[uuid.UUID, int]
) -> list[PlannedBatch]:
    """One planned batch per group and currency, in group order; `available_minor` is what each
    payable account can still give (posted balance less what is already held on it)."""
    if split_by not in SPLITS:
        raise ValueError(f"split_by must be one of {', '.join(SPLITS)}")
    groups: dict[tuple[str, str], list[SettleableItem]] = {}
    units: dict[str, tuple[uuid.UUID | None, uuid.UUID | None]] = {}
    for item in items:
        key, store_id, line_id = group_of(item, split_by)
        units[key] = (store_id, line_id)
        groups.setdefault((key, item.currency), []).append(item)
    left = dict(available_minor)
    planned = []
    for (key, currency), members in sorted(groups.items()):
        planned.append(_plan_group(key, units[key], currency, members, left))
    return planned


def _plan_group(key, unit, currency, members: list[SettleableItem], left: dict[uuid.UUID, int]) -> PlannedBatch:
    by_account: dict[uuid.UUID, list[SettleableItem]] = {}
    for item in sorted(members, key=lambda i: (i.business_date, i.kind)):  # stable: keeps the booking order
        by_account.setdefault(item.payable_account_id, []).append(item)
    claimed, holds, carried = [], [], []
    for account_id, account_items in sorted(by_account.items(), key=lambda pair: pair[0].int):
        net = sum(i.net_minor for i in account_items)
        if net < 0:
            carried.append(CarriedForward(account_id, net, len(account_items), "negative_net"))
        elif net > left.get(account_id, 0):
            carried.append(CarriedForward(account_id, net, len(account_items), "insufficient_balance"))
        else:
            claimed.extend(account_items)
            if net > 0:
                holds.append(PlannedHold(account_id, net))
                left[account_id] -= net
    batch = PlannedBatch(key, unit[0], unit[1], currency, tuple(claimed), tuple(holds), tuple(carried))
    # Paired check: what is paid is exactly what the claimed items net to.
    assert not batch.holds or sum(h.amount_minor for h in batch.holds) == batch.net_minor
    return batch
