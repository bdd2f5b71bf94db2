"""Monitoring scenarios on hand-built movements: each fires at its rule's edge and not before."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from juhe.aml.config import CurrencyLimits, MonitoringConfig
from juhe.aml.errors import AmlError
from juhe.aml.movements import movements_frame
from juhe.aml.scenarios import monitor

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)
YUAN = 100


class Book:
    """Movements of test accounts, written the way an accountant would list them."""

    def __init__(self):
        self.rows = []

    def add(self, account, direction, amount_minor, hours, counterparty="cp", channel="bank", currency="CNY",
            account_type="corporate"):
        self.rows.append({"movement_id": f"m{len(self.rows) + 1}", "account_id": account, "counterparty_id": counterparty,
                          "direction": direction, "amount_minor": amount_minor, "currency": currency,
                          "occurred_at": T0 + timedelta(hours=hours), "channel": channel, "account_type": account_type})
        return self.rows[-1]["movement_id"]

    def alerts(self, config=None, scenarios=None):
        return monitor(movements_frame(self.rows), config, scenarios)


def only(alerts, scenario):
    return [alert for alert in alerts if alert.scenario == scenario]


def test_structuring_three_cash_deposits_just_below_50000_within_a_week():
    book = Book()
    ids = [book.add("S", "in", 49_500 * YUAN, 0, channel="cash"), book.add("S", "in", 48_000 * YUAN, 50, channel="cash"),
           book.add("S", "in", 45_000 * YUAN, 160, channel="cash")]
    book.add("S", "in", 44_999 * YUAN, 100, channel="cash")  # below the 10% band: ordinary
    [alert] = book.alerts()
    assert alert.scenario == "structuring" and alert.account_id == "S"
    assert alert.movement_ids == tuple(ids) and alert.score == 0.5
    assert alert.window_start == T0 and alert.window_end == T0 + timedelta(hours=160)
    assert "50000.00 CNY" in alert.reason and alert.figures["count"] == 3


def test_structuring_quiet_when_spread_beyond_the_window_or_too_few():
    book = Book()
    book.add("S", "in", 49_500 * YUAN, 0, channel="cash")
    book.add("S", "in", 49_500 * YUAN, 100, channel="cash")
    book.add("S", "in", 49_500 * YUAN, 7 * 24 + 1, channel="cash")  # the first has left the 7-day window
    book.add("T", "in", 50_000 * YUAN, 0, channel="cash")  # at the threshold: reported, not structured
    book.add("T", "in", 49_999 * YUAN, 1, channel="cash")
    assert only(book.alerts(), "structuring") == []


def test_structuring_uses_the_threshold_of_the_customer_type():
    # A person's domestic transfers report from 500,000; just below that is the band.
    book = Book()
    for hour in (0, 10, 20):
        book.add("P", "out", 480_000 * YUAN, hour, account_type="person")
        book.add("C", "out", 480_000 * YUAN, hour)  # a company's threshold is 2,000,000: nowhere near
    assert {alert.account_id for alert in only(book.alerts(), "structuring")} == {"P"}


def test_rapid_in_and_out_most_of_an_inflow_leaves_within_a_day():
    book = Book()
    inflow = book.add("R", "in", 300_000 * YUAN, 0, counterparty="src")
    outs = [book.add("R", "out", 200_000 * YUAN, 3, counterparty="a"),
            book.add("R", "out", 40_000 * YUAN, 23, counterparty="b")]
    book.add("R", "out", 60_000 * YUAN, 25, counterparty="c")  # after the window
    [alert] = book.alerts()
    assert alert.scenario == "rapid_in_out" and alert.movement_ids == (inflow, *outs)
    assert alert.figures["out_minor"] == 240_000 * YUAN and alert.figures["minutes"] == 23 * 60


def test_rapid_in_and_out_quiet_below_the_share_or_the_inflow_floor():
    book = Book()
    book.add("R", "in", 300_000 * YUAN, 0)
    book.add("R", "out", 239_999 * YUAN, 2)  # just under 80%
    book.add("Q", "in", 49_999 * YUAN, 0)  # under the 50,000 floor: everyday business
    book.add("Q", "out", 49_999 * YUAN, 1)
    assert book.alerts() == []


def test_high_frequency_large_transfers_five_in_a_day():
    book = Book()
    ids = [book.add("H", "out", 100_000 * YUAN, hour, counterparty=f"p{hour}") for hour in (0, 4, 8, 12, 23)]
    book.add("H", "out", 99_999 * YUAN, 5)  # not large
    book.add("H", "out", 100_000 * YUAN, 6, channel="cash")  # a cash withdrawal is not a transfer
    [alert] = book.alerts()
    assert alert.scenario == "high_frequency_large" and alert.movement_ids == tuple(ids)


def test_high_frequency_quiet_when_the_fifth_is_a_day_later():
    book = Book()
    for hour in (0, 4, 8, 12, 24.5):
        book.add("H", "out", 150_000 * YUAN, hour)
    assert book.alerts() == []


def test_overlapping_windows_merge_into_one_alert():
    book = Book()
    for hour in range(0, 40, 4):  # ten large transfers over 40 hours: many 24 h windows reach five
        book.add("H", "out", 120_000 * YUAN, hour, counterparty=f"p{hour}")
    [alert] = book.alerts()
    assert len(alert.movement_ids) == 10 and alert.score == 0.6  # 6 in the busiest window


def test_dormant_account_reactivated_with_a_large_amount():
    book = Book()
    book.add("D", "in", 500 * YUAN, 0)
    woke = book.add("D", "in", 80_000 * YUAN, 24 * 181)
    burst = book.add("D", "out", 30_000 * YUAN, 24 * 181 + 20)  # within 72 h: 110,000 moved
    [alert] = book.alerts()
    assert alert.scenario == "dormant_reactivation" and alert.movement_ids == (woke, burst)
    assert alert.figures["idle_days"] == 181


def test_dormant_quiet_for_a_short_gap_or_a_small_amount():
    book = Book()
    book.add("D", "in", 500 * YUAN, 0)
    book.add("D", "in", 200_000 * YUAN, 24 * 179)  # idle 179 days
    book.add("E", "in", 500 * YUAN, 0)
    book.add("E", "in", 900 * YUAN, 24 * 400)  # idle long, but small
    assert only(book.alerts(), "dormant_reactivation") == []


def test_fan_in_ten_payers_in_a_day_adding_up():
    book = Book()
    ids = [book.add("F", "in", 10_000 * YUAN, hour, counterparty=f"payer{hour}") for hour in range(10)]
    [alert] = book.alerts()
    assert alert.scenario == "fan_in" and alert.movement_ids == tuple(ids)
    assert alert.figures == {"counterparties": 10, "total_minor": 100_000 * YUAN, "window_hours": 24}


def test_fan_in_quiet_for_nine_payers_or_a_small_total():
    book = Book()
    for hour in range(12):
        book.add("F", "in", 10_000 * YUAN, hour, counterparty=f"payer{hour % 9}")  # nine payers, twelve payments
        book.add("G", "in", 100 * YUAN, hour, counterparty=f"payer{hour}")  # twelve payers, 1,200 in all
    assert book.alerts() == []


def test_fan_out_many_payees():
    book = Book()
    for hour in range(11):
        book.add("O", "out", 20_000 * YUAN, hour, counterparty=f"payee{hour}")
    assert [alert.scenario for alert in book.alerts()] == ["fan_out"]


def test_accounts_and_currencies_are_monitored_apart():
    book = Book()
    for hour in range(5):
        book.add(f"A{hour}", "out", 150_000 * YUAN, hour)  # five accounts, one large transfer each
    for hour, currency in zip(range(5), ["CNY", "CNY", "USD", "USD", "USD"]):
        book.add("B", "out", 15_000_000, hour, currency=currency)
    assert book.alerts() == []


def test_usd_uses_its_own_limits():
    book = Book()
    for hour in range(3):
        book.add("U", "in", 9_500_00, hour, channel="cash", currency="USD")  # just under USD 10,000
    [alert] = book.alerts()
    assert alert.scenario == "structuring" and alert.currency == "USD" and "10000.00 USD" in alert.reason


def test_a_currency_without_limits_is_an_error_not_silence():
    book = Book()
    book.add("E", "in", 100, 0, currency="EUR")
    with pytest.raises(AmlError) as raised:
        book.alerts()
    assert raised.value.code == "no_limits_for_currency"
    eur = MonitoringConfig(limits={"EUR": CurrencyLimits(1_000_000, 20_000_000, 10_000_000, 1_000_000,
                                                         1_500_000, 700_000, 1_500_000)})
    assert book.alerts(eur) == []


def test_config_changes_the_rules():
    book = Book()
    for hour in (0, 1):
        book.add("S", "in", 49_000 * YUAN, hour, channel="cash")
    assert book.alerts() == []
    assert [a.scenario for a in book.alerts(MonitoringConfig(structuring_count_min=2))] == ["structuring"]


def test_choosing_scenarios_and_unknown_ones():
    book = Book()
    for hour in range(10):
        book.add("F", "in", 10_000 * YUAN, hour, counterparty=f"payer{hour}")
    assert book.alerts(scenarios=["structuring"]) == []
    with pytest.raises(AmlError) as raised:
        book.alerts(scenarios=["smurfing"])
    assert raised.value.code == "unknown_scenario"


def test_alert_ids_are_stable_across_runs():
    book = Book()
    for hour in range(10):
        book.add("F", "in", 10_000 * YUAN, hour, counterparty=f"payer{hour}")
    assert [a.alert_id for a in book.alerts()] == [a.alert_id for a in book.alerts()]


def test_empty_frame_gives_no_alerts():
    assert monitor(movements_frame([])) == []


@pytest.mark.parametrize("change, words", [
    ({"direction": "sideways"}, "direction"),
    ({"amount_minor": 0}, "not positive"),
    ({"amount_minor": -5}, "not positive"),
    ({"account_type": "trust"}, "account_type"),
    ({"currency": "XXX1"}, "currency"),
    ({"counterparty_id": None}, "empty"),
])
def test_bad_movements_are_rejected_with_the_row(change, words):
    book = Book()
    book.add("A", "in", 100, 0)
    book.rows[0].update(change)
    with pytest.raises(AmlError) as raised:
        book.alerts()
    assert raised.value.code == "invalid_movements" and words in str(raised.value)


def test_duplicate_movement_ids_are_rejected():
    book = Book()
    book.add("A", "in", 100, 0)
    book.add("A", "in", 100, 1)
    book.rows[1]["movement_id"] = book.rows[0]["movement_id"]
    with pytest.raises(AmlError, match="not unique"):
        book.alerts()


def test_columns_of_the_wrong_type_are_refused():
    book = Book()
    book.add("A", "in", 100, 0)
    frame = movements_frame(book.rows).with_columns(pl.lit("a lot").alias("amount_minor"))
    with pytest.raises(AmlError, match="not of its type"):
        monitor(frame)


def test_missing_columns_are_named():
    with pytest.raises(AmlError, match="channel"):
        monitor(pl.DataFrame({"movement_id": ["m1"]}))


@pytest.mark.parametrize("kwargs", [
    {"structuring_band_bps": 0}, {"rapid_out_share_bps": 10_001}, {"fan_window": timedelta(0)},
    {"high_frequency_count_min": 1}, {"report_timezone": "Mars/Olympus"},
])
def test_nonsense_config_is_refused(kwargs):
    with pytest.raises(AmlError) as raised:
        MonitoringConfig(**kwargs)
    assert raised.value.code == "invalid_config"


def test_limits_must_be_whole_minor_units():
    with pytest.raises(AmlError, match="minor units"):
        CurrencyLimits(50_000.0, 1, 1, 1, 1, 1, 1)
