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
