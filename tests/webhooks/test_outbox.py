import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from juhe.webhooks import enqueue_event
from juhe.webhooks.models import DELIVERIES, EVENTS
from juhe.webhooks.outbox import event_body

URL = "https://shop.example.com/hooks"


def _count(hooks, table) -> int:
    with hooks.db.engine.connect().execution_options(sqlite_read_only=True) as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_deliveries_only_for_matching_enabled_endpoints_of_the_merchant(hooks):
    everything, _ = hooks.add_endpoint(hooks.a, URL + "/all", ["*"])
    payments, _ = hooks.add_endpoint(hooks.a, URL + "/payments", ["payment.succeeded", "payment.failed"])
    hooks.add_endpoint(hooks.a, URL + "/refunds", ["refund.succeeded"])
    disabled, _ = hooks.add_endpoint(hooks.a, URL + "/old", ["*"])
    hooks.disable(hooks.a, disabled)
    hooks.add_endpoint(hooks.b, URL + "/b", ["*"])

    event_id = hooks.enqueue(hooks.a, "payment.succeeded")

    rows = hooks.deliveries(event_id)
    assert {r.endpoint_id for r in rows} == {everything, payments}
    assert all(r.merchant_id == hooks.a.id and r.status == "pending" and r.attempts == 0 for r in rows)
    assert all(r.next_attempt_at == r.created_at and r.retry_until == r.created_at + timedelta(days=3) for r in rows)


def test_event_without_subscribers_is_still_recorded(hooks):
    event_id = hooks.enqueue(hooks.a, "payment.succeeded")
    assert hooks.deliveries(event_id) == []
    assert _count(hooks, EVENTS) == 1


def test_rolled_back_transaction_leaves_no_event_and_no_delivery(hooks):
    hooks.add_endpoint(hooks.a, URL, ["*"])
    with hooks.db.session() as session:
        with pytest.raises(RuntimeError), session.begin():
            enqueue_event(session, hooks.a.id, "payment.succeeded", {"amount_minor": 100})
            raise RuntimeError("the payment's own write failed")
    assert _count(hooks, EVENTS) == 0
    assert _count(hooks, DELIVERIES) == 0


def test_enqueue_does_not_commit_the_callers_transaction(hooks):
    hooks.add_endpoint(hooks.a, URL, ["*"])
    with hooks.db.engine.connect() as conn:
        trans = conn.begin()
        enqueue_event(conn, hooks.a.id, "refund.succeeded", {"refund_id": "r1"})
        trans.rollback()
    assert _count(hooks, EVENTS) == 0


def test_enqueue_on_a_core_connection_commits_with_it(hooks):
    hooks.add_endpoint(hooks.a, URL, ["*"])
    with hooks.db.engine.begin() as conn:
        event_id = enqueue_event(conn, hooks.a.id, "refund.succeeded", {"refund_id": "r1"})
    assert len(hooks.deliveries(event_id)) == 1


def test_body_is_the_event_envelope(hooks):
    hooks.add_endpoint(hooks.a, URL, ["*"])
    event_id = hooks.enqueue(hooks.a, "payment.succeeded", {"amount_minor": 100, "merchant": "莲花超市"})
    with hooks.db.engine.connect() as conn:
        event = conn.execute(select(EVENTS).where(EVENTS.c.id == event_id)).one()
    body = event_body(event.id, event.type, event.created_at, event.payload)
    assert json.loads(body) == {
        "id": str(event_id), "type": "payment.succeeded", "created_at": event.created_at.isoformat(),
        "data": {"amount_minor": 100, "merchant": "莲花超市"},
    }
    assert "莲花超市".encode() in body  # UTF-8, not \\u escapes


@pytest.mark.parametrize("type, payload", [
    ("PaymentSucceeded", {}), ("payment", {}), ("payment.succeeded", {"at": object()}),
    ("payment.succeeded", {"amount": float("nan")}), ("payment.succeeded", {"blob": "x" * 300_000}),
])
def test_bad_event_fails_inside_the_callers_transaction(hooks, type, payload):
    with hooks.db.session() as session, session.begin():
        with pytest.raises((ValueError, TypeError)):
            enqueue_event(session, hooks.a.id, type, payload)
    assert _count(hooks, EVENTS) == 0
