"""A merchant's daily inflows and outflows read from the ledger, and the forecast made from them.

Flows are what moves the merchant's `payable:*` accounts in posted transactions: a transaction's net
credit there is an inflow (a sale), its net debit an outflow (a payout, a refund, a supplier batch,
a fee). Netting per transaction keeps a move between the merchant's own store accounts out of both.
Days are Beijing business dates, as settlement counts them. The day's low balance is a series of its
own: the flows are not independent (a T+1 payout is yesterday's takings), the balance knows it. The low
is the closing balance less the day's inflows: a payout in the morning leaves before the day's sales come.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Connection, func, select

from juhe.ledger.posting import ACCOUNTS, ENTRIES, TXNS
from juhe.ledger.verify import POSTED_KINDS
from juhe.settlement.calendar import business_date
from juhe.treasury.forecast import CANDIDATES, DAILY, Forecast, ForecastError, Series, forecast, minor
from juhe.treasury.forecast_backtest import choose

HISTORY_DAYS = 364  # a year of weeks (forecast.FIT_MAX): what a model is fitted on
DIRECTIONS = ("inflow", "outflow", "balance", "unswept")
PAYOUT = "settlement:"  # the key of a settlement batch's capture: what a payout takes off the payable


@dataclass(frozen=True, slots=True)
class Flows:
    currency: str
    first_day: date
    inflow_minor: tuple[int, ...]
    outflow_minor: tuple[int, ...]
    balance_low_minor: tuple[int, ...]  # each day's low: its closing balance less its inflows
    payout_minor: tuple[int, ...]  # the part of each day's outflow that settlement paid out to the merchant
    balance_minor: int  # what the merchant's payables hold now

    def series(self) -> list[Series]:
        # unswept: the low had the day's payout taken nothing; a payout takes what is there, so only this one
        # going below zero is a refund or a supplier batch the money could not meet
        unswept = tuple(low + paid for low, paid in zip(self.balance_low_minor, self.payout_minor))
        values = {"inflow": self.inflow_minor, "outflow": self.outflow_minor, "balance": self.balance_low_minor,
                  "unswept": unswept}
        return [Series(f"{self.currency}:{d}", tuple(map(float, values[d])), self.first_day) for d in DIRECTIONS]


def daily_flows(conn: Connection, merchant_id: uuid.UUID, today: date, days: int = HISTORY_DAYS) -> list[Flows]:
    """Per currency, each day's inflow and outflow from `days` before `today` to yesterday."""
    first_day = today - timedelta(days=days)
    payable = (ACCOUNTS.c.merchant_id == merchant_id) & ACCOUNTS.c.code.like("payable:%")
    net = (select(TXNS.c.created_at, TXNS.c.kind, TXNS.c.idempotency_key, ENTRIES.c.currency,
                  func.sum(ENTRIES.c.amount_minor).label("net"))
           .select_from(ENTRIES.join(TXNS, TXNS.c.id == ENTRIES.c.transaction_id).join(ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id))
           .where(payable, TXNS.c.kind.in_(POSTED_KINDS), ENTRIES.c.merchant_id == merchant_id,
                  TXNS.c.created_at >= datetime.combine(first_day - timedelta(days=1), time(), timezone.utc))
           .group_by(TXNS.c.id, TXNS.c.created_at, TXNS.c.kind, TXNS.c.idempotency_key, ENTRIES.c.currency))
    grid: dict[str, tuple[list[int], list[int], list[int]]] = {}
    for created_at, kind, key, currency, amount in conn.execute(net):
        inflow, outflow, payout = grid.setdefault(currency, tuple([0] * (days + 1) for _ in range(3)))  # last: today
        index = (business_date(created_at) - first_day).days
        if 0 <= index <= days:
            # credit-normal liability: a negative (credit) net is money coming in
            (inflow if amount < 0 else outflow)[index] += abs(int(amount))
            if amount > 0 and kind == "capture" and key.startswith(PAYOUT):
                payout[index] += int(amount)
    return [_from_first_flow(ccy, first_day, *lists, _balance(conn, payable, ccy)) for ccy, lists in sorted(grid.items())]


