"""The demo's live stream: the retailer's planned sales through the public API of a running Juhe."""

from __future__ import annotations

from juhe.ledger import verify_ledger
from juhe.simulation.stream import LiveStream


def test_the_live_stream_sells_through_the_api_and_the_books_follow(stack, data_dir):
    urls = {code: running.server.base_url for code, running in stack.runtime.sandboxes.items()}
    lines: list[str] = []
    stream = LiveStream(str(stack.api.base_url), stack.merchants[0], urls, data_dir / "sandbox" / "pos" / "pos_card_key.hex",
                        interval_s=0.05, report=lines.append)
    tally = stream.run(limit=30)
    assert tally.sales == 30
    assert tally.by_status.get("succeeded", 0) >= 24, tally.line()
    assert lines and lines[-1].startswith("live: 30 sales")
    listed = stack.api.get("/v1/payments?limit=100", headers=stack.key("finance")).json()["data"]
    succeeded = [p for p in listed if p["status"] == "succeeded"]
    assert len(succeeded) == tally.by_status["succeeded"]
    assert {p["scenario"] for p in listed} >= {"qr", "pos", "face"}
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok


def test_the_live_stream_sells_till_codes_installments_bnpl_and_memberships_through_the_api(stack, data_dir):
    from datetime import datetime, timezone

    from sqlalchemy import select

    from juhe.bnpl.models import BnplOrder
    from juhe.installments.models import InstallmentSale
    from juhe.qrcodes.models import QrCode
    from juhe.simulation.business import Sale
    from juhe.simulation.scenarios import HUABEI_OPTIONS, MEMBERSHIP
    from juhe.subscriptions.models import Subscription

    from tests.bnpl.conftest import known_payer

    business = stack.key("business")
    assert stack.api.post("/v1/installment-plans", json={"channel": "alipay", "fee_bearer": "merchant", "options": HUABEI_OPTIONS},
                          headers=business).status_code == 201
    product = stack.api.post("/v1/billing/products", json={"name": MEMBERSHIP[0]}, headers=business | {"Idempotency-Key": "p"}).json()
    assert stack.api.post("/v1/billing/plans", json={"product_id": product["id"], "code": MEMBERSHIP[1], "trial_days": 7,
                          "pricing": {"model": "fixed", "unit_amount_minor": MEMBERSHIP[2]}},
                          headers=business | {"Idempotency-Key": "q"}).status_code == 201
    with stack.db.session() as session, session.begin():
        known_payer(session, "cust-0002", now=datetime.now(timezone.utc))
    urls = {code: running.server.base_url for code, running in stack.runtime.sandboxes.items()}
    stream = LiveStream(str(stack.api.base_url), stack.merchants[0], urls, data_dir / "sandbox" / "pos" / "pos_card_key.hex",
                        report=lambda _line: None)
    at = datetime.now(timezone.utc)
    card_key = b"\0" * 16  # no card sale here
    for sale in (Sale(at, "installment", 3_600_00, 1, "alipay", store="sh-01", customer="cust-0001", extra={"periods": 6}),
                 Sale(at, "bnpl", 800_00, 2, "wechatpay", customer="cust-0002", extra={"offered": True, "within_means": False,
                                                                                        "installments": 3}),
                 Sale(at, "subscribe", 19_90, 3, "alipay", customer="member-1", extra={"revokes": False}),
                 *(Sale(at, "store_qr", 32_50, 4 + i, channel, store="bj-01", customer=f"cust-000{4 + i}", extra={"qr": "dynamic"})
                   for i, channel in enumerate(("wechatpay", "alipay")))):  # the till's dynamic 聚合码, scanned by each wallet
        stream._sell(sale, {"store": stream._codes("/v1/stores"), "line": {}}, card_key)
    assert stream.tally.by_status.get("succeeded", 0) == 3 and stream.tally.by_status.get("captured") == 1, stream.tally.line()
    with stack.db.reader() as session:
        assert session.scalar(select(InstallmentSale.periods)) == 6
        assert session.scalar(select(BnplOrder.status)) == "captured"
        assert session.scalar(select(Subscription.status)) == "trialing"
        till = session.scalars(select(QrCode).where(QrCode.kind == "dynamic")).all()
        assert len(till) == 2 and all(code.payment_id for code in till)
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok
