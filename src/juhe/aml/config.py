"""Monitoring thresholds: PBoC's large-value report amounts and each scenario's parameters.

Large-value amounts follow 《金融机构大额交易和可疑交易报告管理办法》 (PBoC Order [2016] No. 3,
Art. 5), reported when a customer's single or same-day cumulative amount, counted separately
for money in and money out, is at or above ("以上，含"):
  (1) cash of any customer: CNY 50,000 / USD 10,000;
  (2) transfers of a non-natural person (a company): CNY 2,000,000 / USD 200,000;
  (3) domestic transfers of a natural person: CNY 500,000 / USD 100,000;
  (4) cross-border transfers of a natural person: CNY 200,000 / USD 10,000.
Other currencies need their own CurrencyLimits (the USD-equivalent amounts); a movement in a
currency without limits is an error rather than silently unmonitored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from juhe.aml.errors import AmlError
from juhe.aml.movements import CASH_CHANNEL, CROSS_BORDER_CHANNEL

REPORT_RULES = ("cash", "corporate_transfer", "person_domestic", "person_cross_border")
BPS = 10_000


@dataclass(frozen=True, slots=True)
class CurrencyLimits:
    """Amounts in minor units of one currency."""

    cash_report_minor: int  # Art. 5(1)
    corporate_transfer_report_minor: int  # Art. 5(2)
    person_domestic_report_minor: int  # Art. 5(3)
    person_cross_border_report_minor: int  # Art. 5(4)
    large_transfer_minor: int  # "large" for the high-frequency and dormant-account scenarios
    rapid_flow_min_minor: int  # smaller inflows are everyday business, not followed out again
    fan_total_min_minor: int  # many small counterparties matter once they add up to this

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if type(value) is not int or value <= 0:
                raise AmlError("invalid_config", f"{item.name} must be a positive int of minor units, not {value!r}")


DEFAULT_LIMITS: dict[str, CurrencyLimits] = {
    "CNY": CurrencyLimits(
        cash_report_minor=50_000_00, corporate_transfer_report_minor=2_000_000_00,
        person_domestic_report_minor=500_000_00, person_cross_border_report_minor=200_000_00,
        large_transfer_minor=100_000_00, rapid_flow_min_minor=50_000_00, fan_total_min_minor=100_000_00,
    ),
    "USD": CurrencyLimits(
        cash_report_minor=10_000_00, corporate_transfer_report_minor=200_000_00,
        person_domestic_report_minor=100_000_00, person_cross_border_report_minor=10_000_00,
        large_transfer_minor=15_000_00, rapid_flow_min_minor=7_000_00, fan_total_min_minor=15_000_00,
    ),
}


@dataclass(frozen=True, slots=True)
class MonitoringConfig:
    limits: Mapping[str, CurrencyLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    report_timezone: str = "Asia/Shanghai"  # "the same day" is the Beijing calendar day
    structuring_band_bps: int = 1_000  # amounts within 10% below a report threshold are "just below"
    structuring_window: timedelta = timedelta(days=7)
    structuring_count_min: int = 3
    rapid_window: timedelta = timedelta(hours=24)
    rapid_out_share_bps: int = 8_000  # 80% of an inflow gone again within the window
    high_frequency_window: timedelta = timedelta(hours=24)
    high_frequency_count_min: int = 5
    dormant_after: timedelta = timedelta(days=180)  # no movement for half a year: a dormant account
    dormant_burst_window: timedelta = timedelta(hours=72)
    fan_window: timedelta = timedelta(hours=24)
    fan_counterparties_min: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.structuring_band_bps < BPS or not 0 < self.rapid_out_share_bps <= BPS:
            raise AmlError("invalid_config", "structuring band must be within (0, 10000) bps, rapid out-share within (0, 10000]")
        windows = (self.structuring_window, self.rapid_window, self.high_frequency_window, self.dormant_after,
                   self.dormant_burst_window, self.fan_window)
        if any(window <= timedelta(0) for window in windows):
            raise AmlError("invalid_config", "every window must be longer than zero")
        counts = (self.structuring_count_min, self.high_frequency_count_min, self.fan_counterparties_min)
        if any(count < 2 for count in counts):
            raise AmlError("invalid_config", "a scenario needs at least two movements or counterparties")
        try:
            ZoneInfo(self.report_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise AmlError("invalid_config", f"unknown time zone {self.report_timezone!r}") from None

    def limits_for(self, currency: str) -> CurrencyLimits:
        if currency not in self.limits:
            raise AmlError("no_limits_for_currency", f"no monitoring limits for {currency}; configure CurrencyLimits")
        return self.limits[currency]


def limits_frame(config: MonitoringConfig, currencies: list[str]) -> pl.DataFrame:
    """One row per currency with every limit as a column, to join onto movements."""
    rows = []
    for currency in currencies:
        limits = config.limits_for(currency)
        rows.append({"currency": currency, **{item.name: getattr(limits, item.name) for item in fields(limits)}})
    schema = {"currency": pl.String, **{item.name: pl.Int64 for item in fields(CurrencyLimits)}}
    return pl.DataFrame(rows, schema=schema)


def with_limits(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    """Movements with their currency's limits, the report rule that applies and its threshold."""
    joined = frame.join(limits_frame(config, frame["currency"].unique().to_list()), on="currency", how="left")
    person = pl.col("account_type") == "person"
    rule = (pl.when(pl.col("channel") == CASH_CHANNEL).then(pl.lit("cash"))
            .when(person & (pl.col("channel") == CROSS_BORDER_CHANNEL)).then(pl.lit("person_cross_border"))
            .when(person).then(pl.lit("person_domestic"))
            .otherwise(pl.lit("corporate_transfer")))
    threshold = (pl.when(pl.col("report_rule") == "cash").then(pl.col("cash_report_minor"))
                 .when(pl.col("report_rule") == "person_cross_border").then(pl.col("person_cross_border_report_minor"))
                 .when(pl.col("report_rule") == "person_domestic").then(pl.col("person_domestic_report_minor"))
                 .otherwise(pl.col("corporate_transfer_report_minor")))
    return joined.with_columns(report_rule=rule).with_columns(report_threshold_minor=threshold)
