"""Installments end to end: plans per channel, the schedule the payer sees before paying, Huabei
installments (hb_fq_num / hb_fq_seller_percent) through the Alipay sandbox and card installments
through the acquirer; the merchant is paid the amount less both fees, booked exactly, and the
day reconciles; bad inputs are refused with codes and change nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from juhe.channels.base import ChargeRequest, Declined, Scenario
from juhe.channels.pos.sandbox import STORE_TERMINALS, TEST_CARDS
from juhe.channels.pos.signing import CARD_KEY_BYTES, load_key, seal_card
from juhe.config import get_settings
from juhe.db.models import Account, LedgerEntry
from juhe.installments.models import InstallmentSale
from juhe.installments.schedule import quote
from juhe.ledger import verify_ledger
from juhe.money import Money
from juhe.payments.models import Payment

TOKEN = "platform-installments-token"
HUABEI_SELLER = [{"periods": 3, "fee_rate_per_period": "0.006"}, {"periods": 6, "fee_rate_per_period": "0.0075"},
                 {"periods": 12, "fee_rate_per_period": "0.00625"}]  # the sandbox's 花呗分期 seller rates


@pytest.fixture
def platform(monkeypatch):
    monkeypatch.setenv("JUHE_PLATFORM_TOKEN", TOKEN)
    get_settings.cache_clear()
    yield {"Authorization": f"Bearer {TOKEN}"}
    get_settings.cache_clear()


def new_plan(stack, channel="alipay", bearer="merchant", options=None, merchant=0):
    body = {"channel": channel, "name": f"{channel} {bearer}", "fee_bearer": bearer, "options": options or HUABEI_SELLER}
    return stack.api.post("/v1/installment-plans", json=body, headers=stack.key("business", merchant))


def pay_in_installments(stack, plan_id, periods, amount_minor=120_000, key="inst-1", **extra):
    body = {"amount_minor": amount_minor, "currency": "CNY", "scenario": "qr", "subject": "Television",
            "installments": {"plan_id": plan_id, "periods": periods}, **extra}
    return stack.api.post("/v1/payments", json=body, headers={**stack.key("business"), "Idempotency-Key": key})


def payable_minor(stack) -> int:
    accounts = stack.api.get("/v1/accounts", headers=stack.key("finance")).json()["data"]
    return next(a for a in accounts if a["owner_type"] == "merchant")["balance"]["posted_minor"]


def collection_entries(stack, payment_id: str) -> dict[str, int]:
    """The payment's collection posting, by account code."""
    with stack.db.reader() as session:
        txn_id = session.get(Payment, uuid.UUID(payment_id)).ledger_txn_id
        rows = session.execute(select(Account.code, LedgerEntry.amount_minor).join(Account, Account.id == LedgerEntry.account_id)
                               .where(LedgerEntry.transaction_id == txn_id)).all()
    return {code.split(":store")[0].split(":")[0] if code.startswith("payable:") else code: amount for code, amount in rows}


def fees(stack, payment_id: str) -> tuple[int, int]:
    """(merchant fee, channel fee) as booked on the payment."""
    with stack.db.reader() as session:
        payment = session.get(Payment, uuid.UUID(payment_id))
        return payment.fee_minor, payment.channel_fee_minor


def ledger_ok(stack) -> bool:
    with stack.db.engine.connect() as conn, conn.begin():
        return verify_ledger(conn).ok


def test_the_schedule_splits_principal_and_fee_over_the_periods_without_losing_a_fen():
    q = quote(Money(100_001, "CNY"), 3, Decimal("0.006"), "payer", date(2026, 1, 31))
    assert q.fee == Money(1_800, "CNY")  # 1,000.01 × 0.6 % × 3 = 18.00018 → 18.00
    assert [p.principal.amount_minor for p in q.schedule] == [33_334, 33_334, 33_333]
    assert [p.fee.amount_minor for p in q.schedule] == [600, 600, 600]
    assert [p.due_on for p in q.schedule] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert sum(p.amount.amount_minor for p in q.schedule) == q.payer_total.amount_minor == 101_801
    yearly = quote(Money(100_000, "CNY"), 12, Decimal("0.006"), "payer", date(2026, 1, 1))
    assert yearly.apr == Decimal("0.1303")  # 0.6 % a month flat is about 13 % a year on the falling balance
    free = quote(Money(100_000, "CNY"), 12, Decimal("0.006"), "merchant", date(2026, 1, 1))
    assert free.apr == 0 and free.payer_total == Money(100_000, "CNY") and free.merchant_fee == Money(7_200, "CNY")


