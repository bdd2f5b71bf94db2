"""Fee schedules stored per merchant and channel, validated on write, priced by the one in force."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from juhe.settlement.errors import SettlementError
from juhe.settlement.models import FeeScheduleRow
from juhe.settlement.schedules import merchant_fee_minor, month_volume_minor, set_fee_schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")


def store(books, definition, effective_from=None, channel="alipay", merchant=None):
    with books.db.session() as session, session.begin():
        return set_fee_schedule(session, merchant or books.merchant(), channel, definition, effective_from)


def fee(books, amount_minor, at, channel="alipay"):
    with books.db.engine.connect() as conn:
        return merchant_fee_minor(conn, books.merchant(), channel, amount_minor, at)


def test_no_schedule_means_the_contract_rate_applies(books):
    assert fee(books, 100_00, datetime(2025, 10, 9, tzinfo=timezone.utc)) is None


def test_the_schedule_in_force_at_the_moment_prices_the_payment(books):
    store(books, {"kind": "percentage", "rate_bps": 60}, datetime(2025, 1, 1, tzinfo=timezone.utc))
    store(books, {"kind": "fixed", "amount_minor": 30}, datetime(2025, 10, 1, tzinfo=SHANGHAI))
    assert fee(books, 100_00, datetime(2025, 9, 30, 15, 59, tzinfo=timezone.utc)) == 60
    assert fee(books, 100_00, datetime(2025, 9, 30, 16, 0, tzinfo=timezone.utc)) == 30  # midnight in Shanghai
    assert fee(books, 100_00, datetime(2025, 10, 9, tzinfo=timezone.utc), channel="wechatpay") is None


def test_month_volume_tier_counts_this_months_payments_before_this_one(books):
    store(books, {"kind": "tiered", "basis": "month_volume", "tiers": [
        {"up_to_minor": 1_000_00, "rate_bps": 60}, {"up_to_minor": None, "rate_bps": 30}]},
        datetime(2025, 1, 1, tzinfo=timezone.utc))
    books.pay(600_00, datetime(2025, 9, 30, 12, tzinfo=SHANGHAI))  # last month: does not count
    books.pay(700_00, datetime(2025, 10, 1, 0, 30, tzinfo=SHANGHAI))
    books.pay(400_00, datetime(2025, 10, 5, 12, tzinfo=SHANGHAI))
    at = datetime(2025, 10, 9, 12, tzinfo=SHANGHAI)
    with books.db.engine.connect() as conn:
        assert month_volume_minor(conn, books.merchant(), "alipay", at) == 1_100_00
    assert fee(books, 100_00, at) == 30
    assert fee(books, 100_00, datetime(2025, 10, 3, tzinfo=SHANGHAI)) == 60  # only 700.00 by then


def test_bad_definition_is_refused_with_every_problem_and_nothing_stored(books):
    with pytest.raises(SettlementError) as caught:
        store(books, {"kind": "percentage", "rate_bps": "60", "min_minor": -1, "extra": 1})
    assert caught.value.code == "invalid_fee_schedule" and caught.value.status == 422
    assert len(caught.value.errors) == 3
    with pytest.raises(SettlementError) as caught:
        store(books, {"kind": "fixed", "amount_minor": 1}, merchant=uuid.uuid4())
    assert caught.value.code == "merchant_not_found"
    with books.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(FeeScheduleRow)) == 0
