"""Live figures: flows and success rates, fee rates actually paid, and balances from the ledger,
for the platform and scoped to one merchant."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from juhe.ledger import Entry, Post, ensure_account, payable_code, post
from juhe.monitor import figures
from juhe.payments.postings import collection_posting, fees_for, payment_accounts


def _flows(world, minutes: int, scope):
    with world.db.reader() as session:
        return figures.flows(session.connection(), figures.window_ending(world.now, minutes), scope)


def test_flows_per_merchant_channel_and_currency(world_any):
    w = world_any
    for amount in (1000, 2000, 3000):
        w.payment(w.a, amount, channel="alipay")
    w.payment(w.a, 500, channel="alipay", status="failed", failure_code="declined")
    w.payment(w.a, 700, channel="alipay", status="canceled", failure_code="expired")  # closed unpaid
    w.payment(w.a, 900, channel="alipay", status="canceled")  # the merchant's own cancel
    w.payment(w.a, 400, channel="alipay", status="processing")
    w.payment(w.a, 100, channel="alipay", currency="USD")
    w.payment(w.b, 8000, channel="wechatpay")
    w.payment(w.a, 9999, channel="alipay", minutes_ago=61)  # before the window

    rows = {(f.merchant_id, f.channel, f.currency): f for f in _flows(w, 60, None)}
    assert set(rows) == {(w.a, "alipay", "CNY"), (w.a, "alipay", "USD"), (w.b, "wechatpay", "CNY")}
    cny = rows[(w.a, "alipay", "CNY")]
    assert (cny.payments_count, cny.amount_minor) == (7, 1000 + 2000 + 3000 + 500 + 700 + 900 + 400)
    assert (cny.succeeded_count, cny.succeeded_amount_minor, cny.failed_count, cny.closed_count) == (3, 6000, 1, 1)
    assert cny.success_rate == Decimal("0.6000")

    own = _flows(w, 60, w.b)
    assert [(f.merchant_id, f.channel, f.amount_minor, f.success_rate) for f in own] == [(w.b, "wechatpay", 8000, Decimal("1.0000"))]


def test_fee_rates_actually_paid_beside_the_contract(world_any):
    world = world_any
    world.payment(world.a, 100_000, channel="alipay", fee_minor=600, channel_fee_minor=380)
    world.payment(world.a, 50_000, channel="alipay", fee_minor=300, channel_fee_minor=250)  # charged above contract
    world.payment(world.a, 70_000, channel="alipay", status="failed", channel_fee_minor=999)  # not paid: no fee
    world.payment(world.b, 10_000, channel="unionpay", fee_minor=50, channel_fee_minor=30)
    with world.db.reader() as session:
        rows = figures.fees(session.connection(), figures.window_ending(world.now, 60), None)
    by_key = {(f.merchant_id, f.channel): f for f in rows}
    alipay = by_key[(world.a, "alipay")]
    assert (alipay.payments_count, alipay.amount_minor, alipay.channel_fee_minor, alipay.merchant_fee_minor) == (2, 150_000, 630, 900)
    assert alipay.channel_fee_rate_bps == Decimal("42.00") and alipay.contract_channel_fee_bps == 38
    assert alipay.merchant_fee_rate_bps == Decimal("60.00")
    assert by_key[(world.b, "unionpay")].channel_fee_rate_bps == Decimal("30.00")


def _book(world):
    """a and b collect through Alipay; Alipay pays a's money into the reserve; a holds 200.00
    for an outgoing transfer."""
    with world.conn() as conn:
        for merchant, amount, key in ((world.a, 100_000, "pa"), (world.b, 50_000, "pb")):
            accounts = payment_accounts(conn, merchant, None, None, "alipay", "CNY")
            post(conn, collection_posting(key, merchant, accounts, amount, fees_for(amount, 60, 38), {}))
        clearing = ensure_account(conn, "clearing:alipay", "CNY", owner_type="platform")
        reserve = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        payable = ensure_account(conn, payable_code(world.a), "CNY")
        post(conn, Post("settle-a", (Entry(reserve, 99_620), Entry(clearing, -99_620)), world.a))
        post(conn, Post("hold-a", (Entry(payable, 20_000), Entry(reserve, -20_000)), world.a, pending=True,
                         expires_at=world.now + timedelta(days=30)))


def _balances(world, scope):
    with world.db.reader() as session:
        rows = figures.balances(session.connection(), scope)
    return {(f.group, f.merchant_id, f.account_code): (f.posted_minor, f.held_minor, f.available_minor, f.basis) for f in rows}


def test_platform_balances_show_every_payable_and_its_own_accounts_whole(world_any):
    w = world_any
    _book(w)
    assert _balances(w, None) == {
        ("payable", w.a, None): (99_400, 20_000, 79_400, "accounts"),
        ("payable", w.b, None): (49_700, 0, 49_700, "accounts"),
        ("clearing", None, "clearing:alipay"): (49_810, 0, 49_810, "accounts"),
        ("reserve", None, "reserve:bank"): (99_620, 20_000, 79_620, "accounts"),
    }


def test_a_merchant_sees_its_payables_and_its_share_of_shared_accounts(world_any):
    world = world_any
    _book(world)
    assert _balances(world, world.a) == {
        ("payable", world.a, None): (99_400, 20_000, 79_400, "accounts"),
        ("clearing", world.a, "clearing:alipay"): (0, 0, 0, "merchant_entries"),
        ("reserve", world.a, "reserve:bank"): (99_620, 20_000, 79_620, "merchant_entries"),
    }
    assert _balances(world, world.b) == {
        ("payable", world.b, None): (49_700, 0, 49_700, "accounts"),
        ("clearing", world.b, "clearing:alipay"): (49_810, 0, 49_810, "merchant_entries"),
    }
