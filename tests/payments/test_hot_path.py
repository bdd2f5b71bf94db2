"""The payment path's shape: no database work on the event loop, and three durable commits
from create to succeeded (create; the channel's answer; the success with its ledger posting,
notification log and webhook outbox)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from juhe.db.engine import loop_guard, wrote

QR = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea"}
# Background work: webhook delivery, health sharing, the tamper-evident log's ingest and signed
# heads, the retraining claim, the monitor's audited alerts.
BACKGROUND_TABLES = ("webhook_deliveries", "webhook_attempts", "channel_health_reports", "trace_entries", "trace_nodes",
                     "trace_frontier", "trace_cursors", "trace_tree_heads", "risk_activations", "audit_records", "audit_chain_head")


@pytest.fixture
def strict_loop():
    loop_guard.strict = True  # a connection taken on an event-loop thread raises
    yield
    loop_guard.strict = False


@pytest.fixture
def commits(stack):
    """Each commit that wrote, as the list of its writing statements."""
    seen: list[list[str]] = []
    lock = threading.Lock()

    def mark(connection, cursor, statement, *_):
        if wrote(cursor, statement):
            connection.info.setdefault("test_writes", []).append(" ".join(statement.split()[:3]))

    def commit(connection):
        writes = connection.info.pop("test_writes", None)
        if writes:
            with lock:
                seen.append(writes)

    def rollback(connection):
        connection.info.pop("test_writes", None)

    engine = stack.db.engine
    event.listen(engine, "after_cursor_execute", mark)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    yield seen
    event.remove(engine, "after_cursor_execute", mark)
    event.remove(engine, "commit", commit)
    event.remove(engine, "rollback", rollback)


def _create(stack, key: str, channel: str = "alipay") -> dict:
    answer = stack.api.post("/v1/payments", json={**QR, "preferred_channel": channel},
                            headers={**stack.key("business"), "Idempotency-Key": key})
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.mark.parametrize("channel", ["alipay", "wechatpay"])
def test_three_durable_commits_from_create_to_succeeded(stack, commits, channel):
    payment = _create(stack, f"commits-{channel}")
    assert stack.pay(payment).status_code == 200
    stack.wait_for(payment["id"], {"succeeded"})
    payment_path = [writes for writes in list(commits)
                    if not all(any(table in w for table in BACKGROUND_TABLES) for w in writes)
                    and not all("idempotency_records" in w and w.startswith("DELETE") for w in writes)]
    assert len(payment_path) == 3, payment_path
    created, answered, succeeded = payment_path
    assert "INSERT INTO payments" in created and "INSERT INTO payment_attempts" in created
    assert any(w.startswith("UPDATE payment_attempts") for w in answered)
    assert "INSERT INTO ledger_transactions" in succeeded and "INSERT INTO channel_notifications" in succeeded
    assert "INSERT INTO webhook_events" in succeeded  # the outbox, in the same commit as the money


def test_no_database_work_on_the_event_loop_through_a_payments_life(stack, strict_loop):
    business, finance = stack.key("business"), stack.key("finance")
    payment = _create(stack, "strict-1")
    assert stack.pay(payment).status_code == 200
    stack.wait_for(payment["id"], {"succeeded"})
    assert stack.api.get(f"/v1/payments/{payment['id']}", headers=business).status_code == 200
    assert stack.api.get("/v1/payments", headers=business).status_code == 200
    refund = stack.api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount_minor": 288},
                            headers={**business, "Idempotency-Key": "strict-refund-1"})
    assert refund.status_code in (200, 201), refund.text
    assert stack.api.get("/v1/accounts", headers=finance).status_code == 200
    other = _create(stack, "strict-2", "wechatpay")
    assert stack.api.post(f"/v1/payments/{other['id']}/cancel", headers=business).status_code == 200
