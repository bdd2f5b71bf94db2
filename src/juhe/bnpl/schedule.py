"""Installments, repayment allocation and the dunning calendar, as pure functions.

    parts = plan(captured_at, Money(amount), installments)    # due dates, principal split exactly
    allocate(parts, amount_minor)                             # a repayment over the parts, earliest first
    due_actions(parts, now)                                   # reminders, late fees, default, due by now
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from juhe.money import Money

INSTALLMENT_COUNTS = (1, 2, 3, 4, 6)
INTERVAL = timedelta(days=30)  # one installment a month, the first a month after capture
GRACE = timedelta(days=3)  # late fee once a part is this late
DEFAULT_AFTER = timedelta(days=60)  # the order defaults when its oldest unpaid part is this late
LATE_FEE_MINOR = 1_500  # ¥15.00 per late installment, once …
LATE_FEE_CAP_PCT = 10  # … and never above this share of the installment
# Dunning: the stage and when it is due relative to the installment's due date.
REMINDERS = (("upcoming", timedelta(days=-3)), ("due", timedelta(0)), ("overdue", GRACE),
             ("final_notice", timedelta(days=30)))


@dataclass(frozen=True, slots=True)
class Part:
    seq: int
    due_at: datetime
    principal_minor: int
    late_fee_minor: int = 0
    paid_minor: int = 0
    reminders: tuple[str, ...] = ()

    @property
    def owed_minor(self) -> int:
        return self.principal_minor + self.late_fee_minor - self.paid_minor


@dataclass(frozen=True, slots=True)
class Reminder:
    seq: int
    stage: str
    passed: tuple[str, ...]  # every stage now behind: a worker that was down sends only the latest


@dataclass(frozen=True, slots=True)
class LateFee:
    seq: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Default:
    since: datetime  # the oldest unpaid part's due date


Action = Reminder | LateFee | Default


def plan(captured_at: datetime, principal: Money, installments: int) -> list[Part]:
    if installments not in INSTALLMENT_COUNTS:
        raise ValueError(f"installments is one of {INSTALLMENT_COUNTS}")
    shares = principal.allocate([1] * installments)
    return [Part(i + 1, captured_at + INTERVAL * (i + 1), share.amount_minor) for i, share in enumerate(shares)]


def allocate(parts: list[Part], amount_minor: int) -> dict[int, int]:
    """How much of a repayment goes to each part: the earliest first, never above what it owes."""
    total = sum(p.owed_minor for p in parts)
    assert 0 < amount_minor <= total, f"repayment {amount_minor} outside 1–{total}"
    shares, left = {}, amount_minor
    for part in sorted(parts, key=lambda p: p.seq):
        share = min(part.owed_minor, left)
        if share:
            shares[part.seq] = share
            left -= share
    return shares


def late_fee_minor(part: Part) -> int:
    return min(LATE_FEE_MINOR, part.principal_minor * LATE_FEE_CAP_PCT // 100)


def due_actions(parts: list[Part], now: datetime) -> list[Action]:
    unpaid = [p for p in sorted(parts, key=lambda p: p.seq) if p.owed_minor > 0]
    if unpaid and now >= unpaid[0].due_at + DEFAULT_AFTER:
        return [Default(unpaid[0].due_at)]
    actions: list[Action] = []
    for part in unpaid:
        passed = tuple(stage for stage, offset in REMINDERS if now >= part.due_at + offset)
        if passed and passed[-1] not in part.reminders:
            actions.append(Reminder(part.seq, passed[-1], passed))
        if now >= part.due_at + GRACE and part.late_fee_minor == 0 and late_fee_minor(part) > 0:
            actions.append(LateFee(part.seq, late_fee_minor(part)))
    return actions


def review_at(parts: list[Part], now: datetime) -> datetime | None:
    """The next moment `due_actions` can find something new (None: nothing is owed)."""
    unpaid = [p for p in parts if p.owed_minor > 0]
    if not unpaid:
        return None
    moments = [min(unpaid, key=lambda p: p.seq).due_at + DEFAULT_AFTER]
    for part in unpaid:
        moments += [part.due_at + offset for _, offset in REMINDERS]
        moments.append(part.due_at + GRACE)
    later = [m for m in moments if m > now]
    return min(later) if later else now
