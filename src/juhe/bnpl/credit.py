"""The credit decision: a payer's history in, a line (limit, or a decline) and its reasons out.
Pure; `bnpl.history` loads what it needs from the risk feature store and our own books.

The limit follows what the payer usually spends (a few typical baskets), grows with
experience (payments, months known, BNPL orders repaid) and shrinks with late repayments;
a default, a recent risk block or too thin a history declines."""

from __future__ import annotations

from dataclasses import dataclass, field

LIMIT_MIN_MINOR = 50_000  # ¥500.00: less is not worth a line
LIMIT_MAX_MINOR = 2_000_000  # ¥20,000.00
LIMIT_STEP_MINOR = 10_000  # limits are whole ¥100s
PAYMENTS_MIN = 3
TENURE_DAYS_MIN = 14
BASKETS = 3  # a line buys about this many of the payer's typical baskets …
SEASONED_PAYMENTS = 20  # … once the payer has this many payments behind them
REPAID_BONUS_PCT = 20  # per order repaid on time, at most
REPAID_BONUS_MAX_PCT = 100


@dataclass(frozen=True, slots=True)
class PayerHistory:
    payments: int  # successful payments the risk engine learned from
    tenure_days: float  # since the risk engine first saw the payer
    typical_amount_minor: int  # median of their recent payments in the line's currency
    risk_blocks_90d: int  # payments the risk engine blocked in the last 90 days
    bnpl_defaults: int
    bnpl_late_installments: int
    bnpl_repaid_orders: int

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class CreditDecision:
    approved: bool
    limit_minor: int
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide(history: PayerHistory) -> CreditDecision:
    refusals = _refusals(history)
    if refusals:
        return CreditDecision(False, 0, refusals)
    reasons = [f"typical basket {history.typical_amount_minor} × {BASKETS}"]
    experience = min(history.payments, SEASONED_PAYMENTS)
    limit = history.typical_amount_minor * BASKETS * experience // SEASONED_PAYMENTS
    if experience < SEASONED_PAYMENTS:
        reasons.append(f"{history.payments} of {SEASONED_PAYMENTS} payments for a full line")
    bonus_pct = min(history.bnpl_repaid_orders * REPAID_BONUS_PCT, REPAID_BONUS_MAX_PCT)
    if bonus_pct:
        limit += limit * bonus_pct // 100
        reasons.append(f"+{bonus_pct}% for {history.bnpl_repaid_orders} orders repaid")
    if history.bnpl_late_installments:
        limit //= 2
        reasons.append(f"halved for {history.bnpl_late_installments} late installments")
    limit = min(max(limit // LIMIT_STEP_MINOR * LIMIT_STEP_MINOR, LIMIT_MIN_MINOR), LIMIT_MAX_MINOR)
    return CreditDecision(True, limit, tuple(reasons))


def _refusals(history: PayerHistory) -> tuple[str, ...]:
    found = []
    if history.bnpl_defaults:
        found.append(f"{history.bnpl_defaults} BNPL orders defaulted")
    if history.risk_blocks_90d:
        found.append(f"{history.risk_blocks_90d} payments blocked by risk in 90 days")
    if history.payments < PAYMENTS_MIN:
        found.append(f"{history.payments} payments known, {PAYMENTS_MIN} needed")
    if history.tenure_days < TENURE_DAYS_MIN:
        found.append(f"known for {history.tenure_days:.0f} days, {TENURE_DAYS_MIN} needed")
    return tuple(found)
