"""Synthetic movements for trying out and testing monitoring, with chosen scenarios planted.

Background accounts move everyday amounts with a handful of regular counterparties, so by
construction none of them can meet any scenario: amounts stay below every scenario's amount
floor and structuring band, counterparties stay fewer than fan-in/out needs, and no account is
idle for as long as dormancy needs. Each planted scenario gets its own accounts (with the same
background activity) carrying exactly that pattern and nothing that another scenario reacts to.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl

from juhe.aml.config import BPS, MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.movements import CASH_CHANNEL, movements_frame
from juhe.aml.scenarios import SCENARIOS

DEFAULT_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
BACKGROUND_CHANNELS = ("alipay", "wechatpay", "unionpay", "bank", "pos")
ACCOUNTS_MAX = 100_000
DAYS_MAX = 3_660
PLANTED_PER_SCENARIO = 2
EVERYDAY_MIN_MINOR = 10_00  # 10.00: the smallest everyday amount
EVERYDAY_CAP_MINOR = 20_000_00  # 20,000.00, or lower when a limit needs it
BACKGROUND_STEP_DAYS = 2.0  # mean gap between an account's movements
BACKGROUND_STEP_MAX_DAYS = 10.0
DORMANT_ACTIVE_DAYS = 45  # a dormant account's activity before it falls silent


@dataclass(frozen=True)
class GeneratedMovements:
    frame: pl.DataFrame
    planted: dict[str, tuple[str, ...]]  # scenario → the accounts that carry it


def generate_movements(seed: int, scenarios: Iterable[str] = (), *, accounts: int = 30, days: int = 365,
                       currency: str = "CNY", start: datetime = DEFAULT_START,
                       config: MonitoringConfig | None = None) -> GeneratedMovements:
    config = config or MonitoringConfig()
    chosen = list(dict.fromkeys(scenarios))
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise AmlError("unknown_scenario", f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    if not 1 <= accounts <= ACCOUNTS_MAX or not 1 <= days <= DAYS_MAX:
        raise AmlError("invalid_generator", f"accounts must be 1..{ACCOUNTS_MAX} and days 1..{DAYS_MAX}")
    plan = _Plan(random.Random(seed), config, currency, start, days)
    ids = [f"AC{n:05d}" for n in range(1, accounts + PLANTED_PER_SCENARIO * len(chosen) + 1)]
    plan.rng.shuffle(ids)  # planted accounts look like any other
    for account in ids[:accounts]:
        plan.background(account, plan.rng.choice(("corporate", "corporate", "person")), start, start + timedelta(days=days))
    planted: dict[str, tuple[str, ...]] = {}
    for index, scenario in enumerate(chosen):
        carriers = tuple(ids[accounts + index * PLANTED_PER_SCENARIO:accounts + (index + 1) * PLANTED_PER_SCENARIO])
        for account in carriers:
            getattr(plan, scenario)(account)
        planted[scenario] = carriers
    return GeneratedMovements(frame=plan.frame(), planted=planted)


class _Plan:
    def __init__(self, rng: random.Random, config: MonitoringConfig, currency: str, start: datetime, days: int):
        self.rng, self.config, self.currency = rng, config, currency
        self.start, self.end = start, start + timedelta(days=days)
        self.limits = config.limits_for(currency)
        self.rows: list[dict] = []
        band = lambda minor: minor - minor * config.structuring_band_bps // BPS  # noqa: E731
        self.corporate_band_low = band(self.limits.corporate_transfer_report_minor)
        lows = [band(minor) for minor in (self.limits.cash_report_minor, self.limits.corporate_transfer_report_minor,
                                          self.limits.person_domestic_report_minor,
                                          self.limits.person_cross_border_report_minor)]
        # Everyday amounts stay under every band and every scenario's amount floor.
        self.everyday_max = min(EVERYDAY_CAP_MINOR, *lows, self.limits.rapid_flow_min_minor,
                                self.limits.large_transfer_minor) - 1
        self.pools: dict[str, list[str]] = {}
        self.types: dict[str, str] = {}

    def add(self, account: str, counterparty: str, direction: str, amount_minor: int, at: datetime, channel: str) -> None:
        self.rows.append({"account_id": account, "counterparty_id": counterparty, "direction": direction,
                          "amount_minor": amount_minor, "currency": self.currency, "occurred_at": at.replace(microsecond=0),
                          "channel": channel, "account_type": self.types.get(account, "corporate")})

    def everyday_amount(self) -> int:
        low, high = math.log(EVERYDAY_MIN_MINOR), math.log(self.everyday_max)
        return int(math.exp(self.rng.uniform(low, high)))

    def background(self, account: str, account_type: str, begin: datetime, until: datetime) -> None:
        self.types[account] = account_type
        pool_size = self.rng.randint(2, max(2, min(6, self.config.fan_counterparties_min - 1)))
        pool = self.pools.setdefault(account, [f"CP-{account}-{n}" for n in range(pool_size)])
        step_max = min(BACKGROUND_STEP_MAX_DAYS, self.config.dormant_after.days / 2)
        at = begin + timedelta(days=self.rng.uniform(0, 3))
        while at < until:
            channel = CASH_CHANNEL if self.rng.random() < 0.05 else self.rng.choice(BACKGROUND_CHANNELS)
            direction = "in" if self.rng.random() < 0.6 else "out"
            self.add(account, self.rng.choice(pool), direction, self.everyday_amount(), at, channel)
            at += timedelta(days=min(step_max, self.rng.expovariate(1 / BACKGROUND_STEP_DAYS)))

    def anchor(self, span: timedelta) -> datetime:
        room = (self.end - self.start - span - timedelta(days=31)).total_seconds()
        if room <= 0:
            raise AmlError("invalid_generator", "the period is too short to plant this scenario")
        return self.start + timedelta(days=30, seconds=self.rng.uniform(0, room))

    def spread(self, at: datetime, span: timedelta, count: int) -> list[datetime]:
        return sorted(at + timedelta(seconds=self.rng.uniform(0, span.total_seconds())) for _ in range(count))

    def structuring(self, account: str) -> None:
        self.background(account, "corporate", self.start, self.end)
        threshold = self.limits.cash_report_minor
        low = threshold - threshold * self.config.structuring_band_bps // BPS
        count = self.config.structuring_count_min + self.rng.randint(0, 2)
        span = self.config.structuring_window * 0.8
        for at in self.spread(self.anchor(span), span, count):
            self.add(account, self.rng.choice(self.pools[account]), "in", self.rng.randint(low, threshold - 1), at, CASH_CHANNEL)

    def rapid_in_out(self, account: str) -> None:
        self.background(account, "corporate", self.start, self.end)
        floor = self.limits.rapid_flow_min_minor
        inflow = self.rng.randint(2 * floor, min(8 * floor, self.corporate_band_low - 1))
        at = self.anchor(self.config.rapid_window)
        self.add(account, f"SRC-{account}", "in", inflow, at, "bank")
        share = self.rng.uniform(self.config.rapid_out_share_bps / BPS + 0.02, 0.99)
        parts = self.rng.randint(1, max(1, min(3, self.config.high_frequency_count_min - 2)))
        outflow = int(inflow * share)
        times = self.spread(at + timedelta(minutes=30), self.config.rapid_window * 0.5, parts)
        amounts = [outflow // parts + (outflow % parts if n == 0 else 0) for n in range(parts)]
        for n, (when, amount) in enumerate(zip(times, amounts)):
            self.add(account, f"DST-{account}-{n}", "out", amount, when, "bank")

    def high_frequency_large(self, account: str) -> None:
        self.background(account, "corporate", self.start, self.end)
        large = self.limits.large_transfer_minor
        count = self.config.high_frequency_count_min + self.rng.randint(0, 3)
        payees = [f"DST-{account}-{n}" for n in range(min(count, self.config.fan_counterparties_min - 1))]
        span = self.config.high_frequency_window * 0.8
        for at in self.spread(self.anchor(span), span, count):
            amount = self.rng.randint(large, min(3 * large, self.corporate_band_low - 1))
            self.add(account, self.rng.choice(payees), "out", amount, at, "bank")

    def dormant_reactivation(self, account: str) -> None:
        active_until = self.start + timedelta(days=DORMANT_ACTIVE_DAYS)
        self.background(account, "corporate", self.start, active_until)
        last = max(row["occurred_at"] for row in self.rows if row["account_id"] == account)
        wake = last + self.config.dormant_after + timedelta(days=self.rng.uniform(1, 30))
        if wake >= self.end:
            raise AmlError("invalid_generator", "the period is too short for a dormant account to wake up")
        large = self.limits.large_transfer_minor
        amount = self.rng.randint(large * 3 // 2, min(4 * large, self.corporate_band_low - 1))
        self.add(account, f"SRC-{account}", "in", amount, wake, "bank")

    def _fan(self, account: str, direction: str) -> None:
        self.background(account, "corporate", self.start, self.end)
        count = self.config.fan_counterparties_min + self.rng.randint(0, 5)
        low = min(self.everyday_max, self.limits.fan_total_min_minor * 11 // (10 * count) + 1)
        amounts = [self.rng.randint(low, min(2 * low, self.everyday_max)) for _ in range(count)]
        if sum(amounts) < self.limits.fan_total_min_minor:
            raise AmlError("invalid_generator", "fan_total_min_minor cannot be reached with everyday amounts")
        span = self.config.fan_window * 0.8
        for n, (at, amount) in enumerate(zip(self.spread(self.anchor(span), span, count), amounts)):
            self.add(account, f"FAN-{account}-{n}", direction, amount, at, "bank")

    def fan_in(self, account: str) -> None:
        self._fan(account, "in")

    def fan_out(self, account: str) -> None:
        self._fan(account, "out")

    def frame(self) -> pl.DataFrame:
        rows = sorted(self.rows, key=lambda row: (row["occurred_at"], row["account_id"]))
        return movements_frame([{**row, "movement_id": f"MV{n:07d}"} for n, row in enumerate(rows, start=1)])
