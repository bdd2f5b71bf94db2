"""The demo retailer's daily cash flows over any span, straight from the simulator's plan.

`juhe simulate --days N` plays these same planned days through the payments core, which takes
minutes per month; the forecast's backtest needs a year or more, so it reads the plan itself and
books each day as the ledger would for `payable:{merchant}`: sales paid in, refunds, the working
day's supplier batch, and the T+1 payout on working days of everything held from the days before.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from juhe.simulation.business import plan_day
from juhe.treasury.forecast import Series, working_day

CURRENCY = "CNY"
DEMO_SEED = 2026  # juhe simulate's default seed: the month the demo shows


def demo_flows(first_day: date, days: int, seed: int = DEMO_SEED) -> dict[str, list[int]]:
    """inflow_minor, outflow_minor, payout_minor (the part of the outflow paid out to the merchant) and
    balance_minor per day (the balance at the day's end)."""
    return {name: list(values) for name, values in _planned(first_day, days, seed).items()}


@lru_cache(maxsize=4)
def _planned(first_day: date, days: int, seed: int) -> dict[str, tuple[int, ...]]:
    # planning a day takes tens of milliseconds: a benchmark asks for the same year several times
    inflow, outflow, paid, balance = [], [], [], []
    held = 0
    for i in range(days):
        day = first_day + timedelta(days=i)
        working = working_day(day)
        plan = plan_day(day, seed, working_day=working)
        taken = sum(s.amount_minor for s in plan.sales if s.outcome == "pay" and s.kind not in ("b2b", "fraud"))
        refunded = sum(s.refund_minor for s in plan.sales)
        suppliers = sum(s.amount_minor for s in plan.sales if s.kind == "b2b")
        payout = max(0, held) if working else 0  # T+1 on working days: a holiday's takings wait for the next one
        out = refunded + suppliers + payout
        held += taken - out
        inflow.append(taken)
        outflow.append(out)
        paid.append(payout)
        balance.append(held)
    return {"inflow_minor": tuple(inflow), "outflow_minor": tuple(outflow), "payout_minor": tuple(paid),
            "balance_minor": tuple(balance)}


def demo_series(first_day: date, days: int, seeds: tuple[int, ...] = (DEMO_SEED,)) -> list[Series]:
    """Each seed's inflow, outflow and low balance (the closing one less the day's takings, as the ledger reads it)."""
    out = []
    for seed in seeds:
        flows = demo_flows(first_day, days, seed)
        flows["low_minor"] = [end - came for end, came in zip(flows["balance_minor"], flows["inflow_minor"])]
        for direction, values in (("inflow", "inflow"), ("outflow", "outflow"), ("balance", "low")):
            out.append(Series(f"demo-{seed}:{CURRENCY}:{direction}", tuple(map(float, flows[f"{values}_minor"])), first_day))
    return out
