"""BNPL and subscriptions in the console: who sees the pages, what they show of their own
merchant only, and the roles refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from juhe.bnpl import service as bnpl
from juhe.risk.models import RiskPayerProfile
from juhe.subscriptions import service as subscriptions

NOW = datetime.now(timezone.utc)


def _bnpl_order(console, merchant, customer) -> uuid.UUID:
    with console.db.session() as session, session.begin():
        session.add(RiskPayerProfile(payer_id=customer, first_seen_at=NOW - timedelta(days=200), payments=30, devices=[], cards=[],
                                     regions=[], amounts={"CNY": [40_000] * 10}, hours=[0] * 24, last_at=NOW))
        bnpl.decide_line(session, merchant, customer, "CNY", NOW)
        order = bnpl.approve_order(session, merchant, uuid.uuid4().hex, bnpl.NewOrder(customer, 60_000, "CNY", "Rice cooker", 3), NOW)
        bnpl.capture_order(session, merchant, order.id, None, NOW)
        return order.id


def _subscription(console, merchant, customer) -> uuid.UUID:
    with console.db.session() as session, session.begin():
        product = subscriptions.add_product(session, merchant, "Cloud POS")
        subscriptions.add_plan(session, merchant, product.id, "basic", "CNY", "month", {"model": "per_seat", "unit_amount_minor": 3_000})
        mandate = subscriptions.add_mandate(session, merchant, customer, "alipay", "20260000000000000001", NOW)
        return subscriptions.subscribe(session, merchant, subscriptions.NewSubscription(customer, "basic", mandate.id, 4), NOW).id


def test_business_finance_and_risk_see_their_merchants_bnpl_lines_and_orders(console):
    mine = _bnpl_order(console, console.merchant_a, "alice")
    theirs = _bnpl_order(console, console.merchant_b, "bob")
    for role in ("business", "finance", "risk", "admin"):
        page = console.login(role).get("/console/bnpl")
        assert page.status_code == 200, role
        assert f'data-order="{mine}"' in page.text and f'data-order="{theirs}"' not in page.text
        assert "alice" in page.text and "bob" not in page.text and 'href="/console/bnpl"' in page.text
    text = console.login("finance").get("/console/bnpl").text
    assert "1200.00 CNY" in text and "600.00 CNY" in text  # alice's limit, and what she owes
    for role in ("it", "operator"):
        client = console.login(role)
        assert client.get("/console/bnpl").status_code == 403, role
        assert 'href="/console/bnpl"' not in client.get("/console/").text


def test_business_and_finance_see_subscriptions_and_their_invoices(console):
    mine = _subscription(console, console.merchant_a, "shop-1")
    theirs = _subscription(console, console.merchant_b, "shop-2")
    for role in ("business", "finance", "admin"):
        page = console.login(role).get("/console/subscriptions")
        assert page.status_code == 200, role
        assert f'data-subscription="{mine}"' in page.text and f'data-subscription="{theirs}"' not in page.text
        assert 'id="invoices"' in page.text and "subscription_cycle" in page.text
    for role in ("it", "risk", "operator"):
        client = console.login(role)
        assert client.get("/console/subscriptions").status_code == 403, role
        assert 'href="/console/subscriptions"' not in client.get("/console/").text
