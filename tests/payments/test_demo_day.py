"""`juhe demo` plays a business day: QR, a card at a store terminal, face pay, a B2B batch."""

from __future__ import annotations

from juhe.demo_day import DemoDay
from juhe.ledger import verify_ledger


def test_the_demo_day_pays_by_every_in_store_channel_and_pays_suppliers(stack):
    urls = {code: running.server.base_url for code, running in stack.runtime.sandboxes.items()}
    day = DemoDay(str(stack.api.base_url), stack.merchants[0], urls, stack.runtime.pos_gateway_port,
                  stack.runtime.payments.channels["pos"].merchant_id)
    story = dict(day.run())
    assert story["QR payment at the web shop"].startswith("succeeded via alipay")
    assert story["card at terminal POS00002 (sh-01)"].startswith("APPROVED 00, card 622202******0015")
    assert story["face pay at the checkout"].startswith("succeeded via facepay")
    assert story["B2B batch to the bank (pain.001)"] == "completed: SUP-20261202-1 settled, SUP-20261202-2 settled"
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok
