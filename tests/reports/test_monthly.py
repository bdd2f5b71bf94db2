"""`juhe report monthly`: the review of a month the simulator played, read back from the PDF's text
and compared with figures this test computes from the tables itself; the pages are rendered to
PNG (tmp/artefacts/reports/). Bad months and merchants are refused with a message and exit 2."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from juhe.cli import app
from juhe.db.models import BusinessLine, Merchant, Store
from juhe.db.engine import Database
from juhe.payments.models import Payment, PaymentAttempt, Refund
from juhe.reports.monthly import monthly_review
from juhe.reports.periods import month_of
from tests.reports.conftest import pdf_text, render_pages

OCTOBER_UTC = ("2026-09-30 16:00:00", "2026-10-31 16:00:00")  # October in Beijing (UTC+8), as stored: naive UTC
SEPTEMBER_UTC = ("2026-08-31 16:00:00", "2026-09-30 16:00:00")


def report(tmp_path, *args) -> tuple[object, bytes | None]:
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(app, ["report", *args, "--out", str(out)])
    return result, out.read_bytes() if out.exists() else None


def yuan(minor: int) -> str:
    return f"{minor // 100:,}.{minor % 100:02d}"


def test_the_monthly_review_carries_the_months_figures_per_channel_and_the_change(simulated, tmp_path):
    result, pdf = report(tmp_path, "monthly", "--month", "2026-10", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    text = pdf_text(pdf)
    render_pages(pdf, "monthly-2026-10")

    per_channel = simulated.sql(
        "SELECT coalesce(channel, '—'), count(*), sum(status = 'succeeded'), sum(status IN ('succeeded', 'failed', 'canceled')),"
        " sum(CASE WHEN status = 'succeeded' THEN amount_minor ELSE 0 END), sum(CASE WHEN status = 'succeeded' THEN fee_minor ELSE 0 END)"
        " FROM payments WHERE created_at >= ? AND created_at < ? AND scenario NOT IN ('b2b', 'crossborder') GROUP BY 1", *OCTOBER_UTC)
    before = dict(simulated.sql("SELECT coalesce(channel, '—'), sum(amount_minor) FROM payments WHERE status = 'succeeded'"
                                " AND created_at >= ? AND created_at < ? AND scenario NOT IN ('b2b', 'crossborder') GROUP BY 1",
                                *SEPTEMBER_UTC))
    assert len(per_channel) >= 3
    for channel, count, succeeded, finished, volume, fee in per_channel:
        row = f"{channel} CNY {count} {succeeded / finished * 100:.1f}% {yuan(volume)} {yuan(fee)}"
        assert row in text, row
        if before.get(channel):
            assert f"{(volume - before[channel]) / before[channel] * 100:+.1f}%" in text
    volume = sum(r[4] for r in per_channel)
    september = sum(before.values())
    assert f"成功金额 Succeeded volume {yuan(volume)} {yuan(september)} {(volume - september) / september * 100:+.1f}%" in text
    total = summary["totals"]["CNY"]
    assert (total["payments"], total["volume_minor"]) == (sum(r[1] for r in per_channel), volume)
    assert total["success_rate"] == pytest.approx(sum(r[2] for r in per_channel) / sum(r[3] for r in per_channel))
    assert total["change"]["volume_minor"] == pytest.approx((volume - september) / september)

    (refunds, refunded), = simulated.sql("SELECT count(*), coalesce(sum(amount_minor), 0) FROM refunds WHERE status = 'succeeded'"
                                         " AND updated_at >= ? AND updated_at < ?", *OCTOBER_UTC)
    assert f"退款笔数 Refunds {refunds} " in text and f"退款金额 Refunded {yuan(refunded)} " in text
    for store, count in simulated.sql("SELECT coalesce(s.name, 'no store 无门店'), count(*) FROM payments p LEFT JOIN stores s"
                                      " ON s.id = p.store_id WHERE p.created_at >= ? AND p.created_at < ? GROUP BY 1", *OCTOBER_UTC):
        assert f"{store} CNY {count} " in text
    for channel, lines in simulated.sql("SELECT channel, statement_lines FROM recon_runs WHERE business_date = '2026-10-01'"):
        assert f"{channel} 1 {lines} {lines} 0 0" in text  # one run, every line matched, no case
    assert "月度交易复盘 Monthly transaction review · 2026-10" in text and "按门店 By store" in text and "按业务线 By business line" in text


def test_a_merchants_review_holds_only_its_own_payments(simulated, tmp_path):
    (lotus, lotus_count), = simulated.sql("SELECT merchant_id, count(*) FROM payments WHERE created_at >= ? AND created_at < ?"
                                          " GROUP BY 1", *OCTOBER_UTC)
    (silk,), = simulated.sql("SELECT id FROM merchants WHERE id != ?", lotus)
    result, pdf = report(tmp_path, "monthly", "--month", "2026-10", "--merchant", str(uuid.UUID(lotus)), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["CNY"]["payments"] == lotus_count and "Lotus Mart 莲花超市" in pdf_text(pdf)
    result, pdf = report(tmp_path, "monthly", "--month", "2026-10", "--merchant", str(uuid.UUID(silk)), "--json")
    assert json.loads(result.stdout)["totals"] == {} and "本月无交易 No payments this month." in pdf_text(pdf)


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2026-13"], "invalid_month"),
    (["--month", "Oct 2026"], "invalid_month"),
    (["--month", "2999-01"], "future_period: 2999-01 has not begun yet"),
    (["--month", "2026-10", "--merchant", str(uuid.UUID(int=7))], "unknown_merchant"),
    (["--month", "2026-10", "--merchant", "lotus"], "unknown_merchant"),
])
def test_a_bad_month_or_merchant_is_refused_and_no_file_is_written(simulated, tmp_path, args, message):
    result, pdf = report(tmp_path, "monthly", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()) and pdf is None


@pytest.mark.parametrize("url", ["sqlite_url", "pg_url"])
def test_figures_per_store_line_and_beijing_day_on_both_databases(request, url):
    """Payments put straight into the tables, two minutes either side of Beijing's midnight."""
    db = Database(request.getfixturevalue(url))
    try:
        with db.session() as session, session.begin():
            shop = Merchant(name="Lotus Mart 莲花超市", industry="retail")
            session.add(shop)
            session.flush()
            merchant = shop.id
            store, line = Store(merchant_id=merchant, code="sh-01", name="Shanghai Jing'an"), BusinessLine(
                merchant_id=merchant, code="grocery", name="Grocery")
            session.add_all([store, line])
            session.flush()
            midnight = datetime(2026, 10, 1, 16, 0, tzinfo=timezone.utc)  # 2026-10-02 00:00 Beijing
            rows = [(midnight - timedelta(minutes=2), 10_000, "succeeded", store.id), (midnight + timedelta(minutes=2), 2_500, "succeeded", None),
                    (midnight, 700, "failed", store.id), (datetime(2026, 9, 30, 15, 0, tzinfo=timezone.utc), 8_000, "succeeded", store.id)]
            rows.append((midnight, 900_000, "succeeded", None))  # a payment out to a supplier: not the month's takings
            for n, (at, minor, status, store_id) in enumerate(rows):
                payment = Payment(merchant_id=merchant, store_id=store_id, business_line_id=line.id if store_id else None,
                                  idempotency_key=f"k{n}", request_hash="h", amount_minor=minor, currency="CNY",
                                  scenario="b2b" if minor == 900_000 else "qr",
                                  subject="tea", status=status, channel="alipay", fee_minor=minor // 100, expires_at=at,
                                  risk={"action": "step_up" if n == 0 else "allow"}, created_at=at, updated_at=at)
                session.add(payment)
            session.flush()
            september = session.query(Payment).filter_by(amount_minor=8_000).one()
            attempt = PaymentAttempt(merchant_id=merchant, payment_id=september.id, channel="alipay", order_no="o1", status="succeeded")
            session.add(attempt)
            session.flush()
            session.add(Refund(merchant_id=merchant, payment_id=september.id, attempt_id=attempt.id, refund_no="R1",
                               idempotency_key="r1", request_hash="h", amount_minor=1_000, currency="CNY", status="succeeded",
                               updated_at=midnight))
            other = Merchant(name="Silk Road Online 丝路商城", industry="ecommerce")  # with a store of the same name
            session.add(other)
            session.flush()
            namesake = Store(merchant_id=other.id, code="sh", name="Shanghai Jing'an")
            session.add(namesake)
            session.flush()
            session.add(Payment(merchant_id=other.id, store_id=namesake.id, idempotency_key="o", request_hash="h", amount_minor=300,
                                currency="CNY", scenario="qr", subject="silk", status="succeeded", channel="alipay",
                                expires_at=midnight, created_at=midnight, updated_at=midnight))
        with db.reader() as session:
            review = monthly_review(session, month_of("2026-10"), merchant)
            platform = monthly_review(session, month_of("2026-10"))
    finally:
        db.dispose()
    assert review.daily["CNY"] == [(date(2026, 10, 1), 10_000), (date(2026, 10, 2), 2_500)]
    assert review.payments_out == {"CNY": {"payments": 1, "succeeded": 1, "volume_minor": 900_000}}
    (total,) = review.totals.values()
    assert (total.payments, total.succeeded, total.volume_minor, total.fee_minor, total.step_ups) == (3, 2, 12_500, 125, 1)
    stores = {f.name: (f.payments, f.volume_minor) for f in review.by["store"]}
    assert stores == {store.name: (2, 10_000), "no store 无门店": (1, 2_500)}
    assert {f.name for f in review.by["business_line"]} == {line.name, "no line 无业务线"}
    assert review.previous_totals["CNY"].volume_minor == 8_000 and review.change("CNY", "volume_minor") == pytest.approx(0.5625)
    assert sorted((f.name, f.volume_minor) for f in platform.by["store"] if f.name.startswith("Shanghai")) == sorted(
        [(f"Shanghai Jing'an (…{str(store.id)[-4:]})", 10_000), (f"Shanghai Jing'an (…{str(namesake.id)[-4:]})", 300)])
    # The refund is the September payment's, refunded in October: it counts in October, by its store.
    assert [(f.name, f.refunds, f.refunded_minor) for f in review.by["store"] if f.refunds] == [(store.name, 1, 1_000)]
