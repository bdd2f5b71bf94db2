"""The monthly transaction review's figures (月度交易复盘): per channel, store and business line and
currency, of the payments collected — payments, success rate, volume, fees, refunds, risk step-ups and blocks — fraud
reported in the month, reconciliation per channel (the platform's statement runs and lines, the
discrepancy cases of the merchant or of all), the daily volume, payments out apart, and the month
before for the change. Read with a few grouped queries; amounts stay integer minor units per currency."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from juhe.db.models import BusinessLine, Store
from juhe.payments.models import Payment, Refund
from juhe.payments.outbound import OUTBOUND
from juhe.payments.states import CANCELED, FAILED, SUCCEEDED
from juhe.recon.models import ReconCase, ReconRun
from juhe.risk.models import RiskFraudReport
from juhe.reports.periods import Period
from juhe.reports.scope import merchant_name, scoped

DIMENSIONS = ("channel", "store", "business_line")
FINISHED = (SUCCEEDED, FAILED, CANCELED)
OPEN_CASE = "open"
NO_STORE, NO_LINE = "no store 无门店", "no line 无业务线"


@dataclass
class Figures:
    """One channel's (store's, line's) month in one currency."""

    name: str
    currency: str
    payments: int = 0
    succeeded: int = 0
    finished: int = 0  # succeeded, failed or canceled: what a success rate is out of
    volume_minor: int = 0  # succeeded payments
    fee_minor: int = 0  # charged to the merchant
    channel_fee_minor: int = 0  # charged by the channel
    refunds: int = 0
    refunded_minor: int = 0
    step_ups: int = 0
    blocks: int = 0

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None

    def add(self, other: Figures) -> None:
        for name in ("payments", "succeeded", "finished", "volume_minor", "fee_minor", "channel_fee_minor", "refunds",
                     "refunded_minor", "step_ups", "blocks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_json(self) -> dict:
        return asdict(self) | {"success_rate": self.success_rate}


@dataclass
class ReconFigures:
    channel: str
    runs: int = 0  # statements reconciled (the platform's: a merchant's report leaves them at 0)
    lines: int = 0
    matched: int = 0
    cases: int = 0
    open: int = 0
    by_category: dict[str, int] = field(default_factory=dict)


@dataclass
class MonthlyReview:
    period: Period
    merchant: str  # the merchant's name, or the platform
    totals: dict[str, Figures]  # per currency
    previous_totals: dict[str, Figures]
    by: dict[str, list[Figures]]  # dimension → rows
    previous_by_channel: dict[tuple[str, str], Figures]
    recon: list[ReconFigures]
    payments_out: dict[str, dict[str, int]] = field(default_factory=dict)  # currency → payments, succeeded, volume_minor
    fraud_reported: int = 0  # payments reported as fraud in the month (by the day it became known), not since corrected
    daily: dict[str, list[tuple[date, int]]] = field(default_factory=dict)  # currency → (day, succeeded volume)

    def change(self, currency: str, figure: str) -> float | None:
        """Month-on-month change of a total as a fraction (0.25: up a quarter); None without a base."""
        now = getattr(self.totals.get(currency) or Figures("", currency), figure)
        before = self.previous_totals.get(currency)
        base = getattr(before, figure) if before else None
        if base in (None, 0) or now is None:
            return None
        return (now - base) / base


def monthly_review(session: Session, period: Period, merchant_id: uuid.UUID | None = None) -> MonthlyReview:
    merchant = merchant_name(session, merchant_id)
    by = {dimension: _figures(session, period, dimension, merchant_id) for dimension in DIMENSIONS}
    before = _figures(session, period.previous_month(), "channel", merchant_id)
    return MonthlyReview(
        period=period, merchant=merchant, totals=_totals(by["channel"]),
        previous_totals=_totals(before), by=by, previous_by_channel={(f.name, f.currency): f for f in before},
        recon=_recon(session, period, merchant_id), payments_out=_payments_out(session, period, merchant_id),
        fraud_reported=_fraud_reported(session, period, merchant_id),
        daily=_daily(session, period, merchant_id),
    )


def _dimension(dimension: str):
    """The grouping id, its name and the table the name comes from (a payment without one groups
    apart). Grouped by id: two merchants' stores of one name stay two rows."""
    if dimension == "channel":
        return Payment.channel, func.coalesce(Payment.channel, "—"), None
    if dimension == "store":
        return Payment.store_id, func.coalesce(Store.name, NO_STORE), (Store, Store.id == Payment.store_id)
    return Payment.business_line_id, func.coalesce(BusinessLine.name, NO_LINE), (BusinessLine, BusinessLine.id == Payment.business_line_id)


def _figures(session: Session, period: Period, dimension: str, merchant_id) -> list[Figures]:
    ident, name, join = _dimension(dimension)
    action = Payment.risk["action"].as_string()
    succeeded = Payment.status == SUCCEEDED
    query = select(
        ident, name, Payment.currency, func.count(), func.sum(case((succeeded, 1), else_=0)),
        func.sum(case((Payment.status.in_(FINISHED), 1), else_=0)),
        func.sum(case((succeeded, Payment.amount_minor), else_=0)), func.sum(case((succeeded, Payment.fee_minor), else_=0)),
        func.sum(case((succeeded, Payment.channel_fee_minor), else_=0)),
        func.sum(case((action == "step_up", 1), else_=0)), func.sum(case((action == "block", 1), else_=0)),
    ).where(*_collected(period)).group_by(ident, name, Payment.currency)
    if join is not None:
        query = query.select_from(Payment).outerjoin(*join)
    rows = {(r[0], r[2]): Figures(r[1], r[2], *map(int, r[3:9]), step_ups=int(r[9]), blocks=int(r[10]))
            for r in session.execute(scoped(query, Payment, merchant_id))}
    for key, label, currency, count, amount in session.execute(scoped(_refunds(period, ident, name, join), Refund, merchant_id)):
        found = rows.setdefault((key, currency), Figures(label, currency))
        found.refunds, found.refunded_minor = int(count), int(amount)
    _tell_apart(rows)
    return sorted(rows.values(), key=lambda f: (f.currency, -f.volume_minor, f.name))


def _tell_apart(rows: dict[tuple, Figures]) -> None:
    """Rows of one name and currency but different ids get the id's end beside the name."""
    seen: dict[tuple[str, str], int] = {}
    for figures in rows.values():
        seen[(figures.name, figures.currency)] = seen.get((figures.name, figures.currency), 0) + 1
    for (key, _), figures in rows.items():
        if seen[(figures.name, figures.currency)] > 1 and key is not None:
            figures.name = f"{figures.name} (…{str(key)[-4:]})"


def _refunds(period: Period, ident, name, join):
    query = select(ident, name, Refund.currency, func.count(), func.sum(Refund.amount_minor)).select_from(Refund).join(
        Payment, Payment.id == Refund.payment_id)
    if join is not None:
        query = query.outerjoin(*join)
    return query.where(Payment.scenario.not_in(OUTBOUND), Refund.status == SUCCEEDED, Refund.updated_at >= period.start,
                       Refund.updated_at < period.end).group_by(ident, name, Refund.currency)


def _collected(period: Period) -> tuple:
    """The month's payments in: money the platform collected. Payments out (B2B, cross-border) are
    the merchant paying, counted apart so that they neither swell nor cut the month's takings."""
    return Payment.created_at >= period.start, Payment.created_at < period.end, Payment.scenario.not_in(OUTBOUND)


def _payments_out(session: Session, period: Period, merchant_id) -> dict[str, dict[str, int]]:
    succeeded = Payment.status == SUCCEEDED
    query = select(Payment.currency, func.count(), func.sum(case((succeeded, 1), else_=0)),
                   func.sum(case((succeeded, Payment.amount_minor), else_=0))).where(
        Payment.created_at >= period.start, Payment.created_at < period.end, Payment.scenario.in_(OUTBOUND),
    ).group_by(Payment.currency).order_by(Payment.currency)
    return {currency: {"payments": int(count), "succeeded": int(done), "volume_minor": int(volume)}
            for currency, count, done, volume in session.execute(scoped(query, Payment, merchant_id))}


def _totals(rows: list[Figures]) -> dict[str, Figures]:
    totals: dict[str, Figures] = {}
    for row in rows:
        totals.setdefault(row.currency, Figures("total 合计", row.currency)).add(row)
    return totals


def _recon(session: Session, period: Period, merchant_id) -> list[ReconFigures]:
    found: dict[str, ReconFigures] = {}
    if merchant_id is None:  # a statement covers the platform's account at the channel, not one merchant's
        runs = select(ReconRun.channel, ReconRun.statement_lines, ReconRun.summary).where(
            ReconRun.business_date >= period.first_day, ReconRun.business_date < period.next_day)
        for channel, lines, summary in session.execute(runs):
            figures = found.setdefault(channel, ReconFigures(channel))
            figures.runs += 1
            figures.lines += lines
            figures.matched += sum(c["rows"] for c in (summary.get("categories") or {}).get("matched", {}).values())
    query = select(ReconCase.channel, ReconCase.category, func.count(), func.sum(case((ReconCase.status == OPEN_CASE, 1), else_=0))).where(
        ReconCase.business_date >= period.first_day, ReconCase.business_date < period.next_day,
    ).group_by(ReconCase.channel, ReconCase.category)
    for channel, category, count, still_open in session.execute(scoped(query, ReconCase, merchant_id)):
        figures = found.setdefault(channel, ReconFigures(channel))
        figures.cases += int(count)
        figures.open += int(still_open)
        figures.by_category[category] = int(count)
    return sorted(found.values(), key=lambda f: f.channel)


def _fraud_reported(session: Session, period: Period, merchant_id) -> int:
    query = select(func.count(func.distinct(RiskFraudReport.payment_id))).where(
        RiskFraudReport.verdict == "fraud", RiskFraudReport.current.is_(True), RiskFraudReport.learned_on >= period.first_day,
        RiskFraudReport.learned_on < period.next_day)
    return int(session.scalar(scoped(query, RiskFraudReport, merchant_id)) or 0)


def _daily(session: Session, period: Period, merchant_id) -> dict[str, list[tuple[date, int]]]:
    day = _beijing_day(session)
    query = select(day, Payment.currency, func.sum(Payment.amount_minor)).where(
        Payment.status == SUCCEEDED, *_collected(period),
    ).group_by(day, Payment.currency).order_by(day)
    series: dict[str, list[tuple[date, int]]] = {}
    for when, currency, amount in session.execute(scoped(query, Payment, merchant_id)):
        series.setdefault(currency, []).append((when if isinstance(when, date) else date.fromisoformat(when), int(amount)))
    return series


def _beijing_day(session: Session):
    # Beijing keeps UTC+8 all year (no daylight saving): a fixed shift gives its calendar day.
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", Payment.created_at))
    return func.date(Payment.created_at, "+8 hours")
