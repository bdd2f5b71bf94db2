"""`juhe demo` plays a business day: QR, a card at a store terminal, face pay, a B2B batch; then
reconciliation of every channel's statement, T+0 settlement paid out by pain.001, the reserve proof."""

from __future__ import annotations

from juhe.config import get_settings
from juhe.demo_day import DemoDay
from juhe.ledger import verify_ledger


def test_the_demo_day_pays_by_every_in_store_channel_and_pays_suppliers(stack, monkeypatch):
    urls = {code: running.server.base_url for code, running in stack.runtime.sandboxes.items()}
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", "demo-day-platform-token")
    get_settings.cache_clear()
    day = DemoDay(str(stack.api.base_url), stack.merchants[0], urls, stack.runtime.pos_gateway_port,
                  stack.runtime.payments.channels["pos"].merchant_id, "demo-day-platform-token")
    story = dict(day.run())
    assert story["QR payment at the web shop"].startswith("succeeded via alipay")
    assert story["card at terminal POS00002 (sh-01)"].startswith("APPROVED 00, card 622202******0015")
    assert story["face pay at the checkout"].startswith("succeeded via facepay")
    assert story["B2B batch to the bank (pain.001)"] == "completed: SUP-20261202-1 settled, SUP-20261202-2 settled"
    for channel in ("alipay", "facepay", "pos"):
        assert story[f"reconcile {channel} statement"] == "matched 1; open cases 0"
    assert story["reconcile bank statement"] == "matched 2; open cases 0"  # the two supplier transfers
    assert story["settlement run (T+0) and payout by pain.001"].startswith("paid ")
    assert story["reserve-fund proof (备付金) against camt.053"].startswith("CNY proven")
    with stack.db.engine.connect() as conn:
        assert verify_ledger(conn).ok
