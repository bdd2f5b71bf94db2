"""Large-value transaction report (大额交易报告): every movement of a customer-day that reaches a threshold.

Per PBoC Order [2016] No. 3, Art. 5 (thresholds in config.py): per account, Beijing calendar day,
report rule (cash / company transfer / person domestic / person cross-border) and direction,
the single or cumulative amount at or above the rule's threshold makes every movement of that
group reportable; money in and money out are summed separately ("单边累计"). One CSV row per
movement, with the group's total beside it, as the report lists transactions.
"""

from __future__ import annotations

import polars as pl

from juhe.aml.config import MonitoringConfig, with_limits
from juhe.aml.movements import check_movements
from juhe.money import Money

DAY_GROUP = ["report_date", "account_id", "currency", "report_rule", "direction"]
REPORT_COLUMNS = [
    "report_date", "account_id", "account_type", "report_rule", "direction", "currency", "day_total_minor",
    "threshold_minor", "movement_id", "counterparty_id", "amount_minor", "amount", "occurred_at", "channel",
]


def large_value_report(frame: pl.DataFrame, config: MonitoringConfig | None = None) -> pl.DataFrame:
    """The report's rows (REPORT_COLUMNS), by day, account, rule, direction and time."""
    config = config or MonitoringConfig()
    movements = with_limits(check_movements(frame), config).with_columns(
        report_date=pl.col("occurred_at").dt.convert_time_zone(config.report_timezone).dt.date(),
    )
    totals = movements.group_by(DAY_GROUP).agg(
        pl.col("amount_minor").sum().alias("day_total_minor"),
        pl.col("report_threshold_minor").first().alias("threshold_minor"),
    ).filter(pl.col("day_total_minor") >= pl.col("threshold_minor"))
    reported = movements.join(totals, on=DAY_GROUP, how="inner").sort(
        "report_date", "account_id", "report_rule", "direction", "occurred_at", "movement_id")
    amounts = [Money(minor, currency).decimal_text()
               for minor, currency in zip(reported["amount_minor"].to_list(), reported["currency"].to_list())]
    return reported.with_columns(amount=pl.Series(amounts, dtype=pl.String)).select(REPORT_COLUMNS)


def large_value_csv(report: pl.DataFrame) -> str:
    return report.with_columns(
        pl.col("report_date").cast(pl.String),
        pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
    ).write_csv()
