"""Store terminals through the whole product: terminal → Juhe's gateway → acquirer sandbox, and
what the core makes of it: payments, holds and their completion, refunds, reversals, the ledger."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from juhe.channels.base import ChargeSucceeded, PaymentStatus
from juhe.channels.pos import signing
from juhe.channels.pos.gateway import TerminalReversal, TerminalSale
from juhe.channels.pos.sandbox import TEST_CARDS
from juhe.channels.pos.terminal import TerminalSimulator
from juhe.ledger import verify_ledger
from juhe.money import Money
from juhe.payments.models import MerchantChannel, Payment, Refund
from juhe.payments.pos import PosRecordError, record_pos_event

APPROVE = TEST_CARDS["approve"].track2
PANS = [card.track2.split("=")[0] for card in TEST_CARDS.values()]


def terminal(stack, number: int = 0, key: bytes | None = None) -> TerminalSimulator:
    info = stack.merchants[0]["terminals"][number]
    mac_key = key or signing.load_key(Path(info["mac_key_file"]), signing.MAC_KEY_BYTES)
    return TerminalSimulator("127.0.0.1", stack.runtime.pos_gateway_port, info["terminal_id"],
                             stack.runtime.payments.channels["pos"].merchant_id, mac_key, timeout_s=10)


def pos_payments(stack) -> list[Payment]:
    with stack.db.reader() as session:
        return list(session.scalars(select(Payment).where(Payment.scenario == "pos").order_by(Payment.created_at)))


def test_a_card_purchase_at_a_store_terminal_is_a_succeeded_payment_of_that_store(stack):
    receipt = asyncio.run(terminal(stack).purchase(88_00, APPROVE))
    assert receipt.approved and receipt.card == "622202******0015"
    [payment] = pos_payments(stack)
    assert payment.status == "succeeded" and payment.amount_minor == 88_00 and payment.channel == "pos"
    assert payment.store_id is not None and payment.fee_minor == 66  # 75 bps of ¥88.00, half up
    assert payment.meta["card_display"] == "622202******0015" and payment.meta["card_token"].startswith("tok_")
    view = stack.api.get(f"/v1/payments/{payment.id}", headers=stack.key("business")).json()
    assert view["status"] == "succeeded" and view["scenario"] == "pos"
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_a_declined_card_is_a_failed_payment_and_moves_no_money(stack):
    receipt = asyncio.run(terminal(stack).purchase(10_00, TEST_CARDS["do_not_honour"].track2))
    assert not receipt.approved and receipt.code == "05"
    [payment] = pos_payments(stack)
    assert payment.status == "failed" and payment.failure_code == "card_declined_05" and payment.ledger_txn_id is None


def test_an_authorisation_holds_until_its_completion_captures_less(stack):
    till = terminal(stack)

    async def hotel_stay():
        held = await till.authorise(500_00, APPROVE)
        assert held.approved
        [open_payment] = pos_payments(stack)
        assert open_payment.status == "processing" and open_payment.ledger_txn_id is None
        return await till.complete(held, 420_00)

    assert asyncio.run(hotel_stay()).approved
    [payment] = pos_payments(stack)
    assert payment.status == "succeeded" and payment.amount_minor == 420_00
    assert payment.meta["authorised_minor"] == 500_00 and payment.meta["pos_kind"] == "completion"


def test_a_pos_payment_is_refunded_through_the_acquirer(stack):
    assert asyncio.run(terminal(stack).purchase(30_00, APPROVE)).approved
    [payment] = pos_payments(stack)
    refund = stack.api.post(f"/v1/payments/{payment.id}/refunds", json={"amount_minor": 10_00},
                            headers=stack.key("business") | {"Idempotency-Key": "pos-refund-1"})
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded"


def test_an_unregistered_terminal_or_a_wrong_key_is_refused_and_records_nothing(stack):
    from juhe.channels.pos.terminal import TerminalSimulator as Sim

    stranger = Sim("127.0.0.1", stack.runtime.pos_gateway_port, "POS99999",
                   stack.runtime.payments.channels["pos"].merchant_id, bytes(16), timeout_s=10)
    assert asyncio.run(stranger.purchase(5_00, APPROVE)).code == "97"
    wrong_key = terminal(stack, key=bytes(range(16)))
    assert not asyncio.run(wrong_key.purchase(5_00, APPROVE)).approved
    assert pos_payments(stack) == []


def test_a_disabled_terminal_is_refused(stack):
    tid = stack.merchants[0]["terminals"][0]["terminal_id"]
    answer = stack.api.patch(f"/v1/terminals/{tid}", json={"enabled": False}, headers=stack.key("it"))
    assert answer.status_code == 200 and answer.json()["enabled"] is False
    assert asyncio.run(terminal(stack).purchase(5_00, APPROVE)).code == "97"
    assert pos_payments(stack) == []


def sale(tid: str, order_no: str, amount_minor: int = 12_00) -> TerminalSale:
    status = PaymentStatus(order_no, "succeeded", Money(amount_minor, "CNY"), "RRN000000001")
    return TerminalSale(order_no, tid, "purchase", Money(amount_minor, "CNY"), ChargeSucceeded(status), "ab" * 16,
                        "622202******0015")


def test_a_terminal_reversal_of_a_recorded_sale_refunds_it_once(stack):
    ctx, tid = stack.runtime.payments, stack.merchants[0]["terminals"][0]["terminal_id"]
    order_no = f"T{uuid.uuid4().hex[:20]}"
    assert asyncio.run(record_pos_event(ctx, sale(tid, order_no))) == "recorded"
    assert asyncio.run(record_pos_event(ctx, sale(tid, order_no))) == "replayed"
    reversal = TerminalReversal(order_no, tid, Money(12_00, "CNY"))
    assert asyncio.run(record_pos_event(ctx, reversal)) == "refunded"
    assert asyncio.run(record_pos_event(ctx, reversal)) == "replayed"  # terminals repeat reversals (0401)
    assert asyncio.run(record_pos_event(ctx, TerminalReversal("never-seen", tid, Money(1, "CNY")))) == "ignored"
    with stack.db.reader() as session:
        [refund] = session.scalars(select(Refund)).all()
        payment = session.get(Payment, refund.payment_id)
    assert refund.status == "succeeded" and refund.amount_minor == 12_00 and payment.refunded_minor == 12_00
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_reports_the_core_cannot_take_raise_and_change_nothing(stack):
    ctx, tid = stack.runtime.payments, stack.merchants[0]["terminals"][0]["terminal_id"]
    with pytest.raises(PosRecordError, match="not registered"):
        asyncio.run(record_pos_event(ctx, sale("NOSUCH01", "T1")))
    completion = TerminalSale("T2", tid, "completion", Money(1_00, "CNY"), sale(tid, "T2").outcome, None, None, "T-missing")
    with pytest.raises(PosRecordError, match="no open authorisation"):
        asyncio.run(record_pos_event(ctx, completion))
    with stack.db.session() as session, session.begin():
        session.get(MerchantChannel, (uuid.UUID(stack.merchants[0]["id"]), "pos")).enabled = False
    with pytest.raises(PosRecordError, match="no card-acquiring contract"):
        asyncio.run(record_pos_event(ctx, sale(tid, "T3")))
    assert pos_payments(stack) == []


def test_no_clear_card_number_is_stored_after_terminal_payments(stack):
    till = terminal(stack)
    for card in ("approve", "do_not_honour", "low_balance"):
        asyncio.run(till.purchase(150_00, TEST_CARDS[card].track2))
    assert len(pos_payments(stack)) == 3
    dump = "\n".join(stack.db.engine.raw_connection().iterdump()) if stack.db.dialect == "sqlite" else ""
    assert dump and not any(pan in dump for pan in PANS)


def test_a_refunded_card_payment_reconciles_with_the_acquirer_keeping_its_fee(stack, monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from juhe.config import get_settings

    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", "pos-recon-token")
    get_settings.cache_clear()
    assert asyncio.run(terminal(stack).purchase(200_00, APPROVE)).approved
    [payment] = pos_payments(stack)
    refund = stack.api.post(f"/v1/payments/{payment.id}/refunds", json={"amount_minor": 50_00},
                            headers=stack.key("business") | {"Idempotency-Key": "pos-refund-recon"})
    assert refund.json()["status"] == "succeeded", refund.text
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    run = stack.api.post("/v1/reconciliations", json={"channel": "pos", "date": today},
                         headers={"Authorization": "Bearer pos-recon-token"})
    get_settings.cache_clear()
    assert run.status_code == 201, run.text
    summary = run.json()["summary"]
    assert set(summary["categories"]) == {"matched"} and summary["categories"]["matched"]["CNY"]["rows"] == 2
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok
