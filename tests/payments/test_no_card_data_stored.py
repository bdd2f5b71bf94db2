"""No full card number or CVV is ever stored: no table has a column for one, a card payment at a
store terminal leaves only the token and BIN + last four in the database file, and a payment
request that carries card data in its free-form fields is refused before anything is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from juhe.db.models import Base, load_all_models
from juhe.payments.models import Payment
from juhe.pii.card_data import PAN_KEYS, SECRET_KEYS, card_data_in

from .test_pos_payments import APPROVE, PANS, terminal


def test_no_table_has_a_column_for_a_card_number_or_security_code():
    load_all_models()
    columns = {(table.name, c.name) for table in Base.metadata.tables.values() for c in table.columns}
    assert [tc for tc in columns if tc[1].lower() in SECRET_KEYS | PAN_KEYS] == []


def test_a_card_purchase_leaves_no_pan_or_track_data_in_the_database_file(stack):
    receipt = asyncio.run(terminal(stack).purchase(88_00, APPROVE))
    assert receipt.approved
    path = Path(stack.db.engine.url.database)
    stack.db.dispose()
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert b"622202******0015" in raw  # what is stored: BIN and last four
    for pan in PANS:
        assert pan.encode() not in raw
    assert APPROVE.split("=")[1].encode() not in raw  # track 2's discretionary data


@pytest.mark.parametrize("field", [{"payer": {"card_number": "1"}}, {"payer": {"cvv": "123"}},
                                   {"metadata": {"note": "card 6222 0200 0000 0015"}}, {"subject": "for 6222020000000015"}])
def test_a_payment_request_carrying_card_data_is_refused_and_stores_nothing(stack, field):
    body = {"amount_minor": 100, "currency": "CNY", "scenario": "qr", "subject": "coffee", **field}
    answer = stack.api.post("/v1/payments", json=body, headers={**stack.key("business"), "Idempotency-Key": "card-1"})
    assert answer.status_code == 422 and answer.json()["code"] == "card_data_refused", answer.text
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_account_numbers_and_ordinary_fields_pass():
    debit_card_account = "6222020000000015"  # a payee's account may be a debit card's number
    assert card_data_in({"creditor_account": debit_card_account, "client_ip": "10.0.0.1", "openid": "o-123"}, "payer") == []
    assert card_data_in({"x": "6222 0200 0000 0015"}, "payer") == ["payer.x"]
