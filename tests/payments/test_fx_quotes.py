"""FX quotes from the cross-border channel's desk: kept per merchant, with their expiry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from juhe.treasury.models import FxQuote

ASK = {"sell_currency": "CNY", "buy_currency": "USD", "amount_minor": 100_000, "currency": "USD"}


def quotes(stack) -> int:
    with stack.db.reader() as session:
        return session.scalar(select(func.count()).select_from(FxQuote))


def test_quote_is_taken_kept_and_shown_only_to_its_merchant(stack):
    taken = stack.api.post("/v1/fx/quotes", json=ASK, headers=stack.key("business"))
    assert taken.status_code == 201, taken.text
    quote = taken.json()
    assert Decimal(quote["rate"]) > 0 and quote["expired"] is False
    assert (quote["sell_currency"], quote["buy_currency"]) == ("CNY", "USD")
    again = stack.api.get(f"/v1/fx/quotes/{quote['id']}", headers=stack.key("finance"))
    assert again.json()["rate"] == quote["rate"]
    other = stack.api.get(f"/v1/fx/quotes/{quote['id']}", headers=stack.key("business", 1))
    assert other.status_code == 404 and other.json()["code"] == "fx_quote_not_found"


def test_expired_quote_says_so(stack):
    quote = stack.api.post("/v1/fx/quotes", json=ASK, headers=stack.key("business")).json()
    with stack.db.session() as session, session.begin():
        row = session.get(FxQuote, quote["id"])
        row.expires_at = row.expires_at - timedelta(days=1)
    assert stack.api.get(f"/v1/fx/quotes/{quote['id']}", headers=stack.key("business")).json()["expired"] is True


def test_bad_quote_requests_are_refused_and_keep_nothing(stack):
    same = stack.api.post("/v1/fx/quotes", json={**ASK, "buy_currency": "CNY"}, headers=stack.key("business"))
    assert same.status_code == 422 and same.json()["code"].startswith("fx_")
    unknown = stack.api.post("/v1/fx/quotes", json={**ASK, "buy_currency": "ZZZ"}, headers=stack.key("business"))
    assert unknown.status_code == 422
    assert stack.api.post("/v1/fx/quotes", json=ASK, headers=stack.key("risk")).status_code == 403
    assert quotes(stack) == 0


def test_payment_naming_an_expired_or_foreign_quote_is_refused_and_creates_nothing(stack):
    from juhe.payments.models import Payment

    quote = stack.api.post("/v1/fx/quotes", json=ASK, headers=stack.key("business")).json()
    with stack.db.session() as session, session.begin():
        row = session.get(FxQuote, quote["id"])
        row.expires_at = row.expires_at - timedelta(days=1)
    body = {"amount_minor": 100_000, "currency": "USD", "scenario": "crossborder", "subject": "Steel coil",
            "payer": {"quote_id": quote["id"], "rail": "swift"}}
    expired = stack.api.post("/v1/payments", json=body, headers={**stack.key("business"), "Idempotency-Key": "x1"})
    assert expired.status_code == 422 and expired.json()["code"] == "fx_quote_expired"
    foreign = stack.api.post("/v1/payments", json=body, headers={**stack.key("business", 1), "Idempotency-Key": "x2"})
    assert foreign.status_code == 404 and foreign.json()["code"] == "fx_quote_not_found"
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
