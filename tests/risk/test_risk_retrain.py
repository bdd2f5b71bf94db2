"""Champion/challenger retraining: the challenger learns from the earlier history only, both are
judged on the latest weeks, and it is promoted only when it scores better there; the platform's own
payments are labelled by their fraud reports."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from juhe.db.types import utcnow
from juhe.payments.models import Payment
from juhe.risk.generator import generate
from juhe.risk.registry import RiskRegistry
from juhe.risk.replay import feature_frame
from juhe.risk.reports import ReportIn, file_report
from juhe.risk.retrain import RETRAIN_EVERY, Retraining, challenge, platform_history, run_contest
from juhe.risk.train import TrainingOptions, train_model

FAST = TrainingOptions(rounds=40, early_stopping_rounds=10, min_data_in_leaf=10)


@pytest.fixture(scope="module")
def history():
    return generate(250, 21, 5, warmup_days=3, fraud_episodes_per_payer=0.4)


@pytest.fixture(scope="module")
def noise_champion(history):
    """A model that learned labels shuffled at random: it knows nothing about fraud."""
    frame = feature_frame(history, warmup_days=3)
    labels = np.random.default_rng(0).permutation(frame["is_fraud"].to_numpy())
    return train_model(frame.with_columns(is_fraud=pl.Series(labels)), FAST)


def test_a_better_challenger_is_promoted_and_the_report_states_both(history, noise_champion):
    contest = challenge(history, noise_champion, latest_days=7, warmup_days=3, options=FAST)
    report = contest.challenger.metadata["contest"]
    assert contest.promoted and report["promoted"]
    assert report["champion"]["version"] == noise_champion.version
    assert report["challenger"]["auprc"] > report["champion"]["auprc"]
    assert {"interception_rate", "false_positive_rate"} <= set(report["challenger"]) & set(report["champion"])


def test_the_challenger_never_learns_the_weeks_it_is_judged_on(history):
    contest = challenge(history, None, latest_days=7, warmup_days=3, label_delay_days=7, options=FAST)
    end = history["occurred_at"].max()
    assert contest.tested_from == end - timedelta(days=7) and contest.trained_until == end - timedelta(days=14)
    frame = feature_frame(history, warmup_days=3)
    before = frame.filter(pl.col("scored") & (pl.col("occurred_at") < contest.trained_until)).height
    meta = contest.challenger.metadata
    assert meta["training"]["rows"] + meta["validation"]["rows"] == before
    assert contest.promoted and meta["contest"]["champion"] is None  # no champion: nothing to beat


def test_a_challenger_no_better_than_the_champion_is_not_promoted(history):
    first = challenge(history, None, latest_days=7, warmup_days=3, options=FAST)
    again = challenge(history, first.challenger, latest_days=7, warmup_days=3, options=FAST)  # the same training
    assert again.challenger_figures["auprc"] == again.champion["auprc"] and not again.promoted


def test_platform_history_is_labelled_by_the_current_fraud_reports(world):
    w = world
    fraud, corrected, legit = w.pay(5), w.pay(4), w.pay(3)
    assert w.report(fraud).status_code == 201
    w.report(corrected)
    w.report(corrected, "genuine", reason="the cardholder remembered")
    with w.db.reader() as session:
        frame, unlabelled = platform_history(session, utcnow() - timedelta(days=10), utcnow())
    labels = dict(zip(frame["payment_id"], frame["is_fraud"]))
    assert labels == {str(fraud): True, str(corrected): False, str(legit): False}
    assert unlabelled == frozenset()


def test_retraining_learns_from_the_platforms_payments_and_reports_and_activates_the_winner(world, history, tmp_path):
    w = world
    stored = store_as_payments(w, history.filter(pl.col("kind") == "payment"))
    registry = RiskRegistry(tmp_path / "registry")
    activated = []
    contest = run_contest(w.db, registry, activated.append, utcnow(), history_days=30, latest_days=7)
    assert contest.promoted and activated == [contest.challenger.version]
    assert registry.model_versions() == [contest.challenger.version]
    saved = registry.load_model(contest.challenger.version).metadata
    assert saved["contest"]["challenger"]["auprc"] > 0.5 and saved["training"]["source"]["platform"]
    assert saved["training"]["rows"] + saved["validation"]["rows"] < stored  # the latest weeks are the judge's


def test_one_worker_claims_a_weeks_retraining_and_an_empty_platform_keeps_its_champion(world, tmp_path):
    registry = RiskRegistry(tmp_path / "registry")
    first, second = (Retraining(world.db, registry, lambda version: None) for _ in range(2))
    now = utcnow()
    thread = first.start_if_due(now)
    assert thread is not None and second.start_if_due(now) is None
    thread.join(30)
    assert not thread.is_alive() and registry.model_versions() == []  # no reports yet: nothing trained
    assert second.start_if_due(now + timedelta(days=3)) is None
    later = second.start_if_due(now + RETRAIN_EVERY + timedelta(seconds=1))
    assert later is not None
    later.join(30)


def store_as_payments(w, payments: pl.DataFrame) -> int:
    """The generated payments as the merchant's, ending now; every fraud reported a week after it (or today)."""
    shift = utcnow() - payments["occurred_at"].max()
    rows, frauds = [], []
    with w.db.session() as session, session.begin():
        for n, row in enumerate(payments.iter_rows(named=True)):
            at = row["occurred_at"] + shift
            meta = {"device_id": row["device_id"], "client_ip": row["ip"], "card_token": row["card_id"],
                    "merchant_category": row["merchant_category"]}
            if row["latitude"] is not None:
                meta |= {"latitude": row["latitude"], "longitude": row["longitude"]}
            payment = Payment(merchant_id=w.a, idempotency_key=f"g{n}", request_hash="h", amount_minor=row["amount_minor"],
                              currency="CNY", scenario="qr", subject="test", customer_id=row["payer_id"],
                              status="succeeded", meta=meta, risk={"action": "allow", "score": 0.0, "reasons": []},
                              refunded_minor=0, fee_minor=0, channel_fee_minor=0, poll_count=0,
                              expires_at=at + timedelta(minutes=15), created_at=at, updated_at=at)
            rows.append(payment)
            if row["is_fraud"]:
                frauds.append((payment, min(at + timedelta(days=7), utcnow()).date()))
        session.add_all(rows)
        session.flush()
        for payment, learned_on in frauds:
            file_report(session, w.engine.pipeline.store, w.a,
                        ReportIn(payment.id, "fraud", "chargeback", learned_on, "cardholder dispute", "test"))
    return len(rows)


def test_retrain_on_a_platform_without_reports_says_so_and_exits_non_zero(sqlite_url, tmp_path):
    from typer.testing import CliRunner

    from juhe.db.engine import Database
    from juhe.db.models import load_all_models
    from juhe.risk.commands import risk_app

    load_all_models()
    Database(sqlite_url).dispose()  # migrated, empty
    result = CliRunner().invoke(risk_app, ["retrain", "--database", sqlite_url, "--dir", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 1 and "no payments" in result.output
