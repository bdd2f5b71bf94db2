"""The daily reserve-fund (备付金) proof: customer funds owed against the reserve account's statement."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from juhe.channels.bank import camt053
from juhe.channels.bank.camt053 import Account, BookedTransfer
from juhe.channels.bank.statement import BankEntry
from juhe.ledger import ensure_account, post, transfer
from juhe.money import Money
from juhe.settlement.models import ReserveProofRow
from juhe.settlement.reserve import ReserveError, prove_reserve

DAY = date(2025, 10, 9)
SHANGHAI = ZoneInfo("Asia/Shanghai")
RESERVE = Account("31050161393600000123", "CNY", "聚合示范科技有限公司", "999290000018")


def statement(closing_minor: int, day: date = DAY, booked_on: date | None = None) -> bytes:
    booked = []
    if booked_on is not None:
        entry = BankEntry(booked_on, booked_on, Money(1_00, "CNY"), "credit", "BOOK", False, None, "REF1", "Payer", None, "")
        booked = [BookedTransfer(entry, "MSG1", "PMT1", "DMCT")]
    opening = closing_minor - sum(1_00 for _ in booked)
    return camt053.write(f"STMT{day:%Y%m%d}", datetime(2025, 10, 9, 23, tzinfo=SHANGHAI), RESERVE, day, 1, opening, booked)


def channel_pays_in(books, amount_minor: int, key: str, at: datetime = datetime(2025, 10, 9, 16, tzinfo=SHANGHAI)) -> None:
    """Alipay settles what it owes into the reserve account: Dr reserve:bank, Cr clearing:alipay."""
    with books.db.session() as session, session.begin():
        conn = session.connection()
        reserve = ensure_account(conn, "reserve:bank", "CNY", owner_type="platform")
        clearing = ensure_account(conn, "clearing:alipay", "CNY", owner_type="platform")
        post(conn, transfer(key, reserve, clearing, amount_minor), now=at)


def prove(books, raw: bytes, day: date = DAY):
    with books.db.engine.begin() as conn:
        return prove_reserve(conn, day, raw)


def test_reserve_that_matches_the_ledger_and_covers_customer_funds_is_proven(books):
    books.pay(100_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))  # payable 99.40, clearing 99.62
    books.pay(50_00, datetime(2025, 10, 9, 11, tzinfo=SHANGHAI))  # still at the channel tonight: 49.81 in transit
    channel_pays_in(books, 99_62, "alipay-settles-1")
    proof = prove(books, statement(99_62))
    (line,) = proof.currencies
    assert (line.liabilities_minor, line.in_transit_minor, line.ledger_reserve_minor) == (99_40 + 49_70, 49_81, 99_62)
    assert line.difference_minor == 0 and line.coverage_minor == 99_62 + 49_81 - 149_10 >= 0
    assert proof.ok and proof.mismatches == ()


def test_a_bank_balance_off_the_ledger_is_a_mismatch(books):
    books.pay(100_00, datetime(2025, 10, 9, 10, tzinfo=SHANGHAI))
    channel_pays_in(books, 99_62, "alipay-settles-1")
    proof = prove(books, statement(99_00))
    (line,) = proof.mismatches
    assert line.difference_minor == -62 and line.coverage_minor == -40 and not proof.ok
    assert proof.as_json()["currencies"][0]["ok"] is False


def test_the_proof_is_as_of_the_end_of_the_day(books):
    books.pay(100_00, datetime(2025, 10, 9, 23, 59, tzinfo=SHANGHAI))
    books.pay(500_00, datetime(2025, 10, 10, 0, 1, tzinfo=SHANGHAI))  # tomorrow's, in Shanghai
    channel_pays_in(books, 99_62, "alipay-settles-late", datetime(2025, 10, 10, 9, tzinfo=SHANGHAI))
    (line,) = prove(books, statement(0)).currencies
    assert (line.liabilities_minor, line.in_transit_minor, line.ledger_reserve_minor) == (99_40, 99_62, 0)
    assert line.ok


def test_rerun_of_a_day_replaces_its_proof(books):
    prove(books, statement(5_00))
    prove(books, statement(0))
    with books.db.reader() as session:
        rows = session.scalars(select(ReserveProofRow)).all()
    assert [(r.day, r.currency, r.bank_balance_minor, r.ok) for r in rows] == [(DAY, "CNY", 0, True)]


@pytest.mark.parametrize("raw, code", [
    (b"<Document>not a statement</Document>", "invalid_statement"),
    (b"", "invalid_statement"),
])
def test_unreadable_statements_are_refused_and_nothing_is_stored(books, raw, code):
    with pytest.raises(ReserveError) as caught:
        prove(books, raw)
    assert caught.value.code == code
    with books.db.reader() as session:
        assert session.scalars(select(ReserveProofRow)).all() == []


def test_a_statement_of_another_day_is_refused(books):
    with pytest.raises(ReserveError) as caught:
        prove(books, statement(1_00, booked_on=date(2025, 10, 10)))
    assert caught.value.code == "statement_day_mismatch"
