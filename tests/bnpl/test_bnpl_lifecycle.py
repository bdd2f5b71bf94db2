"""Lines, approvals, capture, lapses, late fees, reminders and default on a database, with the
clock moved by hand. Every step is checked in the ledger: `receivable:bnpl` always equals what
the orders say payers owe, and the ledger verifies."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from juhe.bnpl import schedule, service
from juhe.bnpl.dunning import STALE_RESERVATION, run_due
from juhe.bnpl.errors import BnplError
from juhe.bnpl.models import BnplLine, BnplOrder, BnplRepayment
from juhe.bnpl.repayments import reserve
from juhe.ledger import payable_code
from juhe.webhooks.models import WebhookEvent

from tests.bnpl.conftest import T0

ORDER = service.NewOrder(customer_id="alice", amount_minor=90_000, currency="CNY", subject="Rice cooker", installments=3)


def decide(books, customer="alice"):
    with books.db.session() as session, session.begin():
        return service.decide_line(session, books.merchant_id, customer, "CNY", T0)


def approve(books, new=ORDER, scope=None):
    with books.db.session() as session, session.begin():
        return service.approve_order(session, books.merchant_id, scope or uuid.uuid4().hex, new, T0).id


def capture(books, order_id, amount=None, at=T0 + timedelta(days=1)):
    with books.db.session() as session, session.begin():
        return service.capture_order(session, books.merchant_id, order_id, amount, at)


def state(books, order_id):
    with books.db.reader() as session:
        order = session.get(BnplOrder, order_id)
        return order, session.get(BnplLine, order.line_id), service.installments_of(session, order)


def events(books, type_):
    with books.db.reader() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.type == type_))


def assert_books_agree(books):
    with books.db.reader() as session:
        owed, receivable = service.exposure(session, "CNY")
    assert owed == receivable == books.balance("receivable:bnpl")
    assert books.ledger_ok()


def test_a_line_is_decided_from_the_risk_history_and_a_thin_one_declined(books):
    line = decide(books)
    assert (line.status, line.limit_minor) == ("active", 120_000)
    assert line.decision["history"]["payments"] == 30 and line.decision["approved"]
    thin = decide(books, "newbie")
    assert (thin.status, thin.limit_minor) == ("declined", 0)
    assert any("payments known" in r for r in thin.decision["reasons"])
    assert events(books, "bnpl.line.decided") == 2


def test_approval_holds_the_amount_on_the_line_and_in_the_ledger(books):
    decide(books)
    order_id = approve(books)
    order, line, _ = state(books, order_id)
    assert order.status == "approved" and line.held_minor == 90_000
    assert books.pending("receivable:bnpl") == 90_000 and books.balance("receivable:bnpl") == 0
    assert books.ledger_ok()


def test_over_the_limit_unknown_line_or_declined_line_are_refused_and_change_nothing(books):
    decide(books)
    decide(books, "newbie")
    approve(books)
    with books.db.reader() as session:
        before = session.scalar(select(func.count()).select_from(BnplOrder))
    for new, code in (
        (service.NewOrder("alice", 30_001, "CNY", "Kettle", 1), "over_credit_limit"),  # 120,000 − 90,000 held
        (service.NewOrder("bob", 1_000, "CNY", "Kettle", 1), "bnpl_line_not_found"),
        (service.NewOrder("newbie", 1_000, "CNY", "Kettle", 1), "bnpl_line_not_active"),
        (service.NewOrder("alice", 1_000, "CNY", "Kettle", 5), "invalid_installments"),
    ):
        with pytest.raises(BnplError) as refused:
            approve(books, new)
        assert refused.value.code == code
    with books.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(BnplOrder)) == before
    assert books.pending("receivable:bnpl") == 90_000


def test_capture_pays_the_merchant_less_its_fee_and_the_payer_owes_the_installments(books):
    decide(books)
    order_id = approve(books)
    capture(books, order_id, 80_000)  # part of the order shipped; the rest of the hold is released
    order, line, parts = state(books, order_id)
    assert order.status == "captured" and order.principal_minor == 80_000 and order.merchant_fee_minor == 2_400
    assert [p.principal_minor for p in parts] == [26_667, 26_667, 26_666]
    assert (line.held_minor, line.owed_minor) == (0, 80_000)
    assert books.balance(payable_code(books.merchant_id)) == 80_000 - 2_400
    assert books.balance("revenue:fees") == 2_400 and books.pending("receivable:bnpl") == 0
    assert_books_agree(books)
    with pytest.raises(BnplError) as twice:
        capture(books, order_id)
    assert twice.value.code == "illegal_transition"


def test_an_approval_not_captured_lapses_and_frees_the_line(books):
    decide(books)
    order_id = approve(books)
    assert run_due(books.db, T0 + timedelta(days=6)).counts["expired"] == 0
    assert run_due(books.db, T0 + service.APPROVAL_TTL).counts["expired"] == 1
    order, line, _ = state(books, order_id)
    assert order.status == "expired" and line.held_minor == 0 and books.pending("receivable:bnpl") == 0
    with pytest.raises(BnplError) as late:
        capture(books, order_id)
    assert late.value.code == "illegal_transition"
    assert books.ledger_ok()


def test_cancel_releases_an_approval(books):
    decide(books)
    order_id = approve(books)
    with books.db.session() as session, session.begin():
        service.cancel_order(session, books.merchant_id, order_id, T0)
    order, line, _ = state(books, order_id)
    assert order.status == "canceled" and line.held_minor == 0 and books.pending("receivable:bnpl") == 0


def test_unpaid_installments_are_reminded_charged_once_and_the_order_defaults(books):
    decide(books)
    order_id = approve(books)
    capture(books, order_id)
    captured_at = T0 + timedelta(days=1)
    first_due = captured_at + schedule.INTERVAL
    assert run_due(books.db, first_due - timedelta(days=3)).counts["reminders"] == 1
    late = run_due(books.db, first_due + schedule.GRACE)
    assert late.counts["late_fees"] == 1 and late.counts["reminders"] == 1
    assert run_due(books.db, first_due + schedule.GRACE + timedelta(hours=1)).counts == dict.fromkeys(late.counts, 0)
    order, line, parts = state(books, order_id)
    assert parts[0].late_fee_minor == 1_500 and parts[0].reminders == ["due", "overdue", "upcoming"]
    assert order.fees_minor == 1_500 and line.owed_minor == 91_500
    assert books.balance("revenue:bnpl_late_fees") == 1_500
    assert_books_agree(books)
    defaulted = run_due(books.db, first_due + schedule.DEFAULT_AFTER)
    assert defaulted.counts["defaults"] == 1
    order, line, _ = state(books, order_id)
    assert order.status == "defaulted" and order.written_off_minor == order.principal_minor + order.fees_minor
    assert line.status == "suspended" and line.owed_minor == 0
    assert books.balance("expense:bnpl_write_offs") == order.written_off_minor
    assert books.balance("receivable:bnpl") == 0
    assert_books_agree(books)
    assert events(books, "bnpl.order.defaulted") == 1
    with pytest.raises(BnplError) as suspended:
        approve(books, service.NewOrder("alice", 1_000, "CNY", "Tea", 1))
    assert suspended.value.code == "bnpl_line_not_active"
    assert decide(books).status == "suspended"  # deciding again does not lift it


def test_a_repayment_above_what_is_owed_or_on_an_unpaid_order_is_refused(books):
    decide(books)
    order_id = approve(books)
    with books.db.session() as session, session.begin(), pytest.raises(BnplError) as not_yet:
        reserve(session, books.merchant_id, order_id, "r0", "h", 1_000)
    assert not_yet.value.code == "bnpl_order_not_repayable"
    capture(books, order_id)
    with books.db.session() as session, session.begin(), pytest.raises(BnplError) as above:
        reserve(session, books.merchant_id, order_id, "r1", "h", 90_001)
    assert above.value.code == "repayment_exceeds_owed" and above.value.extra["repayable_minor"] == 90_000
    with books.db.session() as session, session.begin(), pytest.raises(BnplError) as unknown:
        reserve(session, books.merchant_id, uuid.uuid4(), "r2", "h", 1_000)
    assert unknown.value.code == "bnpl_order_not_found"
    with books.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(BnplRepayment)) == 0


def test_concurrent_repayments_cannot_reserve_more_than_is_owed(books):
    decide(books)
    order_id = approve(books)
    capture(books, order_id)
    outcomes, barrier = [], threading.Barrier(4)

    def repay(i):
        barrier.wait()
        try:
            with books.db.session() as session, session.begin():
                reserve(session, books.merchant_id, order_id, f"race-{i}", "h", 40_000)
            outcomes.append("reserved")
        except BnplError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=repay, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["repayment_exceeds_owed"] * 2 + ["reserved"] * 2
    order, _, _ = state(books, order_id)
    assert order.reserved_minor == 80_000


def test_a_reservation_whose_payment_was_never_made_is_given_back(books):
    decide(books)
    order_id = approve(books)
    capture(books, order_id)
    with books.db.session() as session, session.begin():
        repayment, _ = reserve(session, books.merchant_id, order_id, "crashed", "h", 10_000)
        repayment.created_at = T0 + timedelta(days=2)
    assert run_due(books.db, T0 + timedelta(days=2)).counts["repayments_failed"] == 0
    assert run_due(books.db, T0 + timedelta(days=2) + STALE_RESERVATION).counts["repayments_failed"] == 1
    order, _, _ = state(books, order_id)
    assert order.reserved_minor == 0
    assert events(books, "bnpl.repayment.failed") == 1
