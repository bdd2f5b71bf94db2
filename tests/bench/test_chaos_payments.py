"""`juhe chaos payments`, run small: payments through every channel under timeouts, 5xx and
lost, duplicated and reordered notifications keep their invariants -- the payer-completed ones
succeed, nobody is charged twice, nothing is stuck past its expiry, the ledger proves.

The last two tests pin down races between a channel that takes the money at once and the
answer to our create call, found with this harness and fixed in the payment core."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from juhe.bench import chaos
from juhe.bench.stack import Stack, StackOptions
from juhe.channels.simkit import Faults
from juhe.cli import app
from juhe.payments.models import Refund

KEYS = {"payments", "success_rate", "double_charges", "stuck", "ledger_ok"}


def test_chaos_payments_keep_their_invariants():
    answer = CliRunner().invoke(app, ["chaos", "payments", "--n", "150", "--concurrency", "32", "--seed", "7", "--json"])
    # Exit 0: every invariant held, and neither the API nor its worker logged an error.
    assert answer.exit_code == 0, answer.output
    figures = json.loads(answer.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert figures["payments"] == 150
    assert figures["success_rate"] >= 0.99
    assert figures["double_charges"] == 0
    assert figures["stuck"] == 0
    assert figures["ledger_ok"] is True


def test_the_table_marks_what_broke():
    broken = chaos.ChaosResult(payments=10, success_rate=0.9, double_charges=1, stuck=0, ledger_ok=True,
                               payer_completed=10, completed_succeeded=9, worker_failures=2)
    assert not broken.ok
    cells = [str(cell) for column in broken.table().columns for cell in column._cells]
    assert "[red]90.00% ✗[/red]" in cells and "[red]1 ✗[/red]" in cells and "[green]0 ✓[/green]" in cells
    assert broken.figures() == {"payments": 10, "success_rate": 0.9, "double_charges": 1, "stuck": 0, "ledger_ok": True}


def test_paid_at_create_orders_whose_create_timed_out_are_booked_once():
    result = chaos.run(n=40, concurrency=16, seed=11, pay_at_once=True, faults={"timeout_rate": 0.15}, grace_s=10)
    assert result.double_charges == 0 and result.stuck == 0 and result.ledger_ok
    assert result.worker_failures == 0
    assert result.loose_attempts == 0
    assert result.succeeded_unpaid == 0


def test_a_notification_that_overtakes_the_create_answer_books_the_payment_once():
    with Stack(StackOptions(in_process=True, poll_initial_s=0.3, worker_interval_s=0.05)) as stack:
        adapter = stack._runtime.payments.channels["alipay"]
        create = adapter.create

        async def slow_answer(request):  # the channel books and answers; the answer is slow on the wire
            answer = await create(request)
            await asyncio.sleep(0.3)
            return answer

        adapter.create = slow_answer
        stack.set_faults(Faults(auto_pay_after_ms=0), channel="alipay")  # paid the moment it is booked
        body = {"amount_minor": 1288, "currency": "CNY", "scenario": "qr", "subject": "Green tea",
                "preferred_channel": "alipay"}
        payment = stack.api.post("/v1/payments", json=body, headers=stack.key("business", idem="early")).json()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            payment = stack.api.get(f"/v1/payments/{payment['id']}", headers=stack.key("business")).json()
            if payment["status"] in ("succeeded", "failed", "canceled"):
                break
            time.sleep(0.05)
        time.sleep(1)  # let a wrong refund happen, if one will
        order = stack.sandbox_order("alipay", payment["channel_order_no"])
        with stack.db.session() as session:
            refunds = session.scalars(select(Refund)).all()
    assert payment["status"] == "succeeded"
    assert refunds == []
    assert order["state"] == "succeeded" and order["refunds"] == {}
