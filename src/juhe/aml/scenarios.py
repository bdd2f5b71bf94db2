"""Transaction-monitoring scenarios over a frame of movements (see movements.py for its columns).

Each scenario is a rolling window per (account, currency) in Polars, one row per movement;
movements whose window meets the rule are triggers, and overlapping triggers of an account
merge into one alert (alerts.py). The patterns are those PBoC lists as suspicious
(短期内资金分散转入、集中转出; 交易金额接近大额交易标准; 长期闲置的账户突然启用; …):

- structuring: at least N amounts just below a large-value report threshold within a window;
- rapid_in_out: a large inflow of which most leaves again within hours;
- high_frequency_large: at least N large transfers within a window;
- dormant_reactivation: a large amount moving after no movement for a long time;
- fan_in / fan_out: many different counterparties paying in / being paid within a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta

import polars as pl

from juhe.aml.alerts import Alert, merge_triggers
from juhe.aml.config import BPS, MonitoringConfig, with_limits
from juhe.aml.errors import AmlError
from juhe.aml.movements import CASH_CHANNEL, check_movements
from juhe.money import Money

GROUP = ["account_id", "currency"]


def prepare(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    """Checked movements with their limits, sorted by account and time (the rolling windows need it)."""
    return with_limits(check_movements(frame), config).sort(*GROUP, "occurred_at", "movement_id")


def _windows(frame: pl.DataFrame, period: timedelta, aggs: list[pl.Expr], *, forward: bool = False) -> pl.DataFrame:
    """Per movement, aggregates over its account's movements in the window ending (or starting) at it."""
    rolled = frame.rolling(
        "occurred_at", period=period, group_by=GROUP,
        offset=timedelta(0) if forward else None, closed="both" if forward else "right",
    ).agg(*aggs)
    # One output row per input row, in input order; checked because the columns are pasted side by side.
    assert rolled.height == frame.height and rolled["occurred_at"].equals(frame["occurred_at"])
    return frame.with_columns(rolled.drop(*GROUP, "occurred_at"))


def _money(amount_minor: int, currency: str) -> str:
    return str(Money(int(amount_minor), currency))


def _span(hours: int) -> str:
    return f"{hours // 24} days" if hours % 24 == 0 and hours > 24 else f"{hours} h"


