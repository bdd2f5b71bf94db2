"""Evaluating rules and raising alerts: bursts of large amounts, success-rate drops, alerts
raised by other modules, and that the same condition never alerts twice."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from juhe.monitor import MonitorError, evaluate_rules, raise_alert
from juhe.monitor.service import Evaluator
from juhe.monitor.models import MonitorAlert, MonitorIncident, MonitorIncidentEvent
from juhe.pii.orm import blind_index_value
from juhe.transfers.models import TransferItem

LARGE = 6_000_000  # 60,000.00 CNY
BURST = {"currency": "CNY", "min_amount_minor": 5_000_000, "min_count": 3, "window_minutes": 60}
RATE = {"window_minutes": 30, "floor_bps": 9000, "min_sample": 10}


def count(world, model) -> int:
    with world.db.reader() as session:
        return session.scalar(select(func.count()).select_from(model))


def incident_of(world, alert_id):
    with world.db.reader() as session:
        return session.scalar(select(MonitorIncident).where(MonitorIncident.alert_id == alert_id))


# -- large, high-frequency transfers -----------------------------------------------------------

def test_burst_of_large_transfers_raises_exactly_one_alert(world_any):
    w = world_any
    rule = w.rule("large_high_frequency_transfers", BURST, owner="user:li.na", response_hours=4)
    w.transfers(w.a, [(LARGE, "6222000011112222")], minutes_ago=20)
    w.transfers(w.a, [(LARGE, "6222000033334444"), (LARGE + 1, "6222000055556666")], minutes_ago=5)

    (alert,) = w.evaluate()
    assert (alert.kind, alert.merchant_id, alert.rule_id) == ("large_high_frequency_transfers", w.a, rule.id)
    assert alert.subject == f"merchant:{w.a}"
    assert alert.detail["count"] == 3 and alert.detail["amount_minor"] == 3 * LARGE + 1 and alert.detail["currency"] == "CNY"
    # Evaluated again this round, a minute later, and by a second worker: still one alert.
    assert w.evaluate() == []
    assert w.evaluate(w.now + timedelta(minutes=1)) == []
    assert count(w, MonitorAlert) == 1

    incident = incident_of(w, alert.id)
    assert (incident.status, incident.owner, incident.merchant_id) == ("open", "user:li.na", w.a)
    assert incident.due_at == alert.raised_at + timedelta(hours=4)
    assert count(w, MonitorIncidentEvent) == 1


def test_a_new_burst_after_an_alert_alerts_again(world):
    world.rule("large_high_frequency_transfers", BURST)
    world.transfers(world.a, [(LARGE, f"acct-{i}") for i in range(3)], minutes_ago=30)
    assert len(world.evaluate()) == 1
    # Two more within the same hour do not make a burst of their own…
    world.transfers(world.a, [(LARGE, "acct-7"), (LARGE, "acct-8")], minutes_ago=10)
    assert world.evaluate() == []
    # …a third does.
    world.transfers(world.a, [(LARGE, "acct-9")], minutes_ago=5)
    (second,) = world.evaluate()
    assert second.detail["count"] == 3


@pytest.mark.parametrize("case", ["too_few", "too_small", "too_spread", "rejected", "other_currency", "disabled"])
def test_below_the_thresholds_stays_quiet(world, case):
    world.rule("large_high_frequency_transfers", BURST, enabled=case != "disabled")
    if case == "too_few":
        world.transfers(world.a, [(LARGE, "x"), (LARGE, "y")])
    elif case == "too_small":
        world.transfers(world.a, [(LARGE, "x"), (LARGE, "y"), (4_999_999, "z")])
    elif case == "too_spread":
        world.transfers(world.a, [(LARGE, "x")], minutes_ago=70)
        world.transfers(world.a, [(LARGE, "y"), (LARGE, "z")], minutes_ago=1)
    elif case == "rejected":
        world.transfers(world.a, [(LARGE, "x"), (LARGE, "y")])
        world.transfers(world.a, [(LARGE, "z")], item_status="rejected")
    elif case == "other_currency":
        world.transfers(world.a, [(LARGE, "x"), (LARGE, "y")])
        world.transfers(world.a, [(LARGE, "z")], currency="USD")
    else:
        world.transfers(world.a, [(LARGE, "x"), (LARGE, "y"), (LARGE, "z")])
    assert world.evaluate() == []
    assert count(world, MonitorAlert) == 0 and count(world, MonitorIncident) == 0


def test_two_merchants_each_below_the_threshold_stay_quiet(world):
    world.rule("large_high_frequency_transfers", BURST)
    world.transfers(world.a, [(LARGE, "x"), (LARGE, "y")])
    world.transfers(world.b, [(LARGE, "z"), (LARGE, "w")])
    assert world.evaluate() == []


def test_burst_to_one_creditor_account_is_named_by_that_account(world):
    world.rule("large_high_frequency_transfers", {**BURST, "min_count": 4})
    for minutes_ago in (40, 30, 20, 10):
        world.transfers(world.a, [(LARGE, "6222999988887777"), (100, "small-payee")], minutes_ago=minutes_ago)
    alerts = world.evaluate()
    subjects = sorted(a.subject for a in alerts)
    # Four large items from the merchant, all four to the same creditor account, named by its blind
    # index: the account is sealed in transfer_items, and an alert must not copy it out in the clear.
    account = blind_index_value(TransferItem, "creditor_account", "6222999988887777")
    assert subjects == [f"creditor:{account}", f"merchant:{world.a}"]


def test_burst_of_large_payments_from_one_payer(world):
    world.rule("large_high_frequency_transfers", BURST)
    for minutes_ago in (3, 2, 1):
        world.payment(world.a, LARGE, customer_id="payer-42", minutes_ago=minutes_ago, status="processing")
    world.payment(world.a, LARGE, customer_id="payer-7")
    world.payment(world.a, LARGE, customer_id="payer-7", status="failed")  # no money moved
    world.payment(world.a, LARGE, customer_id="payer-7", status="canceled")
    (alert,) = world.evaluate()
    assert alert.subject == "payer:payer-42" and alert.detail["source"] == "payer"


def test_a_merchants_own_rule_watches_only_that_merchant(world):
    world.rule("large_high_frequency_transfers", BURST, merchant=world.b)
    world.transfers(world.a, [(LARGE, "x"), (LARGE, "y"), (LARGE, "z")])
    assert world.evaluate() == []
    world.transfers(world.b, [(LARGE, "x"), (LARGE, "y"), (LARGE, "z")])
    (alert,) = world.evaluate()
    assert alert.merchant_id == world.b


# -- success-rate drop ----------------------------------------------------------------------------

def _outcomes(world, channel: str, succeeded: int, failed: int, closed: int = 0, merchant=None):
    merchant = merchant or world.a
    for _ in range(succeeded):
        world.payment(merchant, 1000, channel=channel)
    for _ in range(failed):
        world.payment(merchant, 1000, channel=channel, status="failed", failure_code="declined")
    for _ in range(closed):
        world.payment(merchant, 1000, channel=channel, status="canceled", failure_code="expired")


def test_success_rate_drop_alerts_once_per_window(world_any):
    w = world_any
    # Ten minutes into a 30-minute period, so that the next period starts 20 minutes later.
    period_s = RATE["window_minutes"] * 60
    w.now = datetime.fromtimestamp((int(w.now.timestamp()) // period_s - 1) * period_s + 600, timezone.utc)
    w.rule("success_rate_drop", RATE)
    _outcomes(w, "wechatpay", succeeded=6, failed=3, closed=1)  # 60 % < 90 %
    _outcomes(w, "alipay", succeeded=10, failed=0)
    (alert,) = w.evaluate()
    assert alert.subject == "channel:wechatpay" and alert.merchant_id is None
    assert alert.detail["success_rate_bps"] == 6000 and alert.detail["closed"] == 1
    assert incident_of(w, alert.id).owner == "role:it"
    assert w.evaluate() == []
    assert w.evaluate(w.now + timedelta(minutes=5)) == []
    # In the next period the drop is still there (the same payments are recent): reported again.
    (again,) = w.evaluate(w.now + timedelta(minutes=25))
    assert again.subject == "channel:wechatpay" and again.id != alert.id
    assert count(w, MonitorAlert) == 2


def test_success_rate_needs_the_minimum_sample(world):
    world.rule("success_rate_drop", RATE)
    _outcomes(world, "unionpay", succeeded=1, failed=8)  # 9 finished, min_sample is 10
    world.payment(world.a, 1000, channel="unionpay", status="processing")  # not finished
    world.payment(world.a, 1000, channel="unionpay", status="canceled")  # the merchant's cancel
    assert world.evaluate() == []


def test_success_rate_drop_for_one_channel_and_one_merchant(world):
    world.rule("success_rate_drop", {**RATE, "channel": "alipay"}, merchant=world.b)
    _outcomes(world, "alipay", succeeded=0, failed=10, merchant=world.a)
    _outcomes(world, "wechatpay", succeeded=0, failed=10, merchant=world.b)
    assert world.evaluate() == []
    _outcomes(world, "alipay", succeeded=1, failed=9, merchant=world.b)
    (alert,) = world.evaluate()
    assert alert.merchant_id == world.b and alert.subject == "channel:alipay"


def test_payments_older_than_the_window_do_not_count(world):
    world.rule("success_rate_drop", RATE)
    for _ in range(10):
        world.payment(world.a, 1000, channel="alipay", status="failed", minutes_ago=31)
    assert world.evaluate() == []


# -- alerts raised by other modules ---------------------------------------------------------------

def test_raised_alert_opens_an_incident_and_is_deduplicated(world):
    with world.conn() as conn:
        alert = raise_alert(conn, "recon_difference", world.a, "alipay 2026-11-25", {"difference_minor": 1288}, "alipay:2026-11-25")
        again = raise_alert(conn, "recon_difference", world.a, "alipay 2026-11-25", {"difference_minor": 1288}, "alipay:2026-11-25")
        other_merchant = raise_alert(conn, "recon_difference", world.b, "alipay 2026-11-25", {}, "alipay:2026-11-25")
    assert alert is not None and again is None and other_merchant is not None
    incident = incident_of(world, alert.id)
    assert (incident.owner, incident.status) == ("role:finance", "open")
    assert incident.due_at - incident.opened_at == timedelta(hours=24)


def test_a_merchants_rule_decides_owner_and_deadline_and_can_mute(world):
    world.rule("settlement_failure", {}, owner="user:treasurer", response_hours=2)
    world.rule("settlement_failure", {}, merchant=world.b, enabled=False)
    with world.conn() as conn:
        alert = raise_alert(conn, "settlement_failure", world.a, "batch S1", {"reason": "AC04"}, "S1")
        muted = raise_alert(conn, "settlement_failure", world.b, "batch S2", {"reason": "AC04"}, "S2")
    incident = incident_of(world, alert.id)
    assert incident.owner == "user:treasurer" and incident.due_at - incident.opened_at == timedelta(hours=2)
    assert muted is None and count(world, MonitorAlert) == 1


def test_raise_alert_refuses_what_it_cannot_store(world):
    with world.conn() as conn:
        for args, code in ((("weather", world.a, "s", {}, "k"), "unknown_rule_kind"),
                           (("reserve_mismatch", None, "", {}, "k"), "invalid_alert"),
                           (("reserve_mismatch", None, "icbc", {}, "k" * 256), "invalid_alert")):
            with pytest.raises(MonitorError) as caught:
                raise_alert(conn, *args)
            assert caught.value.code == code
    assert count(world, MonitorAlert) == 0


def test_two_workers_evaluating_at_once_store_one_alert(world_pg):
    """PostgreSQL lets both evaluators read before either commits; the unique dedupe key makes
    the second one's insert wait for the first, then drop its copy (SQLite serialises writers
    at BEGIN, so there the second simply sees the first alert)."""
    w = world_pg
    w.rule("large_high_frequency_transfers", BURST)
    w.transfers(w.a, [(LARGE, "x"), (LARGE, "y"), (LARGE, "z")])
    second: list = []
    with w.db.engine.connect() as first:
        with first.begin() as txn:
            assert len(evaluate_rules(first, w.now)) == 1
            worker = threading.Thread(target=lambda: second.append(w.evaluate()))
            worker.start()
            worker.join(timeout=0.5)
            assert worker.is_alive()  # waiting on the uncommitted alert's key
            txn.commit()
        worker.join(timeout=10)
    assert second == [[]]
    assert count(w, MonitorAlert) == 1 and count(w, MonitorIncident) == 1


def test_the_worker_evaluates_at_most_once_per_interval(world, logs):
    evaluator = Evaluator(world.db, interval_s=10)
    world.rule("large_high_frequency_transfers", BURST)
    assert evaluator.run_if_due(world.now) == []
    world.transfers(world.a, [(LARGE, "x"), (LARGE, "y"), (LARGE, "z")], minutes_ago=0.01)
    assert evaluator.run_if_due(world.now + timedelta(seconds=5)) == []  # not due yet
    (alert,) = evaluator.run_if_due(world.now + timedelta(seconds=10))
    assert [e["alert_id"] for e in logs if e["event"] == "monitor alert"] == [str(alert.id)]