def test_the_payer_sees_the_quote_of_each_period_count_before_paying(stack):
    plan = new_plan(stack, bearer="payer").json()
    assert [o["periods"] for o in plan["options"]] == [3, 6, 12]
    answer = stack.api.get(f"/v1/installment-plans/{plan['id']}/quote", params={"amount_minor": 120_000},
                           headers=stack.key("business"))
    assert answer.status_code == 200, answer.text
    quotes = {q["periods"]: q for q in answer.json()["quotes"]}
    six = quotes[6]
    assert six["fee"]["amount_minor"] == 5_400 and six["payer_fee"]["amount_minor"] == 5_400  # 1,200 × 0.75 % × 6
    assert six["payer_total"]["amount_minor"] == 125_400 and six["per_period"]["amount_minor"] == 20_900
    assert sum(p["amount"]["amount_minor"] for p in six["schedule"]) == 125_400
    assert Decimal("0.15") < Decimal(six["apr"]) < Decimal("0.17")
    one = stack.api.get(f"/v1/installment-plans/{plan['id']}/quote", params={"amount_minor": 120_000, "periods": 3},
                        headers=stack.key("business")).json()
    assert [q["periods"] for q in one["quotes"]] == [3]


@pytest.mark.parametrize("stack", ["sqlite_url", "pg_url"], indirect=True)
def test_huabei_interest_free_pays_the_merchant_less_both_fees_and_the_day_reconciles(stack, platform):
    plan = new_plan(stack, bearer="merchant").json()
    created = pay_in_installments(stack, plan["id"], 3)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["channel"] == "alipay" and payment["status"] == "processing"
    order = stack.sandbox("alipay").sandbox.book.get(payment["channel_order_no"])
    assert order.extra["hb_fq"] == (3, "100")  # hb_fq_num 3, the seller bears all (hb_fq_seller_percent 100)
    assert stack.pay(payment).status_code == 200
    done = stack.wait_for(payment["id"], {"succeeded"})
    assert done["status"] == "succeeded"
    borne = 2_160  # 1,200.00 × 0.6 % × 3
    merchant_fee, channel_fee = 960 + borne, 720 + borne  # the contract's 80 and 60 bps, each plus the installment fee
    assert fees(stack, done["id"]) == (merchant_fee, channel_fee)
    assert payable_minor(stack) == 120_000 - merchant_fee
    assert collection_entries(stack, payment["id"]) == {
        "clearing:alipay": 120_000 - channel_fee, "expense:channel_fees": channel_fee,
        "payable": -(120_000 - merchant_fee), "revenue:fees": -merchant_fee,
    }
    with stack.db.reader() as session:
        sale = session.scalars(select(InstallmentSale)).one()
        assert (str(sale.payment_id), sale.status, sale.merchant_fee_minor, sale.payer_fee_minor) == (payment["id"], "booked", borne, 0)
    assert ledger_ok(stack)
    refund = stack.api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount_minor": 30_000},
                            headers={**stack.key("business"), "Idempotency-Key": "inst-refund"})
    assert refund.json()["status"] == "succeeded", refund.text  # Huabei gives back a quarter of both fees
    assert payable_minor(stack) == 120_000 - merchant_fee - (30_000 - merchant_fee // 4)
    run = stack.api.post("/v1/reconciliations", json={"channel": "alipay", "date": _today()}, headers=platform)
    assert run.status_code == 201, run.text
    summary = run.json()["summary"]
    assert set(summary["categories"]) == {"matched"}  # the bill's fee (and fee back) include the installment fee
    assert summary["categories"]["matched"]["CNY"]["rows"] == 2


def test_huabei_with_the_payer_bearing_the_fee_pays_the_merchant_as_any_sale(stack):
    plan = new_plan(stack, bearer="payer").json()
    payment = pay_in_installments(stack, plan["id"], 12).json()
    assert stack.sandbox("alipay").sandbox.book.get(payment["channel_order_no"]).extra["hb_fq"] == (12, "0")
    stack.pay(payment)
    done = stack.wait_for(payment["id"], {"succeeded"})
    assert fees(stack, done["id"]) == (960, 720)
    assert payable_minor(stack) == 120_000 - 960
    assert ledger_ok(stack)


def test_card_installments_through_the_acquirer_book_the_subsidised_fee(stack, fund):
    plan = new_plan(stack, channel="pos", options=[{"periods": 24, "fee_rate_per_period": "0.006"}]).json()
    till = STORE_TERMINALS[0]
    card_key = load_key(stack.sandbox("pos").sandbox.card_key_file, CARD_KEY_BYTES)
    payer = {"terminal_id": till, "card_block": seal_card(card_key, TEST_CARDS["approve"].track2, till)}
    created = pay_in_installments(stack, plan["id"], 24, amount_minor=50_000, scenario="pos", payer=payer)
    assert created.status_code == 201, created.text
    done = stack.wait_for(created.json()["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    order = stack.sandbox("pos").sandbox.book.get(done["channel_order_no"])
    assert order.extra["installments"] == (24, "M")
    borne = 7_200  # 500.00 × 0.6 % × 24
    assert fees(stack, done["id"]) == (375 + borne, 300 + borne)
    assert payable_minor(stack) == 50_000 - 375 - borne
    row = stack.sandbox("pos").sandbox._payment_row(order)
    assert int(row["fee_fen"]) == fees(stack, done["id"])[1]  # what the acquirer's settlement file keeps
    fund(10_000)
    refund = stack.api.post(f"/v1/payments/{done['id']}/refunds", json={},
                            headers={**stack.key("business"), "Idempotency-Key": "card-inst-refund"})
    assert refund.json()["status"] == "succeeded", refund.text
    # The acquirer keeps its fees on a refund, the installment fee too: the merchant keeps bearing it.
    assert payable_minor(stack) == 10_000 - borne
    assert ledger_ok(stack)


def test_the_alipay_sandbox_refuses_installment_terms_huabei_does_not_offer(stack):
    adapter = stack.runtime.payments.channels["alipay"]
    request = ChargeRequest(
        payment_id=uuid.uuid4().hex, amount=Money(120_000, "CNY"), scenario=Scenario.QR, subject="TV",
        notify_url="http://127.0.0.1:1/notify", expires_at=datetime.now(ZoneInfo("UTC")).replace(microsecond=0) + _minutes(10),
        payer={"installment_periods": "24", "installment_fee_bearer": "merchant"},
    )
    answer = asyncio.run(adapter.create(request))
    assert isinstance(answer, Declined) and answer.code == "ACQ.INVALID_PARAMETER" and "hb_fq_num" in answer.message


def test_bad_inputs_are_refused_with_codes_and_change_nothing(stack):
    assert new_plan(stack, channel="wechatpay").json()["code"] == "channel_without_installments"
    assert new_plan(stack, channel="paypal").json()["code"] == "unknown_channel"
    assert new_plan(stack, options=[{"periods": 24, "fee_rate_per_period": "0.006"}]).json()["code"] == "periods_not_offered"
    assert new_plan(stack, options=[{"periods": 5, "fee_rate_per_period": "0.006"}]).json()["code"] == "invalid_periods"
    assert new_plan(stack, options=[{"periods": 3, "fee_rate_per_period": "0.006"}] * 2).json()["code"] == "invalid_periods"
    for rate in ("0.5", "-0.001", "abc", "0.0000001", "NaN"):
        assert new_plan(stack, options=[{"periods": 3, "fee_rate_per_period": rate}]).json()["code"] == "invalid_fee_rate", rate
    assert new_plan(stack, bearer="bank").json()["code"] == "validation_error"
    assert stack.api.post("/v1/installment-plans", json={"channel": "alipay", "fee_bearer": "payer", "options": HUABEI_SELLER},
                          headers=stack.key("finance")).status_code == 403
    plan = new_plan(stack).json()
    other = new_plan(stack, merchant=1).json()
    assert pay_in_installments(stack, str(uuid.uuid4()), 3, key="b1").json()["code"] == "plan_not_found"
    assert pay_in_installments(stack, other["id"], 3, key="b2").json()["code"] == "plan_not_found"
    assert pay_in_installments(stack, plan["id"], 24, key="b3").json()["code"] == "periods_not_offered"
    assert pay_in_installments(stack, plan["id"], 3, key="b4", scenario="pos").json()["code"] == "scenario_not_offered"
    forged = pay_in_installments(stack, plan["id"], 3, key="b5", payer={"installment_periods": "12"})
    assert forged.json()["code"] == "invalid_payer"
    quote_url = f"/v1/installment-plans/{plan['id']}/quote"
    assert stack.api.get(quote_url, params={"amount_minor": 1000, "periods": 24}, headers=stack.key("business")).json()["code"] == "periods_not_offered"
    assert stack.api.get(quote_url, params={"amount_minor": 0}, headers=stack.key("business")).json()["code"] == "validation_error"
    assert stack.api.get(f"/v1/installment-plans/{other['id']}/quote", params={"amount_minor": 1000},
                         headers=stack.key("business")).json()["code"] == "plan_not_found"
    with stack.db.reader() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(InstallmentSale)) == 0


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def _minutes(n: int):
    from datetime import timedelta
    return timedelta(minutes=n)
