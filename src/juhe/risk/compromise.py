"""Compromised terminals, stores and merchants: a jump in confirmed fraud puts every payment there
under step-up until risk staff have reviewed it.

A skimmed or colluding terminal turns every card that pays at it into fraud for weeks; a model
learns of it only as fast as the fraud reports arrive. So after each fraud report the scopes of
the reported payment (its terminal, store and merchant) are checked: the fraud reported so far
among the payments of the last RECENT_DAYS, against the weeks before. A jump (enough reports, a
rate well above the scope's own past) opens a review: of the terminal when the jump shows there
(its store and merchant, whose other terminals are not skimmed, are left alone), of the store or
merchant when the fraud is spread over terminals that each look ordinary. The
`under_compromise_review` feature is true for every payment there and the default rule R7 steps
them up — the cardholder's OTP stops a fraudster while a genuine customer pays on. Only risk staff close a review (`juhe.risk.reports.close_review`).

In a replay (training, evaluation) nobody reviews: `ReplayReviewer` stands in for risk staff and
closes a review once no fraud was reported on the scope for `quiet_days` (the compromise is over).

`jumped` is pure; `after_fraud_report` reads the scope's day totals from the feature store and
opens reviews there (the caller, which knows the merchant, raises the alert).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from juhe.risk.facts import PaymentFacts
from juhe.risk.store import DAYS_KEPT, DayTotals, FeatureStore, review_keys

RECENT_DAYS = 14  # payments of the last two weeks: reports on them arrive over that time
FRAUDS_MIN = 3  # fewer reports prove nothing: a stolen card also passes by an honest terminal
# At least this share of the scope's recent payments reported as fraud: one in twenty at a terminal;
# a quarter at a store or merchant, whose one skimmed terminal among many is the terminal's review.
RATE_MIN = {"terminal": 0.05, "store": 0.25, "merchant": 0.25}
JUMP_FACTOR = 4.0  # and four times the scope's own rate of the weeks before


@dataclass(frozen=True, slots=True)
class ScopeFigures:
    recent_payments: int
    recent_frauds: int
    before_payments: int
    before_frauds: int

    @property
    def recent_rate(self) -> float:
        return self.recent_frauds / self.recent_payments if self.recent_payments else 0.0

    @property
    def before_rate(self) -> float:
        return self.before_frauds / self.before_payments if self.before_payments else 0.0


def jumped(figures: ScopeFigures, scope: str = "terminal") -> bool:
    """Whether the scope's recent confirmed-fraud rate jumped (pure)."""
    return (figures.recent_frauds >= FRAUDS_MIN and figures.recent_rate >= RATE_MIN[scope]
            and figures.recent_rate >= JUMP_FACTOR * figures.before_rate)


def figures_of(payments: DayTotals, frauds: DayTotals) -> ScopeFigures:
    """The last RECENT_DAYS (today included) against the days kept before them."""
    before = DAYS_KEPT - RECENT_DAYS - 1
    return ScopeFigures(payments.window(0, RECENT_DAYS - 1)[0], frauds.window(0, RECENT_DAYS - 1)[0],
                        payments.window(RECENT_DAYS, before)[0], frauds.window(RECENT_DAYS, before)[0])


def after_fraud_report(store: FeatureStore, payment: PaymentFacts, now: datetime) -> dict[str, ScopeFigures]:
    """Check the reported payment's scopes; the ones newly put under review ("terminal|T1" …), with their figures."""
    days = store.scope_days(payment, now)
    jumps = {}
    for key in review_keys(payment):
        scope = key.split("|", 1)[0]
        figures = figures_of(days[scope], days[f"{scope}_fraud"])
        if jumped(figures, scope):
            jumps[key] = figures
        if scope == "terminal" and key in jumps:
            break  # the terminal explains the jump: its store's and merchant's other terminals pay on unhindered
    opened = store.open_reviews({key: asdict(f) for key, f in jumps.items()}, payment.merchant_id, now) if jumps else []
    return {key: jumps[key] for key in opened}


@dataclass
class ReplayReviewer:
    """Risk staff in a replay: a review closes after `quiet_days` without a new fraud report on its scope."""

    quiet_days: float = 3.0
    last_report: dict[str, datetime] = field(default_factory=dict)  # open review -> its scope's latest report

    def reported(self, payment: PaymentFacts, opened: dict, at: datetime) -> None:
        for key in review_keys(payment):
            if key in opened or key in self.last_report:
                self.last_report[key] = at

    def review(self, store, now: datetime) -> None:
        quiet = timedelta(days=self.quiet_days)
        for key in [key for key, at in self.last_report.items() if now - at >= quiet]:
            store.close_review(key, now)
            del self.last_report[key]
