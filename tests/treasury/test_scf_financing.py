"""A confirmed receivable financed once: the offers, the advance and the repayment as balanced
ledger transactions, and every refusal (unknown, unconfirmed, past maturity, above face, twice,
also when two funders accept at the same moment)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from juhe.ledger import ensure_account, payable_code, post, transfer
from juhe.orders.service import OrderError, settle_order
from juhe.scf import service
from juhe.scf.demo import deposit
from juhe.scf.errors import ScfError
from juhe.scf.postings import RECEIVABLE
from juhe.scf.worker import repay_due

from tests.treasury.conftest import FACE, FUNDED, NOW, RATES, TODAY

MATURITY = TODAY + timedelta(days=90)


def confirmed(scf, maturity=MATURITY) -> uuid.UUID:
    order_id = scf.invoiced_order()
    with scf.db.session() as session, session.begin():
        service.confirm(session, scf.buyer, order_id, maturity, TODAY)
    return order_id


def offers(scf, order_id, amount_minor=None, today=TODAY):
    with scf.db.reader() as session:
        return service.offers(session, scf.supplier, order_id, amount_minor, today, RATES)


def accept(scf, order_id, offer_of, amount_minor=None, now=NOW):
    with scf.db.session() as session, session.begin():
        financing = service.accept(session, scf.supplier, order_id, offer_of, amount_minor, now, RATES)
        return financing.id, financing.net_minor, financing.status


def refused(code, call, *args):
    with pytest.raises(ScfError) as caught:
        call(*args)
    assert caught.value.code == code
    return caught.value


def test_offers_come_from_every_funder_and_the_buyer_cheapest_first(scf):
    order_id = confirmed(scf)
    found = offers(scf, order_id)
    assert [(o.funder_code or "buyer") for o in found] == ["buyer", "cmb", "icbc"]
    assert [o.apr_bps for o in found] == sorted(o.apr_bps for o in found)
    for offer in found:
        assert offer.days == 90 and offer.amount_minor == FACE
        assert offer.net_minor == FACE - offer.discount_minor - offer.fee_minor
        assert offer.apr_bps < RATES.market_apr_bps and offer.saving > 0


def test_reverse_factoring_advances_then_the_buyer_repays_the_funder(scf_both):
    scf = scf_both
    order_id = confirmed(scf)
    financing_id, net, status = accept(scf, order_id, "icbc")
    icbc = scf.funders["icbc"]
    assert status == "advanced"
    assert scf.payable(scf.supplier) == net
    assert scf.payable(icbc) == FUNDED - net
    assert scf.balance(RECEIVABLE) == FACE
    assert scf.payable(icbc, ":scf") == FACE
    with scf.db.session() as session, session.begin():
        refused("financing_not_due", service.repay, session, scf.buyer, financing_id, NOW + timedelta(days=89))
    assert repay_due(scf.db, NOW + timedelta(days=89)) == ([], [])
    assert repay_due(scf.db, NOW + timedelta(days=90)) == ([financing_id], [])  # the worker's round at maturity
    assert repay_due(scf.db, NOW + timedelta(days=91)) == ([], [])
    assert scf.balance(RECEIVABLE) == 0 and scf.payable(icbc, ":scf") == 0
    assert scf.payable(icbc) == FUNDED - net + FACE  # the funder earned discount and fee
    assert scf.payable(scf.buyer) == FUNDED - FACE
    assert scf.ledger_ok()
    with scf.db.session() as session, session.begin():
        refused("financing_not_outstanding", service.repay, session, scf.buyer, financing_id, NOW + timedelta(days=91))


def test_dynamic_discounting_is_the_buyer_paying_early_from_its_own_cash(scf):
    order_id = confirmed(scf)
    _, net, status = accept(scf, order_id, "buyer", 5_000_000)
    assert status == "settled"
    assert net < 5_000_000
    assert scf.payable(scf.supplier) == net and scf.payable(scf.buyer) == FUNDED - net
    assert scf.balance(RECEIVABLE) == 0 and scf.ledger_ok()


def test_a_receivable_is_financed_once_also_by_another_funder(scf):
    order_id = confirmed(scf)
    accept(scf, order_id, "icbc")
    refused("receivable_already_financed", accept, scf, order_id, "cmb")
    refused("receivable_already_financed", accept, scf, order_id, "buyer")
    refused("receivable_already_financed", offers, scf, order_id)


def test_funders_accepting_at_the_same_moment_finance_it_once(scf_both):
    scf = scf_both
    order_id = confirmed(scf)
    outcomes, barrier = [], threading.Barrier(4)

    def take(offer_of):
        barrier.wait()
        try:
            accept(scf, order_id, offer_of)
            outcomes.append("financed")
        except ScfError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=take, args=(o,)) for o in ("icbc", "cmb", "buyer", "icbc")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["financed"] + ["receivable_already_financed"] * 3
    paid = scf.payable(scf.supplier)
    assert 0 < paid < FACE  # one advance, not two
    assert scf.balance(RECEIVABLE) in (0, FACE) and scf.ledger_ok()


def test_what_cannot_be_financed_is_refused(scf):
    refused("receivable_not_found", offers, scf, uuid.uuid4())
    unconfirmed = scf.invoiced_order()
    refused("receivable_not_confirmed", offers, scf, unconfirmed)
    order_id = confirmed(scf)
    refused("receivable_past_maturity", offers, scf, order_id, None, MATURITY)
    refused("amount_above_face", offers, scf, order_id, FACE + 1)
    refused("amount_above_face", offers, scf, order_id, 0)
    refused("offer_not_found", accept, scf, order_id, "nobody")
    with scf.db.reader() as session:  # another merchant's receivable is unknown to it
        refused("receivable_not_found", service.offers, session, scf.buyer, order_id, None, TODAY, RATES)


def test_a_funder_without_the_money_advances_nothing(scf):
    with scf.db.session() as session, session.begin():
        from juhe.scf.models import ScfFunder
        from juhe.merchants import create_merchant
        poor = create_merchant(session, "Empty Factor", "services").id
        session.add(ScfFunder(merchant_id=poor, code="aaa", name="Empty Factor", margin_bps=0, fee_bps=0))
    order_id = confirmed(scf)
    refused("funder_funds_insufficient", accept, scf, order_id, "aaa")
    assert scf.payable(scf.supplier) == 0
    accept(scf, order_id, "icbc")  # the refusal left no claim behind


def test_the_buyer_confirms_only_its_own_invoiced_orders(scf):
    invoiced = scf.invoiced_order()
    with scf.db.session() as session, session.begin():
        refused("not_an_scf_buyer", service.confirm, session, scf.supplier, uuid.uuid4(), MATURITY, TODAY)
        refused("receivable_not_found", service.confirm, session, scf.buyer, uuid.uuid4(), MATURITY, TODAY)
        refused("invalid_maturity", service.confirm, session, scf.buyer, invoiced, TODAY, TODAY)
    order_id = confirmed(scf)
    with scf.db.session() as session, session.begin():
        refused("receivable_already_confirmed", service.confirm, session, scf.buyer, order_id, MATURITY, TODAY)


def test_a_buyer_short_of_money_at_maturity_stays_owing_until_it_can_pay(scf):
    order_id = confirmed(scf)
    financing_id, _, _ = accept(scf, order_id, "cmb")
    with scf.db.session() as session, session.begin():  # the buyer withdraws all but 1.00 of its money
        conn = session.connection()
        post(conn, transfer("test:withdraw", ensure_account(conn, payable_code(scf.buyer), "CNY"),
                            ensure_account(conn, "reserve:bank", "CNY", owner_type="platform"), FUNDED - 100,
                            merchant_id=scf.buyer))
    assert repay_due(scf.db, NOW + timedelta(days=90)) == ([], [financing_id])
    assert scf.balance(RECEIVABLE) == FACE and scf.ledger_ok()  # nothing moved
    with scf.db.session() as session, session.begin():
        deposit(session.connection(), scf.buyer, FACE, "test:deposit:again")
    assert repay_due(scf.db, NOW + timedelta(days=91)) == ([financing_id], [])
    assert scf.balance(RECEIVABLE) == 0 and scf.payable(scf.buyer) == 100 and scf.ledger_ok()


def test_a_financed_order_takes_no_other_payment(scf):
    order_id = confirmed(scf)
    accept(scf, order_id, "buyer")
    with scf.db.session() as session, session.begin():
        with pytest.raises(OrderError) as caught:
            settle_order(session, scf.supplier, order_id, uuid.uuid4())
    assert caught.value.code == "order_financed"