def _from_first_flow(currency: str, first_day: date, inflow: list[int], outflow: list[int], payout: list[int],
                     balance: int) -> Flows:
    closing = closing_balances(inflow, outflow, balance)
    inflow, outflow = inflow[:-1], outflow[:-1]  # today is not over: not a day of history yet
    low = [end - came for end, came in zip(closing, inflow)]
    # Days before the merchant's first flow are not quiet days, they are before it started.
    start = next((i for i, (a, b) in enumerate(zip(inflow, outflow)) if a or b), len(inflow))
    return Flows(currency, first_day + timedelta(days=start), tuple(inflow[start:]), tuple(outflow[start:]),
                 tuple(low[start:]), tuple(payout[start:-1]), balance)


def closing_balances(inflow: list[int], outflow: list[int], balance_now: int) -> list[int]:
    """Each past day's closing balance, walked back from now through the days' flows (the last one: today)."""
    closing, running = [], balance_now
    for i in range(len(inflow) - 1, 0, -1):
        running -= inflow[i] - outflow[i]
        closing.append(running)
    return closing[::-1]


def _balance(conn: Connection, payable, currency: str) -> int:
    owed = conn.scalar(select(func.coalesce(func.sum(ACCOUNTS.c.credits_posted - ACCOUNTS.c.debits_posted), 0))
                       .where(payable, ACCOUNTS.c.currency == currency))
    return int(owed)


def forecast_flows(flows: Flows, models: tuple[str, ...]) -> list[Forecast]:
    """Each series' model chosen by backtest on its own history, then its 13 weeks."""
    series = flows.series()
    return forecast(series, choose(series, DAILY, models=models), DAILY)


def merchant_forecasts(db, merchant_id: uuid.UUID, today: date,
                       models: tuple[str, ...] | None = None) -> list[tuple[Flows, dict[str, Forecast]]]:
    """Every currency the merchant has flows in, with its inflow, outflow and balance forecasts."""
    models = models or CANDIDATES
    with db.reader() as session:
        flows = daily_flows(session.connection(), merchant_id, today)
    if not flows:
        raise ForecastError("no_history", f"merchant {merchant_id} has no posted flows in the last {HISTORY_DAYS} days")
    return [(one, {f.key.split(":")[1]: f for f in forecast_flows(one, models)}) for one in flows]


def weekly(f: Forecast) -> list[dict]:
    """Week totals; the 95 % band from the days' spreads taken as independent."""
    weeks = []
    for start in range(0, len(f.mean), 7):
        days = range(start, min(start + 7, len(f.mean)))
        mean = sum(f.mean[i] for i in days)
        spread = math.sqrt(sum(((f.bounds["hi-95"][i] - f.bounds["lo-95"][i]) / 2) ** 2 for i in days))
        weeks.append({"week": start // 7 + 1, "first_day": f.days[start].isoformat(), "mean_minor": minor(mean),
                      "lo95_minor": minor(mean - spread), "hi95_minor": minor(mean + spread)})
    return weeks


def weekly_balance(f: Forecast) -> list[dict]:
    """The week's last low balance, and the lowest and highest its days' 95 % intervals reach."""
    weeks = []
    for start in range(0, len(f.mean), 7):
        end = min(start + 7, len(f.mean))
        weeks.append({"week": start // 7 + 1, "first_day": f.days[start].isoformat(), "mean_minor": minor(f.mean[end - 1]),
                      "lo95_minor": minor(min(f.bounds["lo-95"][start:end])),
                      "hi95_minor": minor(max(f.bounds["hi-95"][start:end]))})
    return weeks


def forecast_view(flows: Flows, forecasts: dict[str, Forecast]) -> dict:
    out = {"currency": flows.currency, "history_first_day": flows.first_day.isoformat(),
           "history_days": len(flows.inflow_minor), "balance_minor": flows.balance_minor}
    for direction, f in forecasts.items():
        days = [f.rounded(i) for i in range(len(f.days))]
        level = direction in ("balance", "unswept")  # balances, not flows: a week is not their sum
        out[direction] = {"model": f.model, "weeks": weekly_balance(f) if level else weekly(f), "days": days}
        if not level:
            out[direction]["total_mean_minor"] = sum(d["mean_minor"] for d in days)
    return out


def merchant_forecast_views(db, merchant_id: uuid.UUID, today: date) -> list[dict]:
    """The forecast of every currency as shown (CLI, API, console): weeks and days in minor units."""
    return [forecast_view(flows, by_direction) for flows, by_direction in merchant_forecasts(db, merchant_id, today)]
