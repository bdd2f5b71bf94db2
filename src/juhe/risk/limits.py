"""Password-free (免密) limits per payer that adapt to risk.

A payer may pay up to their limit without entering a password. The limit:
- drops at once on a risk signal: a step-up halves it, a failed verification quarters it,
  a block sends it to the floor -- and each restarts the count of good payments;
- rises slowly with good history: after `raise_after_good` good payments in a row, by
  `raise_bps` (10 % by default);
- stays within [floor_minor, ceiling_minor], in whole `step_minor` (1.00 CNY by default).

Everything is pure integer arithmetic on immutable values: `after(limit, signal)` returns the
new limit and the caller stores it (a DB column, a cache) wherever it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from juhe.money import check_currency
from juhe.risk.facts import RiskError

Signal = Literal["good_payment", "step_up", "verification_failed", "block"]
SIGNALS: tuple[Signal, ...] = ("good_payment", "step_up", "verification_failed", "block")
BPS = 10_000


@dataclass(frozen=True, slots=True)
class PayerLimit:
    limit_minor: int
    currency: str
    good_streak: int = 0  # good payments since the last raise or risk signal


@dataclass(frozen=True, slots=True)
class PasswordFreeLimits:
    currency: str = "CNY"
    floor_minor: int = 5_000  # 50.00: never below, so a coffee still needs no password after a scare
    start_minor: int = 50_000  # 500.00 for a new payer
    ceiling_minor: int = 200_000  # 2,000.00 at most, however good the history
    step_minor: int = 100  # limits are whole yuan
    raise_after_good: int = 20
    raise_bps: int = 1_000  # +10 %
    step_up_keep_bps: int = 5_000  # a step-up keeps 50 %
    failed_keep_bps: int = 2_500  # a failed verification keeps 25 %

    def __post_init__(self) -> None:
        check_currency(self.currency)
        if not (0 < self.step_minor <= self.floor_minor <= self.start_minor <= self.ceiling_minor):
            raise RiskError("bad_limits", "need 0 < step_minor <= floor_minor <= start_minor <= ceiling_minor")
        if self.raise_after_good < 1 or not (0 < self.raise_bps and 0 <= self.failed_keep_bps
                                             <= self.step_up_keep_bps < BPS):
            raise RiskError("bad_limits", "need raise_after_good >= 1, raise_bps > 0, "
                            "0 <= failed_keep_bps <= step_up_keep_bps < 10000")

    def start(self) -> PayerLimit:
        return PayerLimit(self.start_minor, self.currency)

    def allows(self, limit: PayerLimit, amount_minor: int, currency: str) -> bool:
        """May this amount be paid without a password? (Never across currencies.)"""
        return currency == limit.currency and 0 < amount_minor <= limit.limit_minor

    def after(self, limit: PayerLimit, signal: Signal) -> PayerLimit:
        if signal not in SIGNALS:
            raise RiskError("unknown_signal", f"signal must be one of {', '.join(SIGNALS)}, not {signal!r}")
        if limit.currency != self.currency:
            raise RiskError("currency_mismatch", f"limit in {limit.currency}, policy in {self.currency}")
        if signal == "good_payment":
            return self._after_good(limit)
        keep = {"step_up": self.step_up_keep_bps, "verification_failed": self.failed_keep_bps, "block": 0}[signal]
        lowered = self._bounded(min(limit.limit_minor, limit.limit_minor * keep // BPS))
        return PayerLimit(lowered, limit.currency, good_streak=0)

    def _after_good(self, limit: PayerLimit) -> PayerLimit:
        streak = limit.good_streak + 1
        if streak < self.raise_after_good:
            return replace(limit, good_streak=streak)
        raised = limit.limit_minor + max(self.step_minor, limit.limit_minor * self.raise_bps // BPS)
        return PayerLimit(self._bounded(raised), limit.currency, good_streak=0)

    def _bounded(self, amount_minor: int) -> int:
        whole = amount_minor // self.step_minor * self.step_minor
        return max(self.floor_minor, min(self.ceiling_minor, whole))
