"""Monitoring over the ledger: payments, refunds, payments out and batch transfers become the
movements frame; structuring in them raises one alert and opens one case, clean business stays
quiet, a rerun adds nothing, and the day's large-value report comes from the same data."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from juhe.aml.alerts import Alert
from juhe.aml.case_store import decide_case, suspicious_report
from juhe.aml.cases import add_alerts, decide, open_case
from juhe.aml.errors import AmlError
from juhe.aml.ledger_movements import last_movements_before, merchant_account, movements_between
from juhe.aml.models import AmlAlert, AmlCase, AmlCaseEvent, AmlMonitoringRun
from juhe.aml.monitoring_runs import DailyMonitoring, large_value_day, monitoring_run, run_monitoring
from juhe.aml.payment_screening import screen_parties_for_payment

JUST_BELOW_MINOR = 1_950_000_00  # within 10% below the CNY 2,000,000 company-transfer report threshold
EVERYDAY_MINOR = 3_500_00


def _structuring(world, merchant, start):
    return [world.payment(merchant, JUST_BELOW_MINOR, start + timedelta(days=day, hours=1), customer_id=f"C{day}")
            for day in (0, 2, 4)]


def _everyday(world, merchant, start, days=6):
    for day in range(days):
        for n in range(3):
            world.payment(merchant, EVERYDAY_MINOR + 100 * n, start + timedelta(days=day, hours=n + 1), customer_id=f"P{n}")


def test_structuring_raises_one_alert_and_opens_one_case_while_clean_business_stays_quiet(aml_world_any):
    world, start = aml_world_any, aml_world_any.t0
    cited = _structuring(world, world.a, start)
    _everyday(world, world.a, start)
    _everyday(world, world.b, start)
    alert_ids = run_monitoring(world.db, start, start + timedelta(days=7))
    assert len(alert_ids) == 1
    with world.db.reader() as session:
        alert = session.get(AmlAlert, alert_ids[0])
        case = session.get(AmlCase, alert.case_id)
        assert (alert.scenario, alert.merchant_id, alert.account_id) == ("structuring", world.a, merchant_account(world.a))
        assert alert.movement_ids == [f"payment:{p}" for p in cited]
        assert [m["amount_minor"] for m in alert.evidence] == [JUST_BELOW_MINOR] * 3
        assert (case.status, case.owner, case.evidence) == ("pending", "role:risk", alert.movement_ids)
    assert world.count(AmlAlert, merchant_id=world.b) == 0 and world.count(AmlCase, merchant_id=world.b) == 0
    assert world.count(AmlCaseEvent, action="opened") == 1


def test_rerunning_a_period_stores_nothing_new(aml_world):
    start = aml_world.t0
    _structuring(aml_world, aml_world.a, start)
    assert len(run_monitoring(aml_world.db, start, start + timedelta(days=7))) == 1
    assert run_monitoring(aml_world.db, start, start + timedelta(days=7)) == []
    assert run_monitoring(aml_world.db, start + timedelta(days=4), start + timedelta(days=5)) == []
    assert (aml_world.count(AmlAlert), aml_world.count(AmlCase), aml_world.count(AmlMonitoringRun)) == (1, 1, 3)


def test_a_pattern_that_grows_joins_the_accounts_open_case(aml_world):
    start = aml_world.t0
    _structuring(aml_world, aml_world.a, start)
    run_monitoring(aml_world.db, start, start + timedelta(days=5))
    aml_world.payment(aml_world.a, JUST_BELOW_MINOR, start + timedelta(days=5, hours=3))
    assert len(run_monitoring(aml_world.db, start + timedelta(days=5), start + timedelta(days=6))) == 1
    assert aml_world.count(AmlCase) == 1 and aml_world.count(AmlCaseEvent, action="alerts") == 1
    with aml_world.db.reader() as session:
        case = session.query(AmlCase).one()
        assert len(case.evidence) == 4


def test_clean_ledger_raises_nothing_and_the_run_is_recorded(aml_world):
    start = aml_world.t0
    _everyday(aml_world, aml_world.a, start)
    summary = monitoring_run(aml_world.db, start, start + timedelta(days=7), merchant_id=aml_world.a, actor="api_key:x")
    assert summary.alert_ids == [] and summary.movements == 18
    with aml_world.db.reader() as session:
        run = session.get(AmlMonitoringRun, summary.run_id)
        assert (run.movements, run.alerts_raised, run.actor, run.merchant_id) == (18, 0, "api_key:x", aml_world.a)


def test_every_source_becomes_a_movement_of_the_merchants_account(aml_world):
    world, at = aml_world, aml_world.t0
    paid = world.payment(world.a, 120_00, at, customer_id="C1")
    world.payment(world.a, 999_00, at, status="failed")  # no money moved
    refund = world.refund(paid, 20_00, at + timedelta(hours=1))
    world.refund(paid, 10_00, at + timedelta(hours=1), status="failed")
    out = world.payment(world.a, 5_000_00, at + timedelta(hours=2), scenario="crossborder", channel="crossborder")
    with world.db.session() as session, session.begin():
        screen_parties_for_payment(session, world.a, out, {"creditor_name": "Clean Trading", "creditor_account": "DE89370400440532013000"})
    unnamed = world.payment(world.a, 7_000_00, at + timedelta(hours=2), scenario="b2b", channel="bank")
    [item] = world.transfers(world.a, [(300_00, "6222000011112222")], at + timedelta(hours=3))
    world.transfers(world.a, [(400_00, "6222000033334444")], at + timedelta(hours=3), item_status="rejected")
    with world.db.reader() as session:
        frame = movements_between(session, world.a, at, at + timedelta(days=1)).sort("movement_id")
    rows = {row["movement_id"]: (row["direction"], row["amount_minor"], row["counterparty_id"], row["channel"])
            for row in frame.iter_rows(named=True)}
    assert rows == {
        f"payment:{paid}": ("in", 120_00, "C1", "alipay"),
        f"refund:{refund}": ("out", 20_00, "C1", "alipay"),
        f"payment_out:{out}": ("out", 5_000_00, "DE89370400440532013000", "crossborder"),
        f"payment_out:{unnamed}": ("out", 7_000_00, f"unidentified:payment_out:{unnamed}", "bank"),
        f"transfer:{item}": ("out", 300_00, "6222000011112222", "bank"),
    }
    assert set(frame["account_id"]) == {merchant_account(world.a)}


def test_the_last_movement_before_the_history_tells_how_long_an_account_slept(aml_world):
    world, start = aml_world, aml_world.t0
    old = world.payment(world.a, 50_00, start - timedelta(days=200))
    world.payment(world.a, 60_00, start - timedelta(days=300))
    with world.db.reader() as session:
        anchor = last_movements_before(session, world.a, start - timedelta(days=7))
    assert anchor["movement_id"].to_list() == [f"payment:{old}"]
    world.payment(world.a, 400_000_00, start + timedelta(hours=5), customer_id="BIG")
    alert_ids = run_monitoring(world.db, start, start + timedelta(days=1))
    with world.db.reader() as session:
        assert [session.get(AmlAlert, a).scenario for a in alert_ids] == ["dormant_reactivation"]


def test_currencies_without_limits_are_reported_not_hidden(aml_world):
    start = aml_world.t0
    aml_world.payment(aml_world.a, 10_000_00, start + timedelta(hours=1), currency="EUR")
    _structuring(aml_world, aml_world.a, start)
    summary = monitoring_run(aml_world.db, start, start + timedelta(days=7))
    assert len(summary.alert_ids) == 1
    assert summary.unmonitored == [{"merchant_id": str(aml_world.a), "reason": "no_limits_for_currency",
                                    "currency": "EUR", "movements": 1}]


def test_a_merchant_that_cannot_be_loaded_is_reported_and_the_others_are_still_monitored(aml_world, monkeypatch):
    monkeypatch.setattr("juhe.aml.ledger_movements.MOVEMENTS_PER_MERCHANT_MAX", 3)
    start = aml_world.t0
    _structuring(aml_world, aml_world.a, start)
    _everyday(aml_world, aml_world.b, start, days=2)
    summary = monitoring_run(aml_world.db, start, start + timedelta(days=7))
    assert len(summary.alert_ids) == 1
    assert [(item["merchant_id"], item["reason"]) for item in summary.unmonitored] == [(str(aml_world.b), "too_many_movements")]
    with aml_world.db.reader() as session:
        assert session.get(AmlMonitoringRun, summary.run_id).unmonitored == summary.unmonitored


@pytest.mark.parametrize("start, end", [
    (datetime(2026, 3, 1), datetime(2026, 3, 2)),  # no time zone
    ("t0+1d", "t0"),
    ("t0", "t0+100d"),
])
def test_a_bad_period_is_refused_before_anything_is_stored(aml_world, start, end):
    times = {"t0": aml_world.t0, "t0+1d": aml_world.t0 + timedelta(days=1), "t0+100d": aml_world.t0 + timedelta(days=100)}
    with pytest.raises(AmlError) as refused:
        run_monitoring(aml_world.db, times.get(start, start), times.get(end, end))
    assert refused.value.code == "invalid_period"
    assert aml_world.count(AmlMonitoringRun) == 0


def test_the_worker_monitors_each_finished_day_once(aml_world):
    day_start = aml_world.t0 - timedelta(hours=10)  # midnight in Beijing
    _structuring(aml_world, aml_world.a, aml_world.t0 - timedelta(days=4, hours=1))
    daily = DailyMonitoring(aml_world.db)
    assert len(daily.run_if_due(day_start + timedelta(days=1, hours=1))) == 1
    assert daily.run_if_due(day_start + timedelta(days=1, hours=2)) == []
    assert aml_world.count(AmlMonitoringRun) == 1


def test_a_failed_daily_run_is_retried_later_not_on_every_round(aml_world, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("juhe.aml.monitoring_runs.monitoring_run", failing)
    daily, now = DailyMonitoring(aml_world.db), aml_world.t0
    with pytest.raises(RuntimeError):
        daily.run_if_due(now)
    assert daily.run_if_due(now + timedelta(minutes=1)) == [] and len(calls) == 1
    with pytest.raises(RuntimeError):
        daily.run_if_due(now + DailyMonitoring.RETRY_AFTER)
    assert len(calls) == 2


def test_large_value_report_lists_every_movement_of_a_reporting_day(aml_world):
    world, at = aml_world, aml_world.t0
    first = world.payment(world.a, 1_200_000_00, at)
    second = world.payment(world.a, 900_000_00, at + timedelta(hours=3))
    world.payment(world.b, 1_900_000_00, at)  # below the threshold on its own
    rows = list(csv.DictReader(io.StringIO(large_value_day(world.db, date(2026, 3, 2)))))
    assert [r["movement_id"] for r in rows] == [f"payment:{first}", f"payment:{second}"]
    assert {r["day_total_minor"] for r in rows} == {"210000000"} and rows[0]["report_rule"] == "corporate_transfer"
    assert large_value_day(world.db, date(2026, 3, 2), merchant_id=world.b).splitlines()[1:] == []
    assert large_value_day(world.db, date(2026, 3, 3)).splitlines()[1:] == []


def _case(world):
    start = world.t0
    _structuring(world, world.a, start)
    run_monitoring(world.db, start, start + timedelta(days=7))
    with world.db.reader() as session:
        return session.query(AmlCase).one().id


def _decide(world, case_id, decision, at, merchant=None):
    with world.db.session() as session, session.begin():
        return decide_case(session, case_id, merchant or world.a, decision, actor="api_key:mlro", reason="no business reason",
                           at=at)


def test_a_reported_case_has_a_suspicious_transaction_report_of_its_evidence(aml_world):
    case_id = _case(aml_world)
    now = datetime.now(aml_world.t0.tzinfo)
    _decide(aml_world, case_id, "escalated", now)
    _decide(aml_world, case_id, "reported", now + timedelta(seconds=1))
    with aml_world.db.reader() as session:
        report = suspicious_report(session, case_id, aml_world.a, reporter="api_key:mlro", at=now)
    assert report["subject"]["name"] == "Lotus Mart" and report["case"]["decision"] == "reported"
    assert [m["amount_minor"] for m in report["movements"]] == [JUST_BELOW_MINOR] * 3
    assert report["totals"] == [{"currency": "CNY", "in_minor": 3 * JUST_BELOW_MINOR, "out_minor": 0, "count": 3}]


def test_illegal_case_changes_are_refused_and_change_nothing(aml_world):
    case_id = _case(aml_world)
    now = datetime.now(aml_world.t0.tzinfo)
    events = aml_world.count(AmlCaseEvent)
    for decision, code in (("reported", "illegal_transition"), ("closed", "unknown_decision")):
        with pytest.raises(AmlError) as refused:
            _decide(aml_world, case_id, decision, now)
        assert refused.value.code == code
    with pytest.raises(AmlError) as refused:
        _decide(aml_world, case_id, "escalated", now, merchant=aml_world.b)
    assert refused.value.code == "case_not_found"
    with pytest.raises(AmlError) as refused, aml_world.db.reader() as session:
        suspicious_report(session, case_id, aml_world.a, reporter="x", at=now)
    assert refused.value.code == "case_not_reported"
    assert aml_world.count(AmlCaseEvent) == events and aml_world.count(AmlCase, status="pending") == 1


def test_movements_frame_is_in_the_monitoring_schema(aml_world):
    aml_world.payment(aml_world.a, 120_00, aml_world.t0)
    with aml_world.db.reader() as session:
        frame = movements_between(session, aml_world.a, aml_world.t0, aml_world.t0 + timedelta(hours=1))
    assert frame.schema["occurred_at"] == pl.Datetime("us", "UTC") and frame["account_type"].to_list() == ["corporate"]


def test_a_new_pattern_after_a_closed_case_opens_a_new_case(aml_world):
    case_id = _case(aml_world)
    _decide(aml_world, case_id, "dismissed", datetime.now(aml_world.t0.tzinfo))
    later = aml_world.t0 + timedelta(days=20)
    _structuring(aml_world, aml_world.a, later)
    assert len(run_monitoring(aml_world.db, later, later + timedelta(days=7))) == 1
    assert aml_world.count(AmlCase, status="pending") == 1 and aml_world.count(AmlCase, status="dismissed") == 1


def test_alerts_join_only_an_open_case_of_their_own_account():
    at = datetime(2026, 3, 2, tzinfo=timezone.utc)
    first = Alert("a1", "structuring", "merchant:1", "CNY", at, at, ("m1", "m2", "m3"), 0.6, "three below")
    case = open_case([first], owner="role:risk", actor="system", at=at)
    other = Alert("a2", "fan_out", "merchant:2", "CNY", at, at, ("m4",), 0.5, "fan")
    for alerts, code in (([other], "mixed_accounts"), ([first], "no_change"), ([], "no_alerts")):
        with pytest.raises(AmlError) as refused:
            add_alerts(case, alerts, actor="system", at=at)
        assert refused.value.code == code
    closed = decide(case, "dismissed", actor="li", reason="paid invoices", at=at)
    with pytest.raises(AmlError) as refused:
        add_alerts(closed, [Alert("a3", "structuring", "merchant:1", "CNY", at, at, ("m5",), 0.5, "x")], actor="s", at=at)
    assert refused.value.code == "case_closed"
