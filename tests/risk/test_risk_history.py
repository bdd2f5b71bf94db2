"""Payments history from the database as the frame a rule dry-run replays: the same facts the
payments' risk hook gave the engine, a warm-up before the window, one merchant's payments only."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from juhe import merchants
from juhe.db.engine import Database
from juhe.db.models import load_all_models, new_id
from juhe.payments.models import Payment
from juhe.risk.facts import RiskError
from juhe.risk.history import (
    PaymentRow, dry_run_history, history_frame, load_payment_history, payer_of, went_through,
)
from juhe.risk import history as history_module
from juhe.risk.rules import parse_rules
from juhe.verification.models import VerificationChallenge

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ALLOW = {"action": "allow", "score": 0.01, "reasons": []}
STEP_UP = {"action": "step_up", "score": 0.6, "reasons": ["score"]}
BLOCK = {"action": "block", "score": 0.99, "reasons": ["score"]}
_keys = itertools.count(1)


def _is(feature, op, value):
    return {"feature": feature, "op": op, "value": value}


RULES = parse_rules({"version": "try-1", "rules": [
    {"id": "NEW", "if": _is("new_device", "==", True), "then": "step_up"},
    {"id": "BIG", "if": _is("amount_minor", ">=", 100_000), "then": "block"},
    {"id": "BURST", "if": _is("payer_count_1h", ">=", 2), "then": "step_up"},
]})


@pytest.fixture
def db(sqlite_url):
    load_all_models()
    database = Database(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def shops(db):
    with db.session() as session, session.begin():
        a = merchants.create_merchant(session, "Lotus Mart", "retail").id
        b = merchants.create_merchant(session, "Silk Road Online", "ecommerce").id
    return a, b


def pay(db, merchant, amount_minor, at, *, customer="c1", device=None, risk=ALLOW, challenge=None, currency="CNY"):
    """A payment row as the payments flow leaves it; `challenge`: (status, payer) of its step-up."""
    with db.session() as session, session.begin():
        payment = Payment(merchant_id=merchant, idempotency_key=f"h{next(_keys)}", request_hash="h",
                          amount_minor=amount_minor, currency=currency, scenario="qr", subject="test",
                          customer_id=customer, status="succeeded", risk=risk,
                          meta={"device_id": device} if device else None, refunded_minor=0, fee_minor=0,
                          channel_fee_minor=0, poll_count=0, expires_at=at + timedelta(minutes=15), created_at=at,
                          updated_at=at)
        session.add(payment)
        session.flush()
        if challenge is not None:
            status, payer = challenge
            session.add(VerificationChallenge(merchant_id=merchant, payment_id=payment.id, methods=["otp"],
                                              otp_channel="sms", phone="13800000000", attempts=0, status=status,
                                              request={"scenario": "qr", "payer": payer}))
        return payment.id


def row(**changes) -> PaymentRow:
    values = {"id": new_id(), "merchant_id": uuid.uuid4(), "industry": "retail", "amount_minor": 1_000, "currency": "CNY",
              "customer_id": "c1", "created_at": NOW, "payer": {"device_id": "d1"}, "went_through": True}
    return PaymentRow(**(values | changes))


def test_went_through_means_allowed_or_verified():
    assert went_through(ALLOW, None) and went_through(None, None)  # no stored decision: nothing stopped it
    assert went_through(STEP_UP, "passed")
    assert not went_through(STEP_UP, "pending") and not went_through(STEP_UP, "locked") and not went_through(STEP_UP, None)
    assert not went_through(BLOCK, None)


def test_payer_facts_come_from_the_step_up_request_else_the_metadata():
    metadata = {"device_id": "meta-d", "order": "A-17", "client_ip": ""}
    assert payer_of(metadata, None) == {"device_id": "meta-d"}  # other keys and blanks are not payer facts
    kept = {"scenario": "qr", "payer": {"device_id": "req-d", "client_ip": "1.2.3.4", "phone": "138", "latitude": "31.2"}}
    assert payer_of(metadata, kept) == {"device_id": "req-d", "client_ip": "1.2.3.4", "latitude": "31.2"}
    assert payer_of(None, None) == {}


def test_rows_become_the_facts_the_engine_saw_and_bad_ones_are_left_out():
    anonymous = row(customer_id=None, payer={}, created_at=NOW - timedelta(hours=1), industry="ecommerce")
    lone_latitude = row(payer={"device_id": "d1", "latitude": "31.2"})
    stopped = row(went_through=False, created_at=NOW + timedelta(minutes=1), payer={"card_token": "tok", "device_id": "d2"})
    frame, skipped = history_frame([stopped, lone_latitude, anonymous])
    assert skipped == 1 and frame.height == 2
    first, second = frame.to_dicts()
    assert first["payment_id"] == str(anonymous.id)  # time order
    assert first["payer_id"] == first["device_id"] == first["ip"] == f"unknown:{anonymous.id}"
    assert first["merchant_category"] == "clothing" and first["card_id"] == f"account:unknown:{anonymous.id}"
    assert not first["is_fraud"]
    assert second["card_id"] == "tok" and second["device_id"] == "d2" and second["merchant_category"] == "grocery"
    assert second["is_fraud"] and second["fraud_type"] == "stopped_by_risk"


def test_dry_run_counts_the_window_after_a_warm_up_of_the_merchants_own_payments(db, shops):
    a, b = shops
    day = timedelta(days=1)
    pay(db, a, 2_000, NOW - 40 * day, customer="c2", device="d9")  # before the warm-up: never replayed
    pay(db, a, 2_000, NOW - 33 * day, device="d1")  # warm-up: c1's profile learns d1
    pay(db, a, 2_000, NOW - 32 * day, device="dx", risk=BLOCK)  # warm-up, blocked: dx never becomes known
    pay(db, a, 3_000, NOW - 2 * day, device="d1")  # known device: no rule
    pay(db, a, 150_000, NOW - 2 * day + timedelta(minutes=5), device="d1", risk=BLOCK)  # BIG, and BURST (2nd in 1 h)
    pay(db, a, 4_000, NOW - day, device="dx")  # NEW
    pay(db, a, 5_000, NOW - day + timedelta(hours=3), challenge=("passed", {"device_id": "d3"}), risk=STEP_UP)  # NEW
    pay(db, a, 2_000, NOW - 3 * day, customer="c2", device="d9")  # NEW: d9 was learnt outside the replay
    pay(db, b, 900_000, NOW - day, device="d1")  # another merchant: not counted
    with db.reader() as session:
        history = load_payment_history(session, a, NOW - 30 * day, NOW)
    assert history.frame.height == 7 and history.skipped == 0
    result = dry_run_history(RULES, history)
    assert result.payments == 5 and result.version == "try-1"
    fired = {r.id: r.fired for r in result.rules}
    assert fired == {"NEW": 3, "BIG": 1, "BURST": 1}
    assert (result.fired, result.would_step_up, result.would_block) == (4, 3, 1)
    assert result.fraud_payments == 1 and result.fraud_caught == 1 and result.legit_hit == 3  # stopped then: the BIG one


def test_every_merchant_for_the_platform_and_an_empty_window(db, shops):
    a, b = shops
    pay(db, a, 150_000, NOW - timedelta(days=1))
    pay(db, b, 150_000, NOW - timedelta(days=1))
    with db.reader() as session:
        everyone = load_payment_history(session, None, NOW - timedelta(days=5), NOW)
        nothing = load_payment_history(session, a, NOW - timedelta(days=60), NOW - timedelta(days=50))
    assert dry_run_history(RULES, everyone).would_block == 2
    empty = dry_run_history(RULES, nothing)
    assert (empty.payments, empty.fired, empty.would_block) == (0, 0, 0)


def test_a_history_too_large_or_a_window_backwards_is_refused(db, shops, monkeypatch):
    a, _ = shops
    for minutes in (1, 2, 3):
        pay(db, a, 1_000, NOW - timedelta(minutes=minutes))
    monkeypatch.setattr(history_module, "PAYMENTS_MAX", 2)
    with db.reader() as session:
        with pytest.raises(RiskError) as too_large:
            load_payment_history(session, a, NOW - timedelta(days=1), NOW)
        with pytest.raises(RiskError) as backwards:
            load_payment_history(session, a, NOW, NOW - timedelta(days=1))
    assert too_large.value.code == "history_too_large" and backwards.value.code == "bad_window"