def structuring(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    band_low = pl.col("report_threshold_minor") - pl.col("report_threshold_minor") * config.structuring_band_bps // BPS
    near = frame.filter((pl.col("amount_minor") >= band_low) & (pl.col("amount_minor") < pl.col("report_threshold_minor")))
    windows = _windows(near, config.structuring_window, [
        pl.len().alias("count"), pl.col("movement_id").alias("ids"), pl.col("occurred_at").min().alias("window_start"),
        pl.col("amount_minor").sum().alias("total_minor"),
    ])
    return windows.filter(pl.col("count") >= config.structuring_count_min).select(
        *GROUP, "window_start", pl.col("occurred_at").alias("window_end"), "ids",
        (pl.col("count") / config.structuring_count_min).alias("measure"),
        "count", "total_minor", pl.col("report_threshold_minor").alias("threshold_minor"),
        pl.lit(int(config.structuring_window.total_seconds() // 3600)).alias("window_hours"),
    )


def rapid_in_out(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    out = pl.col("direction") == "out"
    windows = _windows(frame, config.rapid_window, [
        pl.col("amount_minor").filter(out).sum().alias("out_minor"),
        pl.col("movement_id").filter(out).alias("out_ids"),
        pl.col("occurred_at").filter(out).max().alias("last_out_at"),
    ], forward=True)
    trigger = ((pl.col("direction") == "in") & (pl.col("amount_minor") >= pl.col("rapid_flow_min_minor"))
               & (pl.col("out_minor") * BPS >= pl.col("amount_minor") * config.rapid_out_share_bps))
    return windows.filter(trigger).select(
        *GROUP, pl.col("occurred_at").alias("window_start"), pl.col("last_out_at").alias("window_end"),
        pl.concat_list(pl.col("movement_id"), "out_ids").alias("ids"),
        (pl.col("out_minor") * BPS / pl.col("amount_minor") / config.rapid_out_share_bps).alias("measure"),
        pl.col("amount_minor").alias("in_minor"), "out_minor",
        ((pl.col("last_out_at") - pl.col("occurred_at")).dt.total_minutes()).alias("minutes"),
    )


def high_frequency_large(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    large = frame.filter((pl.col("amount_minor") >= pl.col("large_transfer_minor")) & (pl.col("channel") != CASH_CHANNEL))
    windows = _windows(large, config.high_frequency_window, [
        pl.len().alias("count"), pl.col("movement_id").alias("ids"), pl.col("occurred_at").min().alias("window_start"),
        pl.col("amount_minor").sum().alias("total_minor"),
    ])
    return windows.filter(pl.col("count") >= config.high_frequency_count_min).select(
        *GROUP, "window_start", pl.col("occurred_at").alias("window_end"), "ids",
        (pl.col("count") / config.high_frequency_count_min).alias("measure"),
        "count", "total_minor", pl.col("large_transfer_minor").alias("large_minor"),
        pl.lit(int(config.high_frequency_window.total_seconds() // 3600)).alias("window_hours"),
    )


def dormant_reactivation(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    # Idle time is measured from the account's previous movement in the frame: give the frame at
    # least `dormant_after` of history, or an account's first movement in it cannot be judged.
    with_gap = frame.with_columns((pl.col("occurred_at") - pl.col("occurred_at").shift(1).over(GROUP)).alias("idle"))
    windows = _windows(with_gap, config.dormant_burst_window, [
        pl.col("amount_minor").sum().alias("burst_minor"), pl.col("movement_id").alias("ids"),
        pl.col("occurred_at").max().alias("window_end"),
    ], forward=True)
    trigger = (pl.col("idle") >= config.dormant_after) & (pl.col("burst_minor") >= pl.col("large_transfer_minor"))
    return windows.filter(trigger).select(
        *GROUP, pl.col("occurred_at").alias("window_start"), "window_end", "ids",
        (pl.col("burst_minor") / pl.col("large_transfer_minor")).alias("measure"),
        pl.col("idle").dt.total_days().alias("idle_days"), "burst_minor",
    )


def _fan(frame: pl.DataFrame, config: MonitoringConfig, direction: str) -> pl.DataFrame:
    moves = frame.filter(pl.col("direction") == direction)
    windows = _windows(moves, config.fan_window, [
        pl.col("counterparty_id").n_unique().alias("counterparties"), pl.col("movement_id").alias("ids"),
        pl.col("occurred_at").min().alias("window_start"), pl.col("amount_minor").sum().alias("total_minor"),
    ])
    trigger = ((pl.col("counterparties") >= config.fan_counterparties_min)
               & (pl.col("total_minor") >= pl.col("fan_total_min_minor")))
    return windows.filter(trigger).select(
        *GROUP, "window_start", pl.col("occurred_at").alias("window_end"), "ids",
        (pl.col("counterparties") / config.fan_counterparties_min).alias("measure"),
        pl.col("counterparties").cast(pl.Int64), "total_minor",
        pl.lit(int(config.fan_window.total_seconds() // 3600)).alias("window_hours"),
    )


def fan_in(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    return _fan(frame, config, "in")


def fan_out(frame: pl.DataFrame, config: MonitoringConfig) -> pl.DataFrame:
    return _fan(frame, config, "out")


REASONS: dict[str, Callable[[dict], str]] = {
    "structuring": lambda f: (f"{f['count']} amounts within the band just below the "
                              f"{_money(f['threshold_minor'], f['currency'])} large-value threshold in {_span(f['window_hours'])}, "
                              f"{_money(f['total_minor'], f['currency'])} in all"),
    "rapid_in_out": lambda f: (f"{_money(f['in_minor'], f['currency'])} came in and {_money(f['out_minor'], f['currency'])} "
                               f"went out within {f['minutes']} minutes"),
    "high_frequency_large": lambda f: (f"{f['count']} transfers of at least {_money(f['large_minor'], f['currency'])} "
                                       f"in {_span(f['window_hours'])}, {_money(f['total_minor'], f['currency'])} in all"),
    "dormant_reactivation": lambda f: (f"{_money(f['burst_minor'], f['currency'])} moved after {f['idle_days']} days "
                                       f"without any movement"),
    "fan_in": lambda f: (f"{f['counterparties']} different counterparties paid in "
                         f"{_money(f['total_minor'], f['currency'])} within {_span(f['window_hours'])}"),
    "fan_out": lambda f: (f"{f['counterparties']} different counterparties were paid "
                          f"{_money(f['total_minor'], f['currency'])} within {_span(f['window_hours'])}"),
}
SCENARIOS: dict[str, Callable[[pl.DataFrame, MonitoringConfig], pl.DataFrame]] = {
    "structuring": structuring, "rapid_in_out": rapid_in_out, "high_frequency_large": high_frequency_large,
    "dormant_reactivation": dormant_reactivation, "fan_in": fan_in, "fan_out": fan_out,
}


def monitor(frame: pl.DataFrame, config: MonitoringConfig | None = None,
            scenarios: Iterable[str] | None = None) -> list[Alert]:
    """Every alert of the chosen scenarios (all by default), strongest first."""
    config = config or MonitoringConfig()
    chosen = list(SCENARIOS) if scenarios is None else list(scenarios)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        raise AmlError("unknown_scenario", f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    prepared = prepare(frame, config)
    order = {movement: rank for rank, movement in enumerate(prepared["movement_id"].to_list())}
    alerts = [alert for name in chosen
              for alert in merge_triggers(SCENARIOS[name](prepared, config), name, REASONS[name], order)]
    return sorted(alerts, key=lambda a: (-a.score, a.scenario, a.account_id, a.window_start))
