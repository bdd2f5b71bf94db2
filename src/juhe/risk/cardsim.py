"""Card payments from an independent, published simulator: not the project's own generator.

Written from the description of the transaction data simulator in Le Borgne, Siblini, Lebichot,
Bontempi, "Reproducible Machine Learning for Credit Card Fraud Detection – Practical Handbook"
(ULB Machine Learning Group and Worldline, 2022), chapter "Transaction data simulator":

- customers and terminals sit at uniform random places on a 100 × 100 grid; a customer pays at
  terminals within radius `radius` of home, chosen uniformly;
- a customer has a mean amount uniform in [5, 100), its standard deviation half of it, and a mean
  number of payments per day uniform in [0, 4); each day draws Poisson(mean) payments, each at a
  time of day Normal(12 h, 20,000 s) (times outside the day are dropped) and of an amount
  Normal(mean, std) (a negative draw is redrawn uniform in [0, 2 × mean));
- fraud scenario 1 (`large_amount`): every payment above 220 is fraud;
- scenario 2 (`compromised_terminal`): each day `compromised_terminals_per_day` random terminals
  are compromised: all their payments of the next 28 days are fraud;
- scenario 3 (`compromised_card`): each day `compromised_customers_per_day` random customers'
  credentials leak: a third of their payments of the next 14 days have 5 × the amount and are fraud.

The handbook uses 5,000 customers, 10,000 terminals, radius 5, 183 days from 2018-04-01, 2 terminals
and 3 customers compromised a day. The defaults here are smaller (a laptop's minute) with the
compromise rates scaled to the population, so the fraud mix stays the handbook's.

The rows are a HISTORY frame (juhe.risk.dataset): amounts in the grid's unit are minor units × 100
of CNY; the card is the customer's; card present, the payer shows no device of its own (the
device is unknown, as the payments' risk hook records a POS payment) and the IP is the terminal's,
all in one region; terminals are grouped in stores and stores in merchants, so that merchant- and
store-level features have something to add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from juhe.risk.dataset import HISTORY
from juhe.risk.facts import RiskError
from juhe.risk.features import MERCHANT_CATEGORIES

GRID = 100.0
LARGE_AMOUNT = 220.0
TERMINAL_DAYS, CUSTOMER_DAYS = 28, 14
DAY_S = 86_400
TERMINALS_PER_STORE, STORES_PER_MERCHANT = 2, 4
ROWS_MAX = 5_000_000  # beyond this the replay takes longer than anyone waits


@dataclass(frozen=True, slots=True)
class Simulation:
    customers: int = 2_000
    terminals: int = 4_000
    days: int = 120
    radius: float = 5.0
    compromised_terminals_per_day: int = 1
    compromised_customers_per_day: int = 1
    start: datetime = datetime(2018, 4, 1, tzinfo=timezone.utc)
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.customers, self.terminals, self.days) < 1 or self.radius <= 0:
            raise RiskError("bad_simulation", "customers, terminals and days must be positive, radius above 0")
        if self.compromised_terminals_per_day > self.terminals or self.compromised_customers_per_day > self.customers:
            raise RiskError("bad_simulation", "cannot compromise more terminals or customers a day than there are")


def simulate(sim: Simulation = Simulation()) -> pl.DataFrame:
    """The labelled payments of the simulation as a HISTORY frame in time order."""
    rng = np.random.default_rng(sim.seed)
    customers = rng.uniform(0, GRID, (sim.customers, 2))
    mean_amount = rng.uniform(5, 100, sim.customers)
    std_amount = mean_amount / 2
    mean_per_day = rng.uniform(0, 4, sim.customers)
    terminals = rng.uniform(0, GRID, (sim.terminals, 2))
    nearby = _terminals_within(customers, terminals, sim.radius)
    customer, day, second, terminal = _payments(rng, sim, mean_per_day, nearby)
    amount = rng.normal(mean_amount[customer], std_amount[customer])
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount[customer[negative]])
    amount = np.round(amount, 2)
    fraud_type = np.full(len(amount), None, dtype=object)
    fraud_type[amount > LARGE_AMOUNT] = "large_amount"
    _compromise_terminals(rng, sim, day, terminal, fraud_type)
    _compromise_customers(rng, sim, day, customer, amount, fraud_type)
    return _frame(sim, rng, customer, day, second, terminal, amount, fraud_type)


def _terminals_within(customers: np.ndarray, terminals: np.ndarray, radius: float) -> list[np.ndarray]:
    out = []
    for x, y in customers:  # one row of distances at a time: customers × terminals would not fit in memory
        out.append(np.flatnonzero(np.hypot(terminals[:, 0] - x, terminals[:, 1] - y) < radius))
    return out


def _payments(rng, sim: Simulation, mean_per_day: np.ndarray, nearby: list[np.ndarray]):
    counts = rng.poisson(np.repeat(mean_per_day[:, None], sim.days, axis=1))  # customers × days
    if int(counts.sum()) > ROWS_MAX:
        raise RiskError("bad_simulation", f"more than {ROWS_MAX:,} payments: fewer customers or days")
    customer = np.repeat(np.arange(sim.customers), counts.sum(axis=1))
    day = np.concatenate([np.repeat(np.arange(sim.days), row) for row in counts]) if len(customer) else customer
    second = np.rint(rng.normal(DAY_S / 2, 20_000, len(customer))).astype(np.int64)
    has_terminal = np.array([len(nearby[c]) > 0 for c in range(sim.customers)])[customer]
    keep = (second > 0) & (second < DAY_S) & has_terminal
    customer, day, second = customer[keep], day[keep], second[keep]
    picks = rng.random(len(customer))
    terminal = np.array([nearby[c][int(p * len(nearby[c]))] for c, p in zip(customer, picks)], dtype=np.int64)
    return customer, day, second, terminal


def _compromise_terminals(rng, sim: Simulation, day, terminal, fraud_type) -> None:
    for start in range(sim.days):
        chosen = rng.choice(sim.terminals, sim.compromised_terminals_per_day, replace=False)
        hit = (day >= start) & (day < start + TERMINAL_DAYS) & np.isin(terminal, chosen)
        fraud_type[hit] = "compromised_terminal"


def _compromise_customers(rng, sim: Simulation, day, customer, amount, fraud_type) -> None:
    for start in range(sim.days):
        chosen = rng.choice(sim.customers, sim.compromised_customers_per_day, replace=False)
        candidates = np.flatnonzero((day >= start) & (day < start + CUSTOMER_DAYS) & np.isin(customer, chosen))
        picked = rng.choice(candidates, len(candidates) // 3, replace=False)
        amount[picked] *= 5
        fraud_type[picked] = "compromised_card"


def _frame(sim: Simulation, rng, customer, day, second, terminal, amount, fraud_type) -> pl.DataFrame:
    order = np.lexsort((second, day))
    customer, day, second, terminal, amount, fraud_type = (a[order] for a in
                                                           (customer, day, second, terminal, amount, fraud_type))
    store = terminal // TERMINALS_PER_STORE
    merchant = store // STORES_PER_MERCHANT
    categories = np.array(MERCHANT_CATEGORIES[:7])[rng.integers(0, 7, int(merchant.max(initial=0)) + 1)]
    start_us = int(sim.start.timestamp()) * 1_000_000
    frame = pl.DataFrame({
        "kind": "payment",
        "payment_id": [f"tx{i}" for i in range(len(day))],
        "occurred_at": pl.Series((day * DAY_S + second) * 1_000_000 + start_us, dtype=pl.Int64)
        .cast(pl.Datetime("us", "UTC")),
        "payer_id": [f"c{c}" for c in customer],
        "merchant_id": [f"m{m}" for m in merchant],
        "merchant_category": pl.Series(categories[merchant], dtype=pl.String),
        "amount_minor": np.maximum(1, np.rint(amount * 100)).astype(np.int64),
        "currency": "CNY",
        "card_id": [f"card{c}" for c in customer],
        "device_id": [f"unknown:tx{i}" for i in range(len(day))],  # card present: no device of the payer's
        # The handbook's grid is one town: every terminal's address geolocates to one region (spread over
        # regions, a customer's walk between two shops read as impossible travel).
        "ip": [f"58.16.{(t // 251) % 256}.{t % 251 + 1}" for t in terminal],
        "latitude": pl.Series([None] * len(day), dtype=pl.Float64),
        "longitude": pl.Series([None] * len(day), dtype=pl.Float64),
        "is_fraud": fraud_type != None,  # noqa: E711 (numpy elementwise)
        "fraud_type": pl.Series(fraud_type.tolist(), dtype=pl.String),
        "terminal_id": [f"t{t}" for t in terminal],
        "store_id": [f"s{s}" for s in store],
    })
    return frame.select(list(HISTORY)).cast(HISTORY)
